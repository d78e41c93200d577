"""`alert_registry`: every change once, with its triage status; the DuckDB store behind it, the CLI and notify.

The registry reads its own previous table (to keep alert keys and statuses), so it is written through
`AlertStore` in one connection — read, merge, replace in a transaction — not through the IO manager.
Status changes are appended to `alert_status` (by the CLI) and applied on top of every merge, so a
status set by a person survives any re-materialization.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
import pandas as pd

from regression_assets.stats.lifecycle import (
    DEFAULT_STATUS,
    apply_status_log,
    conform_registry,
    empty_registry,
    merge_alerts,
    resolve_key,
    validate_status,
)

REGISTRY, STATUS_LOG, SENT = "alert_registry", "alert_status", "notifications_sent"

TABLE_EXISTS_SQL = "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?"
# The push behind a perf change, when the change point is a data point (located by the scan).
PERF_ALERT_ROWS_SQL = """
SELECT a.*, r.revision
FROM {alerts} a
LEFT JOIN (SELECT series_key, push_timestamp, min(revision) AS revision
           FROM {raw} GROUP BY series_key, push_timestamp) r
  ON r.series_key = a.series_key AND r.push_timestamp = a.change_timestamp
WHERE a.is_alert
"""
PERF_ALERT_ROWS_NO_RAW_SQL = "SELECT * FROM {alerts} WHERE is_alert"
STABILITY_ALERT_ROWS_SQL = "SELECT * FROM {alerts} WHERE status = 'alert'"
CREATE_STATUS_LOG_SQL = """
CREATE TABLE IF NOT EXISTS {table} (alert_key VARCHAR, status VARCHAR, note VARCHAR, changed_at TIMESTAMP)
"""
INSERT_STATUS_SQL = "INSERT INTO {table} VALUES (?, ?, ?, ?)"
CREATE_SENT_SQL = """
CREATE TABLE IF NOT EXISTS {table} (alert_key VARCHAR PRIMARY KEY, sent_at TIMESTAMP, channel VARCHAR,
                                    group_key VARCHAR)
