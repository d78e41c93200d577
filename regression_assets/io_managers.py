"""Storage: partitioned tables in DuckDB, posterior draws as Parquet files.

Partitioned tables are written per partition in one transaction (delete that partition's rows, insert
the new ones), so re-running a partition replaces its rows and a killed run leaves no half-written
partition. Dagster's DuckDB IO manager can't hand a multi-partition *range* with a dynamic dimension
to its table slicer (it needs an instance there), which single-run backfills produce; this one works
from the partition keys alone.
"""

import os
import re
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOCK = threading.Lock()
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not a safe SQL identifier: {name!r}")
    return f'"{name}"'


def connect_with_retry(database: str, timeout_s: float = 120.0, read_only: bool = False):
    """Open a DuckDB file, waiting while another process holds its write lock.

    One process at a time may open a DuckDB file; every open here is short (one read or one
    transaction), so parallel backfill workers take turns instead of failing.
    """
    deadline, wait = time.monotonic() + timeout_s, 0.05
    while True:
        try:
            return duckdb.connect(database, read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(wait)
            wait = min(wait * 2, 1.0)


def split_multi_key(key) -> tuple[str, str]:
    """(date, series) of a date × series key, given as a MultiPartitionKey or its "date|series" string."""
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
        return dims["date"], next(v for d, v in dims.items() if d != "date")
    # Dimensions are joined in name order ("channel|date", "date|series"): find the date by its shape.
    a, _, b = str(key).partition("|")
    return (a, b) if _DATE.match(a) else (b, a)


def partition_filters(keys: list[str], multi: bool) -> pd.DataFrame:
    """Partition keys → a frame of (partition_date[, series_key]) to match rows on."""
    if multi:
        pairs = [split_multi_key(k) for k in keys]
        return pd.DataFrame({"partition_date": pd.to_datetime([d for d, _ in pairs]),
                             "partition_key_2": [s for _, s in pairs]})
    return pd.DataFrame({"partition_date": pd.to_datetime(list(keys))})


class DuckDBTableIOManager(dg.ConfigurableIOManager):
    """DataFrames ↔ DuckDB tables `schema.<asset>`; partition columns `partition_date` (+ a second key column)."""

    database: str
    schema_name: str = "regression_assets"

    def _connect(self) -> duckdb.DuckDBPyConnection:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        con = connect_with_retry(self.database)
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(self.schema_name)}")
        return con

    def _table(self, context) -> str:
        return f"{_ident(self.schema_name)}.{_ident(context.asset_key.path[-1])}"

    @staticmethod
    def _columns(metadata) -> tuple[str, str | None]:
        """(the date column, the other dimension's column or None) from `partition_expr` metadata."""
        expr = (metadata or {}).get("partition_expr")
        if isinstance(expr, dict):
            others = [v for k, v in expr.items() if k != "date"]
            return expr.get("date", "partition_date"), (others[0] if others else None)
        return (expr or "partition_date"), None

    @staticmethod
    def _match(date_col: str, second: str | None) -> str:
        """SQL matching table rows `t` to partition keys `k`: the key's day (a time window), and the key."""
        cond = (f"t.{_ident(date_col)} >= CAST(k.partition_date AS TIMESTAMP) AND t.{_ident(date_col)} < "
                "CAST(k.partition_date AS TIMESTAMP) + INTERVAL 1 DAY")
        return cond + (f" AND CAST(t.{_ident(second)} AS VARCHAR) = k.partition_key_2" if second else "")

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame | None) -> None:
        if obj is None:
            return
        if not isinstance(obj, pd.DataFrame):
            raise TypeError(f"{context.asset_key.to_user_string()}: expected a DataFrame, got {type(obj).__name__}")
        table = self._table(context)
        no_columns = len(obj.columns) == 0  # nothing computed for these partitions: clear their rows
        with _LOCK, self._connect() as con:
            if no_columns:
                if not self._exists(con, context.asset_key.path[-1]):
                    context.add_output_metadata({"rows": 0})
                    return
            else:
                con.register("incoming", obj)
            con.execute("BEGIN TRANSACTION")
            try:
                # Column types from the frame; an all-null column has DuckDB type NULL, which no later
                # value can be cast to: store it as VARCHAR.
                types = {} if no_columns else {
                    r[0]: ("VARCHAR" if r[1].strip('"') == "NULL" else r[1])
                    for r in con.execute("DESCRIBE SELECT * FROM incoming").fetchall()}
                if types:
                    cols_sql = ", ".join(f"{_ident(c)} {t}" for c, t in types.items())
                    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({cols_sql})")
                existing = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
                for col, dtype in types.items():  # a new column in a later version of an asset
                    if col not in existing:
                        con.execute(f"ALTER TABLE {table} ADD COLUMN {_ident(col)} {dtype}")
                if context.has_asset_partitions:
                    date_col, second = self._columns(context.definition_metadata)
                    keys = partition_filters(list(context.asset_partition_keys), multi=second is not None)
                    con.register("keys", keys)
                    con.execute(f"DELETE FROM {table} t USING keys k WHERE {self._match(date_col, second)}")
                else:
                    con.execute(f"DELETE FROM {table}")
                if not no_columns:
                    cols = ", ".join(_ident(c) for c in obj.columns)
                    con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM incoming")
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
        context.add_output_metadata({"rows": len(obj), "table": f"{self.schema_name}.{context.asset_key.path[-1]}"})

    def _exists(self, con, name: str) -> bool:
        return bool(con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [self.schema_name, name]).fetchall()[0][0])

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        table = self._table(context)
        with _LOCK, self._connect() as con:
            if not self._exists(con, context.asset_key.path[-1]):
                return pd.DataFrame()
            if not context.has_asset_partitions:
                return con.execute(f"SELECT * FROM {table}").df()
            upstream_meta = context.upstream_output.definition_metadata if context.upstream_output else {}
            date_col, second = self._columns(upstream_meta)
            keys = partition_filters(list(context.asset_partition_keys), multi=second is not None).drop_duplicates()
            con.register("keys", keys)
            return con.execute(f"SELECT t.* FROM {table} t JOIN keys k ON {self._match(date_col, second)}").df()


