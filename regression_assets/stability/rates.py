"""`crash_rates`: crashes per 1,000 usage hours by version, platform, measure and hour since release."""

import dagster as dg
import pandas as pd
from pydantic import Field

from regression_assets.sources.crash_schema import CRASH_MEASURES, CrashSource
from regression_assets.stability._common import COMMON, PARTITION_EXPR, day_channel_keys
from regression_assets.stats.stability import RATE_SCHEMA, conform, hourly_rates


class CrashRatesConfig(dg.Config):
    trim_fraction: float = Field(default=0.001, description="Top fraction of windows by rate dropped (Mission Control: 0.1%).")
    early_hours: int = Field(default=24, description="Hours after release flagged as the separate early period.")


@dg.asset(
    **COMMON,
    kinds={"pandas"},
    metadata={"partition_expr": PARTITION_EXPR},
    # Reads the release calendar from the crash source: transient errors are retried, 10 s, 20 s, 40 s.
    retry_policy=dg.RetryPolicy(max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL),
)
def crash_rates(
    context: dg.AssetExecutionContext, config: CrashRatesConfig, crash_source: CrashSource, crash_aggregates: pd.DataFrame
) -> pd.DataFrame:
    """Hourly crash rates by age since release, with counts, usage and a Jeffreys credible interval."""
    frames, trimmed, windows = [], 0, 0
    for day, channel in day_channel_keys(context):
        aggs = crash_aggregates[
            (crash_aggregates["channel"] == channel)
            & (crash_aggregates["window_start"] >= day)
            & (crash_aggregates["window_start"] < day + pd.Timedelta(days=1))
        ]
        calendar = crash_source.release_calendar(channel, until=day.date())
        rates, info = hourly_rates(aggs, calendar, CRASH_MEASURES, day, config.trim_fraction, config.early_hours)
        frames.append(rates)
        trimmed, windows = trimmed + info["windows_trimmed"], windows + info["windows"]
    out = conform(pd.concat(frames, ignore_index=True), RATE_SCHEMA)
    context.add_output_metadata(
        {
            "dagster/row_count": len(out),
            "windows": windows,
            "windows_trimmed": trimmed,
            "first_24h_rows": int(out["is_first_24h"].sum()),
            "versions": ", ".join(sorted(out["version"].dropna().unique())),
        }
    )
    return out
