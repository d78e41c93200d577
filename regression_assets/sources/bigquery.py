"""Production perf source: Mozilla's `taskclusteretl.perfherder` table in BigQuery.

Every value reaches BigQuery as a query parameter (`@day`, `@projects`, ...); the only text put into
the SQL is the table name, and only after it matched `_TABLE_RE` (`project.dataset.table`, no quotes,
backticks, spaces or semicolons).

Column notes (BigQuery → `schema.RAW_PERF_COLUMNS`):

* `push_timestamp` is the table's `time` (when the task's results were recorded, UTC); the table has
  no push time of its own.
* `suite` is the suite's `name`, with its `extraOptions` appended when there are any, e.g.
  "tp5n opt e10s"; `value` is the suite's summary score (`suites.value`), subtests are not read.
* `lower_is_better`: the table's rows don't carry the direction, so it comes from
  `higher_is_better_suites` (suite-name substrings of score-like benchmarks such as Speedometer) and is
  True for everything else.
* Duplicate rows per (taskId, suite, platform, extraOptions) are dropped, as Mozilla's own
  slow-regression query did.
"""

import datetime as dt
import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from dagster_gcp import BigQueryResource
from google.cloud import bigquery as gbq
from pydantic import Field

from regression_assets.sources.base import PerfSource
from regression_assets.sources.schema import conform_raw_frame, empty_raw_frame

DEFAULT_TABLE = "moz-fx-data-derived-datasets.taskclusteretl.perfherder"
DEFAULT_BUILDHUB_TABLE = "moz-fx-data-shared-prod.telemetry.buildhub2"
DEFAULT_PROJECTS = ["mozilla-central", "autoland"]
DEFAULT_FRAMEWORKS = ["talos", "raptor", "browsertime", "awsy"]
DEFAULT_CHANNELS = ["beta", "release"]

# Benchmarks that report a score (bigger = faster). Matched as case-insensitive substrings of the suite
# name, so "raptor-speedometer-firefox" and "motionmark-animometer" are covered too.
DEFAULT_HIGHER_IS_BETTER_SUITES = [
    "speedometer",
    "motionmark",
    "stylebench",
    "jetstream",
    "octane",
    "dromaeo",
    "unity-webgl",
    "wasm-misc-score",
]

# GCP project id (6-30 chars: lowercase letter first, then lowercase letters, digits or hyphens, no
# trailing hyphen) . dataset (letters, digits, underscores) . table (letters, digits, underscores,
# hyphens). Nothing else - in particular no backtick, quote, whitespace, semicolon or comment marker.
_TABLE_RE = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]\.[A-Za-z0-9_]{1,1024}\.[A-Za-z0-9_-]{1,1024}")

# One row per (task, suite): the suite's summary score. `{table}` is the only interpolation and is
# checked by `validate_table` first; every value is a query parameter.
DAY_QUERY_SQL = """
SELECT
  perf.time AS push_timestamp,
  perf.project AS repository,
  perf.framework AS framework,
  s.name AS suite_name,
  ARRAY_TO_STRING(s.extraOptions, ' ') AS extra_options,
  perf.platform AS platform,
  s.value AS value,
  perf.revision AS revision,
  perf.taskId AS task_id
FROM `{table}` AS perf, UNNEST(perf.suites) AS s
WHERE DATE(perf.time) = @day
  AND perf.project IN UNNEST(@projects)
  AND perf.framework IN UNNEST(@frameworks)
  AND s.value IS NOT NULL
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY perf.taskId, s.name, perf.platform, ARRAY_TO_STRING(s.extraOptions, ' ')
  ORDER BY perf.time
) = 1
ORDER BY push_timestamp, repository, framework, suite_name, platform
"""

# A version's release day on a channel = the first build date of that version on that channel (Windows,
# en-US Firefox builds, as in Mozilla's query). Dot releases (72.0.2: two dots) are left out.
RELEASE_CALENDAR_SQL = """
SELECT
  b.build.target.channel AS channel,
  b.build.target.version AS version,
  MIN(DATE(b.build.build.date)) AS release_date
FROM `{table}` AS b
WHERE b.build.target.channel IN UNNEST(@channels)
  AND b.build.source.product = @product
  AND b.build.target.os = @os
  AND b.build.target.locale = @locale
  AND DATE(b.build.build.date) >= @start_date
  AND ARRAY_LENGTH(SPLIT(b.build.target.version, '.')) < 3
GROUP BY channel, version
ORDER BY channel, release_date, version
"""

RELEASE_CALENDAR_COLUMNS = ["channel", "version", "release_date"]


class BigQuerySourceError(RuntimeError):
    """A BigQuery read failed (the query, or a result page mid-download); names the table and the day."""


