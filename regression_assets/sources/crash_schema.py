"""The frame every crash source returns: rows of Mission Control's `error_aggregates` table.

One row per time window (5 minutes or coarser) and dimension combination, with the usage hours, the
ping `count` and one count column per crash measure. The columns and their types were fixed from the 100
real rows in `/work/shared/data/missioncontrol/error_aggregates_sample.snappy.parquet` (2017-06-29).
A measure the source does not have at all (`startup_crashes` in the 2017 table) is all-NaN, which is
not the same as zero: a missing value *inside* a present column means "no event" and is read as 0, while
a value that is there but not a number stays NaN and `validate_crash_rows` rejects the row.
"""

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd

from regression_assets.sources.schema import parse_utc_timestamps

# Dimensions kept by the stability assets (finer ones - country, os_version, architecture, e10s, ... -
# are summed over by the sources, as Mission Control did).
CRASH_DIMENSIONS: dict[str, str] = {
    "channel": "string",
    "version": "string",
    "build_id": "string",
    "application": "string",
    "os_name": "string",
}

# The measures the stability assets compare, in display order.
CRASH_MEASURES: list[str] = [
    "main_crashes",
    "content_crashes",
    "gpu_crashes",
    "plugin_crashes",
    "gmplugin_crashes",
    "content_shutdown_crashes",
    "startup_crashes",
]

# column -> pandas dtype; timestamps are naive UTC.
CRASH_COLUMNS: dict[str, str] = {
    "window_start": "datetime64[ns]",
    "window_end": "datetime64[ns]",
    **CRASH_DIMENSIONS,
    "usage_hours": "float64",
    "count": "float64",
    **{m: "float64" for m in CRASH_MEASURES},
}

# What a source may carry beyond CRASH_COLUMNS (dropped by `conform_crash_frame`, summed over).
EXTRA_DIMENSIONS = ["os_version", "architecture", "country", "experiment_id", "experiment_branch"]

RELEASE_COLUMNS = ["channel", "version", "release_time"]

# A crash needs a process that ran: more than one per second of usage is a corrupt row.
MAX_CRASHES_PER_USAGE_HOUR = 3600.0


class CrashSource(dg.ConfigurableResource):
    """Returns one day's `error_aggregates` rows (`CRASH_COLUMNS`) and the release calendar."""

    def fetch_day(self, day: dt.date, channel: str | None = None) -> pd.DataFrame:  # pragma: no cover
        raise TypeError(f"{type(self).__name__} does not implement fetch_day")

    def release_calendar(
        self, channel: str | None = None, until: dt.date | None = None
    ) -> pd.DataFrame:  # pragma: no cover
        """`channel, version, release_time` (naive UTC) of versions released by the end of `until`."""
        raise TypeError(f"{type(self).__name__} does not implement release_calendar")


def empty_crash_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in CRASH_COLUMNS.items()})


def empty_release_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "channel": pd.Series(dtype="string"),
            "version": pd.Series(dtype="string"),
            "release_time": pd.Series(dtype="datetime64[ns]"),
        }
    )


def _naive_utc(values: pd.Series) -> pd.Series:
    return parse_utc_timestamps(values).dt.tz_localize(None).astype("datetime64[ns]")


def _measure(values: pd.Series, column: str, source: str) -> pd.Series:
    """A crash-count column as float: missing = 0 (no event), unreadable = NaN (the row is rejected).

    A column with values but not one number in it is the wrong column, not bad rows: an error naming it.
    """
    num = pd.to_numeric(values, errors="coerce").astype("float64")
    text = values.astype("string").str.strip()
    missing = values.isna() | (text == "")
    unreadable = num.isna() & ~missing.fillna(True).to_numpy()
    if unreadable.any() and num.notna().sum() == 0:
        example = values[unreadable].iloc[0]
        raise ValueError(f"{source}: column {column!r} holds no numbers (e.g. {example!r}); expected crash counts")
    return num.mask(missing.fillna(True).to_numpy() & num.isna(), 0.0)


