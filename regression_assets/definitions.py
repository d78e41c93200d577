"""The one place that assembles the code location: assets, jobs, resources per environment."""

import dagster as dg

from regression_assets.checks import ASSET_CHECKS
from regression_assets.executors import executor_for_environment
from regression_assets.jobs import (
    PERF_ASSETS,
    perf_daily_job,
    perf_series_job,
    raw_perf_job,
    report_job,
    stability_job,
)
from regression_assets.operations import (
    OPERATIONS_SCHEDULES,
    alert_notification_sensor,
    alert_registry,
    alert_registry_job,
    notify_alerts_job,
)
from regression_assets.report.assets import regression_report
from regression_assets.resources import resources_for_environment
from regression_assets.stability import STABILITY_ASSETS

defs = dg.Definitions(
    assets=[*PERF_ASSETS, *STABILITY_ASSETS, alert_registry, regression_report],
    asset_checks=ASSET_CHECKS,
    jobs=[raw_perf_job, perf_series_job, perf_daily_job, stability_job, alert_registry_job, notify_alerts_job,
          report_job],
    schedules=OPERATIONS_SCHEDULES,
    sensors=[alert_notification_sensor],
    resources=resources_for_environment(),
    executor=executor_for_environment(),
)
