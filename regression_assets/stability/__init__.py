"""Release-stability assets (Mission Control crash rates)."""

from regression_assets.stability.aggregates import crash_aggregates
from regression_assets.stability.alerts import stability_alerts
from regression_assets.stability.comparisons import release_comparisons
from regression_assets.stability.rates import crash_rates
from regression_assets.stability.trend import stability_trend

STABILITY_ASSETS = [crash_aggregates, crash_rates, release_comparisons, stability_alerts, stability_trend]


def stability_resources_local(path: str = "") -> dict:
    """{"crash_source": LocalCrashSource} over `path` (default: the bundled generated sample)."""
    from regression_assets.sources.crash_files import LocalCrashSource

    return {"crash_source": LocalCrashSource(path=path)}


def stability_resources_bigquery() -> dict:
    """{"crash_source": BigQueryCrashSource}; project and credentials from the environment."""
    import os

    import dagster as dg
    from dagster_gcp import BigQueryResource

    from regression_assets.sources.crash_bigquery import BigQueryCrashSource

    credentials = dg.EnvVar("GCP_CREDENTIALS") if os.getenv("GCP_CREDENTIALS") else None
    table = os.getenv("REGRESSION_ASSETS_CRASH_TABLE")
    return {
        "crash_source": BigQueryCrashSource(
            bigquery=BigQueryResource(project=dg.EnvVar("GCP_PROJECT"), gcp_credentials=credentials),
            **({"table": table} if table else {}),
        )
    }


__all__ = ["STABILITY_ASSETS", "stability_resources_bigquery", "stability_resources_local"]