def conform_crash_frame(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check and cast a source's rows to CRASH_COLUMNS.

    A missing dimension, window or usage column is an error naming it; a missing measure column becomes
    all-NaN (the source does not have that measure); NaN inside a present measure column becomes 0.
    Rows from experiment branches are dropped (the table also counts them in the population rows).
    """
    required = ["window_start", "window_end", *CRASH_DIMENSIONS, "usage_hours"]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; got {list(df.columns)}")
    rows = df
    if "experiment_id" in rows.columns:
        rows = rows[rows["experiment_id"].isna()]
    out = pd.DataFrame(index=rows.index)
    out["window_start"] = _naive_utc(rows["window_start"])
    out["window_end"] = _naive_utc(rows["window_end"])
    for c in CRASH_DIMENSIONS:
        out[c] = rows[c].astype("string")
    out["usage_hours"] = pd.to_numeric(rows["usage_hours"], errors="coerce").astype("float64")
    out["count"] = (
        pd.to_numeric(rows["count"], errors="coerce").astype("float64") if "count" in rows else np.nan
    )
    for m in CRASH_MEASURES:
        out[m] = _measure(rows[m], m, source) if m in rows.columns else np.nan
    return out[list(CRASH_COLUMNS)].reset_index(drop=True)


def conform_release_frame(df: pd.DataFrame, source: str) -> pd.DataFrame:
    missing = [c for c in RELEASE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: release calendar missing column(s) {missing}; got {list(df.columns)}")
    out = df[RELEASE_COLUMNS].copy()
    out["channel"] = out["channel"].astype("string")
    out["version"] = out["version"].astype("string")
    out["release_time"] = _naive_utc(out["release_time"])
    return out.dropna().sort_values(["channel", "release_time", "version"]).reset_index(drop=True)


def first_seen_releases(rows: pd.DataFrame) -> pd.DataFrame:
    """A version's release time when no calendar has it: the first window seen for it on its channel."""
    if rows.empty:
        return empty_release_frame()
    first = rows.groupby(["channel", "version"], as_index=False, observed=True)["window_start"].min()
    return conform_release_frame(first.rename(columns={"window_start": "release_time"}), "first seen")


def validate_crash_rows(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into (good, rejected); rejected rows carry a `reason` (first failing check)."""
    present = [m for m in CRASH_MEASURES if df[m].notna().any()]
    negative = np.zeros(len(df), dtype=bool)
    unreadable = np.zeros(len(df), dtype=bool)
    implausible = np.zeros(len(df), dtype=bool)
    usage = df["usage_hours"].to_numpy(dtype=float, na_value=np.nan)
    for m in present:
        k = df[m].to_numpy(dtype=float, na_value=np.nan)
        negative |= k < 0
        unreadable |= ~np.isfinite(k)
        # More crashes than seconds of use (and more than a handful): a corrupt row, not a crash loop. One
        # such window would otherwise decide the release's rate ratio on its own.
        with np.errstate(invalid="ignore"):
            implausible |= (k > MAX_CRASHES_PER_USAGE_HOUR * usage) & (k > 100)
    checks = [
        (df["window_start"].isna() | df["window_end"].isna(), "window: unparsable or missing"),
        (df["window_end"] <= df["window_start"], "window: end not after start"),
        (df["channel"].isna() | df["version"].isna() | df["os_name"].isna(), "dimension: missing"),
        (pd.Series(~np.isfinite(usage), index=df.index), "usage_hours: NaN or infinite"),
        (df["usage_hours"] < 0, "usage_hours: negative"),
        (pd.Series(unreadable, index=df.index), "count: not a number or infinite"),
        (pd.Series(negative, index=df.index), "count: negative crash count"),
        (df["usage_hours"] == 0, "usage_hours: zero usage"),
        (pd.Series(implausible, index=df.index), "count: more crashes than seconds of usage"),
    ]
    reasons = pd.Series(pd.NA, index=df.index, dtype="string")
    for mask, why in checks:
        reasons = reasons.mask(mask.fillna(True).astype(bool) & reasons.isna(), why)
    bad = reasons.notna()
    return df[~bad].reset_index(drop=True), df[bad].assign(reason=reasons[bad]).reset_index(drop=True)


def aggregate_crash_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Sum validated rows to one row per (window, CRASH_DIMENSIONS); an all-NaN measure stays NaN."""
    if df.empty:
        return empty_crash_frame()
    keys = ["window_start", "window_end", *CRASH_DIMENSIONS]
    values = ["usage_hours", "count", *CRASH_MEASURES]
    out = df.groupby(keys, as_index=False, dropna=False)[values].sum(min_count=1)
    return out[list(CRASH_COLUMNS)].sort_values(keys).reset_index(drop=True)
