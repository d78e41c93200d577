import numpy as np
import pandas as pd
import pytest

from regression_assets.stats.changepoint import detect_changes


def make_series(seed, days=120, per_day=4, step_day=None, step_pct=0.0, noise_pct=1.0, ramp_days=0):
    rng = np.random.default_rng(seed)
    day = np.repeat(np.arange(days), per_day)
    ts = np.datetime64("2026-01-01") + day.astype("timedelta64[D]") + \
        rng.integers(0, 86400, len(day)).astype("timedelta64[s]")
    level = np.ones(len(day))
    if step_day is not None:
        frac = np.clip((day - step_day + 1) / ramp_days, 0, 1) if ramp_days else (day >= step_day)
        level = 1 + step_pct / 100 * frac
    values = 100 * level * (1 + rng.normal(0, noise_pct / 100, len(day)))
    return ts.astype("datetime64[ns]"), values


@pytest.mark.parametrize("seed", range(5))
def test_a_3pct_step_is_found_at_its_day(seed):
    ts, v = make_series(seed, step_day=70, step_pct=3.0)
    out = detect_changes(ts, v, lower_is_better=True)
    assert len(out) == 1
    row = out.iloc[0]
    assert row["direction"] == "regression"
    assert abs((row["timestamp"].normalize() - pd.Timestamp("2026-01-01") - pd.Timedelta(days=70)).days) <= 1
    assert row["magnitude_pct"] == pytest.approx(3.0, abs=0.6)
    assert row["probability"] >= 0.8


def test_direction_follows_lower_is_better():
    ts, v = make_series(7, step_day=60, step_pct=5.0)
    assert detect_changes(ts, v, lower_is_better=False)["direction"].tolist() == ["improvement"]


@pytest.mark.parametrize("seed", range(10))
def test_flat_series_gives_no_change(seed):
    ts, v = make_series(100 + seed)
    assert detect_changes(ts, v).empty


def test_a_slow_ramp_is_one_change_near_its_start():
    ts, v = make_series(5, step_day=50, step_pct=6.0, ramp_days=20)
    out = detect_changes(ts, v)
    assert len(out) == 1
    day = (out["timestamp"].iat[0].normalize() - pd.Timestamp("2026-01-01")).days
    assert 49 <= day <= 50 + 20 + 3
    assert out["magnitude_pct"].iat[0] > 4.0


def test_sub_gate_step_is_not_reported():
    ts, v = make_series(9, step_day=60, step_pct=1.0, noise_pct=0.3)
    assert detect_changes(ts, v).empty
