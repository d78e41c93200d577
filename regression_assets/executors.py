"""The executor, chosen per environment in this one place (REGRESSION_ASSETS_EXECUTOR).

`in_process` (tests, debugging), `multiprocess` (the default: one process per step, at most
`REGRESSION_ASSETS_MAX_CONCURRENT` at a time), `dask` (steps on a Dask cluster: the scheduler at
`REGRESSION_ASSETS_DASK_ADDRESS`, else a local cluster of `REGRESSION_ASSETS_DASK_WORKERS` worker
processes) or `k8s` (each step a Kubernetes Job; needs dagster-k8s and the K8sRunLauncher of
`deploy/dagster.k8s.yaml`).

Every executor but `in_process` runs steps in other processes: it needs a persistent Dagster instance
(DAGSTER_HOME, not an ephemeral one) and IO managers whose outputs every worker can read — the DuckDB
file and the Parquet draws under REGRESSION_ASSETS_DATA_DIR on one machine; on a cluster, the BigQuery
environment and a shared volume for the draws (see deploy/README.md).

`JobDefinition.execute_in_process` (what `make run` and the tests use) ignores the executor and always
runs in the calling process.

The Dask executor here is dagster-dask's with two fixes (found with dagster-dask 0.29.27, dask 2026.8):
Dagster's run and job objects travel to the workers wrapped, because Dask walks tuples among a
task's arguments and Dagster's records refuse iteration (a job using a concurrency pool failed at
submit: "Iteration is not allowed on `@record` RunOpConcurrency"); and each task key carries the run
id, so two runs of the same job on one scheduler are not merged into one (dagster-io/dagster#21418).
"""

import json
import os
from collections.abc import Iterator

import dagster as dg
from dagster._core.errors import raise_execution_interrupts
from dagster._core.execution.retries import RetryMode
from dagster._utils import iterate_with_context

EXECUTOR_ENV = "REGRESSION_ASSETS_EXECUTOR"
EXECUTORS = ("in_process", "multiprocess", "dask", "k8s")
DEFAULT_EXECUTOR = "multiprocess"
DEFAULT_MAX_CONCURRENT = 2  # 2 cores: one PyMC fit per core
DEFAULT_DASK_WORKERS = 2

# Concurrency pools (`pool=` on an asset). Limits live in the instance: `concurrency: pools:
# default_limit: 1` in dagster.yaml makes every pool single-slot unless set otherwise with
# `dagster instance concurrency set <pool> <limit>`.
DUCKDB_POOL = "duckdb"  # DuckDB allows one writing process per file
PYMC_POOL = "pymc"  # one sampler per core


