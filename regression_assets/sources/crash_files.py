"""Local crash source: `error_aggregates`-shaped Parquet files in a directory (the bundled sample by default)."""

import datetime as dt
from pathlib import Path

import pandas as pd
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


class LocalCrashSource(CrashSource):
    """Reads every `*.parquet` under `path`; release times from `releases.csv` there, else first seen."""

    path: str = Field(default="", description="Directory of Parquet files; empty = the bundled sample.")

    def _dir(self) -> Path:
        return Path(self.path) if self.path else SAMPLE_DIR

    def _dataset(self) -> ds.Dataset | None:
        files = sorted(str(p) for p in self._dir().glob("*.parquet"))
        return ds.dataset(files, format="parquet") if files else None

    def fetch_day(self, day: dt.date, channel: str | None = None) -> pd.DataFrame:
        dataset = self._dataset()
        if dataset is None:
            return empty_crash_frame()
        start = pd.Timestamp(day)
        window = ds.field("window_start")
        where = (window >= start.to_pydatetime()) & (window < (start + pd.Timedelta(days=1)).to_pydatetime())
        if channel is not None:
            where = where & (ds.field("channel") == channel)
        rows = dataset.to_table(filter=where).to_pandas()
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
