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
    from regression_assets.io_managers import DuckDBTableIOManager, ParquetDrawsIOManager
    from regression_assets.operations.notify import notifier_from_env
    from regression_assets.operations.registry import AlertStore
    from regression_assets.sources.files import LocalPerfSource
    from regression_assets.stability import stability_resources_local
    from regression_assets.warehouse import DuckDBWarehouse

    out = data_dir()
    database = str(out / "warehouse.duckdb")
    return {
        "io_manager": DuckDBTableIOManager(database=database, schema_name=SCHEMA),
        "draws_io_manager": ParquetDrawsIOManager(base_dir=str(out / "posterior")),
        "warehouse": DuckDBWarehouse(database=database, schema_name=SCHEMA),
        "perf_source": LocalPerfSource(),
        "alert_store": AlertStore(database=database, schema_name=SCHEMA),
        "notifier": notifier_from_env(),
        **stability_resources_local(),
    }


def bigquery_resources() -> dict:
    """Production: BigQuery for sources and tables; project and credentials from the environment."""
    from dagster_gcp import BigQueryResource
    from dagster_gcp_pandas import BigQueryPandasIOManager

    from regression_assets.io_managers import ParquetDrawsIOManager
    from regression_assets.operations.notify import notifier_from_env
    from regression_assets.operations.registry import AlertStore
    from regression_assets.sources.bigquery import BigQueryPerfSource
    from regression_assets.stability import stability_resources_bigquery
    from regression_assets.warehouse import BigQueryWarehouse

    project = dg.EnvVar("GCP_PROJECT")
    dataset = os.getenv("REGRESSION_ASSETS_DATASET", SCHEMA)
    credentials = dg.EnvVar("GCP_CREDENTIALS") if os.getenv("GCP_CREDENTIALS") else None
    return {
        # Posterior draws stay on local disk (or a mounted bucket path) in every environment.
        "draws_io_manager": ParquetDrawsIOManager(base_dir=str(data_dir() / "posterior")),
        "warehouse": BigQueryWarehouse(bigquery=BigQueryResource(project=project, gcp_credentials=credentials),
                                       dataset=dataset),
        "io_manager": BigQueryPandasIOManager(project=project, dataset=dataset, gcp_credentials=credentials),
        "perf_source": BigQueryPerfSource(bigquery=BigQueryResource(project=project, gcp_credentials=credentials)),
        **stability_resources_bigquery(),
        # The alert registry and triage state are a small local DuckDB file in every environment
        # (it reads alert rows from DuckDB: a BigQuery-backed store is not built yet).
        "alert_store": AlertStore(database=str(data_dir() / "warehouse.duckdb"), schema_name=SCHEMA),
        "notifier": notifier_from_env(),
    }


def resources_for_environment() -> dict:
    return bigquery_resources() if environment() == "bigquery" else local_resources()