def _int_env(name: str, default: int) -> int:
    raw = os.getenv(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return value


def executor_kind() -> str:
    """The executor named by REGRESSION_ASSETS_EXECUTOR (default `multiprocess`), validated."""
    kind = os.getenv(EXECUTOR_ENV, "").strip().lower().replace("-", "_") or DEFAULT_EXECUTOR
    if kind not in EXECUTORS:
        raise ValueError(f"{EXECUTOR_ENV} must be one of {', '.join(EXECUTORS)}; got {kind!r}")
    return kind


def max_concurrent() -> int:
    """Steps in flight at once within one run (REGRESSION_ASSETS_MAX_CONCURRENT, default 2)."""
    return _int_env("REGRESSION_ASSETS_MAX_CONCURRENT", DEFAULT_MAX_CONCURRENT)


def dask_cluster_config() -> dict:
    """The dagster-dask `cluster` config: an existing scheduler if an address is set, else a local cluster."""
    if os.getenv("REGRESSION_ASSETS_DASK_ADDRESS", "").strip():
        # Resolved when a run starts, so a code server need not be reloaded to point at a new scheduler.
        return {"existing": {"address": {"env": "REGRESSION_ASSETS_DASK_ADDRESS"}}}
    # Worker processes, one thread each: Dagster steps are not thread-safe, and PyTensor/BLAS are
    # faster with a process per core.
    return {"local": {"n_workers": _int_env("REGRESSION_ASSETS_DASK_WORKERS", DEFAULT_DASK_WORKERS),
                      "threads_per_worker": 1, "processes": True}}


class _StepArgs:
    """One step's arguments for a Dask worker, in an object Dask passes along without looking inside."""

    def __init__(self, recon_job, dagster_run, run_config, step_keys, instance_ref, known_state):
        self.recon_job, self.dagster_run, self.run_config = recon_job, dagster_run, run_config
        self.step_keys, self.instance_ref, self.known_state = step_keys, instance_ref, known_state


def _run_step_on_worker(dependencies: list, args: _StepArgs) -> list:
    """Runs on a Dask worker: the step's events. `dependencies` (upstream futures) only orders the tasks."""
    from dagster_dask.executor import query_on_dask_worker

    return list(query_on_dask_worker(dependencies, args.recon_job, args.dagster_run, args.run_config,
                                     args.step_keys, args.instance_ref, args.known_state))


class DaskStepExecutor(dg.Executor):
    """Each step a Dask task on an existing scheduler (`address`) or on a local cluster started per run."""

    def __init__(self, address: str | None = None, local: dict | None = None):
        self.address, self.local = address, dict(local or {})

    @property
    def retries(self) -> RetryMode:
        return RetryMode.DISABLED

    def execute(self, plan_context, execution_plan) -> Iterator[dg.DagsterEvent]:
        import dask.distributed
        from dagster_dask.executor import DASK_RESOURCE_REQUIREMENTS_KEY

        if not plan_context.instance.is_persistent:
            raise dg.DagsterInvariantViolationError(
                "the Dask executor needs a persistent Dagster instance (set DAGSTER_HOME)")
        run = plan_context.dagster_run
        cluster = self.address or dask.distributed.LocalCluster(**{"threads_per_worker": 1, **self.local})
        try:
            with dask.distributed.Client(cluster) as client:
                futures, by_step = [], {}
                for level in execution_plan.get_steps_to_execute_by_level():
                    for step in level:
                        upstream = [by_step[key] for step_input in step.step_inputs
                                    for key in step_input.dependency_keys]
                        args = _StepArgs(plan_context.reconstructable_job, run, plan_context.run_config,
                                         [step.key], plan_context.instance.get_ref(),
                                         execution_plan.known_state)
                        requirements = step.tags.get(DASK_RESOURCE_REQUIREMENTS_KEY)
                        future = client.submit(_run_step_on_worker, upstream, args,
                                               key=f"{plan_context.job_name}.{step.key}.{run.run_id}",
                                               resources=json.loads(requirements) if requirements else {},
                                               pure=False)
                        futures.append(future)
                        by_step[step.key] = future
                completed = dask.distributed.as_completed(futures, with_results=True)
                for _future, events in iterate_with_context(raise_execution_interrupts, completed):
                    yield from events
        finally:
            if not isinstance(cluster, str):
                cluster.close()


@dg.executor(
    name="dask",
    config_schema={"cluster": dg.Field(dg.Selector({
        "existing": dg.Field({"address": dg.StringSource}, description="Connect to a running scheduler."),
        "local": dg.Field(dg.Permissive(), description="distributed.LocalCluster arguments, one per run."),
    }))},
    requirements=dg.multiple_process_executor_requirements(),
)
def dask_executor(init_context) -> DaskStepExecutor:
    """Steps on a Dask cluster (dagster-dask's executor, fixed for current Dask; see the module docstring)."""
    ((kind, config),) = init_context.executor_config["cluster"].items()
    return DaskStepExecutor(address=config["address"]) if kind == "existing" else DaskStepExecutor(local=config)


def executor_for_environment() -> dg.ExecutorDefinition:
    """The ExecutorDefinition for `Definitions(executor=...)`, from REGRESSION_ASSETS_EXECUTOR."""
    kind = executor_kind()
    if kind == "in_process":
        return dg.in_process_executor
    if kind == "multiprocess":
        return dg.multiprocess_executor.configured({"max_concurrent": max_concurrent()})
    if kind == "dask":
        try:
            import dagster_dask  # noqa: F401
        except ImportError as exc:
            raise RuntimeError(f"{EXECUTOR_ENV}=dask needs the dagster-dask package "
                               "(pip install dagster-dask, which brings dask and distributed)") from exc
        return dask_executor.configured({"cluster": dask_cluster_config()})
    try:
        from dagster_k8s import k8s_job_executor
    except ImportError as exc:
        raise RuntimeError(f"{EXECUTOR_ENV}=k8s needs the dagster-k8s package (pip install dagster-k8s "
                           "dagster-postgres) and the K8sRunLauncher of deploy/dagster.k8s.yaml") from exc
    # Image, namespace, env and secrets are inherited from the K8sRunLauncher in the instance config.
    return k8s_job_executor.configured({"max_concurrent": max_concurrent()})
