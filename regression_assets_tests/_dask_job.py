"""A tiny stand-in job for the executor tests, importable so other processes can reconstruct it.

Three assets through file-based IO managers (the project's DuckDB tables, and Dagster's pickle files),
so a run on the multiprocess or Dask executor proves that steps in different processes hand data over.
The DuckDB file and the pickle directory come from run config (`configure_at_launch`).
"""

import os

import dagster as dg
import pandas as pd

from regression_assets.executors import DUCKDB_POOL, executor_for_environment
from regression_assets.io_managers import DuckDBTableIOManager

JOB_NAME = "stand_in_job"


@dg.asset(pool=DUCKDB_POOL)
def stand_in_values() -> pd.DataFrame:
    """A few numbers, with the id of the process that made them."""
    return pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "pid": os.getpid()})


@dg.asset(io_manager_key="files_io_manager")
def stand_in_doubled(stand_in_values: pd.DataFrame) -> pd.DataFrame:
    """The numbers doubled, pickled to a file."""
    return pd.DataFrame({"x2": stand_in_values["x"] * 2, "pid": os.getpid()})


@dg.asset(pool=DUCKDB_POOL)
def stand_in_total(stand_in_values: pd.DataFrame, stand_in_doubled: pd.DataFrame) -> pd.DataFrame:
    """The sum of both inputs, one row."""
    total = float(stand_in_values["x"].sum() + stand_in_doubled["x2"].sum())
    return pd.DataFrame({"total": [total], "pid": os.getpid()})


ASSETS = [stand_in_values, stand_in_doubled, stand_in_total]


def run_config(database: str, files_dir: str) -> dict:
    return {"resources": {"io_manager": {"config": {"database": database}},
                          "files_io_manager": {"config": {"base_dir": files_dir}}}}


def stand_in_job() -> dg.JobDefinition:
    """The job with the executor REGRESSION_ASSETS_EXECUTOR selects (module scope: reconstructable)."""
    defs = dg.Definitions(
        assets=ASSETS,
        jobs=[dg.define_asset_job(JOB_NAME, selection=ASSETS)],
        resources={"io_manager": DuckDBTableIOManager.configure_at_launch(),
                   "files_io_manager": dg.FilesystemIOManager.configure_at_launch()},
        executor=executor_for_environment(),
    )
    return defs.resolve_job_def(JOB_NAME)
