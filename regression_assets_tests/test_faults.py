"""Faults: a backfill killed mid-run and re-run, writers killed mid-write, transient source errors, a bad series.

Real processes throughout: backfills run as `run_backfill` (what `regression-assets run` calls) in
subprocesses with their own DAGSTER_HOME (the project's dagster.yaml, so its concurrency pools) and
data dir, and are SIGKILLed as a process group. Results are in docs/reliability_faults.md.
"""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
import yaml

from regression_assets.backfill import HOST_TAG, PROCESS_TAG, RANGE_START
from regression_assets.io_managers import DuckDBTableIOManager, ParquetDrawsIOManager, connect_with_retry

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SERIES = "tp5o__linux1804-64-shippable-qr"  # +5% on 2026-03-17: the backfill has an alert to reproduce
START, END = "2026-03-11", "2026-03-19"  # 9 days: posterior fits (>= 7 days of data) on the last two
FAST = {"ops": {"spline_posterior": {"config": {"tune": 200, "draws": 200, "keep_draws": 100}}}}
TABLES = {  # table → the key a row must be unique on
    "raw_perf_results": ["series_key", "task_id", "push_timestamp", "value"],
    "cleaned_series": ["partition_date", "series_key", "timestamp", "revision", "value"],
    "series_modes": ["partition_date", "series_key"],
    "regression_alerts": ["partition_date", "series_key", "reference"],
}

BACKFILL = r"""
import datetime as dt, json, sys
import dagster as dg
from regression_assets.backfill import run_backfill
from regression_assets.definitions import defs

start, end, series, run_config = sys.argv[1], sys.argv[2], sys.argv[3].split(","), json.loads(sys.argv[4])
with dg.DagsterInstance.get() as instance:
    stats = run_backfill(defs, instance, dt.date.fromisoformat(start), dt.date.fromisoformat(end), series=series,
                         run_config=run_config, workers=1, log=lambda m: print(m, file=sys.stderr, flush=True))
print(json.dumps({k: stats[k] for k in ("runs", "failed_runs", "blocked_runs")}))
sys.exit(1 if stats["failed_runs"] or stats["blocked_runs"] else 0)
"""


# --- helpers --------------------------------------------------------------------------------------------

def _home(base: Path) -> tuple[Path, Path, dict]:
    """A DAGSTER_HOME with the project's dagster.yaml (paths moved under `base`), a data dir, and their env."""
    home, data = base / "dagster_home", base / "data"
    home.mkdir(parents=True)
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    config["storage"] = {"sqlite": {"base_dir": str(home / "storage")}}
    config["local_artifact_storage"]["config"]["base_dir"] = str(home)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGRESSION_ASSETS_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(home), REGRESSION_ASSETS_DATA_DIR=str(data), REGRESSION_ASSETS_ENV="local",
               PYTHONUNBUFFERED="1")
    return home, data, env


def _start(code: str, args: list[str], env: dict, log: Path) -> subprocess.Popen:
    # Its own session: the kill reaches it and anything it started.
    return subprocess.Popen([PYTHON, "-c", code, *args], env=env, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=log.open("w"), text=True)


def _backfill(env: dict, log: Path) -> subprocess.Popen:
    return _start(BACKFILL, [START, END, SERIES, json.dumps(FAST)], env, log)


def _finish(proc: subprocess.Popen, log: Path, timeout: float) -> dict:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"backfill still running after {timeout:.0f}s (hung?):\n{_tail(log)}")
    assert proc.returncode == 0, f"exit {proc.returncode}: {out}\n{_tail(log)}"
    return json.loads(out.strip().splitlines()[-1])


def _tail(log: Path, lines: int = 40) -> str:
    text = [line for line in log.read_text().splitlines() if "leaked" not in line and "nanobind" not in line]
    return "\n".join(text[-lines:])


