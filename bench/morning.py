"""The morning view: each generated series cut at every 2nd day, the detector run on each cut alone.

The cut of day d holds the points before first_day + d days (what that day's partition sees). Cuts start
on day 20 and run every 2 days to the end of the series.
- found: a true change (starting before the last cut) is found if some cut's alerts match it under the
  tolerance rule (bench/score.py);
- delay: days from its start to the first cut on which it is matched (median and 90th percentile);
- flip-flops, at two tolerances: an alert is "new" on cut k if cut k-1 has no alert of the same
  direction within `tol` of it; it vanished if cut k+2 (two cuts later) has no such alert either.
  Share = vanished / new alerts that have a cut k+2. tol = 7 days (`retracted_share`: the change is no
  longer reported near there at all) and tol = 1 day (`moved_or_retracted_share`: the alert a sheriff
  saw, at its push, is gone, often because the change point moved by more than a day).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from bench.score import match_series

DAY = np.timedelta64(86_400 * 10**9, "ns")
FIRST_CUT_DAY = 20
STEP_DAYS = 2


def _same(a_ts: np.ndarray, a_dir: np.ndarray, ts, direction, tol) -> bool:
    if a_ts.size == 0:
        return False
    return bool(np.any((a_dir == direction) & (np.abs(a_ts - ts) <= tol)))


def flip_flops(per_cut: list[tuple[np.ndarray, np.ndarray]], tol) -> tuple[int, int]:
    """(new alerts that have a cut two later, of which vanished) over one series' cuts."""
    new = gone = 0
    empty = (np.array([], "datetime64[ns]"), np.array([], dtype=object))
    for k in range(len(per_cut) - 2):
        a_ts, a_dir = per_cut[k]
        prev_ts, prev_dir = per_cut[k - 1] if k > 0 else empty
        nxt_ts, nxt_dir = per_cut[k + 2]
        for t, d in zip(a_ts, a_dir, strict=True):
            if k > 0 and _same(prev_ts, prev_dir, t, d, tol):
                continue
            new += 1
            if not _same(nxt_ts, nxt_dir, t, d, tol):
                gone += 1
    return new, gone


def run_morning(fn, series: list, truth: pd.DataFrame, meta: pd.DataFrame) -> dict:
    """series: [(sid, timestamps, values, lower_is_better)] (generated); returns the morning metrics."""
    first_day = dict(zip(meta["series_id"], pd.to_datetime(meta["first_day"]).to_numpy(), strict=True))
    n_days = dict(zip(meta["series_id"], meta["n_days"], strict=True))
    seconds = 0.0
    points = 0
    calls = 0
    n_changes = n_found = 0
    delays: list[float] = []
    new_alerts = retracted = new_strict = moved = 0
    errors = 0
    for sid, ts, vals, lib in series:
        cut_days = list(range(FIRST_CUT_DAY, int(n_days[sid]) + 1, STEP_DAYS))
        cut_times = [first_day[sid] + d * DAY for d in cut_days]
        per_cut: list[tuple[np.ndarray, np.ndarray]] = []
        for ct in cut_times:
            k = int(np.searchsorted(ts, ct, side="left"))
            t0 = time.perf_counter()
            try:
                df = fn(ts[:k], vals[:k], lib) if k > 0 else None
            except Exception:  # noqa: BLE001
                errors += 1
                df = None
            seconds += time.perf_counter() - t0
            points += k
            calls += 1
            if df is None or not len(df):
                per_cut.append((np.array([], "datetime64[ns]"), np.array([], dtype=object)))
            else:
                per_cut.append(
                    (
                        pd.to_datetime(df["timestamp"]).to_numpy(dtype="datetime64[ns]"),
                        df["direction"].to_numpy(dtype=object),
                    )
                )
        # changes found on some morning, and their delay
        tr = truth[truth["series_id"] == sid].reset_index(drop=True)
        starts = pd.to_datetime(tr["start"]).to_numpy(dtype="datetime64[ns]")
        eligible = starts < cut_times[-1] if len(cut_times) else np.zeros(len(tr), bool)
        first_found: list[float | None] = [None] * len(tr)
        for ct, (a_ts, a_dir) in zip(cut_times, per_cut, strict=True):
            if a_ts.size == 0:
                continue
            visible = tr[starts < ct]
            if not len(visible):
                continue
            res, _ = match_series(visible, pd.DataFrame({"timestamp": a_ts, "direction": a_dir}))
            for row_i, r in zip(visible.index, res, strict=True):
                if r is not None and first_found[row_i] is None:
                    first_found[row_i] = float((ct - starts[row_i]) / DAY)
        for i in range(len(tr)):
            if not eligible[i]:
                continue
            n_changes += 1
            if first_found[i] is not None:
                n_found += 1
                delays.append(first_found[i])
        # flip-flops
        n, g = flip_flops(per_cut, 7 * DAY)
        new_alerts += n
        retracted += g
        n, g = flip_flops(per_cut, DAY)
        new_strict += n
        moved += g
    return {
        "series": len(series),
        "cuts": calls,
        "changes": n_changes,
        "found": n_found,
        "found_share": n_found / n_changes if n_changes else float("nan"),
        "median_delay_days": float(np.median(delays)) if delays else float("nan"),
        "p90_delay_days": float(np.percentile(delays, 90)) if delays else float("nan"),
        "new_alerts": new_alerts,
        "retracted": retracted,
        "retracted_share": retracted / new_alerts if new_alerts else float("nan"),
        "new_alerts_1d": new_strict,
        "moved_or_retracted": moved,
        "moved_or_retracted_share": moved / new_strict if new_strict else float("nan"),
        "seconds": seconds,
        "points": points,
        "points_per_s": points / seconds if seconds else float("nan"),
        "errors": errors,
    }
