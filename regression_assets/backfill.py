"""Backfilling the perf graph from code: what `make run` (`regression-assets run`) does.

It runs the same jobs the UI would: the raw pull over a date range as one run, then per series one
run over the whole date range (single-run backfills: one compiled PyMC model per run, not per day).
"""

import datetime as dt
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import dagster as dg
import pandas as pd

from regression_assets.partitions import series_partitions

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _range_tags(start: str, end: str) -> dict[str, str]:
    return {RANGE_START: start, RANGE_END: end}


def run_backfill(defs: dg.Definitions, instance: dg.DagsterInstance, start: dt.date, end: dt.date,
                 series: list[str] | None = None, run_config: dict | None = None, workers: int = 1,
                 log: Callable[[str], None] = print) -> dict:
    """Materialize raw results for [start, end], then every date × series partition in that range."""
    s, e = start.isoformat(), end.isoformat()
    stats: dict = {"runs": 0, "failed_runs": []}
    t0 = time.time()
    defs.resolve_job_def("release_calendar_job").execute_in_process(instance=instance, run_config=QUIET)
    raw = defs.resolve_job_def("raw_perf_job").execute_in_process(instance=instance, tags=_range_tags(s, e),
                                                                   run_config=QUIET, raise_on_error=False)
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
    if workers <= 1:
        outcomes = (_run_series(key, s, e, run_config, instance) for key in keys)
    else:  # one process per core, each with its own compiled model; DuckDB writes take turns
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        outcomes = pool.map(_run_series, keys, [s] * len(keys), [e] * len(keys), [run_config] * len(keys))
    stats["blocked_runs"] = []
    for i, (key, outcome, run_id, seconds) in enumerate(outcomes, 1):
        stats["runs"] += 1
        if outcome == "failed":
            stats["failed_runs"].append((key, run_id))
        elif outcome == "blocked":
            stats["blocked_runs"].append((key, run_id))
        shown = {"ok": "ok", "failed": "FAILED", "blocked": "alerts withheld by a blocking asset check"}[outcome]
        log(f"[{i}/{len(keys)}] {key}: {shown} in {seconds:.0f}s")
    stats["seconds"] = time.time() - t0
    return stats


def run_stability_backfill(defs: dg.Definitions, instance: dg.DagsterInstance, start: dt.date, end: dt.date,
                           log: Callable[[str], None] = print) -> dict:
    """Every date × channel partition of the stability assets in [start, end]: one run per channel."""
    from regression_assets.partitions import STABILITY_CHANNELS

    stats: dict = {"runs": 0, "failed_runs": []}
    job = defs.resolve_job_def("stability_job")
    for channel in STABILITY_CHANNELS:
        t1 = time.time()
        result = job.execute_in_process(instance=instance, run_config=QUIET, raise_on_error=False,
                                        tags=_range_tags(f"{channel}|{start}", f"{channel}|{end}"))
        stats["runs"] += 1
        if not result.success:
            stats["failed_runs"].append((channel, result.run_id))
        log(f"stability {channel}: {'ok' if result.success else 'FAILED'} in {time.time() - t1:.0f}s")
    return stats


def _run_series(key: str, start: str, end: str, run_config: dict | None,
                instance: dg.DagsterInstance | None = None) -> tuple[str, str, str, float]:
    """One run of the per-series chain over [start, end] (in this process or a pool worker)."""
    from regression_assets.definitions import defs

    t1 = time.time()
    own = instance is None
    instance = instance or dg.DagsterInstance.get()
    try:
        result = defs.resolve_job_def("perf_series_job").execute_in_process(
            instance=instance, tags=_range_tags(f"{start}|{key}", f"{end}|{key}"), run_config={**QUIET, **(run_config or {})},
            raise_on_error=False)
    finally:
        if own:
            instance.dispose()
    return key, run_outcome(result), result.run_id, time.time() - t1


def run_outcome(result) -> str:
    """ok, blocked (only blocking asset checks failed: the graph worked, a check withheld what follows), failed."""
    if result.success:
        return "ok"
    failures = result.get_step_failure_events()
    blocked = failures and all(
        getattr(getattr(f.event_specific_data, "error", None), "cls_name", "") == "DagsterAssetCheckFailedError"
        for f in failures)
    return "blocked" if blocked else "failed"


def sample_date_range() -> tuple[dt.date, dt.date]:
    from regression_assets.sources.sample import FIRST_DAY, LAST_DAY

    return FIRST_DAY, LAST_DAY


def read_table(database: str, table: str, schema: str = "regression_assets") -> pd.DataFrame:
    from regression_assets.io_managers import connect_with_retry

    with connect_with_retry(database, read_only=True) as con:
        return con.execute(f'SELECT * FROM "{schema}"."{table}"').df()