def _kill_group(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def _tables(data: Path) -> dict[str, pd.DataFrame]:
    with connect_with_retry(str(data / "warehouse.duckdb"), read_only=True) as con:
        present = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'regression_assets'").fetchall()}
        return {t: con.execute(f'SELECT * FROM regression_assets."{t}"').df() if t in present else pd.DataFrame()
                for t in TABLES}


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def _draw_files(data: Path) -> dict[str, Path]:
    root = data / "posterior"
    return {str(p.relative_to(root)): p for p in root.rglob("*.parquet")} if root.exists() else {}


def _temp_files(data: Path) -> list[Path]:
    root = data / "posterior"
    return [p for p in root.rglob("*") if p.is_file() and p.suffix != ".parquet"] if root.exists() else []


# --- a backfill killed mid-run, then re-run ----------------------------------------------------------------

@pytest.mark.timeout(400)
def test_a_killed_backfill_reruns_to_the_same_tables_as_an_uninterrupted_one(tmp_path):
    home, data, env = _home(tmp_path / "killed")
    _, ref_data, ref_env = _home(tmp_path / "reference")
    t0 = time.monotonic()
    reference = _backfill(ref_env, tmp_path / "reference.log")  # in parallel: two cores
    victim = _backfill(env, tmp_path / "killed.log")

    # Kill once the series' window and modes are written and its posterior step holds the instance's
    # single `pymc` pool slot (compiling or fitting): some partitions written, others not.
    instance = dg.DagsterInstance.from_config(str(home))
    deadline, claim = time.monotonic() + 240, None
    while claim is None:
        assert victim.poll() is None, f"the backfill ended before it could be killed:\n{_tail(tmp_path / 'killed.log')}"
        assert time.monotonic() < deadline, "the posterior step did not start in time"
        time.sleep(0.2)
        claim = next(iter(instance.event_log_storage.get_concurrency_info("pymc").claimed_slots), None)
    _kill_group(victim)
    killed_at = time.monotonic() - t0

    # What the kill left: a run that stays STARTED holding its pool slot; whole partitions only.
    killed_run = instance.get_run_by_id(claim.run_id)
    assert killed_run.status == dg.DagsterRunStatus.STARTED and killed_run.tags[RANGE_START].endswith(SERIES)
    assert killed_run.tags[HOST_TAG] and killed_run.tags[PROCESS_TAG]
    assert [s.run_id for s in instance.event_log_storage.get_concurrency_info("pymc").claimed_slots] == [claim.run_id]
    partial = _tables(data)
    assert set(partial["cleaned_series"]["series_key"]) == {SERIES}  # written
    assert set(partial["series_modes"]["series_key"]) == {SERIES}
    assert partial["regression_alerts"].empty and not _draw_files(data)  # not yet
    for table, key in TABLES.items():
        assert partial[table].empty or not partial[table].duplicated(key).any(), table
    wal = (data / "warehouse.duckdb.wal").exists()

    # The re-run recovers the orphaned run (else it waits for the slot forever) and completes.
    rerun = _backfill(env, tmp_path / "rerun.log")
    rerun_stats = _finish(rerun, tmp_path / "rerun.log", timeout=240)
    rerun_done = time.monotonic() - t0
    ref_stats = _finish(reference, tmp_path / "reference.log", timeout=240)
    assert rerun_stats["failed_runs"] == ref_stats["failed_runs"] == []
    assert "marked failed, pool slots freed" in (tmp_path / "rerun.log").read_text()
    instance = dg.DagsterInstance.from_config(str(home))  # a fresh look at the run storage
    assert instance.get_run_by_id(claim.run_id).status == dg.DagsterRunStatus.FAILURE
    assert not instance.event_log_storage.get_concurrency_info("pymc").claimed_slots

    # Identical to the uninterrupted backfill: every table, no duplicate keys, the draws bit for bit.
    got, want = _tables(data), _tables(ref_data)
    for table, key in TABLES.items():
        assert len(want[table]) > 0, table
        assert not got[table].duplicated(key).any(), table
        pd.testing.assert_frame_equal(_sorted(got[table]), _sorted(want[table]), obj=table)
    assert want["regression_alerts"]["is_alert"].any()  # the 5% regression of tp5o is found, both times
    files, ref_files = _draw_files(data), _draw_files(ref_data)
    assert sorted(files) == sorted(ref_files) and len(files) == 2  # fits on the last two days
    for name, path in files.items():
        pd.testing.assert_frame_equal(pd.read_parquet(path), pd.read_parquet(ref_files[name]), obj=name)
    assert _temp_files(data) == [] and _temp_files(ref_data) == []
    print(f"\nkilled at {killed_at:.0f}s (WAL left: {wal}); re-run done at {rerun_done:.0f}s; "
          f"reference {ref_stats['runs']} runs")


# --- writers killed mid-write ------------------------------------------------------------------------------

TABLE_WRITER = r"""
import os, sys, time
import dagster as dg, pandas as pd
import regression_assets.io_managers as iom

database, hold, marker = sys.argv[1], sys.argv[2], sys.argv[3]
real_connect, holding = iom.connect_with_retry, []

class Held:  # the IO manager's connection, stopping at `hold` of the second write
    def __init__(self, con):
        self._con = con
    def __getattr__(self, name):
        return getattr(self._con, name)
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        if holding and hold == "after_commit":
            open(marker, "w").close(); time.sleep(600)
        return self._con.__exit__(*exc)
    def execute(self, sql, *args):
        if holding and hold == "before_commit" and sql == "COMMIT":
            open(marker, "w").close(); time.sleep(600)
        return self._con.execute(sql, *args)

iom.connect_with_retry = lambda *a, **k: Held(real_connect(*a, **k))
version = 1

@dg.asset(partitions_def=dg.DailyPartitionsDefinition("2026-03-01"), metadata={"partition_expr": "partition_date"})
def fault_table(context):  # more rows than a row group: DuckDB writes them to the file before the commit
    return pd.DataFrame({"partition_date": pd.Timestamp(context.partition_key), "version": version,
                         "i": range(300_000)})

resources = {"io_manager": iom.DuckDBTableIOManager(database=database)}
for day in ("2026-03-01", "2026-03-02"):
    assert dg.materialize([fault_table], partition_key=day, resources=resources).success
version = 2
holding.append(True)
dg.materialize([fault_table], partition_key="2026-03-01", resources=resources)
"""

DRAWS_WRITER = r"""
import os, sys, time
import dagster as dg, numpy as np, pandas as pd
from regression_assets.io_managers import ParquetDrawsIOManager

base, marker = sys.argv[1], sys.argv[2]
manager = ParquetDrawsIOManager(base_dir=base)
key = "2026-03-19|tp5o__linux1804-64-shippable-qr"
def draws(v):
    return pd.DataFrame(np.full((200, 180), v, dtype="float32"), columns=[f"d{i}" for i in range(180)])
manager.handle_output(dg.build_output_context(asset_key=dg.AssetKey("spline_posterior")), {key: draws(1.0)})
real_replace = os.replace
def held(src, dst):
    open(marker, "w").close(); time.sleep(600)
os.replace = held
manager.handle_output(dg.build_output_context(asset_key=dg.AssetKey("spline_posterior")), {key: draws(2.0)})
"""


def _run_until_marker(code: str, args: list[str], marker: Path, log: Path) -> None:
    proc = _start(code, args, {**os.environ}, log)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, f"writer ended early:\n{_tail(log)}"
        assert time.monotonic() < deadline, "the writer never reached the hold point"
        time.sleep(0.05)
    _kill_group(proc)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("hold", ["before_commit", "after_commit"])
def test_a_table_writer_killed_mid_write_leaves_whole_partitions(tmp_path, hold):
    """Killed inside its transaction: the old rows. Killed after COMMIT, before closing (WAL not
    checkpointed): the new rows. Never a mix, never duplicates; the file opens and takes the next write."""
    database = tmp_path / "warehouse.duckdb"
    _run_until_marker(TABLE_WRITER, [str(database), hold, str(tmp_path / "held")], tmp_path / "held",
                      tmp_path / "writer.log")
    # Killed after COMMIT, the transaction is only in the WAL (the file is checkpointed on close).
    assert Path(f"{database}.wal").exists() == (hold == "after_commit")
    with connect_with_retry(str(database)) as con:  # read-write: replays the WAL
        rows = con.execute("SELECT partition_date::DATE::VARCHAR, version, count(*), count(DISTINCT i) "
                           "FROM regression_assets.fault_table GROUP BY ALL ORDER BY ALL").fetchall()
    survivor = 1 if hold == "before_commit" else 2
    assert rows == [("2026-03-01", survivor, 300_000, 300_000), ("2026-03-02", 1, 300_000, 300_000)]

    @dg.asset(name="fault_table", partitions_def=dg.DailyPartitionsDefinition("2026-03-01"),
              metadata={"partition_expr": "partition_date"})
    def again(context):
        return pd.DataFrame({"partition_date": pd.Timestamp(context.partition_key), "version": 3, "i": range(10)})

    assert dg.materialize([again], partition_key="2026-03-01",
                          resources={"io_manager": DuckDBTableIOManager(database=str(database))}).success
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("SELECT version, count(*) FROM regression_assets.fault_table "
                           "WHERE partition_date = '2026-03-01' GROUP BY ALL").fetchall() == [(3, 10)]


@pytest.mark.timeout(120)
def test_a_draws_writer_killed_before_its_rename_leaves_the_previous_file(tmp_path):
    from regression_assets.partitions import perf_series_partitions, series_partitions

    base = tmp_path / "posterior"
    _run_until_marker(DRAWS_WRITER, [str(base), str(tmp_path / "held")], tmp_path / "held", tmp_path / "writer.log")
    folder = base / "spline_posterior" / "tp5o__linux1804-64-shippable-qr"
    final = folder / "2026-03-19.parquet"
    assert sorted(p.name for p in folder.glob("*.parquet")) == [final.name]
    assert (pd.read_parquet(final).to_numpy() == 1.0).all()  # the whole previous version
    orphans = [p for p in folder.iterdir() if p != final]
    assert len(orphans) == 1 and ".tmp-" in orphans[0].name  # the killed write: under no final name
    # A reader of the partition sees the final file only.
    key = dg.MultiPartitionKey({"date": "2026-03-19", "series": "tp5o__linux1804-64-shippable-qr"})
    manager = ParquetDrawsIOManager(base_dir=str(base))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(series_partitions.name, ["tp5o__linux1804-64-shippable-qr"])
        # (as a context manager: it opens resources in an instance scope that only __exit__ closes)
        with dg.build_input_context(asset_key=dg.AssetKey("spline_posterior"), partition_key=str(key),
                                    asset_partitions_def=perf_series_partitions, instance=instance) as context:
            loaded = manager.load_input(context)
    assert list(loaded) == [str(key)] and (loaded[str(key)].to_numpy() == 1.0).all()


def test_a_draws_write_that_fails_leaves_no_temp_file(tmp_path, monkeypatch):
    manager = ParquetDrawsIOManager(base_dir=str(tmp_path))

    def disk_full(self, path, **kwargs):
        Path(path).write_bytes(b"PAR1 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", disk_full)
    with dg.build_output_context(asset_key=dg.AssetKey("spline_posterior")) as context, \
            pytest.raises(OSError, match="No space"):
        manager.handle_output(context, {"2026-03-19|tp5o__linux1804-64-shippable-qr": pd.DataFrame({"a": [1.0]})})
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


# --- transient source errors: retried with exponential backoff -----------------------------------------

def test_every_asset_reading_a_source_retries_with_exponential_backoff():
    from regression_assets.perf.alerts import release_calendar
    from regression_assets.perf.raw import raw_perf_results
    from regression_assets.stability import crash_aggregates, crash_rates

    for asset in (raw_perf_results, release_calendar, crash_aggregates, crash_rates):
        policy = asset.op.retry_policy
        assert policy and policy.max_retries >= 3 and policy.delay and policy.backoff == dg.Backoff.EXPONENTIAL, asset


_CALLS: dict[str, int] = {}


def _fail_first(name: str) -> None:
    _CALLS[name] = _CALLS.get(name, 0) + 1
    if _CALLS[name] == 1:
        raise ConnectionError(f"{name}: connection reset by peer (transient)")


def _retry_timing(instance: dg.DagsterInstance, run_id: str, step: str) -> float:
    """Seconds from the step's failure (up for retry) to its restart; asserts exactly one retry."""
    times = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event and event.step_key == step and event.event_type_value in ("STEP_UP_FOR_RETRY", "STEP_RESTARTED"):
            assert event.event_type_value not in times, "more than one retry"
            times[event.event_type_value] = record.timestamp
    assert set(times) == {"STEP_UP_FOR_RETRY", "STEP_RESTARTED"}, times
    return times["STEP_RESTARTED"] - times["STEP_UP_FOR_RETRY"]


@pytest.mark.timeout(120)
def test_a_transient_perf_source_error_is_retried_after_the_policy_delay(perf_resources):
    from regression_assets.jobs import raw_perf_job
    from regression_assets.perf.raw import raw_perf_results
    from regression_assets.sources.files import LocalPerfSource

    class FlakyPerfSource(LocalPerfSource):
        def fetch_day(self, day: dt.date) -> pd.DataFrame:
            _fail_first("perf")
            return super().fetch_day(day)

    _CALLS.pop("perf", None)
    job = dg.Definitions(assets=[raw_perf_results], jobs=[raw_perf_job],
                         resources={**perf_resources, "perf_source": FlakyPerfSource()}).resolve_job_def("raw_perf_job")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, partition_key="2026-03-02")
        assert result.success and _CALLS["perf"] == 2
        waited = _retry_timing(instance, result.run_id, "raw_perf_results")
        assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS
    assert waited >= raw_perf_results.op.retry_policy.calculate_delay(1) - 0.5  # 10 s: (2^1 - 1) × delay
    assert result.asset_materializations_for_node("raw_perf_results")[0].metadata["rows"].value > 0


