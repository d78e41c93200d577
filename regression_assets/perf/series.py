"""cleaned_series: a series' trailing window up to the partition date, outliers flagged, daily levels."""

import dagster as dg
import pandas as pd

from regression_assets.io_managers import split_multi_key
from regression_assets.partitions import perf_series_partitions
from regression_assets.perf.raw import raw_perf_results
from regression_assets.perf.util import concat_frames, for_each_partition
from regression_assets.stats.series import clean_points, daily_aggregate
from regression_assets.warehouse import PerfWarehouse

PERF_PARTITION_EXPR = {"date": "partition_date", "series": "series_key"}


class CleanedSeriesConfig(dg.Config):
    window_days: int = 180
    mad_threshold: float = 5.0


def clean_window(raw: pd.DataFrame, day: str, key: str, mad_threshold: float) -> pd.DataFrame:
    """Points of one series' window with outlier flags and their day's aggregate alongside."""
    if raw.empty:
        return pd.DataFrame()
    pts = clean_points(raw["push_timestamp"].to_numpy(), raw["value"].to_numpy(), mad_threshold=mad_threshold)
    order = raw["push_timestamp"].argsort(kind="stable").to_numpy()
    meta = raw.iloc[order].reset_index(drop=True)
    pts["revision"] = meta["revision"].astype(str).to_numpy()
    pts["day"] = pts["timestamp"].dt.floor("D")
    daily = daily_aggregate(pts).rename(columns={"median": "day_median", "n_points": "day_n"})
    pts = pts.merge(daily[["day", "day_median", "day_n"]], on="day", how="left")
    return pts.assign(partition_date=pd.Timestamp(day), series_key=key, suite=str(meta["suite"].iat[0]),
                      platform=str(meta["platform"].iat[0]),
                      lower_is_better=bool(meta["lower_is_better"].iat[0]))


@dg.asset(
    partitions_def=perf_series_partitions,
    group_name="perf",
    kinds={"python", "pandas"},
    deps=[dg.AssetDep(raw_perf_results, partition_mapping=dg.MultiToSingleDimensionPartitionMapping("date"))],
    metadata={"partition_expr": PERF_PARTITION_EXPR},
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def cleaned_series(context: dg.AssetExecutionContext, config: CleanedSeriesConfig,
                   warehouse: PerfWarehouse) -> pd.DataFrame:
    """A series' trailing window of points up to the date, outliers flagged (> 5 MADs), daily levels."""

    window = pd.Timedelta(days=config.window_days)
    # One read per series covering every date of the run, then sliced per date.
    spans: dict[str, list[pd.Timestamp]] = {}
    for key in context.partition_keys:
        day, series = split_multi_key(key)
        spans.setdefault(series, []).append(pd.Timestamp(day))
    cache: dict[str, pd.DataFrame] = {}

    def one(day: str, key: str) -> pd.DataFrame:
        if key not in cache:
            first, last = min(spans[key]), max(spans[key])
            cache[key] = warehouse.series_window(key, first + pd.Timedelta(days=1) - window, last + pd.Timedelta(days=1))
        raw, end = cache[key], pd.Timestamp(day) + pd.Timedelta(days=1)
        if len(raw):
            raw = raw[(raw["push_timestamp"] >= end - window) & (raw["push_timestamp"] < end)]
        return clean_window(raw, day, key, config.mad_threshold)

    results, stats = for_each_partition(context, one)
    out = concat_frames(f for _, f in results)
    context.add_output_metadata({**stats, "points": len(out),
                                 "outliers": int(out["is_outlier"].sum()) if len(out) else 0})
    return out
