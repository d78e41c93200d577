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
