"""The readable alert summary that `make run` prints."""

import pandas as pd

from regression_assets.stats.alerts import summarize_alerts


def alert_summary_text(alerts: pd.DataFrame) -> str:
    if alerts.empty or not alerts["is_alert"].any():
        return "Perf regressions: no alerts."
    summary = summarize_alerts(alerts)
    lines = [f"Perf alerts: {len(summary)} changes ({(summary['direction'] == 'regression').sum()} regressions, "
             f"{(summary['direction'] == 'improvement').sum()} improvements)", ""]
    cols = ["suite", "platform", "change_day", "first_alert", "direction", "magnitude_pct", "probability",
            "comparisons"]
    show = summary[cols].rename(columns={"magnitude_pct": "magnitude %", "probability": "P"})
    lines.append(show.to_string(index=False))
    return "\n".join(lines)


def stability_summary_text(alerts: pd.DataFrame) -> str:
    """One line per (channel, platform, measure, release) that alerted at some point of the backfill."""
    if alerts.empty:
        return "Release stability: no rows."
    fired = alerts[alerts["status"] == "alert"]
    thin = alerts[alerts["status"] == "insufficient_data"]
    head = (f"Release stability: {fired.groupby(['channel', 'os_name', 'measure', 'latest_version']).ngroups} "
            f"alerting release × platform × measure; {thin['latest_version'].nunique()} release(s) with "
            "insufficient data somewhere (no alert raised on them)")
    if fired.empty:
        return head
    rows = []
    for (channel, os_name, measure, version), g in fired.groupby(["channel", "os_name", "measure", "latest_version"]):
        first = g.sort_values("day").iloc[0]
        rows.append({
            "channel": channel, "platform": os_name, "measure": measure, "release": version,
            "vs": first["previous_versions"], "first_alert": pd.Timestamp(first["day"]).date(),
            "hours_since_release": int(first["age_hours"]),
            "ratio [80%]": f"{first['ratio_median']:.2f} [{first['ratio_lo80']:.2f}, {first['ratio_hi80']:.2f}]",
            "P(ratio>1.2)": round(float(g["p_ratio_gt_threshold_adjusted"].max()), 3),
            "crashes / usage h": f"{first['latest_crashes']:,.0f} / {first['latest_usage_hours']:,.0f}",
            "severity": g["severity"].mode().iloc[0],
        })
    return head + "\n\n" + pd.DataFrame(rows).sort_values("first_alert").to_string(index=False)
