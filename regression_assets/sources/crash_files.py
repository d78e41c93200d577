"""Local crash source: `error_aggregates`-shaped Parquet files in a directory (the bundled sample by default)."""

import datetime as dt
import functools
import hashlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
from pydantic import Field

from regression_assets.sources.crash_sample import RELEASES_FILE, SAMPLE_DIR
from regression_assets.sources.crash_schema import (
    CrashSource,
    conform_crash_frame,
    conform_release_frame,
    empty_crash_frame,
    empty_release_frame,
    first_seen_releases,
)


def _stat(path: str) -> tuple[int, int]:
    st = Path(path).stat()
    return st.st_size, st.st_mtime_ns


@functools.lru_cache(maxsize=64)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return f"{size}:{h.hexdigest()}"


class LocalCrashSource(CrashSource):
    """Reads every `*.parquet` under `path`; release times from `releases.csv` there, else first seen."""

    path: str = Field(default="", description="Directory of Parquet files; empty = the bundled sample.")

    def _dir(self) -> Path:
        return Path(self.path) if self.path else SAMPLE_DIR

    def _dataset(self) -> ds.Dataset | None:
        files = sorted(str(p) for p in self._dir().glob("*.parquet"))
        if not files:
            return None
        # Rows are summed, not deduplicated (a window's finer dimensions are gone by then): the same export
        # copied twice would double every count and usage hour and narrow every interval. Refuse it.
        seen: dict[str, str] = {}
        for f in files:
            digest = _file_digest(f, *_stat(f))
            if digest in seen:
                raise ValueError(f"LocalCrashSource({self._dir()}): {Path(f).name} has the same content as "
                                 f"{Path(seen[digest]).name}; remove one (its rows would be counted twice)")
            seen[digest] = f
        try:
            dataset = ds.dataset(files, format="parquet")
        except (pa.ArrowException, OSError) as exc:  # a truncated or foreign file: pyarrow names it
            raise ValueError(f"LocalCrashSource({self._dir()}): unreadable Parquet ({type(exc).__name__}: {exc})") from exc
        window_type = dataset.schema.field("window_start").type if "window_start" in dataset.schema.names else None
        if window_type is not None and not pa.types.is_timestamp(window_type):
            raise ValueError(f"LocalCrashSource({self._dir()}): column 'window_start' is {window_type}, "
                             "expected a timestamp")
        return dataset

    def fetch_day(self, day: dt.date, channel: str | None = None) -> pd.DataFrame:
        dataset = self._dataset()
        if dataset is None:
            return empty_crash_frame()
        start = pd.Timestamp(day)
        window = ds.field("window_start")
        where = (window >= start.to_pydatetime()) & (window < (start + pd.Timedelta(days=1)).to_pydatetime())
        if channel is not None:
            where = where & (ds.field("channel") == channel)
        try:
            rows = dataset.to_table(filter=where).to_pandas()
        except (pa.ArrowException, OSError) as exc:  # e.g. one file truncated after the first ones
            raise ValueError(f"LocalCrashSource({self._dir()}): reading {day} failed ({type(exc).__name__}: {exc})") from exc
        return conform_crash_frame(rows, f"LocalCrashSource({self._dir()})")

    def release_calendar(self, channel: str | None = None, until: dt.date | None = None) -> pd.DataFrame:
        calendar = self._dir() / RELEASES_FILE
        if calendar.exists():
            out = conform_release_frame(pd.read_csv(calendar, dtype={"version": str}), str(calendar))
        else:
            dataset = self._dataset()
            if dataset is None:
                return empty_release_frame()
            rows = dataset.to_table(columns=["channel", "version", "window_start"]).to_pandas()
            rows["window_start"] = pd.to_datetime(rows["window_start"])
            out = first_seen_releases(rows)
        if channel is not None:
            out = out[out["channel"] == channel]
        if until is not None:
            out = out[out["release_time"] < pd.Timestamp(until) + pd.Timedelta(days=1)]
        return out.reset_index(drop=True)
