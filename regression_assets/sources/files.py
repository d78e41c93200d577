"""The embedded default source: the bundled sample (and the real Talos series), or your own files."""

import datetime as dt
import functools
from pathlib import Path

import pandas as pd

from regression_assets.sources.base import PerfSource
from regression_assets.sources.sample import LAST_DAY, SAMPLE_DIR
from regression_assets.sources.schema import conform_raw_frame, parse_utc_timestamps


@functools.lru_cache(maxsize=4)
def _load_all(directory: str, include_talos: bool) -> pd.DataFrame:
    root = Path(directory)
    frames = []
    for path in sorted(root.glob("*.parquet")) + sorted(root.glob("*.csv")):
        if path.name in ("truth.csv", "release_calendar.csv"):
            continue
        try:
            raw = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        except Exception as exc:  # a truncated or foreign file: say which one
            raise ValueError(f"{path}: unreadable perf results file ({type(exc).__name__}: {exc})") from exc
        frame = conform_raw_frame(raw, str(path))
        # Rows whose time can't be read belong to no day; they are handed out (and so counted as
        # rejected) with the file's first day rather than silently dropped.
        bad = frame["push_timestamp"].isna()
        if bad.any() and (~bad).any():
            frame.loc[bad, "_attach_to"] = frame.loc[~bad, "push_timestamp"].min().normalize()
        frames.append(frame)
    if include_talos:
        from regression_assets.sources.talos import TALOS_FILES, load_talos

        # The real Talos series (2012-13) are shifted, whole days, to end on the sample's last day.
        for name in TALOS_FILES:
            frames.append(conform_raw_frame(load_talos(name, shift_to_end=pd.Timestamp(LAST_DAY)), name))
    if not frames:
        raise ValueError(f"{root}: no *.parquet or *.csv perf results found")
    return pd.concat(frames, ignore_index=True)


class LocalPerfSource(PerfSource):
    """Perf results from local Parquet/CSV files (RAW_PERF_COLUMNS); the bundled sample by default."""

    directory: str = str(SAMPLE_DIR)
    include_talos: bool = True

    def fetch_day(self, day: dt.date) -> pd.DataFrame:
        data = _load_all(self.directory, self.include_talos)
        start = pd.Timestamp(day)
        mask = (data["push_timestamp"] >= start) & (data["push_timestamp"] < start + pd.Timedelta(days=1))
        if "_attach_to" in data.columns:
            mask |= data["_attach_to"] == start
        return data[mask].drop(columns=["_attach_to"], errors="ignore").reset_index(drop=True)

    def fetch_release_calendar(self, start_date: dt.date | None = None) -> pd.DataFrame:
        """`channel, version, release_date` from `release_calendar.csv`; a bad row is an error naming it.

        The calendar is small and hand-kept: a row that can't be read stops the load (naming the file,
        line and field) rather than silently moving a version boundary. Gaps (a version missing) are
        allowed: `stats.compare.reference_days` skips the comparison whose end it can't know.
        """
        path = Path(self.directory) / "release_calendar.csv"
        if not path.exists():
            return pd.DataFrame({"channel": [], "version": [], "release_date": []})
        try:
            cal = pd.read_csv(path, dtype={"version": str, "channel": str})
        except Exception as exc:  # truncated, empty or not CSV
            raise ValueError(f"{path}: unreadable release calendar ({type(exc).__name__}: {exc})") from exc
        missing = [c for c in ("version", "release_date") if c not in cal.columns]
        if missing:
            raise ValueError(f"{path}: release calendar missing column(s) {missing}; got {list(cal.columns)}")
        dates = parse_utc_timestamps(cal["release_date"]).dt.tz_localize(None).astype("datetime64[ns]")
        bad_version = cal["version"].isna() | (cal["version"].astype("string").str.strip() == "")
        for mask, fld in ((bad_version, "version"), (dates.isna(), "release_date")):
            if mask.any():
                i = int(mask.to_numpy().argmax())
                raise ValueError(f"{path}: line {i + 2}: field {fld!r} is {cal[fld].iloc[i]!r}, "
                                 f"not a {'version' if fld == 'version' else 'date'}")
        cal["release_date"] = dates
        return cal
