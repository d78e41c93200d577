"""The one place that assembles the code location: assets, jobs, resources per environment."""

import dagster as dg

from regression_assets.jobs import PERF_ASSETS, perf_daily_job, perf_series_job, raw_perf_job
from regression_assets.resources import resources_for_environment

defs = dg.Definitions(
    assets=PERF_ASSETS,
    jobs=[raw_perf_job, perf_series_job, perf_daily_job],
    resources=resources_for_environment(),
)
