"""`regression-assets detect`: read a long CSV of series, run a detector per series, write the changes.

The file contract (public and stable):

Input CSV, header required, columns in any order, extra columns ignored:
  ``series_id``        any non-empty string (kept verbatim: "007" stays "007")
  ``timestamp``        ISO-8601; naive = UTC, tz-aware converted to UTC; many rows may share one
  ``value``            a finite number
  ``lower_is_better``  optional; true/false/1/0/yes/no (any case), empty = true; constant per series
Rows may come in any order. Rows with the same (series_id, timestamp) are one push (retriggers); a row
that repeats an earlier row exactly (same series_id, timestamp *and* value: a file concatenated twice) is
a duplicate, dropped and counted. Mixing naive and offset timestamps in one file is fine.

Flagged, counted and reported on stderr (the run goes on): duplicate rows; values <= 0 for methods that
compare log values (`default`), which ignore them; rows dated more than a day after now; changes of
the level by 50x or more, reported with direction ``scale_change`` (a unit change or a broken test, never
a "regression" of 99,900 %).

Output CSV: one row per detected change, sorted by series_id then timestamp, columns
``series_id, timestamp, direction, magnitude_pct, probability`` then the method's extra columns;
timestamp written as ISO-8601 UTC (``2024-05-01T12:00:00Z``, with a fraction only if needed).

Bad input raises `InputError` whose message names the line in the file, the 1-based data row and
the field; the CLI prints it on one line and exits 2.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from regression_assets.sources.schema import parse_utc_timestamps
from regression_assets.stats.detectors import (
    METHODS,
    POSITIVE_ONLY,
    SCALE_CHANGE,
    label_scale_changes,
    min_points,
)

REQUIRED_INPUT = ("series_id", "timestamp", "value")
OPTIONAL_INPUT = ("lower_is_better",)
OUTPUT_COLUMNS = ("series_id", "timestamp", "direction", "magnitude_pct", "probability")

_TRUE = frozenset({"true", "1", "yes", ""})
_FALSE = frozenset({"false", "0", "no"})


class InputError(ValueError):
    """Bad input file or arguments: the message is one line, meant for the user."""


@dataclass
class DetectStats:
    rows: int = 0
    series: int = 0
    skipped: int = 0
    min_points: int = 0
    changes: int = 0
    seconds: float = 0.0
    skipped_ids: list[str] = field(default_factory=list)
    duplicate_rows: int = 0  # exact repeats of an earlier row, dropped
    nonpositive_rows: int = 0  # values <= 0 a log-scale method ignores
    future_rows: int = 0  # dated more than a day after the run
    scale_changes: int = 0  # changes reported as SCALE_CHANGE
    warnings: list[str] = field(default_factory=list)  # one line each, naming rows / series


# --------------------------------------------------------------------------------------------------
# reading and validation
# --------------------------------------------------------------------------------------------------


def _line_of_data_row(path: Path, row: int) -> int | None:
    """The 1-based physical line where 1-based data row `row` starts, parsing as pandas does (blank lines
    skipped, quoted fields may span lines). Only called on the error path."""
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
            reader = csv.reader(fh)
            start = 1
            seen_header = False
            k = 0
            for rec in reader:
                if rec:  # csv gives [] for a blank line, which pandas skips
                    if not seen_header:
                        seen_header = True
                    else:
                        k += 1
                        if k == row:
                            return start
                start = reader.line_num + 1
    except (OSError, csv.Error):
        return None
    return None


def _where(path: Path, row: int) -> str:
    line = _line_of_data_row(path, row)
    return f"{path}: line {line} (data row {row})" if line is not None else f"{path}: data row {row}"


def _show(s: str, limit: int = 40) -> str:
    return repr(s if len(s) <= limit else s[:limit] + "...")


def _timestamp_problem(text: str) -> str:
    t = text.strip()
    if t == "":
        return "is empty"
    try:
        dt.datetime.fromisoformat(t.replace("z", "Z"))
    except ValueError:
        return f"{_show(t)} is not an ISO-8601 timestamp"
    return f"{_show(t)} is outside the supported range (years 1677 to 2262)"


def read_detect_input(path: str | Path) -> pd.DataFrame:
    """Read and validate the input CSV.

    Returns columns ``series_id`` (str), ``timestamp`` (datetime64[ns], naive UTC), ``value`` (float64),
    ``lower_is_better`` (bool) and ``row`` (1-based data row in the file), in file order.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise InputError(f"{path}: input file is empty (expected a header with {', '.join(REQUIRED_INPUT)})")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    try:
        raw = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8-sig",
            skipinitialspace=False,
        )
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: input file is empty (expected a header with {', '.join(REQUIRED_INPUT)})") from None
    except pd.errors.ParserError as e:
        raise InputError(f"{path}: malformed CSV: {' '.join(str(e).split())}") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None

    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in REQUIRED_INPUT if c not in raw.columns]
    if missing:
        raise InputError(
            f"{path}: line 1 (header): missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"found {', '.join(repr(c) for c in raw.columns)}"
        )
    n = len(raw)
    rows = np.arange(1, n + 1)

    sid = raw["series_id"].str.strip()
    ts = parse_utc_timestamps(raw["timestamp"].str.strip())
    val = pd.to_numeric(raw["value"].str.strip(), errors="coerce").astype("float64")
    if "lower_is_better" in raw.columns:
        lib_s = raw["lower_is_better"].str.strip().str.lower()
        lib_true = lib_s.isin(_TRUE)
        lib_bad = ~(lib_true | lib_s.isin(_FALSE))
    else:
        lib_s = None
        lib_true = pd.Series(True, index=raw.index)
        lib_bad = pd.Series(False, index=raw.index)

    # (mask, field, message(raw value)) in the order fields are reported within one row
    checks: list[tuple[np.ndarray, str, Callable[[int], str]]] = [
        ((sid == "").to_numpy(), "series_id", lambda i: "is empty"),
        (
            ts.isna().to_numpy(),
            "timestamp",
            lambda i: _timestamp_problem(raw["timestamp"].iat[i]),
        ),
        (
            ~np.isfinite(val.to_numpy()),
            "value",
            lambda i: "is empty" if raw["value"].iat[i].strip() == "" else f"{_show(raw['value'].iat[i])} is not a finite number",
        ),
        (
            lib_bad.to_numpy(),
            "lower_is_better",
            lambda i: f"{_show(raw['lower_is_better'].iat[i])} is not one of true/false/1/0/yes/no",
        ),
    ]
    first_bad = [(int(np.argmax(m)), k) for k, (m, _, _) in enumerate(checks) if m.any()]
    if first_bad:
        i, k = min(first_bad)
        _, fld, msg = checks[k]
        raise InputError(f"{_where(path, i + 1)}: field {fld!r} {msg(i)}")

    df = pd.DataFrame(
        {
            "series_id": sid.to_numpy(dtype=object),
            "timestamp": ts.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]"),
            "value": val.to_numpy(),
            "lower_is_better": lib_true.to_numpy(dtype=bool),
            "row": rows,
        }
    )

    # lower_is_better must be constant within a series
    if lib_s is not None and n:
        first = df.groupby("series_id", sort=False)["lower_is_better"].transform("first")
        conflict = (df["lower_is_better"] != first).to_numpy()
        if conflict.any():
            i = int(np.argmax(conflict))
            s = df["series_id"].iat[i]
            first_row = int(df.loc[df["series_id"] == s, "row"].iat[0])
            raise InputError(
                f"{_where(path, i + 1)}: field 'lower_is_better' differs within series {s!r} "
                f"({_show(raw['lower_is_better'].iat[i])} here, {_show(raw['lower_is_better'].iat[first_row - 1])} "
                f"at data row {first_row}); it must be constant per series"
            )
    return df


