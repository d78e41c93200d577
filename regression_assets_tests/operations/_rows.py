"""Small alert rows shaped like `regression_alerts` / `stability_alerts`, shared by the operations tests."""

import pandas as pd

from regression_assets.stats.alerts import alert_id


def perf_rows(series="tp5o__linux", change="2026-03-17", seen=("2026-03-17", "2026-03-18"), direction="regression",
              median_pct=6.0, p_worse=0.97, reference="14d") -> pd.DataFrame:
    rows = []
    for i, day in enumerate(seen):
        rows.append({
            "partition_date": pd.Timestamp(day), "series_key": series, "suite": series.split("__")[0],
            "platform": series.split("__")[1], "reference": reference, "reference_day": pd.Timestamp(day) - pd.Timedelta(days=14),
            "p_worse": p_worse if direction == "regression" else 1 - p_worse, "median_pct": median_pct + i * 0.1,
            "lo80_pct": median_pct - 1, "hi80_pct": median_pct + 1, "is_alert": True, "direction": direction,
            "change_timestamp": pd.Timestamp(change) + pd.Timedelta(hours=3), "located_by": "scan",
            "alert_id": alert_id(series, pd.Timestamp(change)), "lower_is_better": True, "r_hat_max": 1.0,
            "divergences": 0,
        })
    return pd.DataFrame(rows)


def no_alert_rows(series="tp5o__linux", day="2026-03-17") -> pd.DataFrame:
    r = perf_rows(series, change=day, seen=(day,))
    return r.assign(is_alert=False, direction="", alert_id="", change_timestamp=pd.NaT)


def stability_rows(version="140.0", days=("2026-02-01", "2026-02-02"), os_name="Windows_NT",
                   measure="main_crashes", channel="release", status="alert") -> pd.DataFrame:
    return pd.DataFrame([{
        "day": pd.Timestamp(d), "channel": channel, "os_name": os_name, "measure": measure, "period": "after_24h",
        "latest_version": version, "previous_versions": "137.0,138.0,139.0", "age_hours": 48, "latest_rate": 3.0,
        "ref_rate": 2.0, "ratio_median": 1.5, "ratio_lo80": 1.3, "ratio_hi80": 1.7, "p_ratio_gt_threshold": 0.97,
        "p_ratio_gt_threshold_adjusted": 0.9, "latest_usage_hours": 5e4, "latest_crashes": 150.0,
        "ref_usage_hours": 1e5, "ref_crashes": 200.0, "expected_events": 100.0, "status": status,
        "severity": "major" if status == "alert" else "", "reason": "",
    } for d in days])
