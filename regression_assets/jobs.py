"""Asset selections as jobs: the raw pull per day, the per-series chain (date × suite-platform), stability.

Each job's partitions are its assets' (Dagster infers them from the selection).
"""

import dagster as dg

from regression_assets.perf.alerts import regression_alerts, release_calendar
from regression_assets.perf.modes import series_modes
from regression_assets.perf.posterior import spline_posterior
from regression_assets.perf.raw import raw_perf_results
from regression_assets.perf.series import cleaned_series
from regression_assets.stability import STABILITY_ASSETS

PERF_ASSETS = [raw_perf_results, release_calendar, cleaned_series, series_modes, spline_posterior,
               regression_alerts]
PERF_SERIES_ASSETS = [cleaned_series, series_modes, spline_posterior, regression_alerts]

raw_perf_job = dg.define_asset_job("raw_perf_job", selection=[raw_perf_results])
perf_series_job = dg.define_asset_job("perf_series_job", selection=PERF_SERIES_ASSETS)
perf_daily_job = dg.define_asset_job("release_calendar_job", selection=[release_calendar])
stability_job = dg.define_asset_job("stability_job", selection=STABILITY_ASSETS)
report_job = dg.define_asset_job("report_job", selection=["regression_report"])
