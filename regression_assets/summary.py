"""The readable alert summary that `make run` prints."""

import pandas as pd

from regression_assets.stats.alerts import summarize_alerts


def alert_summary_text(alerts: pd.DataFrame, truth_path: str | None = None) -> str:
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