def run_query(bigquery: BigQueryResource, sql: str, job_config: gbq.QueryJobConfig, what: str) -> pd.DataFrame:
    """The whole result of `sql` as a frame, or BigQuerySourceError naming `what` (nothing partial).

    `to_dataframe()` downloads every result page; a failure on any page raises here, so a day is never
    returned half-read. The message carries the error's type and first line, never the job's credentials.
    """
    try:
        with bigquery.get_client() as client:
            return client.query(sql, job_config=job_config).to_dataframe()
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise BigQuerySourceError(f"{what}: BigQuery read failed ({type(exc).__name__}: {first})") from exc


def validate_table(table: str) -> str:
    """Return `table` if it is a plain `project.dataset.table` id, else raise ValueError."""
    if not isinstance(table, str) or not _TABLE_RE.fullmatch(table):
        raise ValueError(
            f"BigQuery table must look like 'project.dataset.table' (letters, digits, '_' and '-'), "
            f"got {table!r}"
        )
    return table


def _as_date(day: dt.date) -> dt.date:
    if isinstance(day, dt.datetime):
        return day.date()
    if isinstance(day, dt.date):
        return day
    raise TypeError(f"day must be a datetime.date, got {type(day).__name__}: {day!r}")


def _string_list(name: str, values: Iterable[str]) -> list[str]:
    out = list(values)
    if not out:
        raise ValueError(f"{name} must not be empty")
    bad = [v for v in out if not isinstance(v, str) or not v]
    if bad:
        raise ValueError(f"{name} must be non-empty strings, got {bad!r}")
    return out


def build_day_query(
    day: dt.date,
    projects: Sequence[str],
    frameworks: Sequence[str],
    table: str = DEFAULT_TABLE,
) -> tuple[str, gbq.QueryJobConfig]:
    """SQL and job config (parameters `@day`, `@projects`, `@frameworks`) for one day's summary scores."""
    sql = DAY_QUERY_SQL.format(table=validate_table(table))
    job_config = gbq.QueryJobConfig(
        query_parameters=[
            gbq.ScalarQueryParameter("day", "DATE", _as_date(day)),
            gbq.ArrayQueryParameter("projects", "STRING", _string_list("projects", projects)),
            gbq.ArrayQueryParameter("frameworks", "STRING", _string_list("frameworks", frameworks)),
        ]
    )
    return sql, job_config


def build_release_calendar_query(
    start_date: dt.date,
    channels: Sequence[str] = tuple(DEFAULT_CHANNELS),
    table: str = DEFAULT_BUILDHUB_TABLE,
    product: str = "firefox",
    os: str = "win",
    locale: str = "en-US",
) -> tuple[str, gbq.QueryJobConfig]:
    """SQL and job config for (channel, version, release_date) from buildhub2, dot releases left out."""
    sql = RELEASE_CALENDAR_SQL.format(table=validate_table(table))
    job_config = gbq.QueryJobConfig(
        query_parameters=[
            gbq.ArrayQueryParameter("channels", "STRING", _string_list("channels", channels)),
            gbq.ScalarQueryParameter("product", "STRING", product),
            gbq.ScalarQueryParameter("os", "STRING", os),
            gbq.ScalarQueryParameter("locale", "STRING", locale),
            gbq.ScalarQueryParameter("start_date", "DATE", _as_date(start_date)),
        ]
    )
    return sql, job_config


