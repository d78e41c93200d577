"""Production crash source: Mission Control's `error_aggregates` table in BigQuery.

Every value is a query parameter (`@day_start`, `@channel`, ...); the table name is the only text put into
the SQL, after `validate_table` accepted it. Rows are summed over the finer dimensions (country,
os_version, architecture, e10s, ...) to (window, channel, version, build_id, application, os_name) in
BigQuery, and rows of experiment branches are left out (the table counts them in the population too).
"""

import datetime as dt

import pandas as pd
from dagster_gcp import BigQueryResource
from google.cloud import bigquery as gbq
from pydantic import Field

from regression_assets.sources.bigquery import run_query, validate_table
from regression_assets.sources.crash_schema import (
    CRASH_MEASURES,
    CrashSource,
    conform_crash_frame,
    conform_release_frame,
    empty_crash_frame,
    empty_release_frame,
)

DEFAULT_TABLE = "moz-fx-data-shared-prod.telemetry.error_aggregates"

_SUMS = ",\n  ".join(f"SUM({m}) AS {m}" for m in CRASH_MEASURES)

CRASH_DAY_SQL = f"""
SELECT
  window_start, window_end, channel, version, build_id, application, os_name,
  SUM(usage_hours) AS usage_hours,
  SUM(`count`) AS `count`,
  {_SUMS}
FROM `{{table}}`
WHERE window_start >= @day_start AND window_start < @day_end
  AND application = @application
  AND (@channel IS NULL OR channel = @channel)
  AND experiment_id IS NULL AND experiment_branch IS NULL
GROUP BY window_start, window_end, channel, version, build_id, application, os_name
ORDER BY window_start, channel, os_name, version, build_id
"""

# A version's release time = the first window it was seen in on its channel (within the lookback).
RELEASES_SQL = """
SELECT channel, version, MIN(window_start) AS release_time
FROM `{table}`
WHERE window_start >= @since AND window_start < @until
  AND application = @application
  AND (@channel IS NULL OR channel = @channel)
  AND experiment_id IS NULL AND experiment_branch IS NULL
  AND usage_hours > 0
GROUP BY channel, version
"""


def _day(day: dt.date) -> dt.datetime:
    if isinstance(day, dt.datetime):
        day = day.date()
    if not isinstance(day, dt.date):
        raise TypeError(f"day must be a datetime.date, got {type(day).__name__}: {day!r}")
    return dt.datetime(day.year, day.month, day.day)


def build_crash_day_query(
    day: dt.date, channel: str | None = None, table: str = DEFAULT_TABLE, application: str = "Firefox"
) -> tuple[str, gbq.QueryJobConfig]:
    """SQL and job config (`@day_start`, `@day_end`, `@channel`, `@application`) for one UTC day."""
    start = _day(day)
    sql = CRASH_DAY_SQL.format(table=validate_table(table))
    job_config = gbq.QueryJobConfig(
        query_parameters=[
            gbq.ScalarQueryParameter("day_start", "TIMESTAMP", start),
            gbq.ScalarQueryParameter("day_end", "TIMESTAMP", start + dt.timedelta(days=1)),
            gbq.ScalarQueryParameter("channel", "STRING", channel),
            gbq.ScalarQueryParameter("application", "STRING", application),
        ]
    )
    return sql, job_config


def build_releases_query(
    until: dt.date,
    lookback_days: int = 200,
    channel: str | None = None,
    table: str = DEFAULT_TABLE,
    application: str = "Firefox",
) -> tuple[str, gbq.QueryJobConfig]:
    """SQL and job config for first-seen release times in [until - lookback_days, until + 1 day)."""
    end = _day(until) + dt.timedelta(days=1)
    sql = RELEASES_SQL.format(table=validate_table(table))
    job_config = gbq.QueryJobConfig(
        query_parameters=[
            gbq.ScalarQueryParameter("since", "TIMESTAMP", end - dt.timedelta(days=lookback_days + 1)),
            gbq.ScalarQueryParameter("until", "TIMESTAMP", end),
            gbq.ScalarQueryParameter("channel", "STRING", channel),
            gbq.ScalarQueryParameter("application", "STRING", application),
        ]
    )
    return sql, job_config


class BigQueryCrashSource(CrashSource):
    """`error_aggregates` rows from BigQuery, one UTC day (and optionally one channel) at a time."""

    bigquery: BigQueryResource
    table: str = Field(default=DEFAULT_TABLE, description="error_aggregates table, `project.dataset.table`.")
    application: str = Field(default="Firefox")
    release_lookback_days: int = Field(default=200, description="How far back to look for first-seen times.")

    def fetch_day(self, day: dt.date, channel: str | None = None) -> pd.DataFrame:
        sql, job_config = build_crash_day_query(day, channel, self.table, self.application)
        rows = run_query(self.bigquery, sql, job_config, f"BigQueryCrashSource: {self.table} on {_day(day):%Y-%m-%d}"
                         + (f" ({channel})" if channel else ""))
        return empty_crash_frame() if rows.empty else conform_crash_frame(rows, "BigQueryCrashSource")

    def release_calendar(self, channel: str | None = None, until: dt.date | None = None) -> pd.DataFrame:
        until = until or dt.datetime.now(dt.UTC).date()
        sql, job_config = build_releases_query(until, self.release_lookback_days, channel, self.table, self.application)
        rows = run_query(self.bigquery, sql, job_config, f"BigQueryCrashSource: releases from {self.table}")
        return empty_release_frame() if rows.empty else conform_release_frame(rows, "BigQueryCrashSource")
