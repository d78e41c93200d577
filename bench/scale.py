"""Backfill at scale (issue #5): N series × D days through the real Dagster graph, timed and measured.

    python bench/scale.py [--series 50] [--days 30] [--history-days 180] [--workers 2]
                          [--micro-fits 50] [--baseline-fits 3] [--seed 20261130] [--keep]
    python bench/scale.py --series 4 --days 3      # a quick check that it works (~3-5 min on 2 cores)
    python bench/scale.py --merge-only             # re-append the last section to bench/results.md

What it does, in a fresh DAGSTER_HOME and REGRESSION_ASSETS_DATA_DIR under a temporary directory (the
project's own .dagster_home and data_out are never touched):
1. generates a raw perf dataset (fixed seed; the bundled sample's series specs, noise profiles and
   run pattern, `regression_assets.sources.sample`) for `--history-days` + `--days` days, so every
   backfilled day has a full 180-day window, and points a LocalPerfSource at it;
2. loads the history with `raw_perf_job` (one single-run backfill, timed separately);
3. runs `regression_assets.backfill.run_backfill` over the last `--days` days with `--workers`
   processes (what `regression-assets run` does), sampling memory of the parent and the workers;
4. reads back, from the instance and the stored draws: partitions materialized, fits, r_hat / ESS /
   divergences per fit, step times per run, storage per fit;
5. in a fresh process: one compile, then `--micro-fits` calls of `fit_spline` on the same cleaned
   windows the graph fitted (the asset's own pre-processing), and `--baseline-fits` fits with a
   fresh `pm.sample` each (model built, compiled and sampled per fit: the cost before nutpie);
6. writes bench/scale_results.json and a section of bench/results.md (between markers; the rest of
   the file is left as bench/harness.py wrote it), with a projection to other sizes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from bench.harness import _clean
from regression_assets.perf.posterior import SplinePosteriorConfig

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEED = 20261130
END_DAY = dt.date(2026, 5, 31)
WINDOW_DAYS = 180  # SplinePosteriorConfig.window_days / CleanedSeriesConfig.window_days
SAMPLER = SplinePosteriorConfig()  # chains / tune / draws as the asset samples
MARK_BEGIN = "<!-- bench/scale.py: begin (generated; replaced on every run) -->"
MARK_END = "<!-- bench/scale.py: end -->"
SUITES = ["tp5o", "tsvgx", "speedometer3", "sessionrestore", "tart", "damp", "glterrain", "a11yr", "tresize",
          "ts_paint"]
PLATFORMS = ["linux1804-64-shippable-qr", "windows11-64-shippable-qr", "macosx1015-64-shippable-qr",
             "android-hw-a51-11-0-aarch64-shippable-qr", "windows10-32-shippable-qr"]
PROFILES = ["ok", "bimodal", "outliers", "heavy", "skewed"]
HIGHER_IS_BETTER = {"speedometer3"}
# Sizes the projection is written for (the default run, and the year × 500 suite-platforms).
PROJECTIONS = {"50 series × 30 days": (50, 30), "500 series × 365 days": (500, 365)}


def log(msg: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- data


def series_specs(n_series: int, first_day: dt.date, last_day: dt.date, rng: np.random.Generator) -> list:
    """`n_series` SeriesSpec (the bundled sample's type): names, levels, noise, ~60% with one change."""
    from regression_assets.sources.sample import Change, SeriesSpec

    specs, span = [], (last_day - first_day).days
    per_round = len(SUITES) * len(PLATFORMS)
    for i in range(n_series):
        suite = SUITES[i % len(SUITES)] + (f"-{i // per_round}" if i >= per_round else "")
        plat = PLATFORMS[(i // len(SUITES)) % len(PLATFORMS)]
        changes: tuple = ()
        if rng.random() < 0.6 and span > 40:
            start = first_day + dt.timedelta(days=int(rng.integers(30, span - 5)))
            size = float(rng.uniform(3.0, 10.0)) * (1.0 if rng.random() < 0.5 else -1.0)
            ramp = int(rng.integers(10, 21)) if rng.random() < 0.25 else 0
            changes = (Change(start.isoformat(), round(size, 2), ramp_days=ramp),)
        specs.append(SeriesSpec(suite, plat, base=float(np.exp(rng.uniform(np.log(20.0), np.log(2000.0)))),
                                noise_pct=float(rng.uniform(0.8, 2.0)), profile=PROFILES[i % len(PROFILES)],
                                lower_is_better=suite.split("-")[0] not in HIGHER_IS_BETTER, changes=changes))
    return specs


def generate_raw(n_series: int, first_day: dt.date, last_day: dt.date, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(raw perf rows in RAW_PERF_COLUMNS, truth) with the sample's run pattern: 2-6 runs on weekdays,
    0-2 at weekends, every third run retriggered (two rows, one push time), a few shared outage days."""
    from regression_assets.sources.sample import _noise, level_factor
    from regression_assets.sources.schema import RAW_PERF_COLUMNS, series_key

    rng = np.random.default_rng(seed)
    all_days = np.arange(np.datetime64(first_day), np.datetime64(last_day) + 1)
    n_gaps = min(max(1, len(all_days) // 40), max(len(all_days) - 25, 0))
    gaps = rng.choice(np.arange(20, len(all_days) - 5), size=n_gaps, replace=False) if n_gaps else []
    frames, truth = [], []
    for s_i, spec in enumerate(series_specs(n_series, first_day, last_day, rng)):
        weekend = pd.DatetimeIndex(all_days).weekday.to_numpy() >= 5
        runs = np.where(weekend, rng.integers(0, 3, len(all_days)), rng.integers(2, 7, len(all_days)))
        runs[gaps] = 0
        day = np.repeat(all_days, runs)
        k = np.arange(len(day)) - np.repeat(np.cumsum(runs) - runs, runs)  # index of the run within its day
        secs = rng.integers(0, 86400, len(day))
        order = np.lexsort((secs, day))
        day, secs = day[order], secs[order]
        dup = np.where(k % 3 == 2, 2, 1)  # retriggered pushes: two rows at one push time
        day, secs = np.repeat(day, dup), np.repeat(secs, dup)
        ts = day.astype("datetime64[s]") + secs.astype("timedelta64[s]")
        sd = spec.base * spec.noise_pct / 100.0
        values = spec.base * level_factor(spec, day) + _noise(rng, spec.profile, len(ts), sd)
        values = np.maximum(values, spec.base * 0.05)
        n = len(ts)
        frames.append(pd.DataFrame({
            "push_timestamp": ts.astype("datetime64[ns]"), "repository": "autoland",
            "framework": "browsertime" if spec.suite.startswith("speedometer3") else "talos",
            "suite": spec.suite, "platform": spec.platform, "value": np.round(values, 3),
            "lower_is_better": spec.lower_is_better,
            "revision": [f"{(s_i * 7919 + i * 104729) % 16**12:012x}" for i in range(n)],
            "task_id": [f"S{s_i:04d}{i:07d}" for i in range(n)],
        }))
        for ch in spec.changes:
            truth.append({"series_key": series_key(spec.suite, spec.platform), "start": ch.start,
                          "kind": "ramp" if ch.ramp_days else "step", "ramp_days": ch.ramp_days,
                          "magnitude_pct": ch.magnitude_pct, "profile": spec.profile})
    perf = pd.concat(frames, ignore_index=True).sort_values(["push_timestamp", "suite", "platform"])
    return perf.astype(dict(RAW_PERF_COLUMNS)).reset_index(drop=True), pd.DataFrame(truth)


def release_calendar(first_day: dt.date, last_day: dt.date) -> pd.DataFrame:
    """A nightly version every 28 days (the sample's cadence, anchored on its 148 = 2026-01-12)."""
    anchor, version = dt.date(2026, 1, 12), 148
    k0 = math.floor((first_day - anchor).days / 28) - 1
    k1 = math.ceil((last_day - anchor).days / 28) + 1
    return pd.DataFrame([{"channel": "nightly", "version": str(version + k),
                          "release_date": (anchor + dt.timedelta(days=28 * k)).isoformat()} for k in range(k0, k1 + 1)])


# ------------------------------------------------------------------------------------------- memory


def _proc_status_kb(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


class MemoryWatch(threading.Thread):
    """Samples the peak RSS (VmHWM, the kernel's high-water mark) of this process and its descendants."""

    def __init__(self, interval: float = 0.5):
        super().__init__(daemon=True)
        self.interval, self.stop_event = interval, threading.Event()
        self.peaks: dict[int, dict] = {}  # pid -> {"kb": peak, "kind": ...}
        try:
            import psutil

            self._psutil = psutil
        except ImportError:  # /proc only: the parent's own high-water mark, children from RUSAGE_CHILDREN
            self._psutil = None

    def _sample(self) -> None:
        procs = []
        if self._psutil is not None:
            me = self._psutil.Process()
            try:
                procs = me.children(recursive=True)
            except self._psutil.Error:
                procs = []
        for p in procs:
            try:
                cmd = " ".join(p.cmdline())
            except self._psutil.Error:
                continue
            kind = ("resource_tracker" if "resource_tracker" in cmd else
                    "worker" if "multiprocessing" in cmd or "spawn_main" in cmd else "other")
            kb = _proc_status_kb(p.pid, "VmHWM")
            if kb is None:
                try:
                    kb = p.memory_info().rss // 1024
                except self._psutil.Error:
                    continue
            prev = self.peaks.get(p.pid)
            if prev is None or kb > prev["kb"]:
                self.peaks[p.pid] = {"kb": kb, "kind": kind}

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self._sample()

    def stop(self) -> None:
        self._sample()
        self.stop_event.set()
        self.join(timeout=5)


def _self_peak_mb() -> float:
    kb = _proc_status_kb(os.getpid(), "VmHWM")
    return (kb if kb is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024.0


def _cpu_seconds() -> tuple[float, float]:
    """(CPU seconds of this process, of its reaped children), user + system."""
    me, ch = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, ch.ru_utime + ch.ru_stime


def _wait_for_pool_exit(timeout: float = 60.0) -> None:
    """run_backfill drops its process pool on return; wait until its workers have exited and been reaped."""
    gc.collect()
    try:
        import psutil
    except ImportError:
        time.sleep(2.0)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in psutil.Process().children() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        workers = [p for p in alive if "spawn_main" in " ".join(p.cmdline())]
        if not workers:
            return
        time.sleep(0.5)
        gc.collect()


# -------------------------------------------------------------------------------------- environment


def prepare_environment(work: Path, first_day: dt.date) -> None:
    """A fresh DAGSTER_HOME (the project's dagster.yaml, paths moved) and data dir under `work`."""
    home, data = work / "dagster_home", work / "data"
    home.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    yaml = (ROOT / "dagster.yaml").read_text().replace("base_dir: .dagster_home", f"base_dir: {home}")
    (home / "dagster.yaml").write_text(yaml)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ["REGRESSION_ASSETS_DATA_DIR"] = str(data)
    os.environ["REGRESSION_ASSETS_ENV"] = "local"
    start = os.getenv("REGRESSION_ASSETS_START_DATE", "2025-01-01")
    if first_day.isoformat() < start:
        os.environ["REGRESSION_ASSETS_START_DATE"] = first_day.isoformat()


def definitions_with_source(source_dir: Path):
    """The project's Definitions with the perf source pointed at the generated files.

    Only the parent process reads the source (the raw pull and the release calendar); the per-series
    runs in the pool workers read the raw table back from the DuckDB file under the data dir.
    """
    import dagster as dg

    from regression_assets.definitions import defs
    from regression_assets.sources.files import LocalPerfSource

    resources = {**defs.resources, "perf_source": LocalPerfSource(directory=str(source_dir), include_talos=False)}
    return dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs,
                          resources=resources, executor=defs.executor)


# -------------------------------------------------------------------------------------- read back


def run_step_times(instance) -> pd.DataFrame:
    """One row per (perf_series_job run, step): seconds, the process it ran in, partitions in the run."""
    import dagster as dg

    rows = []
    types = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE,
             dg.DagsterEventType.ENGINE_EVENT}
    for rec in instance.get_run_records(filters=dg.RunsFilter(job_name="perf_series_job")):
        run = rec.dagster_run
        starts, ends, pids, blocked = {}, {}, {}, {}
        for entry in instance.all_logs(run.run_id, of_type=types):
            ev = entry.dagster_event
            if ev.event_type == dg.DagsterEventType.ENGINE_EVENT:
                # "Step blocked by limit for pool pymc": the step waits for a concurrency slot
                if ev.step_key and "blocked by limit for pool" in (ev.message or ""):
                    blocked.setdefault(ev.step_key, entry.timestamp)
            elif ev.event_type == dg.DagsterEventType.STEP_START:
                starts[ev.step_key] = entry.timestamp
                pids[ev.step_key] = ev.pid
            else:
                ends[ev.step_key] = (entry.timestamp, ev.event_type == dg.DagsterEventType.STEP_SUCCESS)
        run_s = (rec.end_time or 0) - (rec.start_time or 0)
        for step, t0 in starts.items():
            t1, ok = ends.get(step, (t0, False))
            rows.append({"run_id": run.run_id, "series": run.tags.get("dagster/asset_partition_range_start", "").split("|")[-1],
                         "run_seconds": run_s, "run_start": rec.start_time, "step": step, "seconds": t1 - t0,
                         "pool_wait": t0 - blocked[step] if step in blocked else 0.0, "ok": ok, "pid": pids.get(step)})
    return pd.DataFrame(rows)


def stored_fits(data_dir: Path) -> pd.DataFrame:
    """Diagnostics and file size of every stored spline fit (one Parquet file of draws per partition)."""
    from regression_assets.perf.posterior import DIAGNOSTIC_COLUMNS

    rows = []
    for path in sorted((data_dir / "posterior" / "spline_posterior").glob("*/*.parquet")):
        diag = pd.read_parquet(path, columns=DIAGNOSTIC_COLUMNS).iloc[0].to_dict()
        rows.append({"series": path.parent.name, "day": path.stem, "bytes": path.stat().st_size, **diag})
    return pd.DataFrame(rows)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


# ------------------------------------------------------------------------------ stats micro-benchmark


def micro_benchmark(database: str, partitions: list[tuple[str, str]], n_baseline: int, window_days: int,
                    chains: int, tune: int, draws: int) -> dict:
    """In a fresh process: compile once, fit each (day, series) window as the asset does; then the baseline."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("pymc").setLevel(logging.ERROR)
    from regression_assets.io_managers import connect_with_retry
    from regression_assets.stats.mixture import demode
    from regression_assets.stats.spline import (
        basis,
        build_model,
        compiled_model,
        fit_spline,
        model_inputs,
        stable_seed,
    )

    keys = sorted({k for _, k in partitions})
    first = min(d for d, _ in partitions)
    with connect_with_retry(database, read_only=True) as con:
        marks = ", ".join("?" for _ in keys)
        cleaned = con.execute(
            "SELECT partition_date, series_key, timestamp, log_value, is_outlier, invalid "
            f"FROM regression_assets.cleaned_series WHERE series_key IN ({marks}) AND partition_date >= ?",
            [*keys, pd.Timestamp(first)]).df()
    groups = dict(tuple(cleaned.groupby(["partition_date", "series_key"])))
    inputs = []
    for day, key in partitions:
        pts = groups.get((pd.Timestamp(day), key))
        if pts is None:
            continue
        use = pts[~pts["is_outlier"] & ~pts["invalid"]].sort_values(["timestamp", "log_value"], kind="stable")
        inputs.append((day, key, use["timestamp"].to_numpy(), np.exp(demode(use["log_value"].to_numpy())[0])))

    out: dict = {"fits": []}
    t0 = time.perf_counter()
    compiled_model(basis(window_days).c.shape[1])
    out["compile_seconds"] = time.perf_counter() - t0
    for day, key, ts, level in inputs:
        w0, c0 = time.perf_counter(), time.process_time()
        fit = fit_spline(ts, level, pd.Timestamp(day), window_days=window_days, chains=chains, tune=tune,
                         draws=draws, seed=stable_seed(key, day))
        out["fits"].append({"day": day, "series": key, "wall": time.perf_counter() - w0,
                            "cpu": time.process_time() - c0, "r_hat_max": fit.r_hat_max,
                            "ess_bulk_min": fit.ess_bulk_min, "divergences": fit.divergences, "n_days": fit.n_days})
    out["peak_mb"] = _self_peak_mb()

    # Baseline: a fresh PyMC model and `pm.sample` per fit (PyMC's own NUTS, same chains / tune / draws
    # and tree depth as the nutpie fits, one core): model build + compile + sampling, every time.
    import arviz as az
    import pymc as pm

    out["baseline"] = []
    for day, key, ts, level in inputs[:n_baseline]:
        w0, c0 = time.perf_counter(), time.process_time()
        inputs = model_inputs(ts, level, pd.Timestamp(day), window_days)
        with build_model(inputs.n_basis, n_obs=len(inputs.y)):
            pm.set_data(inputs.data())
            idata = pm.sample(draws=draws, tune=tune, chains=chains, cores=1, random_seed=stable_seed(key, day),
                              progressbar=False, compute_convergence_checks=False, max_treedepth=7)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        post = idata.posterior
        supported = inputs.data()["b_obs"].sum(axis=0) > 0
        ds = az.convert_to_dataset({"coef": post["coef"].values[..., supported], "sigma": post["sigma"].values,
                                    "nu": post["nu"].values})
        r_hat = float(max(np.nanmax(v.values) for v in az.rhat(ds).data_vars.values()))
        div = int(idata.sample_stats["diverging"].values.sum())
        out["baseline"].append({"day": day, "series": key, "wall": wall, "cpu": cpu, "r_hat_max": r_hat,
                                "divergences": div})
    return out


# ------------------------------------------------------------------------------------- the benchmark


def _q(x, q) -> float | None:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(np.quantile(x, q)) if len(x) else None


def summarize_steps(steps: pd.DataFrame, fits: pd.DataFrame) -> dict:
    """Per-step totals; the spline step split into the compile (first run in each worker process) and
    the steady state; time spent waiting for a slot of the `pymc` concurrency pool."""
    if steps.empty:
        return {}
    out: dict = {"runs": int(steps["run_id"].nunique()), "steps": {}}
    for name, g in steps.groupby("step"):
        out["steps"][name] = {"seconds_total": float(g["seconds"].sum()), "seconds_median_run": float(g["seconds"].median())}
    per_run = steps.groupby("run_id").agg(run_seconds=("run_seconds", "first"), step_seconds=("seconds", "sum"),
                                          pool_wait=("pool_wait", "sum"))
    out["run_seconds_median"] = float(per_run["run_seconds"].median())
    out["pool_wait_seconds_total"] = float(per_run["pool_wait"].sum())
    out["runs_that_waited_for_the_pool"] = int((per_run["pool_wait"] > 0.5).sum())
    # what a run costs besides its steps and pool waits: run start/stop, event writes, the executor
    out["run_overhead_seconds_median"] = float((per_run["run_seconds"] - per_run["step_seconds"] - per_run["pool_wait"]).median())
    spline = steps[steps["step"] == "spline_posterior"].sort_values("run_start").copy()
    if spline.empty:
        return out
    n_fits = fits.groupby("series").size() if len(fits) else pd.Series(dtype=int)
    spline["fits"] = spline["series"].map(n_fits).fillna(0).astype(int)
    spline["first_in_process"] = ~spline["pid"].duplicated()
    out["worker_processes"] = int(spline["pid"].nunique())
    out["spline_step_seconds_total"] = float(spline["seconds"].sum())
    warm = spline[~spline["first_in_process"]]
    if warm["fits"].sum() > 0:
        per_fit = float(warm["seconds"].sum() / warm["fits"].sum())
        out["spline_seconds_per_fit_warm_source"] = f"{len(warm)} runs after the first in their process"
    else:  # every run was the first in its process: no compile-free run to measure
        per_fit = None
    out["spline_seconds_per_fit_warm"] = per_fit
    if per_fit is not None:
        first = spline[spline["first_in_process"]]
        out["compile_seconds_in_graph_mean"] = float((first["seconds"] - first["fits"] * per_fit).mean())
    return out


def project(series: int, days: int, r: dict) -> dict | None:
    """Wall time of a `series` × `days` backfill on this machine, from this run's measured costs.

    Per series run: the run's fixed overhead, the other steps, and the spline step (days × seconds per
    fit; the first run in each worker also compiles). Spline steps hold a slot of the `pymc` pool, so
    at most min(slots, workers) fit at once; everything else spreads over the workers:
        wall = raw load + max(spline work / min(slots, workers), all work / workers).
    The other steps were timed at this run's day count: `low` takes them as fixed per run, `high` as
    proportional to the days. `naive` is fits / (this run's fits per minute).
    """
    ig, c = r.get("in_graph", {}), r["config"]
    per_fit = ig.get("spline_seconds_per_fit_warm") or r.get("micro", {}).get("wall_per_fit_mean")
    if per_fit is None or not ig.get("steps"):
        return None
    compile_s = ig.get("compile_seconds_in_graph_mean") or r.get("micro", {}).get("compile_seconds") or 0.0
    workers, slots = c["workers"], c["pymc_slots"]
    other_run = sum(v["seconds_median_run"] for k, v in ig["steps"].items() if k != "spline_posterior")
    run_fixed = max(ig.get("run_overhead_seconds_median", 0.0), 0.0)
    d = r["data"]
    rows = d["raw_rows"] / max(d["series"] * d["total_days"], 1) * series * (days + c["history_days"])
    raw_s = rows * r["history_load"]["seconds"] / max(d["raw_rows_history"], 1)
    fits = series * days
    spline_work = fits * per_fit + min(workers, series) * compile_s
    out = {"series": series, "days": days, "fits": fits, "partitions_per_asset": fits}
    for name, other in (("low", other_run), ("high", other_run * days / c["days"])):
        all_work = spline_work + series * (run_fixed + other)
        wall = raw_s + max(spline_work / max(min(slots, workers), 1), all_work / workers)
        out[f"hours_{name}"] = wall / 3600.0
    fpm = r["backfill"].get("fits_per_minute")
    out["hours_naive"] = fits / fpm / 60.0 if fpm else None
    st = r["storage"]
    out["draws_gb"] = fits * st["draws_bytes_per_fit_mean"] / 1e9 if st.get("draws_bytes_per_fit_mean") else None
    out["dagster_home_gb"] = fits * st["dagster_home_bytes_per_partition"] / 1e9 if st.get("dagster_home_bytes_per_partition") else None
    return out


def run(args: argparse.Namespace) -> dict:
    end = args.end
    start = end - dt.timedelta(days=args.days - 1)
    first = start - dt.timedelta(days=args.history_days)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    log(f"work dir {work}; {args.series} series × {args.days} days ({start}..{end}), history from {first}")
    prepare_environment(work, first)
    load_before = os.getloadavg()

    t0 = time.perf_counter()
    perf, truth = generate_raw(args.series, first, end, args.seed)
    source = work / "source"
    source.mkdir(exist_ok=True)
    perf.to_parquet(source / "perf_results.parquet", index=False)
    release_calendar(first, end).to_csv(source / "release_calendar.csv", index=False)
    truth.to_csv(work / "truth.csv", index=False)
    gen_s = time.perf_counter() - t0
    log(f"generated {len(perf):,} raw rows, {len(truth)} injected changes in {gen_s:.1f}s")

    import dagster as dg

    from regression_assets.backfill import QUIET, RANGE_END, RANGE_START, run_backfill

    defs = definitions_with_source(source)
    watch = MemoryWatch()
    with dg.DagsterInstance.get() as instance:
        # The pool's limit is created lazily by the first step that claims it; two workers claiming at
        # once in a fresh instance can race. Set it up front, as a long-lived DAGSTER_HOME has it.
        if args.pymc_slots:
            instance.event_log_storage.set_concurrency_slots("pymc", args.pymc_slots)
        else:
            instance.event_log_storage.initialize_concurrency_limit_to_default("pymc")
        slots = instance.event_log_storage.get_concurrency_info("pymc").slot_count
        t0 = time.perf_counter()
        hist_end = start - dt.timedelta(days=1)
        if args.history_days > 0:
            hist = defs.resolve_job_def("raw_perf_job").execute_in_process(
                instance=instance, run_config=QUIET, raise_on_error=False,
                tags={RANGE_START: first.isoformat(), RANGE_END: hist_end.isoformat()})
            if not hist.success:
                raise RuntimeError(f"raw_perf_job over the history {first}..{hist_end} failed (run {hist.run_id})")
        hist_s = time.perf_counter() - t0
        rows_hist = int((perf["push_timestamp"] < pd.Timestamp(start)).sum())
        log(f"history {first}..{hist_end} loaded ({rows_hist:,} rows) in {hist_s:.1f}s")

        home = Path(os.environ["DAGSTER_HOME"])
        home_before = dir_bytes(home)
        log(f"pymc pool slots: {slots}; backfill with {args.workers} workers")
        watch.start()
        cpu0 = _cpu_seconds()
        t0 = time.perf_counter()
        stats = run_backfill(defs, instance, start, end, workers=args.workers, log=lambda m: log(m))
        wall = time.perf_counter() - t0
        parent_peak = _self_peak_mb()
        _wait_for_pool_exit()
        watch.stop()
        cpu1 = _cpu_seconds()
        children_maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
        log(f"backfill done in {wall:.1f}s ({stats['runs']} runs, failed {len(stats['failed_runs'])}, "
            f"blocked {len(stats.get('blocked_runs', []))})")

        materialized = instance.get_materialized_partitions(dg.AssetKey("spline_posterior"))
        steps = run_step_times(instance)
    data_dir = Path(os.environ["REGRESSION_ASSETS_DATA_DIR"])
    fits = stored_fits(data_dir)
    load_after_backfill = os.getloadavg()

    # The micro-benchmark refits partitions the graph fitted: round-robin over series, then over days.
    micro: dict = {}
    if args.micro_fits > 0 and len(fits):
        order = fits.assign(rank=fits.groupby("series").cumcount()).sort_values(["rank", "series"])
        parts = [(str(r.day), str(r.series)) for r in order.head(args.micro_fits).itertuples()]
        log(f"micro-benchmark: compile once, {len(parts)} fit_spline calls, {args.baseline_fits} fresh pm.sample fits")
        import multiprocessing

        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            micro = pool.submit(micro_benchmark, str(data_dir / "warehouse.duckdb"), parts, args.baseline_fits,
                                WINDOW_DAYS, SAMPLER.chains, SAMPLER.tune, SAMPLER.draws).result()

    # ---- assemble
    r: dict = {
        "generated_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"cpus": os.cpu_count(), "platform": f"{platform.machine()} {platform.python_version()}",
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after_backfill": [round(x, 2) for x in load_after_backfill],
                    "loadavg_end": [round(x, 2) for x in os.getloadavg()]},
        "config": {"series": args.series, "days": args.days, "history_days": args.history_days,
                   "workers": args.workers, "pymc_slots": slots, "seed": args.seed, "start": start.isoformat(), "end": end.isoformat(),
                   "sampler": f"nutpie, {SAMPLER.chains} chains × {SAMPLER.tune} tune / {SAMPLER.draws} draws "
                              "(SplinePosteriorConfig defaults)"},
        "data": {"series": args.series, "raw_rows": len(perf), "raw_rows_history": rows_hist,
                 "total_days": args.days + args.history_days, "changes": len(truth), "generate_seconds": gen_s},
        "history_load": {"seconds": hist_s, "days": args.history_days},
    }
    partitions = args.series * args.days
    in_range = [k for k in materialized if start.isoformat() <= str(k).split("|")[0] <= end.isoformat()]
    r["backfill"] = {
        "wall_seconds": wall, "runs": stats["runs"], "failed_runs": [list(x) for x in stats["failed_runs"]],
        "blocked_runs": [list(x) for x in stats.get("blocked_runs", [])], "partitions": partitions,
        "spline_partitions_materialized": len(in_range), "fits_stored": len(fits),
        "fits_per_minute": len(in_range) / (wall / 60.0) if wall else None,
        "cpu_seconds_parent": cpu1[0] - cpu0[0], "cpu_seconds_workers": cpu1[1] - cpu0[1],
    }
    n_fits = len(fits)
    if n_fits:
        r["backfill"]["cpu_seconds_per_fit"] = (cpu1[0] - cpu0[0] + cpu1[1] - cpu0[1]) / n_fits
    ig = summarize_steps(steps, fits)
    if n_fits and ig.get("spline_step_seconds_total") is not None:
        ig["seconds_per_fit_incl_compile"] = ig["spline_step_seconds_total"] / n_fits
        other = sum(v["seconds_total"] for k, v in ig["steps"].items() if k != "spline_posterior")
        ig["other_steps_seconds_per_partition"] = other / partitions
    r["in_graph"] = ig
    if n_fits:
        rh = fits["r_hat_max"].to_numpy(dtype=float)
        r["fits"] = {
            "n": n_fits, "r_hat_max": float(np.nanmax(rh)), "r_hat_p50": _q(rh, 0.5), "r_hat_p95": _q(rh, 0.95),
            "share_r_hat_le_1_01": float(np.mean(rh <= 1.01)), "share_r_hat_le_1_05": float(np.mean(rh <= 1.05)),
            "ess_bulk_min": float(fits["ess_bulk_min"].min()), "ess_bulk_p50": _q(fits["ess_bulk_min"], 0.5),
            "divergences_total": int(fits["divergences"].sum()), "fits_with_divergences": int((fits["divergences"] > 0).sum()),
            "coverage_mean": float(fits["coverage"].mean()), "n_days_mean": float(fits["n_days"].mean()),
        }
    workers = [v["kb"] / 1024.0 for v in watch.peaks.values() if v["kind"] == "worker"]
    r["memory"] = {
        "parent_peak_mb": parent_peak, "worker_peaks_mb": sorted(round(w, 1) for w in workers),
        "worker_peak_max_mb": max(workers) if workers else None,
        "children_ru_maxrss_mb": children_maxrss, "micro_process_peak_mb": micro.get("peak_mb"),
        "method": "VmHWM (/proc) sampled every 0.5 s for the parent and each pool worker; "
                  "RUSAGE_CHILDREN.ru_maxrss = the largest reaped child",
    }
    r["storage"] = {
        "draws_bytes_per_fit_mean": float(fits["bytes"].mean()) if n_fits else None,
        "draws_mb_total": float(fits["bytes"].sum() / 1e6) if n_fits else 0.0,
        "duckdb_mb": (data_dir / "warehouse.duckdb").stat().st_size / 1e6 if (data_dir / "warehouse.duckdb").exists() else None,
        "dagster_home_mb": dir_bytes(home) / 1e6,
        # growth of the instance (run and event-log SQLite files) during the backfill, per series-day
        "dagster_home_bytes_per_partition": (dir_bytes(home) - home_before) / partitions,
    }
    if micro:
        mf = pd.DataFrame(micro["fits"])
        m: dict = {"compile_seconds": micro["compile_seconds"], "fits": len(mf), "peak_mb": micro.get("peak_mb")}
        if len(mf):
            same = fits.set_index(["day", "series"])["r_hat_max"]
            matched = [abs(row.r_hat_max - same.get((row.day, row.series), np.nan)) < 1e-9 for row in mf.itertuples()]
            m.update({"wall_per_fit_mean": float(mf["wall"].mean()), "wall_per_fit_median": float(mf["wall"].median()),
                      "cpu_per_fit_mean": float(mf["cpu"].mean()), "cpu_per_fit_median": float(mf["cpu"].median()),
                      "r_hat_max": float(mf["r_hat_max"].max()), "share_r_hat_le_1_01": float((mf["r_hat_max"] <= 1.01).mean()),
                      "same_r_hat_as_graph": int(sum(matched))})
        r["micro"] = m
        b = pd.DataFrame(micro.get("baseline", []))
        if len(b):
            r["baseline"] = {"fits": len(b), "wall_per_fit": [round(x, 2) for x in b["wall"]],
                             "wall_per_fit_mean": float(b["wall"].mean()), "cpu_per_fit_mean": float(b["cpu"].mean()),
                             "r_hat_max": float(b["r_hat_max"].max()), "divergences": int(b["divergences"].sum()),
                             "what": f"fresh pm.Model + pm.sample (PyMC NUTS) per fit, {SAMPLER.chains} chains × "
                                     f"{SAMPLER.tune}/{SAMPLER.draws}, "
                                     "max_treedepth 7, cores=1: build + compile + sample"}
            if m.get("wall_per_fit_mean"):
                r["baseline"]["speedup_vs_compiled_once"] = r["baseline"]["wall_per_fit_mean"] / m["wall_per_fit_mean"]
                r["baseline"]["speedup_vs_compiled_once_cpu"] = r["baseline"]["cpu_per_fit_mean"] / m["cpu_per_fit_mean"]
    r["projection"] = {name: project(s, d, r) for name, (s, d) in PROJECTIONS.items()}
    r["work_dir"] = str(work) if args.keep else None
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return r


# ------------------------------------------------------------------------------------------ output


def _f(x, nd: int = 2, unit: str = "") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:,.{nd}f}{unit}"


def render_section(r: dict) -> str:
    c, b, ig, f, mem, st = r["config"], r["backfill"], r.get("in_graph", {}), r.get("fits", {}), r["memory"], r["storage"]
    mi, bl, m = r.get("micro", {}), r.get("baseline", {}), r["machine"]
    L = [MARK_BEGIN, "## Backfill at scale (bench/scale.py)", "",
         f"Generated {r['generated_at']} on {m['platform']}, {m['cpus']} CPUs (1-min load average before / "
         f"after the backfill: {m['loadavg_before'][0]} / {m['loadavg_after_backfill'][0]}; wall times grow with "
         f"other load, CPU seconds much less). {c['series']} series × {c['days']} days ({c['start']}..{c['end']}) "
         f"through the real graph: `run_backfill` (one single-run backfill per series, {c['workers']} worker "
         f"processes) in a fresh DAGSTER_HOME and data dir, after a {c['history_days']}-day raw history load so "
         f"every fit has a full {WINDOW_DAYS}-day window; {r['data']['raw_rows']:,} generated raw rows (seed "
         f"{c['seed']}). `pymc` pool: {c['pymc_slots']} slot(s). Sampler: {c['sampler']}.", "",
         "| measure | value |", "|---|---|",
         f"| history load (raw_perf_job, {c['history_days']} days) | {_f(r['history_load']['seconds'], 1, ' s')} |",
         f"| **backfill wall time** | **{_f(b['wall_seconds'], 1, ' s')}** ({b['runs']} runs; failed "
         f"{len(b['failed_runs'])}, alerts withheld by a blocking check {len(b['blocked_runs'])}) |",
         f"| spline_posterior partitions materialized / fits stored | {b['spline_partitions_materialized']} / "
         f"{b['fits_stored']} (of {b['partitions']}) |",
         f"| **series-fits per minute** (materialized / wall minutes) | **{_f(b['fits_per_minute'], 1)}** |",
         f"| CPU seconds per fit, whole backfill (parent + workers, all steps) | {_f(b.get('cpu_seconds_per_fit'), 2, ' s')} |",
         f"| spline step per fit in the graph: warm (after the first run in a process) / incl. compiles | "
         f"{_f(ig.get('spline_seconds_per_fit_warm'), 2, ' s')} / {_f(ig.get('seconds_per_fit_incl_compile'), 2, ' s')} |",
         f"| model compile inside the first spline step of each worker (mean) | {_f(ig.get('compile_seconds_in_graph_mean'), 1, ' s')} |",
         f"| waiting for a `pymc` pool slot (steps blocked, summed over runs) | {_f(ig.get('pool_wait_seconds_total'), 1, ' s')} "
         f"in {ig.get('runs_that_waited_for_the_pool', '—')} of {ig.get('runs', '—')} runs |",
         f"| other steps (cleaned_series, series_modes, regression_alerts, checks) per partition | "
         f"{_f(ig.get('other_steps_seconds_per_partition'), 2, ' s')} |",
         f"| Dagster run overhead (run wall − steps − pool waits), median | {_f(ig.get('run_overhead_seconds_median'), 1, ' s')} |",
         f"| **fit_spline alone**, {mi.get('fits', 0)} fits after one compile ({_f(mi.get('compile_seconds'), 1, ' s')}): "
         f"wall mean / median; CPU mean | **{_f(mi.get('wall_per_fit_mean'), 3, ' s')}** / "
         f"{_f(mi.get('wall_per_fit_median'), 3, ' s')}; {_f(mi.get('cpu_per_fit_mean'), 3, ' s')} |",
         f"| baseline: a fresh `pm.sample` per fit ({bl.get('fits', 0)} fits; build + compile + sample) | "
         f"{_f(bl.get('wall_per_fit_mean'), 1, ' s')} (each: {', '.join(_f(x, 1) for x in bl.get('wall_per_fit', []))} s; "
         f"CPU mean {_f(bl.get('cpu_per_fit_mean'), 1, ' s')}; r_hat max {_f(bl.get('r_hat_max'), 3)}) |",
         f"| speedup of the compiled-once fit over the baseline: wall / CPU | {_f(bl.get('speedup_vs_compiled_once'), 0, '×')} / "
         f"{_f(bl.get('speedup_vs_compiled_once_cpu'), 0, '×')} |",
         f"| r_hat (max over a fit's parameters): max / median / p95 over fits | {_f(f.get('r_hat_max'), 3)} / "
         f"{_f(f.get('r_hat_p50'), 3)} / {_f(f.get('r_hat_p95'), 3)} |",
         f"| share of fits with r_hat ≤ 1.01 / ≤ 1.05 | {_f(f.get('share_r_hat_le_1_01'), 3)} / "
         f"{_f(f.get('share_r_hat_le_1_05'), 3)} |",
         f"| bulk ESS (min over a fit's parameters): min / median over fits; divergences | {_f(f.get('ess_bulk_min'), 0)} / "
         f"{_f(f.get('ess_bulk_p50'), 0)}; {f.get('divergences_total', '—')} in {f.get('fits_with_divergences', '—')} fits |",
         f"| peak RSS: parent / each pool worker / micro-benchmark process | {_f(mem['parent_peak_mb'], 0, ' MB')} / "
         f"{', '.join(_f(x, 0) for x in mem['worker_peaks_mb']) or '—'} MB / {_f(mem.get('micro_process_peak_mb'), 0, ' MB')} |",
         f"| RUSAGE_CHILDREN max RSS (largest reaped worker) | {_f(mem['children_ru_maxrss_mb'], 0, ' MB')} |",
         f"| stored draws per fit (200 draws × {WINDOW_DAYS} days, float32, wide Parquet) | "
         f"{_f((st.get('draws_bytes_per_fit_mean') or 0) / 1e3, 0, ' kB')} |",
         f"| DAGSTER_HOME growth per series-day partition (SQLite run + event-log files) | "
         f"{_f(st['dagster_home_bytes_per_partition'] / 1e3, 1, ' kB')} |", ""]
    proj = [(k, v) for k, v in r.get("projection", {}).items() if v]
    if proj:
        L += [f"Projection on this machine ({c['workers']} workers, {c['pymc_slots']} `pymc` slot(s)) from the costs "
              "above (`project()` in bench/scale.py; low / high: the other steps fixed per run / proportional to "
              "the days; naive: fits ÷ this run's fits per minute). See bench/SCALE.md.", "",
              "| size | fits (= partitions per asset) | hours low – high | hours naive | draws | DAGSTER_HOME |",
              "|---|---|---|---|---|---|"]
        for k, v in proj:
            L.append(f"| {k} | {v['fits']:,} | {_f(v['hours_low'], 2)} – {_f(v['hours_high'], 2)} | "
                     f"{_f(v['hours_naive'], 1)} | {_f(v['draws_gb'], 2, ' GB')} | {_f(v['dagster_home_gb'], 2, ' GB')} |")
        L.append("")
    L.append(MARK_END)
    return "\n".join(L) + "\n"


def merge_section(md_path: Path, section: str) -> None:
    """Put the section into results.md: replace the previous one between the markers, else append."""
    text = md_path.read_text() if md_path.exists() else "# Benchmark results\n"
    if MARK_BEGIN in text and MARK_END in text:
        head, rest = text.split(MARK_BEGIN, 1)
        tail = rest.split(MARK_END, 1)[1].lstrip("\n")
        text = head + section + (("\n" + tail) if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    md_path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Backfill-at-scale benchmark (bench/scale.py).")
    ap.add_argument("--series", type=int, default=50)
    ap.add_argument("--days", type=int, default=30, help="days backfilled (partitions per series)")
    ap.add_argument("--history-days", type=int, default=WINDOW_DAYS, help="raw days loaded before them")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--micro-fits", type=int, default=50, help="fit_spline calls in the stats micro-benchmark")
    ap.add_argument("--baseline-fits", type=int, default=3, help="fresh pm.sample fits (the slow baseline)")
    ap.add_argument("--pymc-slots", type=int, default=None,
                    help="set the instance's `pymc` pool to this many slots (default: one per worker, as "
                         "`regression-assets run` does; 0 keeps dagster.yaml's)")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--end", type=dt.date.fromisoformat, default=END_DAY, help="last backfilled day")
    ap.add_argument("--out", type=Path, default=HERE, help="where scale_results.json and results.md are")
    ap.add_argument("--workdir", help="use this directory (kept) instead of a temporary one")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--merge-only", action="store_true", help="only re-append scale_results.json to results.md")
    args = ap.parse_args(argv)
    if args.pymc_slots is None:
        args.pymc_slots = args.workers
    json_path, md_path = args.out / "scale_results.json", args.out / "results.md"
    if args.merge_only:
        merge_section(md_path, render_section(json.loads(json_path.read_text())))
        log(f"merged {json_path} into {md_path}")
        return 0
    if args.series < 1 or args.days < 1 or args.history_days < 0:
        ap.error("--series and --days must be at least 1, --history-days at least 0")
    t0 = time.perf_counter()
    r = _clean(run(args))
    r["runtime_seconds"] = round(time.perf_counter() - t0, 1)
    json_path.write_text(json.dumps(r, indent=1) + "\n")
    merge_section(md_path, render_section(r))
    b = r["backfill"]
    log(f"wrote {json_path} and the scale section of {md_path} ({r['runtime_seconds']:.0f}s): "
        f"{b['spline_partitions_materialized']} fits in {b['wall_seconds']:.0f}s = {b['fits_per_minute']:.1f} fits/min")
    return 0 if not b["failed_runs"] else 1


if __name__ == "__main__":
    sys.exit(main())
