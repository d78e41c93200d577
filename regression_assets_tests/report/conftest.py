"""Synthetic inputs of the report: a series with a +5% step, its posterior draws, crash rates, stability alerts."""

import numpy as np
import pandas as pd
import pytest

from regression_assets.stats.alerts import evaluate_day
from regression_assets.stats.stability import ALERT_SCHEMA, RATE_SCHEMA, conform

DAY = pd.Timestamp("2026-03-12")
CALENDAR = pd.DataFrame({"channel": "nightly", "version": ["147", "148", "149"],
                         "release_date": pd.to_datetime(["2026-01-12", "2026-02-09", "2026-03-09"])})


def make_series(key: str = "tp5o__linux64", step_day: str = "2026-03-05", step: float = 0.05, n_days: int = 60,
                seed: int = 0, lower_is_better: bool = True, outliers: int = 3) -> dict:
    """Points (3 a day, noise 0.5%, `outliers` 60-sd spikes), posterior-like draws, and evaluate_day rows."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(end=DAY, periods=n_days, freq="D")
    level = np.where(days >= pd.Timestamp(step_day), 100.0 * (1 + step), 100.0)
    ts = np.concatenate([d + pd.to_timedelta(rng.uniform(0, 23, 3), unit="h") for d in days])
    base = np.repeat(level, 3)
    values = base * (1 + rng.normal(0, 0.005, len(base)))
    is_out = np.zeros(len(values), bool)
    if outliers:
        idx = rng.choice(len(values) - 10, outliers, replace=False)
        values[idx] = base[idx] * 1.30  # 60 sd of the noise
        is_out[idx] = True
    suite, platform = key.split("__")
    points = pd.DataFrame({
        "timestamp": pd.to_datetime(ts), "value": values, "invalid": False, "log_value": np.log(values),
        "is_outlier": is_out, "partition_date": DAY, "series_key": key, "suite": suite, "platform": platform,
        "lower_is_better": lower_is_better,
    }).sort_values("timestamp").reset_index(drop=True)
    points["day"] = points["timestamp"].dt.floor("D")
    draws = (level[None, :] * (1 + rng.normal(0, 0.002, (200, n_days)))).astype("float32")
    rows = evaluate_day(key, points, days, draws, DAY, CALENDAR, lower_is_better)
    rows = rows.assign(partition_date=DAY, series_key=key, suite=suite, platform=platform,
                       lower_is_better=lower_is_better)
    modes = pd.DataFrame([{"partition_date": DAY, "series_key": key, "n_points": len(points), "n_modes": 2,
                           "mode_offsets_pct": "[0.0, 7.5]", "mode_weights": "[0.8, 0.2]", "noise_profile": "modal",
                           "skewness": 0.1, "outlier_share": outliers / len(points)}])
    return {"key": key, "points": points, "days": days, "draws": draws, "rows": rows, "modes": modes}


def make_rates(day: pd.Timestamp = DAY, seed: int = 1) -> pd.DataFrame:
    """`crash_rates` rows of one channel: release 147 (a month old) and 148 (two days old), 2 platforms."""
    rng = np.random.default_rng(seed)
    rows = []
    releases = {"147.0": pd.Timestamp("2026-02-10 14:00"), "148.0": day - pd.Timedelta(hours=50)}
    for version, released in releases.items():
        for os_name, usage in [("Windows_NT", 3000.0), ("Linux", 40.0)]:
            for measure, rate in [("main_crashes", 2.0), ("content_crashes", 4.0)]:
                factor = 1.5 if (version == "148.0" and os_name == "Windows_NT" and measure == "main_crashes") else 1.0
                for age in range(0, min(int((day + pd.Timedelta(days=1) - released) / pd.Timedelta(hours=1)), 120)):
                    u = usage * rng.uniform(0.8, 1.2)
                    rows.append({"day": (released + pd.Timedelta(hours=age)).normalize(), "channel": "release",
                                 "os_name": os_name, "version": version, "measure": measure,
                                 "release_time": released, "release_source": "calendar", "age_hour": age,
                                 "hour_start": released + pd.Timedelta(hours=age), "period": "x", "is_first_24h": age < 24,
                                 "crashes": float(rng.poisson(rate * factor * u / 1000.0)), "usage_hours": u,
                                 "n_windows": 1, "dispersion_day": 1.0})
    return conform(pd.DataFrame(rows), RATE_SCHEMA)


def make_stability_alerts(day: pd.Timestamp = DAY) -> pd.DataFrame:
    base = {"day": day, "channel": "release", "latest_version": "148.0", "previous_versions": "147.0",
            "age_hours": 50, "period": "after_24h"}
    rows = [
        {**base, "os_name": "Windows_NT", "measure": "main_crashes", "status": "alert", "severity": "major",
         "latest_crashes": 450.0, "latest_usage_hours": 150000.0, "ref_crashes": 900.0, "ref_usage_hours": 450000.0,
         "ratio_median": 1.5, "ratio_lo80": 1.4, "ratio_hi80": 1.6, "p_ratio_gt_threshold_adjusted": 0.97},
        {**base, "os_name": "Linux", "measure": "content_crashes", "status": "insufficient_data",
         "latest_crashes": 8.0, "latest_usage_hours": 2000.0, "ref_crashes": 30.0, "ref_usage_hours": 6000.0,
         "reason": "usage < 1,000 h or events < 10"},
        {**base, "os_name": "Windows_NT", "measure": "content_crashes", "status": "ok",
         "latest_crashes": 600.0, "latest_usage_hours": 150000.0, "ref_crashes": 1800.0,
         "ref_usage_hours": 450000.0},
        {**base, "os_name": None, "measure": None, "status": "score", "latest_rate": 3.0, "ref_rate": 2.9},
    ]
    return conform(pd.DataFrame(rows), ALERT_SCHEMA)


@pytest.fixture
def step_series():
    return make_series()


@pytest.fixture
def report_inputs():
    """Two alerting series (a +5% regression, a −3% improvement), one quiet series, rates and stability alerts."""
    reg = make_series("tp5o__linux64", step=0.05, seed=0)
    imp = make_series("sessionrestore__windows11", step=-0.03, seed=2, outliers=0)
    quiet = make_series("a11yr__linux64", step=0.0, seed=3, outliers=0)
    alerts = pd.concat([reg["rows"], imp["rows"], quiet["rows"]], ignore_index=True)
    return {"series": [reg, imp, quiet], "alerts": alerts, "rates": make_rates(),
            "stability_alerts": make_stability_alerts()}
