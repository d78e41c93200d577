"""What the stability assets share: partitions, the lookback mapping, partition keys → (day, channel)."""

import dagster as dg
import pandas as pd

from regression_assets.partitions import stability_partitions

GROUP = "stability"
# Comparisons and trends read this many days of `crash_rates` back: N previous releases on a four-week
# cadence plus the latest's own age (3 × 28 + 28 = 112; with slack for a late release).
LOOKBACK_DAYS = 150
PARTITION_EXPR = {"date": "day", "channel": "channel"}

LOOKBACK = dg.MultiPartitionMapping(
    {
        "date": dg.DimensionPartitionMapping(
            "date",
            dg.TimeWindowPartitionMapping(
                start_offset=-LOOKBACK_DAYS, end_offset=0, allow_nonexistent_upstream_partitions=True
            ),
        ),
        "channel": dg.DimensionPartitionMapping("channel", dg.IdentityPartitionMapping()),
    }
)

COMMON = dict(
    partitions_def=stability_partitions,
    group_name=GROUP,
    backfill_policy=dg.BackfillPolicy.single_run(),
)


def day_channel_keys(context: dg.AssetExecutionContext) -> list[tuple[pd.Timestamp, str]]:
    """(day, channel) of every partition in this run (one, or a backfill range)."""
    out = []
    for key in context.partition_keys:
        dims = key.keys_by_dimension
        out.append((pd.Timestamp(dims["date"]), dims["channel"]))
    return sorted(out)


def markdown(df: pd.DataFrame, max_rows: int = 30) -> dg.MetadataValue:
    if df.empty:
        return dg.MetadataValue.md("_none_")
    return dg.MetadataValue.md(df.head(max_rows).to_markdown(index=False, floatfmt=".3g"))
