"""`crash_aggregates`: one day of `error_aggregates` rows for one channel, validated."""

import dagster as dg
import pandas as pd

from regression_assets.sources.crash_schema import (
    CRASH_MEASURES,
    CrashSource,
    aggregate_crash_rows,
    validate_crash_rows,
)
from regression_assets.stability._common import COMMON, day_channel_keys


@dg.asset(
    **COMMON,
    kinds={"pandas"},
    metadata={"partition_expr": {"date": "window_start", "channel": "channel"}},
    # Reads the crash source: transient errors (BigQuery, a network file system) are retried, 10 s, 20 s, 40 s.
    retry_policy=dg.RetryPolicy(max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL),
)
def crash_aggregates(context: dg.AssetExecutionContext, crash_source: CrashSource) -> pd.DataFrame:
    """One day's crash aggregates per window, version, build and platform; bad rows dropped and counted."""
    frames, rejected = [], []
    for day, channel in day_channel_keys(context):
        raw = crash_source.fetch_day(day.date(), channel)
        good, bad = validate_crash_rows(raw)
        frames.append(aggregate_crash_rows(good))
        rejected.append(bad)
    out = pd.concat(frames, ignore_index=True)
    bad = pd.concat(rejected, ignore_index=True)
    present = [m for m in CRASH_MEASURES if out[m].notna().any()]
    context.add_output_metadata(
        {
            "dagster/row_count": len(out),
            "rows_rejected": len(bad),
            "rejected_by_reason": dg.MetadataValue.json(bad["reason"].value_counts().to_dict() if len(bad) else {}),
            "crashes_in_rejected_rows": float(bad[present].clip(lower=0).sum().sum()) if len(bad) and present else 0.0,
            "usage_hours": float(out["usage_hours"].sum()),
            "versions": ", ".join(sorted(out["version"].dropna().unique())),
            "measures_present": ", ".join(present),
        }
    )
    return out
