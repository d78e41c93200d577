"""The frame every perf source returns: one row per data point (a suite's summary score of one test task)."""

import datetime as dt
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

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+|\.{2,}")
# Longest name part kept in a key: the key is a directory name for the posterior draws (255 bytes at most
# on common file systems) and is shown in the UI.
_MAX_PART = 60
BOOL_TRUE = frozenset({"true", "1", "yes", "t", "y"})
BOOL_FALSE = frozenset({"false", "0", "no", "f", "n"})


def _slug(name: str) -> str:
    return _UNSAFE.sub("-", name).strip("-.")[:_MAX_PART].rstrip("-.")


def series_key(suite: str, platform: str) -> str:
    """A partition-safe, stable key for a (suite, platform) series.

    Dagster partition keys may not contain `|`, `,`, `[`, `]`, `...` and friends, and the key ends up in
    file names, so anything outside [A-Za-z0-9._-] (and runs of dots) is replaced, leading and trailing
    dots and dashes are dropped (no hidden files, no `..`) and each part is cut at 60 characters; when
    any of that changed the names (or they hold a "__" that makes the join ambiguous), a short hash of
    the original names keeps two such series apart. Plain names map to `suite__platform` unchanged.
    """
    slug = f"{_slug(suite)}__{_slug(platform)}"
    # "a__b" + "c" and "a" + "b__c" would both read "a__b__c": a "__" inside a name, or an "_" next to
    # the separator, makes the join ambiguous, so such names get the hash too.
    ambiguous = "__" in suite or "__" in platform or suite.endswith("_") or platform.startswith("_")
    if ambiguous or slug != f"{suite}__{platform}":
        digest = hashlib.sha1(f"{suite}\x00{platform}".encode()).hexdigest()[:8]
        slug = f"{slug}-{digest}"
    return slug


# An explicit UTC offset (or Z) after the time of day: "...T10:00:00+02:00", "... 10:00Z".
_HAS_OFFSET = re.compile(r"[T ]\d{2}(?::?\d{2}){0,2}(?:[.,]\d+)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$")


def parse_utc_timestamps(values: pd.Series) -> pd.Series:
    """Timestamps as datetime64[ns, UTC]; naive ones are UTC, aware ones are converted; NaT if unreadable.

    Strings are read as ISO-8601. Strings with and without a UTC offset are parsed apart: pandas, given
    both in one call, reads a naive time that follows an offset time in *that* offset (pandas 2.3), which
    would silently move it by hours. Numbers are not timestamps here (an epoch in unknown units): NaT.
    """
    s = pd.Series(values)
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype):
        utc = s.dt.tz_convert("UTC") if isinstance(s.dtype, pd.DatetimeTZDtype) else s.dt.tz_localize("UTC")
        # a coarser unit (Parquet's microseconds) may hold times nanoseconds can't: NaT, not an overflow
        lo, hi = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
        return utc.where((utc >= lo) & (utc <= hi)).astype("datetime64[ns, UTC]")
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
    obj = s.astype(object)
    if pd.api.types.infer_dtype(obj, skipna=True) in ("string", "empty"):  # the common case, vectorised
        is_str, is_time = obj.notna(), pd.Series(False, index=s.index)
    else:
        is_str = obj.map(lambda v: isinstance(v, str))
        is_time = obj.map(lambda v: isinstance(v, dt.datetime | dt.date | np.datetime64))
    if is_time.any():
        out[is_time] = pd.to_datetime(obj[is_time], utc=True, errors="coerce")
    if is_str.any():
        text = obj[is_str].astype(str).str.strip()
        aware = text.str.contains(_HAS_OFFSET)
        for part in (text[aware], text[~aware]):
            if len(part):
                out[part.index] = pd.to_datetime(part, utc=True, format="ISO8601", errors="coerce")
    return out


def _bool_of(v: object, default: bool | None) -> bool | None:
    if v is None or v is pd.NA or (isinstance(v, float | np.floating) and np.isnan(v)):
        return default
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | float | np.integer | np.floating):
        return bool(v) if v in (0, 1) else None
    if isinstance(v, str):
        t = v.strip().lower()
        return True if t in BOOL_TRUE else False if t in BOOL_FALSE else (default if t == "" else None)
    return None


