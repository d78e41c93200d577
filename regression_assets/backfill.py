"""Backfilling the perf graph from code: what `make run` (`regression-assets run`) does.

It runs the same jobs the UI would: the raw pull over a date range as one run, then per series one
run over the whole date range (single-run backfills: one compiled PyMC model per run, not per day).
"""

import datetime as dt
import time
from collections.abc import Callable

import dagster as dg
import pandas as pd

from regression_assets.partitions import series_partitions

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def _range_tags(start: str, end: str) -> dict[str, str]:
    return {RANGE_START: start, RANGE_END: end}


def run_backfill(defs: dg.Definitions, instance: dg.DagsterInstance, start: dt.date, end: dt.date,
                 series: list[str] | None = None, run_config: dict | None = None,
                 log: Callable[[str], None] = print) -> dict:
    """Materialize raw results for [start, end], then every date × series partition in that range."""
    s, e = start.isoformat(), end.isoformat()
    stats: dict = {"runs": 0, "failed_runs": []}
    t0 = time.time()
    defs.resolve_job_def("release_calendar_job").execute_in_process(instance=instance)
    raw = defs.resolve_job_def("raw_perf_job").execute_in_process(instance=instance, tags=_range_tags(s, e),
                                                                   raise_on_error=False)
    stats["runs"] += 2
    if not raw.success:
        raise RuntimeError(f"raw_perf_results failed for {s}..{e}; see run {raw.run_id}")
    keys = sorted(instance.get_dynamic_partitions(series_partitions.name))
    if series:
        unknown = sorted(set(series) - set(keys))
        if unknown:
            raise ValueError(f"unknown series {unknown}; known: {keys}")
        keys = [k for k in keys if k in series]
    log(f"raw results {s}..{e} loaded in {time.time() - t0:.0f}s; {len(keys)} series to backfill")
    job = defs.resolve_job_def("perf_series_job")
    for i, key in enumerate(keys, 1):
        t1 = time.time()
        result = job.execute_in_process(instance=instance, tags=_range_tags(f"{s}|{key}", f"{e}|{key}"),
                                        run_config=run_config or {}, raise_on_error=False)
        stats["runs"] += 1
        if not result.success:
            stats["failed_runs"].append((key, result.run_id))
        log(f"[{i}/{len(keys)}] {key}: {'ok' if result.success else 'FAILED'} in {time.time() - t1:.0f}s")
    stats["seconds"] = time.time() - t0
    return stats


def sample_date_range() -> tuple[dt.date, dt.date]:
    from regression_assets.sources.sample import FIRST_DAY, LAST_DAY

    return FIRST_DAY, LAST_DAY


def read_table(database: str, table: str, schema: str = "regression_assets") -> pd.DataFrame:
    import duckdb

    with duckdb.connect(database, read_only=True) as con:
        return con.execute(f'SELECT * FROM "{schema}"."{table}"').df()
