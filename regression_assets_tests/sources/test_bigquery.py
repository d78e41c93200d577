"""BigQueryPerfSource up to the client call: SQL text, query parameters, table validation, result mapping.

Only Google Cloud is faked: `BigQueryResource.get_client` yields a fake client whose `query()` records
the SQL and job config and returns a job whose `to_dataframe()` gives a frame shaped like BigQuery's.
"""

import contextlib
import datetime as dt
import re

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from dagster_gcp import BigQueryResource
from google.cloud import bigquery as gbq

from regression_assets.sources.bigquery import (
    DAY_QUERY_SQL,
    DEFAULT_BUILDHUB_TABLE,
    DEFAULT_TABLE,
    RELEASE_CALENDAR_SQL,
    BigQueryPerfSource,
    build_day_query,
    build_release_calendar_query,
    rows_to_raw_frame,
    validate_table,
)
from regression_assets.sources.schema import RAW_PERF_COLUMNS

DAY = dt.date(2024, 3, 5)
DATE_LITERAL = re.compile(r"\d{4}-\d{2}-\d{2}")


def _params(job_config: gbq.QueryJobConfig) -> dict[str, object]:
    return {p.name: p for p in job_config.query_parameters}


# -- SQL and parameters ---------------------------------------------------------------------------------


def test_day_query_uses_parameters_only():
    sql, job_config = build_day_query(DAY, ["mozilla-central", "autoland"], ["talos", "raptor"])

    assert "@day" in sql and "DATE(perf.time) = @day" in sql
    assert "UNNEST(@projects)" in sql and "UNNEST(@frameworks)" in sql
    assert "UNNEST(perf.suites)" in sql
    assert "UNNEST(s.subtests)" not in sql  # summary scores only
    assert f"`{DEFAULT_TABLE}`" in sql
    # no value ever makes it into the SQL text
    assert not DATE_LITERAL.search(sql)
    for literal in ("mozilla-central", "autoland", "talos", "raptor", "2024"):
        assert literal not in sql
    # duplicates per (taskId, suite, platform, extraOptions) dropped in SQL
    assert re.search(
        r"PARTITION BY perf\.taskId, s\.name, perf\.platform, ARRAY_TO_STRING\(s\.extraOptions", sql
    )
    assert "QUALIFY ROW_NUMBER()" in sql

    params = _params(job_config)
    assert set(params) == {"day", "projects", "frameworks"}
    day = params["day"]
    assert isinstance(day, gbq.ScalarQueryParameter)
    assert (day.type_, day.value) == ("DATE", DAY)
    projects, frameworks = params["projects"], params["frameworks"]
    assert isinstance(projects, gbq.ArrayQueryParameter) and isinstance(frameworks, gbq.ArrayQueryParameter)
    assert (projects.array_type, projects.values) == ("STRING", ["mozilla-central", "autoland"])
    assert (frameworks.array_type, frameworks.values) == ("STRING", ["talos", "raptor"])
    # and the API representation BigQuery receives
    assert day.to_api_repr() == {
        "name": "day",
        "parameterType": {"type": "DATE"},
        "parameterValue": {"value": "2024-03-05"},
    }


def test_day_query_template_is_a_module_constant():
    sql, _ = build_day_query(DAY, ["autoland"], ["talos"])
    assert sql == DAY_QUERY_SQL.format(table=DEFAULT_TABLE)
    assert DAY_QUERY_SQL.count("{") == 1  # only `{table}` is interpolated


def test_day_query_accepts_datetime_and_custom_table():
    sql, job_config = build_day_query(
        dt.datetime(2024, 3, 5, 17, 30), ["autoland"], ["awsy"], table="my-project.my_dataset.perf_copy"
    )
    assert "`my-project.my_dataset.perf_copy`" in sql
    assert _params(job_config)["day"].value == DAY


@pytest.mark.parametrize("projects, frameworks", [([], ["talos"]), (["autoland"], []), ([""], ["talos"])])
def test_day_query_rejects_empty_filters(projects, frameworks):
    with pytest.raises(ValueError):
        build_day_query(DAY, projects, frameworks)