def _options_text(value: object) -> str:
    """`extraOptions` as one space-joined string, whether BigQuery gave a string or a repeated field."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, np.ndarray | list | tuple):
        return " ".join(str(v).strip() for v in value if v is not None and str(v).strip())
    if pd.isna(value):  # pd.NA / NaN scalars
        return ""
    return str(value).strip()


def lower_is_better_for(suites: pd.Series, higher_is_better: Sequence[str]) -> pd.Series:
    """True unless the suite name contains one of `higher_is_better` (case-insensitive)."""
    names = suites.astype("string").str.lower().fillna("")
    higher = pd.Series(False, index=suites.index)
    for token in higher_is_better:
        if token:
            higher |= names.str.contains(token.lower(), regex=False)
    return ~higher


def rows_to_raw_frame(
    rows: pd.DataFrame, higher_is_better: Sequence[str] = tuple(DEFAULT_HIGHER_IS_BETTER_SUITES)
) -> pd.DataFrame:
    """Map the day query's result (one row per task and suite) to a `RAW_PERF_COLUMNS` frame.

    Accepts `extra_options` either as the query's space-joined string or as BigQuery's repeated field
    (a list / numpy array per row), and the table's own field names (`time`, `project`, `taskId`,
    `name`/`suite`, `extraOptions`) as a `SELECT perf.*, s.*`-style unnested result has them.
    """
    if rows is None or rows.empty:
        return empty_raw_frame()
    df = rows.copy()
    for alias in ("suite", "name"):  # `s.name` / an already-named column from a hand-written query
        if "suite_name" not in df.columns and alias in df.columns:
            df = df.rename(columns={alias: "suite_name"})
    if "extra_options" not in df.columns and "extraOptions" in df.columns:
        df = df.rename(columns={"extraOptions": "extra_options"})
    if "task_id" not in df.columns and "taskId" in df.columns:
        df = df.rename(columns={"taskId": "task_id"})
    if "push_timestamp" not in df.columns and "time" in df.columns:
        df = df.rename(columns={"time": "push_timestamp"})
    if "repository" not in df.columns and "project" in df.columns:
        df = df.rename(columns={"project": "repository"})
    if "suite_name" not in df.columns:
        raise ValueError(f"BigQueryPerfSource: missing column 'suite_name'; got {list(rows.columns)}")
    options = (
        df["extra_options"].map(_options_text)
        if "extra_options" in df.columns
        else pd.Series("", index=df.index)
    )
    names = df["suite_name"].astype("string").str.strip()
    df["suite"] = names.where(options == "", names + " " + options)
    df["lower_is_better"] = lower_is_better_for(df["suite"], higher_is_better)
    out = conform_raw_frame(df, "BigQueryPerfSource")
    # The query already keeps one row per (task, suite, platform, options); repeat it here so a result
    # produced some other way (or a retried job) cannot double-count a task.
    out = out.drop_duplicates(subset=["task_id", "suite", "platform"], keep="first")
    return out.reset_index(drop=True)


def release_calendar_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Cast the calendar query's result: channel/version strings, release_date as naive datetime64."""
    if rows is None or rows.empty:
        return pd.DataFrame(
            {
                "channel": pd.Series(dtype="string"),
                "version": pd.Series(dtype="string"),
                "release_date": pd.Series(dtype="datetime64[ns]"),
            }
        )
    missing = [c for c in RELEASE_CALENDAR_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"release calendar: missing column(s) {missing}; got {list(rows.columns)}")
    out = rows[RELEASE_CALENDAR_COLUMNS].copy()
    out["channel"] = out["channel"].astype("string")
    out["version"] = out["version"].astype("string")
    out["release_date"] = pd.to_datetime(out["release_date"].astype("object")).astype("datetime64[ns]")
    return out.sort_values(["channel", "release_date", "version"]).reset_index(drop=True)


class BigQueryPerfSource(PerfSource):
    """Summary scores per (task, suite) from `taskclusteretl.perfherder`, one UTC day at a time."""

    bigquery: BigQueryResource
    table: str = Field(default=DEFAULT_TABLE, description="Perf table, `project.dataset.table`.")
    projects: list[str] = Field(
        default=list(DEFAULT_PROJECTS), description="Repositories (`project` column)."
    )
    frameworks: list[str] = Field(
        default=list(DEFAULT_FRAMEWORKS), description="Perfherder frameworks to read."
    )
    higher_is_better_suites: list[str] = Field(
        default=list(DEFAULT_HIGHER_IS_BETTER_SUITES),
        description=(
            "Suite-name substrings whose scores are higher-is-better; the table does not say, so every "
            "other suite is taken as lower-is-better."
        ),
    )
    buildhub_table: str = Field(
        default=DEFAULT_BUILDHUB_TABLE, description="buildhub2 table for the release calendar."
    )

    def fetch_day(self, day: dt.date) -> pd.DataFrame:
        sql, job_config = build_day_query(day, self.projects, self.frameworks, table=self.table)
        rows = run_query(self.bigquery, sql, job_config, f"BigQueryPerfSource: {self.table} on {_as_date(day)}")
        return rows_to_raw_frame(rows, self.higher_is_better_suites)

    def fetch_release_calendar(
        self, start_date: dt.date, channels: Sequence[str] = tuple(DEFAULT_CHANNELS)
    ) -> pd.DataFrame:
        """Columns `channel, version, release_date` (first build date of each version per channel)."""
        sql, job_config = build_release_calendar_query(start_date, channels, table=self.buildhub_table)
        rows = run_query(self.bigquery, sql, job_config, f"BigQueryPerfSource: release calendar from {self.buildhub_table}")
        return release_calendar_frame(rows)


__all__ = [
    "BigQuerySourceError",
    "DAY_QUERY_SQL",
    "DEFAULT_TABLE",
    "RELEASE_CALENDAR_SQL",
    "BigQueryPerfSource",
    "build_day_query",
    "build_release_calendar_query",
    "release_calendar_frame",
    "rows_to_raw_frame",
    "validate_table",
]
