"""The spline posterior and day comparisons; one compiled model for the whole session."""

import numpy as np
import pandas as pd
import pytest

from regression_assets.stats.alerts import AlertRule, evaluate_day
from regression_assets.stats.compare import compare_all, reference_days
from regression_assets.stats.spline import fit_spline

END = pd.Timestamp("2026-06-29")
CAL = pd.DataFrame({"version": ["150", "151", "152"],
                    "release_date": pd.to_datetime(["2026-04-06", "2026-05-04", "2026-06-01"])})


def series(seed: int, step_day: str | None, step_pct: float, days: int = 120, per_day: int = 4):
    rng = np.random.default_rng(seed)
    day = pd.date_range(end=END, periods=days).repeat(per_day)
    ts = day + pd.to_timedelta(rng.integers(0, 86400, len(day)), unit="s")
    level = np.where(ts >= pd.Timestamp(step_day), 1 + step_pct / 100, 1.0) if step_day else np.ones(len(ts))
    return ts.to_numpy(), 100 * level * (1 + rng.normal(0, 0.01, len(ts)))


@pytest.fixture(scope="module")
def step_fit():
    ts, v = series(1, "2026-06-19", 3.0)
    return fit_spline(ts, v, END, window_days=180, seed=1), ts, v


@pytest.fixture(scope="module")
def flat_fit():
    ts, v = series(2, None, 0.0)
    return fit_spline(ts, v, END, window_days=180, seed=2), ts, v


def test_posterior_step_probability_is_one_across_a_real_step(step_fit):
    fit, _, _ = step_fit
    assert fit.level_draws.shape == (200, 180) and fit.level_draws.dtype == np.float32
    comps = {c.reference: c for c in compare_all(fit.level_draws, fit.days, END, CAL, lower_is_better=True)}
    assert comps["14d"].p_worse >= 0.99
    assert comps["14d"].median_pct == pytest.approx(3.0, abs=0.8)
    assert comps["14d"].lo80_pct < comps["14d"].median_pct < comps["14d"].hi80_pct


def test_diagnostics_and_calibrated_coverage(step_fit, flat_fit):
    for fit, _, _ in (step_fit, flat_fit):
        assert fit.r_hat_max <= 1.05  # 2 chains x 500 draws: r_hat is itself noisy at this size
        assert fit.divergences == 0
        assert 0.85 <= fit.coverage <= 0.95


def test_flat_series_gives_no_alert(flat_fit):
    fit, ts, v = flat_fit
    pts = pd.DataFrame({"timestamp": pd.to_datetime(ts), "value": v, "is_outlier": False, "invalid": False})
    rows = evaluate_day("flat", pts, fit.days, fit.level_draws, END, CAL, True, AlertRule())
    assert not rows.empty and not rows["is_alert"].any()


def test_step_alert_is_anchored_at_the_step(step_fit):
    fit, ts, v = step_fit
    pts = pd.DataFrame({"timestamp": pd.to_datetime(ts), "value": v, "is_outlier": False, "invalid": False})
    rows = evaluate_day("s", pts, fit.days, fit.level_draws, END, CAL, True, AlertRule())
    alerts = rows[rows["is_alert"]]
    assert set(alerts["direction"]) == {"regression"}
    assert (alerts["change_timestamp"].dt.normalize() == pd.Timestamp("2026-06-19")).all()
    assert alerts["alert_id"].nunique() == 1


def test_reference_days_follow_the_calendar():
    refs = dict(reference_days(pd.Timestamp("2026-06-10"), CAL))
    assert refs["7d"] == pd.Timestamp("2026-06-03") and refs["14d"] == pd.Timestamp("2026-05-27")
    assert refs["version 151"] == pd.Timestamp("2026-05-31")
    assert refs["version 150"] == pd.Timestamp("2026-05-03")
