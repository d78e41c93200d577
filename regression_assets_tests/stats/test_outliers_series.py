import numpy as np

from regression_assets.stats.outliers import flag_outliers
from regression_assets.stats.series import clean_points, daily_aggregate


def test_outliers_flagged_and_step_points_kept():
    rng = np.random.default_rng(3)
    v = np.r_[rng.normal(100, 1, 200), rng.normal(106, 1, 200)]
    v[[40, 250, 399]] = [160, 40, 300]
    flags = flag_outliers(np.log(v))
    assert set(np.nonzero(flags)[0]) == {40, 250, 399}
    # the first points after the 6 sd step are not outliers (forward median sees the new level)
    assert not flags[200:210].any()


def test_points_of_a_steep_ramp_are_not_outliers_but_spikes_on_it_are():
    # a 10% ramp over 30 runs on 0.4% noise: each run sits several MADs from both its backward and
    # forward medians, but between them; a spike on the ramp is above both
    rng = np.random.default_rng(5)
    level = np.r_[np.zeros(100), np.linspace(0, 0.1, 30), np.full(100, 0.1)]
    x = level + rng.normal(0, 0.004, len(level))
    x[115] += 0.08
    flags = flag_outliers(x)
    assert set(np.nonzero(flags)[0]) == {115}


def test_no_outliers_on_clean_noise():
    rng = np.random.default_rng(4)
    assert flag_outliers(rng.normal(0, 1, 2000)).sum() <= 2


def test_clean_points_flags_invalid_and_aggregates_by_day():
    t = np.array(["2026-01-01T01", "2026-01-01T05", "2026-01-02T03", "2026-01-02T04"], dtype="datetime64[ns]")
    pts = clean_points(t, np.array([10.0, 12.0, np.nan, -1.0]))
    assert pts["invalid"].tolist() == [False, False, True, True]
    daily = daily_aggregate(pts)
    assert daily["n_points"].tolist() == [2]
    assert daily["median"].iat[0] == 11.0
