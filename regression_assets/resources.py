"""Resources, chosen per environment in this one place (REGRESSION_ASSETS_ENV = local | bigquery)."""

import os
from pathlib import Path

import dagster as dg

# Schema (DuckDB) / dataset (BigQuery) that holds every table this project writes.
SCHEMA = "regression_assets"


def data_dir() -> Path:
    """Where local outputs live (DuckDB file, posterior Parquet, reports); created on demand."""
    path = Path(os.getenv("REGRESSION_ASSETS_DATA_DIR", Path.cwd() / "data_out")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def environment() -> str:
    env = os.getenv("REGRESSION_ASSETS_ENV", "local").strip().lower()
    if env not in ("local", "bigquery"):
        raise ValueError(f"REGRESSION_ASSETS_ENV must be 'local' or 'bigquery', got {env!r}")
    return env


def local_resources() -> dict:
    """The embedded default: bundled sample files, a DuckDB file, Parquet for posterior draws."""
    from dagster_duckdb_pandas import DuckDBPandasIOManager

    from regression_assets.sources.files import LocalPerfSource

    out = data_dir()
    return {
        "io_manager": DuckDBPandasIOManager(database=str(out / "warehouse.duckdb"), schema=SCHEMA),
        "perf_source": LocalPerfSource(),
    }


def bigquery_resources() -> dict:
    """Production: BigQuery for sources and tables; project and credentials from the environment."""
    from dagster_gcp import BigQueryResource
    from dagster_gcp_pandas import BigQueryPandasIOManager

    from regression_assets.sources.bigquery import BigQueryPerfSource

    project = dg.EnvVar("GCP_PROJECT")
    return {
        "io_manager": BigQueryPandasIOManager(
            project=project, dataset=os.getenv("REGRESSION_ASSETS_DATASET", SCHEMA),
            gcp_credentials=dg.EnvVar("GCP_CREDENTIALS") if os.getenv("GCP_CREDENTIALS") else None,
        ),
        "perf_source": BigQueryPerfSource(
            bigquery=BigQueryResource(
                project=project,
                gcp_credentials=dg.EnvVar("GCP_CREDENTIALS") if os.getenv("GCP_CREDENTIALS") else None,
            )
        ),
    }


def resources_for_environment() -> dict:
    return bigquery_resources() if environment() == "bigquery" else local_resources()
