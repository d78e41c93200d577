"""`stability_alerts`: a regression alert, an explicit "insufficient data", or ok, per platform and measure."""

import dagster as dg
import pandas as pd
from pydantic import Field

from regression_assets.stability._common import COMMON, PARTITION_EXPR, markdown
from regression_assets.stats.stability import ALERT_SCHEMA, channel_scores, classify, conform


class StabilityAlertConfig(dg.Config):
    alert_probability: float = Field(default=0.75, description="Alert when P(ratio > threshold) is at least this.")
    min_usage_hours: float = Field(default=1000.0, description="Below this usage (either side): insufficient data.")
    min_events: float = Field(default=10.0, description="Below this many (observed or expected) events: insufficient data.")


@dg.asset(**COMMON, kinds={"pandas"}, metadata={"partition_expr": PARTITION_EXPR})
def stability_alerts(
    context: dg.AssetExecutionContext, config: StabilityAlertConfig, release_comparisons: pd.DataFrame
) -> pd.DataFrame:
    """Crash-rate alerts with severity, "insufficient data" rows, and the channel's summary score."""
    decisions = classify(release_comparisons, config.alert_probability, config.min_usage_hours, config.min_events)
    scores = channel_scores(decisions)
    out = conform(pd.concat([decisions, scores], ignore_index=True), ALERT_SCHEMA)
    alerts = out[out["status"] == "alert"]
    context.add_output_metadata(
        {
            "dagster/row_count": len(out),
            "alerts": len(alerts),
            "insufficient_data": int((out["status"] == "insufficient_data").sum()),
            "alert_table": markdown(
                alerts[["day", "os_name", "measure", "latest_version", "previous_versions", "ratio_median",
                        "ratio_lo80", "ratio_hi80", "p_ratio_gt_threshold_adjusted", "severity"]]
            ),
            "scores": markdown(out[out["status"] == "score"][["day", "channel", "latest_version", "latest_rate", "ref_rate", "ratio_median"]]),
        }
    )
    return out