def test_day_query_rejects_non_dates():
    with pytest.raises(TypeError):
        build_day_query("2024-03-05", ["autoland"], ["talos"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "table",
    [
        "x; DROP TABLE",
        "moz-fx-data-derived-datasets.taskclusteretl.perfherder; DROP TABLE x",
        "moz-fx-data-derived-datasets.taskclusteretl.perfherder`; SELECT 1; --",
        "moz-fx-data-derived-datasets.taskclusteretl.perfherder -- comment",
        "moz-fx-data-derived-datasets.taskclusteretl.perfherder\n",
        "moz-fx-data-derived-datasets.taskclusteretl",
        "moz-fx-data-derived-datasets.task clusteretl.perfherder",
        "moz-fx-data-derived-datasets.taskclusteretl.perfherder.extra",
        "Moz-Project.dataset.table",  # project ids are lowercase
        "abc.dataset.table",  # project ids are at least 6 characters
        "project-.dataset.table",
        "my-project.data'set.table",
        "",
    ],
)
def test_table_regex_rejects_injection(table):
    with pytest.raises(ValueError, match="project.dataset.table"):
        validate_table(table)
    with pytest.raises(ValueError):
        build_day_query(DAY, ["autoland"], ["talos"], table=table)


@pytest.mark.parametrize(
    "table", [DEFAULT_TABLE, DEFAULT_BUILDHUB_TABLE, "my-project.my_dataset.my_table", "proj123.ds.t-2"]
)
def test_table_regex_accepts_plain_ids(table):
    assert validate_table(table) == table


def test_resource_config_defaults():
    source = BigQueryPerfSource(bigquery=BigQueryResource(project="test-project"))
    assert source.table == DEFAULT_TABLE
    assert source.projects == ["mozilla-central", "autoland"]
    assert source.frameworks == ["talos", "raptor", "browsertime", "awsy"]


# -- fake Google Cloud client ---------------------------------------------------------------------------


class FakeJob:
    def __init__(self, frame: pd.DataFrame):
        self._frame = frame

    def to_dataframe(self) -> pd.DataFrame:
        return self._frame.copy()


class FakeClient:
    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.calls: list[tuple[str, gbq.QueryJobConfig]] = []

    def query(self, sql, job_config=None):
        self.calls.append((sql, job_config))
        return FakeJob(self.frame)


@pytest.fixture
def fake_bigquery(monkeypatch):
    """Patch BigQueryResource.get_client; set `.frame` on the returned holder before calling."""
    holder = FakeClient(pd.DataFrame())

    @contextlib.contextmanager
    def get_client(self):
        yield holder

    monkeypatch.setattr(BigQueryResource, "get_client", get_client)
    return holder


def _utc(*times: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(times), utc=True, format="ISO8601"))


def bigquery_day_result() -> pd.DataFrame:
    """What `to_dataframe()` gives for DAY_QUERY_SQL: TIMESTAMP → datetime64[ns, UTC], STRING → object."""
    return pd.DataFrame(
        {
            "push_timestamp": _utc(
                "2024-03-05 00:12:01.123456",
                "2024-03-05 09:30:00",
                "2024-03-05 09:30:00",
                "2024-03-05 23:59:59",
            ),
            "repository": ["mozilla-central", "autoland", "autoland", "autoland"],
            "framework": ["talos", "talos", "raptor", "awsy"],
            "suite_name": ["tp5n", "ts_paint", "raptor-speedometer-firefox", "Base Content JS"],
            "extra_options": ["e10s stylo", "", "fission webrender", None],
            "platform": [
                "windows10-64-shippable-qr",
                "linux1804-64-shippable-qr",
                "macosx1015-64-shippable-qr",
                "linux1804-64-shippable-qr",
            ],
            "value": [211.07, 301.0, 187.3, 1530428.0],
            "revision": ["f3a9c1e27b6d4e08", "0b1c2d3e4f5a6b7c", "0b1c2d3e4f5a6b7c", "1234567890abcdef"],
            "task_id": ["KxGz1o9bQ0u1", "Lq8d2PbWTs2A", "Mz3e4RcXUt3B", "Nw4f5SdYVu4C"],
        }
    )


