"""Real Talos series (2012-13) from Treeherder's test suite, bundled in `regression_assets/data/talos/`.

Each file holds ``test_runs`` rows ``[run_id, [build_id, build_date, revision], push_timestamp, value,
...]`` (push time in epoch seconds; several rows can share a push). `expected_perfherder_changes.json`
pins where Perfherder's detector flags changes on each file (see `regression_assets.stats.perfherder`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from regression_assets.sources.schema import RAW_PERF_COLUMNS, conform_raw_frame

TALOS_DIR = Path(__file__).resolve().parent.parent / "data" / "talos"
TALOS_FILES = ("runs1.json", "runs2.json", "runs3.json", "runs4.json", "runs5.json", "a11y.json", "tp5rss.json")
EXPECTED_CHANGES_FILE = TALOS_DIR / "expected_perfherder_changes.json"

PLATFORM = "treeherder-sample"
REPOSITORY = "mozilla-inbound"
FRAMEWORK = "talos"

_DAY = pd.Timedelta(days=1)


def _resolve(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_absolute() and not p.exists() and (TALOS_DIR / p).exists():
        return TALOS_DIR / p
    return p


def read_test_runs(path: str | Path) -> list[list]:
    """The raw ``test_runs`` rows of a Talos JSON file (a bare name is looked up in the bundled dir)."""
    p = _resolve(path)
    with open(p, encoding="utf-8") as fh:
        payload = json.load(fh)
    runs = payload.get("test_runs") if isinstance(payload, dict) else None
    if not isinstance(runs, list):
        raise ValueError(f"{p}: no 'test_runs' list")
    return runs


def load_talos(path: str | Path, shift_to_end: pd.Timestamp | str | None = None) -> pd.DataFrame:
    """One Talos file as a frame of `schema.RAW_PERF_COLUMNS`, sorted by push time (stable).

    suite = "talos-" + file stem; push_timestamp is naive UTC from epoch seconds. With `shift_to_end`,
    every timestamp moves by the same whole number of days so the last point falls on that day (its
    time of day is kept), which places a 2012-13 series in a recent window without changing its spacing.
    """
    p = _resolve(path)
    runs = read_test_runs(p)
    bad = [i for i, r in enumerate(runs) if not (isinstance(r, list) and len(r) >= 4 and isinstance(r[1], list))]
    if bad:
        raise ValueError(f"{p}: test_runs row {bad[0] + 1} is not [run_id, [build_id, date, revision], push_ts, value, ...]")
    ts = pd.to_datetime(np.asarray([int(r[2]) for r in runs], dtype=np.int64), unit="s")
    if shift_to_end is not None and len(ts):
        end_day = pd.Timestamp(shift_to_end).normalize()
        if end_day.tzinfo is not None:
            end_day = end_day.tz_convert("UTC").tz_localize(None)
        ts = ts + (end_day - ts.max().normalize()).days * _DAY
    n = len(runs)
    df = pd.DataFrame(
        {
            "push_timestamp": ts,
            "repository": [REPOSITORY] * n,
            "framework": [FRAMEWORK] * n,
            "suite": [f"talos-{p.stem}"] * n,
            "platform": [PLATFORM] * n,
            "value": [float(r[3]) for r in runs],
            "lower_is_better": [True] * n,
            "revision": [str(r[1][2]) for r in runs],
            "task_id": [str(r[0]) for r in runs],
        },
        columns=list(RAW_PERF_COLUMNS),
    )
    df = df.sort_values("push_timestamp", kind="stable")
    return conform_raw_frame(df, f"talos:{p.name}")


def load_all_talos(shift_to_end: pd.Timestamp | str | None = None, directory: str | Path | None = None) -> pd.DataFrame:
    """All seven bundled Talos series in one RAW_PERF_COLUMNS frame."""
    d = Path(directory) if directory is not None else TALOS_DIR
    return pd.concat([load_talos(d / f, shift_to_end=shift_to_end) for f in TALOS_FILES], ignore_index=True)


def expected_perfherder_changes(path: str | Path | None = None) -> dict[str, list[int]]:
    """File name -> push timestamps (epoch s) Perfherder flags, before the 2 % magnitude gate."""
    with open(path or EXPECTED_CHANGES_FILE, encoding="utf-8") as fh:
        data = json.load(fh)
    return {k: [int(x) for x in v] for k, v in data.items() if not k.startswith("_")}
