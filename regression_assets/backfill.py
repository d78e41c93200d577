"""Backfilling the perf graph from code: what `make run` (`regression-assets run`) does.

It runs the same jobs the UI would: the raw pull over a date range as one run, then per series one
run over the whole date range (single-run backfills: one compiled PyMC model per run, not per day).

Runs execute in this process (or a pool worker), so nothing outside it notices when it is killed
(SIGKILL, the OOM killer): its runs stay STARTED and keep their concurrency-pool slots, and with the
instance's `pools: default_limit: 1` the next backfill would wait for the `pymc` slot forever. Each
run is therefore tagged with its host and process (pid and start time); a backfill first marks the
runs of processes that are gone as failed and frees their slots (`recover_orphaned_runs`).
"""

import datetime as dt
import multiprocessing
import os
import socket
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import dagster as dg
import pandas as pd

from regression_assets.partitions import series_partitions

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
HOST_TAG = "regression_assets/host"
PROCESS_TAG = "regression_assets/process"
_UNFINISHED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
               dg.DagsterRunStatus.CANCELING]


def _process_token(pid: int) -> str | None:
    """"pid:start time" of a live process (a reused pid is another process), None if it is gone."""
    if Path("/proc/self/stat").exists():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return None if fields[0] in ("Z", "X") else f"{pid}:{fields[19]}"  # zombie / dead: gone
    try:  # no /proc: the pid alone
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return str(pid)


def process_tags() -> dict[str, str]:
    """Tags naming the process that executes a run in-process (see `recover_orphaned_runs`)."""
    return {HOST_TAG: socket.gethostname(), PROCESS_TAG: _process_token(os.getpid()) or str(os.getpid())}


def recover_orphaned_runs(instance: dg.DagsterInstance, log: Callable[[str], None] = print) -> list[str]:
    """Mark failed, and free the pool slots of, unfinished runs of this host's processes that are gone."""
    host, recovered = socket.gethostname(), []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=_UNFINISHED, tags={HOST_TAG: host})):
        token = run.tags.get(PROCESS_TAG, "")
        pid = token.split(":")[0]
        if not pid.isdigit() or _process_token(int(pid)) == token or "dagster/parent_run_id" in run.tags:
            continue  # still running, or a re-execution from the UI (it inherits its parent's tags)
        instance.report_run_failed(run, message=f"process {token} on {host} ended without finishing the run "
                                                "(killed?); marked failed by the next backfill")
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(run.run_id)
        log(f"run {run.run_id} ({run.job_name}) of a process that is gone: marked failed, pool slots freed")
    return recovered


def quiet_warnings() -> None:
    """Hide the warnings a command-line backfill cannot act on: Dagster's beta/preview notices for
    APIs this project chose, and PyTensor's BLAS notice (nutpie does not use PyTensor's C backend)."""
    for category in (dg.BetaWarning, dg.PreviewWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")


def set_pool_limit(instance: dg.DagsterInstance, pool: str, slots: int,
                   log: Callable[[str], None] = print) -> None:
    """Give `pool` this many slots: one PyMC fit per worker (the instance default is 1 slot a pool,
    which keeps DuckDB to one writer but would make a second backfill worker wait for every fit)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    if pool in storage.get_concurrency_keys() and storage.get_concurrency_info(pool).slot_count == slots:
        return
    storage.set_concurrency_slots(pool, slots)
    log(f"pool {pool!r}: {slots} slot(s)")


def _range_tags(start: str, end: str) -> dict[str, str]:
    return {RANGE_START: start, RANGE_END: end, **process_tags()}


def run_backfill(defs: dg.Definitions, instance: dg.DagsterInstance, start: dt.date, end: dt.date,
                 series: list[str] | None = None, run_config: dict | None = None, workers: int = 1,
                 log: Callable[[str], None] = print) -> dict:
    """Materialize raw results for [start, end], then every date × series partition in that range."""
    s, e = start.isoformat(), end.isoformat()
    stats: dict = {"runs": 0, "failed_runs": []}
    t0 = time.time()
    recover_orphaned_runs(instance, log)
    defs.resolve_job_def("release_calendar_job").execute_in_process(instance=instance, run_config=QUIET,
                                                                    tags=process_tags())
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
        outcomes = (_run_series(key, s, e, run_config, instance, defs) for key in keys)
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
    recover_orphaned_runs(instance, log)
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
                instance: dg.DagsterInstance | None = None,
                defs: dg.Definitions | None = None) -> tuple[str, str, str, float]:
    """One run of the per-series chain over [start, end] (in this process or a pool worker).

    In this process it runs the caller's definitions; a pool worker loads the code location's.
    """
    if defs is None:  # a pool worker
        quiet_warnings()
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
