"""Running one function per (date, series) partition of a run, so one bad series never sinks the rest."""

from collections.abc import Callable, Iterable

import dagster as dg
import pandas as pd

from regression_assets.io_managers import split_multi_key


def for_each_partition(context: dg.AssetExecutionContext, fn: Callable[[str, str], object]) -> tuple[list[tuple[str, object]], dict]:
    """Call fn(date, series) for each partition key of the run; failures are logged and counted.

    A single-partition run re-raises (the partition shows as failed in the UI); a multi-partition
    run (a single-run backfill) goes on with the other partitions and lists the failures in metadata,
    unless every partition failed: then the step fails too, so a series whose data is broken throughout
    shows as a failed run rather than a successful one with nothing in it.
    """
    keys = list(context.partition_keys)
    results, failures = [], {}
    for key in keys:
        day, series = split_multi_key(key)
        try:
            results.append((str(key), fn(day, series)))
        except Exception as exc:
            if len(keys) == 1:
                raise
            failures[str(key)] = f"{type(exc).__name__}: {exc}"[:300]
            context.log.error(f"partition {key} failed: {failures[str(key)]}")
    stats = {"partitions": len(keys), "failed_partitions": len(failures)}
    if failures:
        stats["failures"] = dg.MetadataValue.json(dict(list(failures.items())[:50]))
    if keys and len(failures) == len(keys):
        first = next(iter(failures.items()))
        raise dg.Failure(description=f"all {len(keys)} partitions failed; first: {first[0]}: {first[1]}",
                         metadata=stats)
    return results, stats


def concat_frames(frames: Iterable[pd.DataFrame | None]) -> pd.DataFrame:
    parts = [f for f in frames if f is not None and len(f)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def by_partition(frame: pd.DataFrame) -> dict[tuple[pd.Timestamp, str], pd.DataFrame]:
    """A partitioned input split per (partition_date, series_key)."""
    return dict(tuple(frame.groupby(["partition_date", "series_key"]))) if len(frame) else {}
