"""What every peer shares: the CLI's CSV shapes, and the same magnitude gate and direction logic.

Only the standard library and numpy, so that the runners in the peers' own venvs can import it.
A peer returns change-point indices into a series' points (sorted by time); `to_alerts` turns them into
the project's alert rows: timestamp = the first point after the change, magnitude = mean of the points
after vs before the change within +-7 days, clipped to the neighbouring change points (so the windows
are the segments when changes are closer than 7 days), kept only if |magnitude| >= 2 %, direction
"regression" when the change is for the worse given lower_is_better.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterable

import numpy as np

GATE_PCT = 2.0
WINDOW_NS = np.int64(7 * 86_400 * 10**9)
IN_COLUMNS = ("series_id", "timestamp", "value", "lower_is_better")
OUT_COLUMNS = ("series_id", "timestamp", "direction", "magnitude_pct", "probability")


def parse_bool(s: str) -> bool:
    return str(s).strip().lower() in ("1", "true", "t", "yes", "y")


def read_points(path: str) -> list[tuple[str, np.ndarray, np.ndarray, bool]]:
    """Read the CLI's input CSV: [(series_id, timestamps datetime64[ns] sorted, values, lower_is_better)]."""
    rows: dict[str, tuple[list[str], list[float], bool]] = {}
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            sid = r["series_id"]
            if sid not in rows:
                rows[sid] = ([], [], parse_bool(r["lower_is_better"]))
            rows[sid][0].append(r["timestamp"].replace(" ", "T").rstrip("Z"))
            rows[sid][1].append(float(r["value"]))
    out = []
    for sid, (ts, vals, lib) in rows.items():
        t = np.array(ts, dtype="datetime64[ns]")
        v = np.asarray(vals, dtype=np.float64)
        order = np.argsort(t, kind="stable")
        out.append((sid, t[order], v[order], lib))
    return out


def write_alerts(path: str, rows: Iterable[dict]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(OUT_COLUMNS))
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in OUT_COLUMNS})


def to_alerts(
    series_id: str,
    timestamps: np.ndarray,
    values: np.ndarray,
    lower_is_better: bool,
    change_indices: Iterable[int],
    gate_pct: float = GATE_PCT,
) -> list[dict]:
    """Change-point indices (first point of the new segment) -> gated alert rows."""
    n = len(values)
    cps = sorted({int(i) for i in change_indices if 0 < int(i) < n})
    if not cps:
        return []
    t = timestamps.astype("datetime64[ns]").astype(np.int64)
    bounds = [0, *cps, n]
    out = []
    for k, i in enumerate(cps):
        prev_cp, next_cp = bounds[k], bounds[k + 2]
        lo = max(prev_cp, int(np.searchsorted(t, t[i] - WINDOW_NS, side="left")))
        hi = min(next_cp, int(np.searchsorted(t, t[i] + WINDOW_NS, side="left")))
        before, after = values[lo:i], values[i:hi]
        if before.size == 0 or after.size == 0:
            continue
        mb, ma = float(np.mean(before)), float(np.mean(after))
        if mb == 0:
            continue
        mag = 100.0 * (ma / mb - 1.0)
        if not np.isfinite(mag) or abs(mag) < gate_pct:
            continue
        worse = mag > 0 if lower_is_better else mag < 0
        out.append(
            {
                "series_id": series_id,
                "timestamp": str(timestamps[i].astype("datetime64[ns]")),
                "direction": "regression" if worse else "improvement",
                "magnitude_pct": round(mag, 4),
                "probability": 1.0,
            }
        )
    return out


def run_file(
    in_csv: str,
    out_csv: str,
    find_cps: Callable[[np.ndarray, np.ndarray], Iterable[int]],
    max_series: int | None = None,
) -> dict:
    """Run a change-point finder over every series of a CLI input CSV; returns timing info.

    `seconds` is the detection time inside the process (after reading the CSV, excluding interpreter
    start-up and imports); `points` the number of points the finder saw.
    """
    series = read_points(in_csv)
    if max_series is not None:
        series = series[:max_series]
    rows: list[dict] = []
    n_points = 0
    t0 = time.perf_counter()
    for sid, ts, vals, lib in series:
        cps = find_cps(ts, vals)
        rows.extend(to_alerts(sid, ts, vals, lib, cps))
        n_points += len(vals)
    seconds = time.perf_counter() - t0
    write_alerts(out_csv, rows)
    return {"seconds": seconds, "points": n_points, "series": len(series), "alerts": len(rows)}


def run_peer(in_csv: str, out_csv: str, find_cps: Callable[[np.ndarray, np.ndarray], Iterable[int]],
             params: dict, process_start: float) -> None:
    """A peer's whole run: `run_file`, then OUT.csv.timing.json with the process time and the parameters."""
    info = run_file(in_csv, out_csv, find_cps)
    info["process_seconds"] = time.perf_counter() - process_start
    info["params"] = params
    with open(out_csv + ".timing.json", "w") as fh:
        json.dump(info, fh)