def test_fetch_day_runs_the_built_query_and_maps_rows(fake_bigquery):
    fake_bigquery.frame = bigquery_day_result()
    source = BigQueryPerfSource(bigquery=BigQueryResource(project="test-project"), projects=["autoland"])

    out = source.fetch_day(DAY)

    assert len(fake_bigquery.calls) == 1
    sql, job_config = fake_bigquery.calls[0]
    expected_sql, expected_config = build_day_query(DAY, ["autoland"], source.frameworks)
    assert sql == expected_sql
    assert [p.to_api_repr() for p in job_config.query_parameters] == [
        p.to_api_repr() for p in expected_config.query_parameters
    ]

    assert list(out.columns) == list(RAW_PERF_COLUMNS)
    assert {c: str(t) for c, t in out.dtypes.items()} == RAW_PERF_COLUMNS
    assert out["suite"].tolist() == [
        "tp5n e10s stylo",
        "ts_paint",
        "raptor-speedometer-firefox fission webrender",
        "Base Content JS",
    ]
    assert out["lower_is_better"].tolist() == [True, True, False, True]
    assert out["push_timestamp"].iloc[0] == pd.Timestamp("2024-03-05 00:12:01.123456")  # naive UTC
    assert out["push_timestamp"].dt.tz is None
    assert out["value"].tolist() == [211.07, 301.0, 187.3, 1530428.0]
    assert out["task_id"].iloc[1] == "Lq8d2PbWTs2A"
    assert out["repository"].iloc[0] == "mozilla-central"


def test_repeated_record_unnested_shape(fake_bigquery):
    """A `SELECT perf.* EXCEPT(suites), s.*` style result: table field names, extraOptions as arrays."""
    fake_bigquery.frame = pd.DataFrame(
        {
            "time": _utc(
                "2024-03-05 01:00:00", "2024-03-05 01:00:00", "2024-03-05 01:00:00", "2024-03-05 02:00:00"
            ),
            "project": ["autoland"] * 4,
            "framework": ["talos"] * 4,
            "platform": ["windows10-64-shippable-qr"] * 4,
            "taskId": ["T1", "T1", "T1", "T2"],
            "revision": ["abc"] * 4,
            "name": ["tp5n", "tp5n", "tp5n", "dromaeo_css"],
            "value": [200.0, 200.0, 190.0, 5123.4],
            # REPEATED STRING comes back as numpy arrays; an empty array means no options
            "extraOptions": [
                np.array(["e10s", "stylo"], dtype=object),
                np.array(["e10s", "stylo"], dtype=object),  # duplicate row of the same task and suite
                np.array([], dtype=object),
                np.array(["e10s"], dtype=object),
            ],
            "subtests": [
                [{"name": "a.html", "value": 1.0, "shouldAlert": None, "replicates": [1.0]}],
                [{"name": "a.html", "value": 1.0, "shouldAlert": None, "replicates": [1.0]}],
                [],
                [],
            ],
        }
    )
    source = BigQueryPerfSource(bigquery=BigQueryResource(project="test-project"))

    out = source.fetch_day(DAY)

    assert {c: str(t) for c, t in out.dtypes.items()} == RAW_PERF_COLUMNS
    assert out["suite"].tolist() == ["tp5n e10s stylo", "tp5n", "dromaeo_css e10s"]
    assert out["task_id"].tolist() == ["T1", "T1", "T2"]
    assert out["value"].tolist() == [200.0, 190.0, 5123.4]
    assert out["lower_is_better"].tolist() == [True, True, False]


def test_empty_result_gives_typed_empty_frame(fake_bigquery):
    fake_bigquery.frame = bigquery_day_result().iloc[0:0]
    out = BigQueryPerfSource(bigquery=BigQueryResource(project="test-project")).fetch_day(DAY)
    assert out.empty
    assert {c: str(t) for c, t in out.dtypes.items()} == RAW_PERF_COLUMNS