"""
INSERT_SENT_SQL = "INSERT OR IGNORE INTO {table} VALUES (?, ?, ?, ?)"


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").tz_localize(None)


class AlertStore(dg.ConfigurableResource):
    """The alert tables in DuckDB: alert rows in, the registry, status log and sent-state."""

    database: str
    schema_name: str = "regression_assets"

    def _t(self, name: str) -> str:
        from regression_assets.io_managers import _ident

        return f"{_ident(self.schema_name)}.{_ident(name)}"

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One short connection (other processes wait for the file lock, see `connect_with_retry`)."""
        from pathlib import Path

        from regression_assets.io_managers import _LOCK, _ident, connect_with_retry

        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        with _LOCK, connect_with_retry(self.database) as con:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(self.schema_name)}")
            yield con

    def _exists(self, con, name: str) -> bool:
        return bool(con.execute(TABLE_EXISTS_SQL, [self.schema_name, name]).fetchall()[0][0])

    def _df(self, con, name: str, sql: str = "SELECT * FROM {table}") -> pd.DataFrame | None:
        return con.execute(sql.format(table=self._t(name))).df() if self._exists(con, name) else None

    # ---- alert rows and the registry

    def read_alert_rows(self, con) -> pd.DataFrame:
        """Every alerting row of `regression_alerts` (with the change's revision when known) and `stability_alerts`."""
        parts = []
        if self._exists(con, "regression_alerts"):
            sql = PERF_ALERT_ROWS_SQL if self._exists(con, "raw_perf_results") else PERF_ALERT_ROWS_NO_RAW_SQL
            parts.append(con.execute(sql.format(alerts=self._t("regression_alerts"),
                                                raw=self._t("raw_perf_results"))).df())
        if self._exists(con, "stability_alerts"):
            parts.append(con.execute(STABILITY_ALERT_ROWS_SQL.format(alerts=self._t("stability_alerts"))).df())
        parts = [p for p in parts if len(p)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def refresh_registry(self, merge_days: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Merge all alert rows into the registry, apply the status log, replace the table atomically.

        Returns (new registry, previous registry).
        """
        with self.connect() as con:
            previous = conform_registry(self._df(con, REGISTRY) if self._exists(con, REGISTRY) else empty_registry())
            merged = merge_alerts(previous, self.read_alert_rows(con), merge_days=merge_days)
            merged = apply_status_log(merged, self._df(con, STATUS_LOG))
            self._replace(con, REGISTRY, merged)
        return merged, previous

    def _replace(self, con, name: str, df: pd.DataFrame) -> None:
        con.register("incoming_registry", df)
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"CREATE OR REPLACE TABLE {self._t(name)} AS SELECT * FROM incoming_registry")
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        finally:
            con.unregister("incoming_registry")

    def read_registry(self) -> pd.DataFrame:
        """The registry with the latest status changes applied (empty if never materialized)."""
        with self.connect() as con:
            reg = self._df(con, REGISTRY)
            log = self._df(con, STATUS_LOG)
        return apply_status_log(reg if reg is not None else empty_registry(), log)

    # ---- triage

    def set_status(self, alert_key: str, status: str, note: str = "",
                   changed_at: pd.Timestamp | None = None) -> tuple[str, str]:
        """Log a status change (validated; a unique key prefix is enough) and apply it to the registry.

        Returns (alert key, previous status). Raises ValueError (bad status) or KeyError (unknown alert).
        """
        status = validate_status(status)
        changed_at = pd.Timestamp(changed_at) if changed_at is not None else _now()
        with self.connect() as con:
            reg = self._df(con, REGISTRY)
            reg = apply_status_log(reg if reg is not None else empty_registry(), self._df(con, STATUS_LOG))
            key = resolve_key(reg, alert_key)
            previous = str(reg.loc[reg["alert_key"] == key, "status"].iloc[0] or DEFAULT_STATUS)
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(CREATE_STATUS_LOG_SQL.format(table=self._t(STATUS_LOG)))
                con.execute(INSERT_STATUS_SQL.format(table=self._t(STATUS_LOG)),
                            [key, status, note or "", changed_at.to_pydatetime()])
                con.execute(f"UPDATE {self._t(REGISTRY)} SET status = ?, note = ?, status_changed_at = ? "
                            "WHERE alert_key = ?", [status, note or "", changed_at.to_pydatetime(), key])
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
        return key, previous

    def status_log(self) -> pd.DataFrame:
        with self.connect() as con:
            log = self._df(con, STATUS_LOG)
        return log if log is not None else pd.DataFrame(columns=["alert_key", "status", "note", "changed_at"])

    # ---- notifications sent-state

    def pending_notifications(self) -> pd.DataFrame:
        """Untriaged registry rows not yet notified."""
        reg = self.read_registry()
        sent = self.sent_keys()
        return reg[(reg["status"] == DEFAULT_STATUS) & ~reg["alert_key"].isin(sent)].reset_index(drop=True)

    def sent_keys(self) -> set[str]:
        with self.connect() as con:
            df = self._df(con, SENT, "SELECT alert_key FROM {table}")
        return set(df["alert_key"]) if df is not None else set()

    def mark_sent(self, alert_keys: list[str], channel: str, group_key: str,
                  sent_at: pd.Timestamp | None = None) -> None:
        """Record alerts as notified (once: a key already recorded keeps its first record)."""
        at = (pd.Timestamp(sent_at) if sent_at is not None else _now()).to_pydatetime()
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(CREATE_SENT_SQL.format(table=self._t(SENT)))
                con.executemany(INSERT_SENT_SQL.format(table=self._t(SENT)),
                                [[k, at, channel, group_key] for k in alert_keys])
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise


def alert_store_from_env() -> AlertStore:
    """The store on the local warehouse file (`REGRESSION_ASSETS_DATA_DIR/warehouse.duckdb`)."""
    from regression_assets.resources import SCHEMA, data_dir

    return AlertStore(database=str(data_dir() / "warehouse.duckdb"), schema_name=SCHEMA)


class AlertRegistryConfig(dg.Config):
    merge_days: int = 3  # alerts of a series whose change days are this close are one change


@dg.asset(
    group_name="operations",
    kinds={"duckdb", "pandas"},
    deps=["regression_alerts", "stability_alerts"],
)
def alert_registry(context: dg.AssetExecutionContext, config: AlertRegistryConfig,
                   alert_store: AlertStore) -> dg.MaterializeResult:
    """Every alerted change once (stable key, latest and largest magnitude), with its triage status."""
    registry, previous = alert_store.refresh_registry(merge_days=config.merge_days)
    new = registry[~registry["alert_key"].isin(previous["alert_key"])]
    untriaged = registry[registry["status"] == DEFAULT_STATUS]
    show = untriaged.sort_values("last_seen", ascending=False).head(30)[
        ["alert_key", "kind", "series_key", "version", "change_day", "direction", "magnitude_pct", "p", "last_seen"]]
    context.log.info(f"alert registry: {len(registry)} changes, {len(new)} new, {len(untriaged)} untriaged")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(registry),
        "new_alerts": len(new),
        "untriaged": len(untriaged),
        "by_status": dg.MetadataValue.json({str(k): int(v) for k, v in registry["status"].value_counts().items()}),
        "untriaged_table": dg.MetadataValue.md(show.to_markdown(index=False, floatfmt=".3g") if len(show) else "_none_"),
        "table": f"{alert_store.schema_name}.{REGISTRY}",
    })


alert_registry_job = dg.define_asset_job("alert_registry_job", selection=[alert_registry])