class ParquetDrawsIOManager(dg.ConfigurableIOManager):
    """Posterior draws: one Parquet file per partition, `<base_dir>/<asset>/<series>/<date>.parquet`.

    Outputs are dicts {partition key: DataFrame}; files are written to a temporary name and renamed,
    so a reader never sees half a file.
    """

    base_dir: str

    def _path(self, asset: str, key: str) -> Path:
        if "|" not in key:
            return Path(self.base_dir) / asset / f"{key}.parquet"
        date, series = split_multi_key(key)
        if not re.match(r"^[A-Za-z0-9._-]+$", series) or series.startswith("."):
            raise ValueError(f"unsafe series key for a file name: {series!r}")
        return Path(self.base_dir) / asset / series / f"{date}.parquet"

    def handle_output(self, context: dg.OutputContext, obj: dict[str, pd.DataFrame] | None) -> None:
        if obj is None:
            return
        asset = context.asset_key.path[-1]
        for key, frame in obj.items():
            if frame is None:
                continue
            path = self._path(asset, str(key))
            path.parent.mkdir(parents=True, exist_ok=True)
            # Not a *.parquet name, so never read as draws; os.replace is atomic on one file system.
            tmp = path.with_suffix(f".tmp-{os.getpid()}")
            try:
                frame.to_parquet(tmp, index=False)
                os.replace(tmp, path)
            except BaseException:
                tmp.unlink(missing_ok=True)  # a failed write leaves no litter (a killed one can't help it)
                raise

    def load_input(self, context: dg.InputContext) -> dict[str, pd.DataFrame]:
        asset = context.asset_key.path[-1]
        out = {}
        for key in context.asset_partition_keys:
            path = self._path(asset, str(key))
            if path.exists():
                out[str(key)] = pd.read_parquet(path)
        return out