@pytest.mark.timeout(120)
def test_a_transient_crash_source_error_is_retried_after_the_policy_delay(tmp_path):
    from regression_assets.jobs import stability_job
    from regression_assets.sources.crash_files import LocalCrashSource
    from regression_assets.stability import crash_aggregates

    class FlakyCrashSource(LocalCrashSource):
        def fetch_day(self, day: dt.date, channel: str | None = None) -> pd.DataFrame:
            _fail_first("crash")
            return super().fetch_day(day, channel)

    _CALLS.pop("crash", None)
    job = dg.Definitions(
        assets=[crash_aggregates],
        jobs=[dg.define_asset_job("crash_job", selection=[crash_aggregates], partitions_def=stability_job.partitions_def)],
        resources={"crash_source": FlakyCrashSource(),
                   "io_manager": DuckDBTableIOManager(database=str(tmp_path / "warehouse.duckdb"))},
    ).resolve_job_def("crash_job")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, partition_key=dg.MultiPartitionKey(
            {"date": "2026-03-02", "channel": "release"}))
        assert result.success and _CALLS["crash"] == 2
        waited = _retry_timing(instance, result.run_id, "crash_aggregates")
    assert waited >= crash_aggregates.op.retry_policy.calculate_delay(1) - 0.5
    assert result.asset_materializations_for_node("crash_aggregates")[0].metadata["dagster/row_count"].value > 0


