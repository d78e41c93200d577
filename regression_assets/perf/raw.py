"""raw_perf_results: one day's perf results, all suites, validated; new series registered as partitions."""

import dagster as dg
import pandas as pd

from regression_assets.partitions import daily_partitions, series_partitions
from regression_assets.sources.base import PerfSource
from regression_assets.sources.schema import conform_raw_frame, series_key, validate_raw_rows


def prepare_day(frame: pd.DataFrame, day: str, source_name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Conform, validate, key and date-stamp one day's rows: (good rows, rejected rows with reasons)."""
    good, rejected = validate_raw_rows(conform_raw_frame(frame, source_name))
    start = pd.Timestamp(day)
    outside = good["push_timestamp"].isna() | (good["push_timestamp"] < start) | (good["push_timestamp"] >= start + pd.Timedelta(days=1))
    if outside.any():  # a source that ignores the day filter must not leak rows into this partition
        rejected = pd.concat([rejected, good[outside].reset_index().assign(reason="push_timestamp: outside the day")])
        good = good[~outside]
    good = good.assign(
        # typed even when empty: the first write of a table fixes its column types
        series_key=pd.Series([series_key(s, p) for s, p in zip(good["suite"], good["platform"], strict=True)],
                             index=good.index, dtype="string"),
        partition_date=start,
    )
    # The same task reported twice (a re-run of the pull) is one data point.
    good = good.drop_duplicates(["series_key", "task_id", "push_timestamp", "value"]).reset_index(drop=True)
    return good, rejected


@dg.asset(
    partitions_def=daily_partitions,
    group_name="perf",
    kinds={"python", "pandas"},
    metadata={"partition_expr": "partition_date"},
    retry_policy=dg.RetryPolicy(max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL),
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def raw_perf_results(context: dg.AssetExecutionContext, perf_source: PerfSource) -> pd.DataFrame:
    """One day's perf results (all suites and platforms), validated rows only."""
    days, rejected_total, frames, reasons = context.partition_keys, 0, [], {}
    for day in days:
        good, rejected = prepare_day(perf_source.fetch_day(pd.Timestamp(day).date()), day, type(perf_source).__name__)
        frames.append(good)
        rejected_total += len(rejected)
        for reason, n in rejected["reason"].value_counts().items():
            reasons[reason] = reasons.get(reason, 0) + int(n)
            context.log.warning(f"{day}: dropped {n} row(s): {reason}")
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    keys = sorted(set(out["series_key"])) if len(out) else []
    known = set(context.instance.get_dynamic_partitions(series_partitions.name))
    new = [k for k in keys if k not in known]
    if new:
        context.instance.add_dynamic_partitions(series_partitions.name, new)
    context.add_output_metadata({
        "days": len(days), "rows": len(out), "series": len(keys), "new_series": dg.MetadataValue.json(new[:50]),
        "rejected_rows": rejected_total, "rejected_reasons": dg.MetadataValue.json(reasons),
    })
    return out