# --------------------------------------------------------------------------------------------------
# detection
# --------------------------------------------------------------------------------------------------


class _Progress:
    """Progress lines on a stream, at most one every `every` seconds (nothing for quick runs)."""

    def __init__(self, total: int, stream=None, every: float = 2.0, label: str = "detect"):
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.label = label
        self.t0 = time.monotonic()
        self.last = self.t0
        self.printed = False

    def update(self, done: int, points: int) -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.printed = True
            rate = points / max(now - self.t0, 1e-9)
            print(
                f"{self.label}: {done}/{self.total} series ({100.0 * done / max(self.total, 1):.0f}%), "
                f"{points} points, {rate:,.0f} points/s",
                file=self.stream,
                flush=True,
            )

    def finish(self, done: int, points: int) -> None:
        if self.printed:
            self.last = -1e18
            self.update(done, points)


def detect_frame(
    df: pd.DataFrame,
    method: str = "default",
    *,
    progress_stream=None,
    progress_every: float = 2.0,
) -> tuple[pd.DataFrame, DetectStats]:
    """Run `method` on every series of a validated frame (see `read_detect_input`).

    Returns the changes (OUTPUT_COLUMNS first, then the method's extra columns; sorted by series_id,
    timestamp; timestamps as datetime64[ns] naive UTC) and counts.
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; known: {', '.join(sorted(METHODS))}")
    fn = METHODS[method]
    need = min_points(method)
    t_start = time.monotonic()
    stats = DetectStats(rows=len(df), min_points=need)
    df = _flag_rows(df, method, stats)

    d = df.sort_values(["series_id", "timestamp"], kind="stable")
    sids = d["series_id"].to_numpy(dtype=object)
    ts = d["timestamp"].to_numpy(dtype="datetime64[ns]")
    vals = d["value"].to_numpy(dtype=np.float64)
    lib = d["lower_is_better"].to_numpy(dtype=bool)
    n = len(d)
    if n:
        brk = np.flatnonzero(sids[1:] != sids[:-1]) + 1
        starts = np.concatenate([[0], brk])
        ends = np.concatenate([brk, [n]])
    else:
        starts = ends = np.zeros(0, dtype=np.int64)
    stats.series = len(starts)

    progress = _Progress(stats.series, progress_stream, progress_every)
    parts: list[pd.DataFrame] = []
    extra_cols: list[str] = []
    points = 0
    for k, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        sid = sids[a]
        if b - a < need:
            stats.skipped += 1
            if len(stats.skipped_ids) < 5:
                stats.skipped_ids.append(str(sid))
        else:
            try:
                res = fn(ts[a:b], vals[a:b], bool(lib[a]))
            except Exception as e:  # a detector bug: name the series, keep the traceback chained
                raise RuntimeError(f"method {method!r} failed on series {sid!r}: {type(e).__name__}: {e}") from e
            for c in res.columns:
                if c not in OUTPUT_COLUMNS and c not in extra_cols and c != "series_id":
                    extra_cols.append(c)
            if len(res):
                res = res.copy()
                res.insert(0, "series_id", sid)
                parts.append(res)
        points += b - a
        progress.update(k + 1, points)
    progress.finish(stats.series, points)

    cols = list(OUTPUT_COLUMNS) + extra_cols
    if parts:
        out = pd.concat(parts, ignore_index=True)
        out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True).dt.tz_localize(None)
        out = out.reindex(columns=cols).sort_values(["series_id", "timestamp"], kind="stable").reset_index(drop=True)
    else:
        out = pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
        out["timestamp"] = pd.Series(dtype="datetime64[ns]")
    out = label_scale_changes(out)
    scale = out[out["direction"] == SCALE_CHANGE] if len(out) else out
    stats.scale_changes = len(scale)
    if len(scale):
        ids = ", ".join(repr(str(x)) for x in scale["series_id"].drop_duplicates().head(5))
        stats.warnings.append(
            f"{len(scale)} change(s) move the level by 50x or more (series {ids}): reported as "
            f"'{SCALE_CHANGE}' (a unit change or a broken test), not as regressions or improvements")
    stats.changes = len(out)
    stats.seconds = time.monotonic() - t_start
    return out, stats


def _row_ref(df: pd.DataFrame, i: int) -> str:
    return f"data row {int(df['row'].iat[i])}" if "row" in df.columns else f"row {i + 1}"


def _flag_rows(df: pd.DataFrame, method: str, stats: DetectStats) -> pd.DataFrame:
    """Drop exact duplicates (and, for log-scale methods, values <= 0); count them and future rows."""
    if len(df) == 0:
        return df
    dup = df.duplicated(["series_id", "timestamp", "value"], keep="first").to_numpy()
    if dup.any():
        i = int(np.argmax(dup))
        stats.duplicate_rows = int(dup.sum())
        stats.warnings.append(
            f"ignored {stats.duplicate_rows} duplicate row(s) repeating an earlier row's series_id, timestamp and "
            f"value (first: {_row_ref(df, i)}, series {str(df['series_id'].iat[i])!r})")
    keep = ~dup
    if method in POSITIVE_ONLY:
        nonpos = (df["value"].to_numpy(dtype=float) <= 0) & keep
        if nonpos.any():
            i = int(np.argmax(nonpos))
            stats.nonpositive_rows = int(nonpos.sum())
            n_series = df.loc[nonpos, "series_id"].nunique()
            stats.warnings.append(
                f"ignored {stats.nonpositive_rows} row(s) with a value <= 0 in {n_series} series (method "
                f"{method!r} compares log values; first: {_row_ref(df, i)}, series {str(df['series_id'].iat[i])!r}, "
                f"value {float(df['value'].iat[i])!r})")
            keep &= ~nonpos
    future = (df["timestamp"] > pd.Timestamp.now(tz="UTC").tz_localize(None) + pd.Timedelta(days=1)).to_numpy()
    if future.any():
        i = int(np.argmax(future))
        stats.future_rows = int(future.sum())
        stats.warnings.append(
            f"{stats.future_rows} row(s) are dated more than a day in the future (first: {_row_ref(df, i)}, "
            f"{df['timestamp'].iat[i]:%Y-%m-%dT%H:%M:%S}); kept, but check the clock or the year")
    return df if keep.all() else df[keep]


# --------------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------------


def format_timestamps(ts: pd.Series) -> pd.Series:
    """ISO-8601 UTC strings ending in Z; a fraction of a second only when some timestamp has one."""
    t = pd.to_datetime(ts)
    if t.dt.tz is not None:
        t = t.dt.tz_convert("UTC").dt.tz_localize(None)
    if len(t) == 0:
        return pd.Series([], dtype=object, index=t.index)
    has_frac = bool((t.dt.microsecond != 0).any() or (t.dt.nanosecond != 0).any())
    if not has_frac:
        return t.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    ns = t.dt.nanosecond != 0
    if ns.any():
        base = t.dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
        return base + t.dt.nanosecond.map(lambda x: f"{x:03d}") + "Z"
    return t.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_detect_output(changes: pd.DataFrame, path: str | Path) -> None:
    """Write the changes CSV atomically (a temp file in the same directory, then rename); "-" = stdout."""
    out = changes.copy()
    out["timestamp"] = format_timestamps(out["timestamp"])
    if str(path) == "-":
        out.to_csv(sys.stdout, index=False)
        return
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            out.to_csv(fh, index=False)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def detect_file(
    input_path: str | Path,
    output_path: str | Path,
    method: str = "default",
    *,
    progress_stream=None,
    progress_every: float = 2.0,
    warn_stream=None,
) -> DetectStats:
    """Read, validate, detect and write: the whole `detect` subcommand minus argument parsing.

    Warnings (`DetectStats.warnings`: duplicates, ignored values, future rows, scale changes) are printed
    one per line to `warn_stream` (stderr by default)."""
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; known: {', '.join(sorted(METHODS))}")
    t0 = time.monotonic()
    df = read_detect_input(input_path)
    changes, stats = detect_frame(df, method, progress_stream=progress_stream, progress_every=progress_every)
    write_detect_output(changes, output_path)
    stream = warn_stream if warn_stream is not None else sys.stderr
    for line in stats.warnings:  # shown even with --quiet, like the skipped-series line
        print(f"regression-assets detect: warning: {line}", file=stream)
    stats.seconds = time.monotonic() - t0
    return stats
