"""`stability_trend`: are releases getting better or worse, compared at the same age?"""

import dagster as dg
import pandas as pd
from pydantic import Field

from regression_assets.stability._common import COMMON, LOOKBACK, PARTITION_EXPR, day_channel_keys, markdown
from regression_assets.stats.stability import TREND_SCHEMA, conform, release_trend


class StabilityTrendConfig(dg.Config):
    n_versions: int = Field(default=5, description="How many recent releases (the latest included) to fit.")
    early_hours: int = Field(default=24)


@dg.asset(
    **COMMON,
    kinds={"pandas"},
    metadata={"partition_expr": PARTITION_EXPR},
    ins={"crash_rates": dg.AssetIn(partition_mapping=LOOKBACK)},
)
def stability_trend(
    context: dg.AssetExecutionContext, config: StabilityTrendConfig, crash_rates: pd.DataFrame
) -> pd.DataFrame:
    """Per measure, the last N releases' rates at the latest's age and P(worsening release over release)."""
    frames = [
        release_trend(crash_rates[crash_rates["channel"] == channel], day, config.n_versions, config.early_hours)
        for day, channel in day_channel_keys(context)
    ]
    out = conform(pd.concat(frames, ignore_index=True), TREND_SCHEMA)
    latest = out[out["is_latest"]]
    context.add_output_metadata(
        {
            "dagster/row_count": len(out),
            "directions": markdown(latest[["day", "measure", "version", "rate_per_1k", "ratio_per_release", "p_worsening", "direction"]]),
        }
    )
    return out
