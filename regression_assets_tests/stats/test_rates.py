import numpy as np
import pytest
from scipy import stats

from regression_assets.stats import rates as R


def test_rate_interval_hand_computed():
    # 10 crashes in 1,000 usage hours, Jeffreys prior: Gamma(10.5, 1) per 1k hours = chi²(21) / 2
    s = R.rate_summary([10.0], [1000.0], mass=0.95)
    assert s["rate"][0] == pytest.approx(10.0)
    assert s["lo"][0] == pytest.approx(stats.chi2.ppf(0.025, 21) / 2, rel=1e-9)
    assert s["hi"][0] == pytest.approx(stats.chi2.ppf(0.975, 21) / 2, rel=1e-9)
    assert s["lo"][0] == pytest.approx(5.14, abs=0.01) and s["hi"][0] == pytest.approx(17.74, abs=0.01)


def test_zero_events_and_zero_usage():
    s = R.rate_summary([0.0, 3.0], [2000.0, 0.0])
    # no crashes in 2,000 h: upper 97.5% = chi²(1) quantile / 2 / 2 = 1.2559 per 1k h
    assert s["rate"][0] == 0.0
    assert s["hi"][0] == pytest.approx(stats.chi2.ppf(0.975, 1) / 4, rel=1e-9)
    assert np.isnan(s["rate"][1]) and np.isnan(s["hi"][1])  # never a rate without exposure


def test_dispersion_widens_interval_keeps_center():
    plain = R.rate_summary([400.0], [100_000.0])
    wide = R.rate_summary([400.0], [100_000.0], dispersion=4.0)
    assert wide["median"][0] == pytest.approx(plain["median"][0], rel=0.01)
    assert (wide["hi"][0] - wide["lo"][0]) == pytest.approx(2 * (plain["hi"][0] - plain["lo"][0]), rel=0.05)


def test_pearson_dispersion_hand_computed():
    assert R.pearson_dispersion([0, 20], [1, 1]) == pytest.approx(20.0)  # X² = 10 + 10, df = 1
    assert R.pearson_dispersion([10, 10, 10], [1, 1, 1]) == 1.0  # floored
    rng = np.random.default_rng(1)
    u = rng.uniform(500, 1500, 400)
    assert R.pearson_dispersion(rng.poisson(u * 0.05), u) == pytest.approx(1.0, abs=0.2)
    over = rng.poisson(u * 0.05 * rng.gamma(5, 1 / 5, 400))
    assert R.pearson_dispersion(over, u) > 3


def test_ratio_posterior_exact_and_against_monte_carlo():
    eq = R.ratio_posterior(50, 1000, 50, 1000, threshold=1.0)
    assert eq["median"] == pytest.approx(1.0) and eq["p_gt"] == pytest.approx(0.5)
    post = R.ratio_posterior(30, 1000, 40, 2000, threshold=1.2, mass=0.8)
    rng = np.random.default_rng(7)
    draws = rng.gamma(30.5, 1 / 1.0, 400_000) / rng.gamma(40.5, 1 / 2.0, 400_000)
    assert post["p_gt"] == pytest.approx((draws > 1.2).mean(), abs=0.005)
    assert post["median"] == pytest.approx(np.median(draws), rel=0.01)
    assert post["lo"] == pytest.approx(np.quantile(draws, 0.1), rel=0.01)
    assert post["hi"] == pytest.approx(np.quantile(draws, 0.9), rel=0.01)


def test_trim_top_fraction_like_mission_control():
    r = np.arange(2000, dtype=float)
    keep = R.trim_top_fraction(r, 0.001)
    assert (~keep).sum() == 2 and not keep[-1] and not keep[-2]
    assert R.trim_top_fraction(np.arange(999.0), 0.001).all()


def test_spike_slab_shrinks_noise_not_signal():
    noisy = R.spike_slab_exceedance(np.log(1.5), 0.3**2, 1.2, prior_slab=1 / 21)
    strong = R.spike_slab_exceedance(np.log(1.5), 0.02**2, 1.2, prior_slab=1 / 21)
    null = R.spike_slab_exceedance(0.0, 0.02**2, 1.2, prior_slab=1 / 21)
    assert noisy["p_gt"] < 0.3 < 0.99 < strong["p_gt"]
    assert null["p_gt"] < 1e-3


def test_trend_slope_and_between_release_variance():
    tr = R.trend_slope(np.log([1.0, 1.1, 1.21, 1.331]), [1e-4] * 4)
    assert tr["slope"] == pytest.approx(np.log(1.1)) and tr["p_worsening"] > 0.999
    assert R.between_release_variance([0.0, 0.0, 0.0], [0.01, 0.01, 0.01]) == 0.0
    assert R.between_release_variance([0.0, 0.5, -0.5], [1e-4] * 3) == pytest.approx(0.25, rel=0.01)
    assert R.geometric_mean([1.0, 4.0]) == pytest.approx(2.0)
