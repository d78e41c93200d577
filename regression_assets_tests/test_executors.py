import os
import re
import shutil
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._core.instance.ref import InstanceRef

from regression_assets.executors import executor_for_environment
from regression_assets_tests import _dask_job

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
ENV_VARS = ("REGRESSION_ASSETS_EXECUTOR", "REGRESSION_ASSETS_MAX_CONCURRENT", "REGRESSION_ASSETS_DASK_ADDRESS",
            "REGRESSION_ASSETS_DASK_WORKERS")


@pytest.fixture
def env(monkeypatch):
    """A clean executor environment: set what a test needs with env(NAME=value)."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)

    def set_env(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


def configured(executor: dg.ExecutorDefinition) -> dict:
    """The executor config that `.configured(...)` baked in (environment variables resolved)."""
    result = executor.apply_config_mapping({})
    assert result.success, result.errors
    return result.value["config"]


# --- selection -----------------------------------------------------------------------------------------

def test_default_is_multiprocess_with_two_processes(env):
    executor = executor_for_environment()
    assert executor.name == "multiprocess"
    assert configured(executor)["max_concurrent"] == 2


def test_multiprocess_takes_max_concurrent_from_the_environment(env):
    env(REGRESSION_ASSETS_EXECUTOR="multiprocess", REGRESSION_ASSETS_MAX_CONCURRENT="3")
    assert configured(executor_for_environment())["max_concurrent"] == 3


def test_in_process_for_tests(env):
    env(REGRESSION_ASSETS_EXECUTOR="in_process")
    assert executor_for_environment() is dg.in_process_executor
    env(REGRESSION_ASSETS_EXECUTOR="In-Process")
    assert executor_for_environment() is dg.in_process_executor


def test_dask_connects_to_an_existing_scheduler(env, monkeypatch):
    env(REGRESSION_ASSETS_EXECUTOR="dask", REGRESSION_ASSETS_DASK_ADDRESS="tcp://10.0.0.5:8786")
    executor = executor_for_environment()
    assert executor.name == "dask"
    assert configured(executor) == {"cluster": {"existing": {"address": "tcp://10.0.0.5:8786"}}}
    # The address is read when a run starts, not when the code location loads.
    monkeypatch.setenv("REGRESSION_ASSETS_DASK_ADDRESS", "tcp://10.0.0.6:8786")
    assert configured(executor)["cluster"]["existing"]["address"] == "tcp://10.0.0.6:8786"


def test_dask_without_an_address_starts_a_local_cluster(env):
    env(REGRESSION_ASSETS_EXECUTOR="dask", REGRESSION_ASSETS_DASK_WORKERS="3")
    local = configured(executor_for_environment())["cluster"]["local"]
    assert local == {"n_workers": 3, "threads_per_worker": 1, "processes": True}


def test_dask_without_dagster_dask_names_the_package(env, monkeypatch):
    env(REGRESSION_ASSETS_EXECUTOR="dask")
    monkeypatch.setitem(sys.modules, "dagster_dask", None)
    with pytest.raises(RuntimeError, match="dagster-dask"):
        executor_for_environment()


def test_k8s_without_dagster_k8s_names_the_package(env, monkeypatch):
    env(REGRESSION_ASSETS_EXECUTOR="k8s")
    monkeypatch.setitem(sys.modules, "dagster_k8s", None)  # import fails, installed or not
    with pytest.raises(RuntimeError, match="dagster-k8s"):
        executor_for_environment()


def test_k8s_when_dagster_k8s_is_installed(env):
    pytest.importorskip("dagster_k8s")
    env(REGRESSION_ASSETS_EXECUTOR="k8s", REGRESSION_ASSETS_MAX_CONCURRENT="8")
    executor = executor_for_environment()
    assert executor.name == "k8s"
    assert configured(executor)["max_concurrent"] == 8


@pytest.mark.parametrize(("name", "value"), [("REGRESSION_ASSETS_EXECUTOR", "spark"),
                                             ("REGRESSION_ASSETS_MAX_CONCURRENT", "two"),
                                             ("REGRESSION_ASSETS_MAX_CONCURRENT", "0")])
def test_bad_settings_are_refused_by_name(env, name, value):
    env(**{name: value})
    with pytest.raises(ValueError, match=name):
        executor_for_environment()


def test_every_setting_is_documented():
    used = set(re.findall(r"REGRESSION_ASSETS_[A-Z_]+", (ROOT / "regression_assets" / "executors.py").read_text()))
    readme = (DEPLOY / "README.md").read_text()
    assert used and all(name in readme for name in used), used - set(re.findall(r"REGRESSION_ASSETS_[A-Z_]+", readme))


# --- real runs in other processes ----------------------------------------------------------------------

def _run_stand_in_job(tmp_path: Path) -> Path:
    database = tmp_path / "out" / "warehouse.duckdb"
    (tmp_path / "dagster_home").mkdir()
    # A persistent (sqlite) instance: steps in other processes report their events to it.
    # Dagster keeps the last reconstructed job per process: rebuild it, with this test's executor.
    ReconstructableJob.get_definition.cache_clear()
    ReconstructableJob.get_repository_definition.cache_clear()
    # No compute-log capture: Dagster's local capture runs a `tail -F` per step, and in a Dask worker its
    # clean-up now and then waited out two 30 s timeouts per step (the test's 120 s ran out once in a
    # full-suite run); what runs where is what these tests check, not log capture.
    overrides = {"concurrency": {"pools": {"default_limit": 1}},
                 "compute_logs": {"module": "dagster._core.storage.noop_compute_log_manager",
                                  "class": "NoOpComputeLogManager"}}
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home"), overrides=overrides) as instance:
        result = dg.execute_job(dg.reconstructable(_dask_job.stand_in_job), instance=instance,
                                run_config=_dask_job.run_config(str(database), str(tmp_path / "out" / "files")))
        assert instance.is_persistent
        assert result.success, [(e.message, getattr(e.event_specific_data, "error", None) and e.event_specific_data.error.to_string()) for e in result.all_events if e.is_failure]
        executed = {e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_SUCCESS}
        assert executed == {"stand_in_values", "stand_in_doubled", "stand_in_total"}
    return database


def _total(database: Path) -> tuple[float, set[int]]:
    with duckdb.connect(str(database), read_only=True) as con:
        total = con.execute("SELECT total FROM regression_assets.stand_in_total").fetchall()[0][0]
        pids = {r[0] for r in con.execute("SELECT DISTINCT pid FROM regression_assets.stand_in_values "
                                          "UNION SELECT DISTINCT pid FROM regression_assets.stand_in_total").fetchall()}
    return total, pids


@pytest.mark.timeout(120)
def test_multiprocess_run_hands_outputs_between_processes(env, tmp_path):
    env(REGRESSION_ASSETS_EXECUTOR="multiprocess", REGRESSION_ASSETS_MAX_CONCURRENT="2")
    database = _run_stand_in_job(tmp_path)
    total, pids = _total(database)
    assert total == 30.0  # 1+2+3+4, plus twice that
    assert os.getpid() not in pids and len(pids) == 2  # one process per step
    assert (tmp_path / "out" / "files" / "stand_in_doubled").exists()


@pytest.mark.timeout(120)
def test_dask_run_on_a_local_distributed_cluster(env, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        worker_pids = set(client.run(os.getpid).values())
        env(REGRESSION_ASSETS_EXECUTOR="dask", REGRESSION_ASSETS_DASK_ADDRESS=cluster.scheduler_address)
        database = _run_stand_in_job(tmp_path)
    total, pids = _total(database)
    assert total == 30.0
    assert pids <= worker_pids and os.getpid() not in pids  # the steps ran on the Dask workers
    assert (tmp_path / "out" / "files" / "stand_in_doubled").exists()


@pytest.mark.timeout(120)
def test_dask_run_on_a_cluster_the_executor_starts(env, tmp_path):
    pytest.importorskip("distributed")
    env(REGRESSION_ASSETS_EXECUTOR="dask", REGRESSION_ASSETS_DASK_WORKERS="1")
    total, pids = _total(_run_stand_in_job(tmp_path))
    assert total == 30.0 and len(pids) == 1 and os.getpid() not in pids  # one worker process


# --- instance configuration (dagster.yaml and its deploy/ variants) ------------------------------------

INSTANCE_FILES = [ROOT / "dagster.yaml", DEPLOY / "dagster.postgres.yaml", DEPLOY / "dagster.k8s.yaml"]


def _instance_ref(path: Path, tmp_path: Path) -> InstanceRef:
    """Validate a dagster.yaml as Dagster does when it loads an instance, without connecting to anything."""
    home = tmp_path / path.stem
    home.mkdir()
    shutil.copy(path, home / "dagster.yaml")
    dagster_instance_config(str(home))  # raises DagsterInvalidConfigError on any unknown or mistyped key
    return InstanceRef.from_dir(str(home))


@pytest.mark.parametrize("path", INSTANCE_FILES, ids=lambda p: p.name)
def test_instance_config_is_valid(path, tmp_path):
    ref = _instance_ref(path, tmp_path)
    config = yaml.safe_load(path.read_text())
    assert config["concurrency"]["pools"]["default_limit"] == 1  # the `duckdb` pool: one writer
    assert ref.run_coordinator_data.class_name == "QueuedRunCoordinator"


@pytest.mark.parametrize("name", ["dagster.postgres.yaml", "dagster.k8s.yaml"])
def test_cluster_variants_use_postgres_from_the_environment(name, tmp_path):
    ref = _instance_ref(DEPLOY / name, tmp_path)
    assert (ref.storage_data.module_name, ref.storage_data.class_name) == ("dagster_postgres", "DagsterPostgresStorage")
    storage = yaml.safe_load((DEPLOY / name).read_text())["storage"]["postgres"]
    assert storage["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}  # never a literal password
    try:
        from dagster_postgres import DagsterPostgresStorage
    except ImportError:
        return
    result = validate_config(DagsterPostgresStorage.config_type(), storage)
    assert result.success, result.errors


def test_k8s_variant_launches_runs_as_kubernetes_jobs(tmp_path):
    ref = _instance_ref(DEPLOY / "dagster.k8s.yaml", tmp_path)
    assert (ref.run_launcher_data.module_name, ref.run_launcher_data.class_name) == ("dagster_k8s", "K8sRunLauncher")
    launcher = yaml.safe_load((DEPLOY / "dagster.k8s.yaml").read_text())["run_launcher"]["config"]
    assert "REGRESSION_ASSETS_ENV=bigquery" in launcher["env_vars"]  # no DuckDB on a cluster
    from dagster_gcp.gcs.compute_log_manager import GCSComputeLogManager

    logs = yaml.safe_load((DEPLOY / "dagster.k8s.yaml").read_text())["compute_logs"]["config"]
    assert validate_config(GCSComputeLogManager.config_type(), logs).success
    try:
        from dagster_k8s import K8sRunLauncher
    except ImportError:
        return
    result = validate_config(K8sRunLauncher.config_type(), launcher)
    assert result.success, result.errors


def test_a_mistyped_instance_key_is_caught(tmp_path):
    bad = tmp_path / "dagster.bad.yaml"
    bad.write_text((DEPLOY / "dagster.postgres.yaml").read_text().replace("db_name:", "database:"))
    with pytest.raises(DagsterInvalidConfigError):
        _instance_ref(bad, tmp_path)
