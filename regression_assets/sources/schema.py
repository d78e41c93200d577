"""The frame every perf source returns: one row per data point (a suite's summary score of one test task)."""

import hashlib
import re

import numpy as np
import pandas as pd

# column -> pandas dtype. `push_timestamp` is naive UTC.
RAW_PERF_COLUMNS: dict[str, str] = {
    "push_timestamp": "datetime64[ns]",
    "repository": "string",
    "framework": "string",
    "suite": "string",
    "platform": "string",
    "value": "float64",
    "lower_is_better": "bool",
    "revision": "string",
    "task_id": "string",
}

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def series_key(suite: str, platform: str) -> str:
    """A partition-safe, stable key for a (suite, platform) series.

    Dagster partition keys may not contain `|`, `,`, `[`, `]` and friends, and the key ends up in file
    names, so anything outside [A-Za-z0-9._-] is replaced; a short hash of the original names keeps two
    series whose names differ only in such characters apart.
    """
    slug = f"{_UNSAFE.sub('-', suite).strip('-')}__{_UNSAFE.sub('-', platform).strip('-')}"
    if slug != f"{suite}__{platform}":
        digest = hashlib.sha1(f"{suite}\x00{platform}".encode()).hexdigest()[:8]
        slug = f"{slug}-{digest}"
    return slug


def empty_raw_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in RAW_PERF_COLUMNS.items()})


def conform_raw_frame(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check and cast a source's frame to RAW_PERF_COLUMNS; a missing column is an error naming it."""
    missing = [c for c in RAW_PERF_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; got {list(df.columns)}")
    out = df[list(RAW_PERF_COLUMNS)].copy()
    ts = pd.to_datetime(out["push_timestamp"], errors="coerce", utc=True)
    out["push_timestamp"] = ts.dt.tz_localize(None)
    for c in ("repository", "framework", "suite", "platform", "revision", "task_id"):
        out[c] = out[c].astype("string")
    out["value"] = pd.to_numeric(out["value"], errors="coerce").astype("float64")
    out["lower_is_better"] = out["lower_is_better"].fillna(True).astype(bool)
    return out.reset_index(drop=True)


def validate_raw_rows(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into (good, rejected); rejected rows carry a `reason` naming the field."""
    reasons = pd.Series(pd.NA, index=df.index, dtype="string")
    checks = [
        (df["push_timestamp"].isna(), "push_timestamp: unparsable or missing"),
        (df["suite"].isna() | (df["suite"].str.strip() == ""), "suite: missing"),
        (df["platform"].isna() | (df["platform"].str.strip() == ""), "platform: missing"),
        (pd.Series(~np.isfinite(df["value"].to_numpy(dtype=float, na_value=np.nan)), index=df.index),
         "value: NaN or infinite"),
        (df["value"] <= 0, "value: not positive (scores are ratios of times/sizes)"),
    ]
    for mask, why in checks:
        reasons = reasons.mask(mask.astype("boolean").fillna(True).astype(bool) & reasons.isna(), why)
    bad = reasons.notna()
    rejected = df[bad].assign(reason=reasons[bad])
    return df[~bad].reset_index(drop=True), rejected.reset_index()
