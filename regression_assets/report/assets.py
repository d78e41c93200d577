"""regression_report: the day's alerts and release stability as one self-contained HTML page."""

from pathlib import Path

import dagster as dg
import pandas as pd

from regression_assets.io_managers import connect_with_retry
from regression_assets.partitions import daily_partitions
from regression_assets.perf.alerts import regression_alerts
from regression_assets.perf.posterior import frame_to_draws
from regression_assets.report.html import SeriesInputs, build_report, rank_alerts, report_path, write_report
from regression_assets.resources import SCHEMA, data_dir
from regression_assets.stability.alerts import stability_alerts
from regression_assets.stability.rates import crash_rates

TABLE_EXISTS_SQL = "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?"
# Table names are fixed identifiers below; every value is a query parameter.
ALERTS_SQL = f"""
SELECT * FROM "{SCHEMA}"."regression_alerts"
WHERE partition_date >= CAST(? AS TIMESTAMP) AND partition_date < CAST(? AS TIMESTAMP) + INTERVAL 1 DAY
"""
POINTS_SQL = f"""
SELECT * FROM "{SCHEMA}"."cleaned_series"
WHERE partition_date >= CAST(? AS TIMESTAMP) AND partition_date < CAST(? AS TIMESTAMP) + INTERVAL 1 DAY
  AND series_key = ?
ORDER BY timestamp
"""
MODES_SQL = f"""
SELECT * FROM "{SCHEMA}"."series_modes"
WHERE partition_date >= CAST(? AS TIMESTAMP) AND partition_date < CAST(? AS TIMESTAMP) + INTERVAL 1 DAY
  AND series_key = ?
"""
STABILITY_ALERTS_SQL = f"""
SELECT * FROM "{SCHEMA}"."stability_alerts"
WHERE day >= CAST(? AS TIMESTAMP) AND day < CAST(? AS TIMESTAMP) + INTERVAL 1 DAY
"""
# The rates of each channel's two most recently released versions (as of the day), every day up to it.
CRASH_RATES_SQL = f"""
WITH versions AS (
  SELECT channel, version, min(release_time) AS release_time
  FROM "{SCHEMA}"."crash_rates"
  WHERE day < CAST(? AS TIMESTAMP) + INTERVAL 1 DAY AND release_time < CAST(? AS TIMESTAMP) + INTERVAL 1 DAY
  GROUP BY channel, version
  QUALIFY row_number() OVER (PARTITION BY channel ORDER BY min(release_time) DESC) <= 2
)
SELECT r.* FROM "{SCHEMA}"."crash_rates" r JOIN versions v USING (channel, version)
WHERE r.day < CAST(? AS TIMESTAMP) + INTERVAL 1 DAY
"""


class ReportTables:
    """Read-only, parameterised reads of one day's rows from the DuckDB warehouse and the draws files."""

    def __init__(self, database: str, draws_dir: str):
        self.database, self.draws_dir = database, Path(draws_dir)

    def _query(self, con, table: str, sql: str, params: list) -> pd.DataFrame:
        if not con.execute(TABLE_EXISTS_SQL, [SCHEMA, table]).fetchall()[0][0]:
            return pd.DataFrame()
        return con.execute(sql, params).df()

    def draws(self, day: str, key: str) -> tuple[pd.DatetimeIndex, object] | None:
        # The layout of ParquetDrawsIOManager: <base_dir>/spline_posterior/<series>/<date>.parquet
        path = self.draws_dir / "spline_posterior" / key / f"{day}.parquet"
        if not path.exists():
            return None
        days, draws, _ = frame_to_draws(pd.read_parquet(path))
        return days, draws

    def read(self, day: str) -> dict:
        if not Path(self.database).exists():
            empty = pd.DataFrame()
            return {"alerts": empty, "series": {}, "rates": empty, "stability_alerts": empty}
        with connect_with_retry(self.database, read_only=True) as con:
            alerts = self._query(con, "regression_alerts", ALERTS_SQL, [day, day])
            series = {}
            for key in rank_alerts(alerts)["series_key"].unique():
                drawn = self.draws(day, key)
                if drawn is None:
                    continue
                points = self._query(con, "cleaned_series", POINTS_SQL, [day, day, key])
                modes = self._query(con, "series_modes", MODES_SQL, [day, day, key])
                series[key] = SeriesInputs(points=points, days=drawn[0], draws=drawn[1], modes_row=modes)
            rates = self._query(con, "crash_rates", CRASH_RATES_SQL, [day, day, day])
            stab = self._query(con, "stability_alerts", STABILITY_ALERTS_SQL, [day, day])
        return {"alerts": alerts, "series": series, "rates": rates, "stability_alerts": stab}


@dg.asset(
    partitions_def=daily_partitions,
    group_name="report",
    kinds={"plotly", "html"},
    deps=[
        dg.AssetDep(regression_alerts, partition_mapping=dg.MultiToSingleDimensionPartitionMapping("date")),
        dg.AssetDep(stability_alerts, partition_mapping=dg.MultiToSingleDimensionPartitionMapping("date")),
        dg.AssetDep(crash_rates, partition_mapping=dg.MultiToSingleDimensionPartitionMapping("date")),
    ],
    required_resource_keys={"io_manager", "draws_io_manager"},
)
def regression_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """The day's alerts by severity with interactive plots, and release stability, as one HTML page."""
    day = context.partition_key
    # The DuckDB file and draws directory of the local resources (data_dir() when they name none).
    database = getattr(context.resources.io_manager, "database", None) or str(data_dir() / "warehouse.duckdb")
    draws_dir = getattr(context.resources.draws_io_manager, "base_dir", None) or str(data_dir() / "posterior")
    tables = ReportTables(database, draws_dir).read(day)
    report = build_report(day, tables["alerts"], tables["series"], tables["rates"], tables["stability_alerts"])
    path = write_report(report.html, report_path(data_dir() / "reports", day))
    if report.missing_posteriors:
        context.log.warning(f"no posterior draws for {report.missing_posteriors}: listed without plots")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(path)),
        "alerts": report.alerts,
        "plots": report.plots,
        "stability_alerts": report.stability_alerts,
        "insufficient_data": report.insufficient_data,
        "size_kb": round(path.stat().st_size / 1024, 1),
    })