# --- one bad series in a backfill ------------------------------------------------------------------------

def test_a_series_with_bad_data_fails_its_run_and_the_others_materialize(perf_resources, monkeypatch):
    """`run_backfill`: one run per series; the bad series' run is FAILURE in the instance, the rest land."""
    import regression_assets.perf.series as series_mod
    from regression_assets.backfill import run_backfill
    from regression_assets.checks import ASSET_CHECKS
    from regression_assets.jobs import PERF_ASSETS, perf_daily_job, perf_series_job, raw_perf_job
    from regression_assets_tests.conftest import read_table

    good, bad = SERIES, "tsvgx__linux1804-64-shippable-qr"
    real = series_mod.clean_window

    def broken(raw, day, key, mad):
        if key == bad:
            raise ValueError(f"corrupt rows in {key}")
        return real(raw, day, key, mad)

    monkeypatch.setattr(series_mod, "clean_window", broken)
    defs = dg.Definitions(assets=PERF_ASSETS, asset_checks=ASSET_CHECKS, resources=perf_resources,
                          jobs=[raw_perf_job, perf_series_job, perf_daily_job])
    lines = []
    with dg.instance_for_test() as instance:
        # Three days: fewer than a posterior fit needs, so no PyMC here (the chain still runs to its end).
        stats = run_backfill(defs, instance, dt.date(2026, 3, 8), dt.date(2026, 3, 10), series=[good, bad],
                             workers=1, log=lines.append)
        assert [k for k, _ in stats["failed_runs"]] == [bad] and stats["blocked_runs"] == []
        bad_run = instance.get_run_by_id(stats["failed_runs"][0][1])
        assert bad_run.status == dg.DagsterRunStatus.FAILURE
        failure = next(r.dagster_event for r in instance.all_logs(bad_run.run_id)
                       if r.dagster_event and r.dagster_event.event_type_value == "STEP_FAILURE")
        assert failure.step_key == "cleaned_series" and "all 3 partitions failed" in str(failure.event_specific_data.error)
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="perf_series_job"))
        assert sorted(r.status.value for r in runs) == ["FAILURE", "SUCCESS"]
    assert any(f"{bad}: FAILED" in line for line in lines)
    cleaned = read_table(perf_resources, "cleaned_series")
    assert set(cleaned["series_key"]) == {good}
    assert sorted(cleaned["partition_date"].dt.strftime("%Y-%m-%d").unique()) == ["2026-03-08", "2026-03-09",
                                                                                 "2026-03-10"]
    modes = read_table(perf_resources, "series_modes")  # a window needs 10 points: the last day has them
    assert modes["series_key"].tolist() == [good]