def test_higher_is_better_mapping_is_configurable():
    rows = bigquery_day_result()
    out = rows_to_raw_frame(rows, higher_is_better=["ts_paint"])
    assert out["lower_is_better"].tolist() == [True, False, True, True]


def test_missing_column_is_named():
    rows = bigquery_day_result().drop(columns=["platform"])
    with pytest.raises(ValueError, match="platform"):
        rows_to_raw_frame(rows)


def test_fetch_day_inside_a_dagster_run(fake_bigquery):
    """The nested BigQueryResource resolves inside a run and the asset gets the frame."""
    fake_bigquery.frame = bigquery_day_result()

    @dg.asset
    def raw_day(perf_source: BigQueryPerfSource) -> pd.DataFrame:
        return perf_source.fetch_day(DAY)

    result = dg.materialize(
        [raw_day],
        resources={"perf_source": BigQueryPerfSource(bigquery=BigQueryResource(project="test-project"))},
    )
    assert result.success
    assert len(result.output_for_node("raw_day")) == 4
    assert len(fake_bigquery.calls) == 1


# -- release calendar -----------------------------------------------------------------------------------


def test_release_calendar_query_parameters():
    sql, job_config = build_release_calendar_query(dt.date(2023, 1, 1), ["beta", "release"])
    assert sql == RELEASE_CALENDAR_SQL.format(table=DEFAULT_BUILDHUB_TABLE)
    assert f"`{DEFAULT_BUILDHUB_TABLE}`" in sql
    assert "UNNEST(@channels)" in sql and "@start_date" in sql
    assert "MIN(DATE(b.build.build.date))" in sql
    assert "ARRAY_LENGTH(SPLIT(b.build.target.version, '.')) < 3" in sql  # dot releases left out
    assert not DATE_LITERAL.search(sql)
    for literal in ("beta", "release'", "firefox", "en-US"):
        assert literal not in sql
    params = _params(job_config)
    assert (params["channels"].array_type, params["channels"].values) == ("STRING", ["beta", "release"])
    assert (params["start_date"].type_, params["start_date"].value) == ("DATE", dt.date(2023, 1, 1))
    assert {k: params[k].value for k in ("product", "os", "locale")} == {
        "product": "firefox",
        "os": "win",
        "locale": "en-US",
    }


def test_fetch_release_calendar(fake_bigquery):
    fake_bigquery.frame = pd.DataFrame(
        {
            "channel": ["release", "beta", "beta"],
            "version": ["123.0", "124.0b1", "123.0b9"],
            # DATE columns come back as db-dtypes' dbdate
            "release_date": pd.Series(
                [dt.date(2024, 2, 19), dt.date(2024, 2, 19), dt.date(2024, 2, 9)], dtype="dbdate"
            ),
        }
    )
    source = BigQueryPerfSource(bigquery=BigQueryResource(project="test-project"))

    out = source.fetch_release_calendar(dt.date(2024, 1, 1), channels=["beta", "release"])

    sql, job_config = fake_bigquery.calls[0]
    assert "buildhub2" in sql
    assert _params(job_config)["start_date"].value == dt.date(2024, 1, 1)
    assert list(out.columns) == ["channel", "version", "release_date"]
    assert str(out["channel"].dtype) == "string" and str(out["version"].dtype) == "string"
    assert str(out["release_date"].dtype) == "datetime64[ns]"
    assert out.to_dict("records") == [
        {"channel": "beta", "version": "123.0b9", "release_date": pd.Timestamp("2024-02-09")},
        {"channel": "beta", "version": "124.0b1", "release_date": pd.Timestamp("2024-02-19")},
        {"channel": "release", "version": "123.0", "release_date": pd.Timestamp("2024-02-19")},
    ]


def test_release_calendar_rejects_bad_table(fake_bigquery):
    source = BigQueryPerfSource(
        bigquery=BigQueryResource(project="test-project"), buildhub_table="x; DROP TABLE"
    )
    with pytest.raises(ValueError):
        source.fetch_release_calendar(dt.date(2024, 1, 1))
    assert fake_bigquery.calls == []
