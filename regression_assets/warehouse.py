"""Reading a series' trailing window back from the warehouse (DuckDB locally, BigQuery in production).

`cleaned_series` needs up to 180 days of one series, i.e. rows from 180 `raw_perf_results` partitions:
a parameterised query is cheaper than loading those partitions through an IO manager.
"""

import datetime as dt

import dagster as dg
import pandas as pd

SERIES_WINDOW_SQL = """
SELECT *
FROM {table}
WHERE series_key = ? AND push_timestamp >= ? AND push_timestamp < ?
ORDER BY push_timestamp
"""

SERIES_WINDOW_SQL_BQ = """
SELECT *
FROM `{table}`
WHERE series_key = @series_key AND push_timestamp >= @start AND push_timestamp < @end
ORDER BY push_timestamp
"""


class PerfWarehouse(dg.ConfigurableResource):
    """Where `raw_perf_results` lives; answers windowed reads of one series."""

    def series_window(self, series_key: str, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
        raise TypeError(f"{type(self).__name__} does not implement series_window")


class DuckDBWarehouse(PerfWarehouse):
    database: str
    schema_name: str = "regression_assets"

    def series_window(self, series_key: str, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
        from regression_assets.io_managers import _LOCK, _ident, connect_with_retry

        table = f"{_ident(self.schema_name)}.{_ident('raw_perf_results')}"
        with _LOCK, connect_with_retry(self.database) as con:
            exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND "
                                 "table_name = 'raw_perf_results'", [self.schema_name]).fetchall()[0][0]
            if not exists:
                return pd.DataFrame()
            return con.execute(SERIES_WINDOW_SQL.format(table=table), [series_key, start, end]).df()


class BigQueryWarehouse(PerfWarehouse):
    bigquery: dg.ResourceDependency[object]
    dataset: str

    def series_window(self, series_key: str, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
        from google.cloud import bigquery as bq

        from regression_assets.sources.bigquery import validate_table

        table = validate_table(f"{self.bigquery.project}.{self.dataset}.raw_perf_results")
        config = bq.QueryJobConfig(query_parameters=[
            bq.ScalarQueryParameter("series_key", "STRING", series_key),
            bq.ScalarQueryParameter("start", "DATETIME", start),
            bq.ScalarQueryParameter("end", "DATETIME", end),
        ])
        with self.bigquery.get_client() as client:
            return client.query(SERIES_WINDOW_SQL_BQ.format(table=table), job_config=config).to_dataframe()