def parse_bool(values: pd.Series, default: bool | None = None) -> pd.Series:
    """Booleans (nullable) from bool / 0-1 numbers / true-false-yes-no strings (any case).

    Missing values become `default`; anything else unreadable is NA. (`bool("false")` is True: strings
    must be parsed, never cast.)
    """
    s = pd.Series(values)
    if pd.api.types.is_bool_dtype(s.dtype) and not s.isna().any():
        return s.astype("boolean")
    missing = s.isna().to_numpy()
    mapping = {v: _bool_of(v, default) for v in s[~missing].unique()}
    return pd.Series([default if m else mapping[v] for v, m in zip(s, missing, strict=True)],
                     index=s.index, dtype="boolean")


def empty_raw_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in RAW_PERF_COLUMNS.items()})


def conform_raw_frame(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check and cast a source's frame to RAW_PERF_COLUMNS.

    A missing column, or a column of the wrong kind (numeric `push_timestamp`, a `lower_is_better` without
    one boolean in it), is an error naming the source and the column; a value that can't be read in an
    otherwise good column (a bad time, a non-number, "maybe") becomes NaT / NaN / stays as given, and
    `validate_raw_rows` rejects that row with a reason naming the field. A missing `lower_is_better` is
    True. (With an unreadable value, `lower_is_better` is an object column, keeping it, until validated.)
    """
    missing = [c for c in RAW_PERF_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; got {list(df.columns)}")
    out = df[list(RAW_PERF_COLUMNS)].copy()
    raw_ts = out["push_timestamp"]
    if pd.api.types.is_numeric_dtype(raw_ts.dtype) and raw_ts.notna().any():
        raise ValueError(f"{source}: column 'push_timestamp' holds numbers ({raw_ts.dtype}, e.g. {raw_ts.dropna().iloc[0]!r}); "
                         "expected datetimes or ISO-8601 strings (epoch units are ambiguous)")
    out["push_timestamp"] = parse_utc_timestamps(raw_ts).dt.tz_localize(None).astype("datetime64[ns]")
    for c in ("repository", "framework", "suite", "platform", "revision", "task_id"):
        out[c] = out[c].astype("string")
    out["value"] = pd.to_numeric(out["value"], errors="coerce").astype("float64")
    lib = parse_bool(out["lower_is_better"], default=True)
    if lib.isna().any():
        given = out["lower_is_better"].notna()
        if not (lib.notna() & given).any():  # not one readable value: the wrong column
            i = int(np.argmax(lib.isna().to_numpy()))
            raise ValueError(f"{source}: column 'lower_is_better' holds no booleans (row {i + 1}: "
                             f"{out['lower_is_better'].iloc[i]!r}); expected true/false/1/0/yes/no")
        # Readable values as booleans, unreadable ones kept as given (so a second conform, and the reason
        # validate_raw_rows gives, still see them); missing ones are True.
        out["lower_is_better"] = out["lower_is_better"].astype(object).where(lib.isna(), lib.astype(object))
    else:
        out["lower_is_better"] = lib.astype(bool)
    return out.reset_index(drop=True)


DUPLICATE_KEY = ["suite", "platform", "task_id", "push_timestamp", "value"]


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
        (parse_bool(df["lower_is_better"], default=True).isna(), "lower_is_better: not a boolean"),
        # The same task's result twice (a source re-reading a page, a file listed twice): one data point.
        (df.duplicated(DUPLICATE_KEY, keep="first"), "duplicate: same suite, platform, task_id, time and value"),
    ]
    for mask, why in checks:
        reasons = reasons.mask(mask.astype("boolean").fillna(True).astype(bool) & reasons.isna(), why)
    bad = reasons.notna()
    rejected = df[bad].assign(reason=reasons[bad])
    good = df[~bad].reset_index(drop=True)
    return good.astype({"lower_is_better": bool}), rejected.reset_index()
