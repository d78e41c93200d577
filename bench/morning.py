"""The morning view: each generated series cut at every 2nd day, the detector run on each cut alone.

The cut of day d holds the points before first_day + d days (what that day's partition sees). Cuts start
on day 20 and run every 2 days to the end of the series.
- found: a true change (starting before the last cut) is found if some cut's alerts match it under the
  tolerance rule (bench/score.py);
- delay: days from its start to the first cut on which it is matched (median and 90th percentile);
- the same, gap-aware (`found_share_gap_aware`, `median_delay_days_gap_aware`): a change that starts
  inside a data gap matched where it first shows (bench/score.py), as the generated set's gap-aware F1;
- flip-flops, at two tolerances: an alert is "new" on cut k if cut k-1 has no alert of the same
  direction within `tol` of it; it vanished if cut k+2 (two cuts later) has no such alert either.
  Share = vanished / new alerts that have a cut k+2. tol = 7 days (`retracted_share`: the change is no
  longer reported near there at all) and tol = 1 day (`moved_or_retracted_share`: the alert a sheriff
  saw, at its push, is gone, often because the change point moved by more than a day).
- first_found_days: per series, each change's delay (None: never found), so that two methods' delays can
  be compared on the changes both found (`paired_delays`): a method that finds only the easy changes has
  a short median delay over what it found;
- the data floor: the median delay to the first cut that holds 1 (or 3) points after a change, whatever
  the detector: with cuts every 2 days and 1-8 runs a day no method can be faster than that;
- the gate floor: the same, for a detector that also waits, on a ramp, for a point after its level has
  moved by the magnitude gate (GATE_PCT, the 2 % of the contract: a ramp of 4 % over 20 days is not yet a
  2 % change on its 9th day), with 1, 2 or 3 points after the change, over the 95 % of changes quickest
  to show (GATE_FLOOR_SHARE, the found goal's share): no detector that finds 95 % of the changes and
  reports only changes past the gate has a smaller median delay;
- the found ceiling (`found_share_ceiling`): the share a detector that knows the truth finds on the
  strict window, alerting at each change's first point once a cut holds 3 points after it.
"""

from __future__ import annotations

import multiprocessing
import time

import numpy as np
import pandas as pd

from bench.peers.common import GATE_PCT  # the magnitude gate every method gets (the detect contract's)
from bench.score import bootstrap_weights, interval, match_series, median_samples, ratio_samples

DAY = np.timedelta64(86_400 * 10**9, "ns")
FIRST_CUT_DAY = 20
STEP_DAYS = 2


def _same(a_ts: np.ndarray, a_dir: np.ndarray, ts, direction, tol) -> bool:
    if a_ts.size == 0:
        return False
    return bool(np.any((a_dir == direction) & (np.abs(a_ts - ts) <= tol)))


def flip_flops(per_cut: list[tuple[np.ndarray, np.ndarray]], tol, vanished: list | None = None) -> tuple[int, int]:
    """(new alerts that have a cut two later, of which vanished) over one series' cuts.

    `vanished`, if given, gets (cut index, alert timestamp, direction) of each alert that vanished."""
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
                if vanished is not None:
                    vanished.append((k, t, d))
    return new, gone


FLOOR_POINTS = (1, 3)  # the data floor: first cut holding this many points after a change
GATE_FLOOR_POINTS = (1, 2, 3)  # the gate floor: ... and, on a ramp, a point past the magnitude gate
GATE_FLOOR_SHARE = 0.95  # the gate floor is for a detector that finds this share of changes (the goal's)
CEILING_POINTS = 3  # the found ceiling: a change is alerted once a cut holds this many points after it


def _first_found(tr: pd.DataFrame, starts: np.ndarray, cut_times: list, per_cut: list,
                 gap_aware: bool) -> list[float | None]:
    """Days from each change's start to the first cut whose alerts match it (None: never matched)."""
    found: list[float | None] = [None] * len(tr)
    for ct, (a_ts, a_dir) in zip(cut_times, per_cut, strict=True):
        if a_ts.size == 0:
            continue
        visible = tr[starts < ct]
        if not len(visible):
            continue
        res, _ = match_series(visible, pd.DataFrame({"timestamp": a_ts, "direction": a_dir}), gap_aware=gap_aware)
        for row_i, r in zip(visible.index, res, strict=True):
            if r is not None and found[row_i] is None:
                found[row_i] = float((ct - starts[row_i]) / DAY)
    return found


def _ceiling_found(tr: pd.DataFrame, starts: np.ndarray, first_idx: np.ndarray, cut_times: list,
                   cut_idx: np.ndarray) -> list[float | None]:
    """`_first_found` for a detector that knows the truth: from the first cut holding `CEILING_POINTS`
    points after a change (whose first point is ts[first_idx]), an alert at its first point (bench/score.py's
    ceiling_alerts) on every cut."""
    fp = pd.to_datetime(tr["first_point"]).to_numpy(dtype="datetime64[ns]")
    dirs = tr["direction"].to_numpy(dtype=object)
    per_cut = []
    for k in cut_idx:
        shown = k - first_idx >= CEILING_POINTS
        per_cut.append((fp[shown], dirs[shown]))
    return _first_found(tr, starts, cut_times, per_cut, gap_aware=False)


def gate_times(tr: pd.DataFrame, starts: np.ndarray) -> np.ndarray:
    """When each change's level has first moved by GATE_PCT: its start for a step (and for a ramp smaller
    than the gate, whose whole length it then takes), else the point of a linear ramp where it passes."""
    ends = pd.to_datetime(tr["end"]).to_numpy(dtype="datetime64[ns]")
    size = np.abs(np.log1p(tr["magnitude_pct"].to_numpy(float) / 100.0))
    share = np.minimum(np.log1p(GATE_PCT / 100.0) / np.maximum(size, 1e-12), 1.0)
    return starts + ((ends - starts).astype(np.int64) * share).astype("timedelta64[ns]")


def _floor_delay(cut_arr: np.ndarray, cut_idx: np.ndarray, start, first_idx: int, need: int,
                 gate_idx: int | None = None) -> float:
    """Days from `start` to the first cut holding `need` points from index `first_idx` on (and one from
    `gate_idx` on, if given); inf if no cut does."""
    ok = (cut_idx - first_idx >= need) & (cut_arr > start)
    if gate_idx is not None:
        ok &= cut_idx - gate_idx >= 1
    hit = np.flatnonzero(ok)
    return float((cut_arr[hit[0]] - start) / DAY) if hit.size else np.inf


def _quickest_median(delays: list[float], share: float) -> float:
    """The median of the `share` of `delays` that are shortest (the least median delay of a detector that
    finds that share of the changes, each no sooner than its delay here); nan if there are none."""
    if not delays:
        return float("nan")
    quickest = np.sort(np.asarray(delays, float))[: int(np.ceil(share * len(delays)))]
    return float(np.median(quickest))


def morning_cuts(first_day, n_days) -> list:
    """The times a series is cut at: every STEP_DAYS-th day from FIRST_CUT_DAY on (each cut keeps the
    points before it, as that morning's partition would see them)."""
    first_day = np.datetime64(first_day, "ns")
    return [first_day + d * DAY for d in range(FIRST_CUT_DAY, int(n_days) + 1, STEP_DAYS)]


def _series_morning(fn, sid, ts, vals, lib, first_day, n_days, tr: pd.DataFrame) -> dict:
    """One series' cuts: its changes' first-found delays, the data floor, flip-flop counts, timing."""
    cut_times = morning_cuts(first_day, n_days)
    out = {"seconds": 0.0, "points": 0, "calls": 0, "errors": 0, "changes": 0, "first_found": [],
           "delays_gap_aware": [], "ceiling_found": 0, "floor": {k: [] for k in FLOOR_POINTS},
           "gate_floor": {k: [] for k in GATE_FLOOR_POINTS}}
    per_cut: list[tuple[np.ndarray, np.ndarray]] = []
    for ct in cut_times:
        k = int(np.searchsorted(ts, ct, side="left"))
        t0 = time.perf_counter()
        try:
            df = fn(ts[:k], vals[:k], lib) if k > 0 else None
        except Exception:  # noqa: BLE001
            out["errors"] += 1
            df = None
        out["seconds"] += time.perf_counter() - t0
        out["points"] += k
        out["calls"] += 1
        if df is None or not len(df):
            per_cut.append((np.array([], "datetime64[ns]"), np.array([], dtype=object)))
        else:
            per_cut.append((pd.to_datetime(df["timestamp"]).to_numpy(dtype="datetime64[ns]"),
                            df["direction"].to_numpy(dtype=object)))
    # changes found on some morning, and their delay
    tr = tr.reset_index(drop=True)
    starts = pd.to_datetime(tr["start"]).to_numpy(dtype="datetime64[ns]")
    eligible = starts < cut_times[-1] if cut_times else np.zeros(len(tr), bool)
    first_found = _first_found(tr, starts, cut_times, per_cut, gap_aware=False)
    # the generated truth has first_point; other truth frames may not
    first_found_gap = _first_found(tr, starts, cut_times, per_cut, gap_aware=True) if "first_point" in tr else None
    cut_arr = np.array(cut_times, dtype="datetime64[ns]")
    cut_idx = np.searchsorted(ts, cut_arr, side="left")
    first_idx = np.searchsorted(ts, starts, side="left")  # each change's first point
    ceiling = _ceiling_found(tr, starts, first_idx, cut_times, cut_idx) if "first_point" in tr else [None] * len(tr)
    gate_idx = np.searchsorted(ts, gate_times(tr, starts), side="left")  # each change's first point past the gate
    for i in range(len(tr)):
        if not eligible[i]:
            continue
        out["changes"] += 1
        out["first_found"].append(first_found[i])
        if first_found_gap is not None and first_found_gap[i] is not None:
            out["delays_gap_aware"].append(first_found_gap[i])
        if ceiling[i] is not None:
            out["ceiling_found"] += 1
        # the floor: no detector can alert on a cut holding fewer points after the change
        for need in FLOOR_POINTS:
            out["floor"][need].append(_floor_delay(cut_arr, cut_idx, starts[i], first_idx[i], need))
        for need in GATE_FLOOR_POINTS:
            out["gate_floor"][need].append(_floor_delay(cut_arr, cut_idx, starts[i], first_idx[i], need, gate_idx[i]))
    out["delays"] = [d for d in out["first_found"] if d is not None]
    vanished: list = []
    out["new"], out["retracted"] = flip_flops(per_cut, 7 * DAY, vanished)
    out["retracted_alerts"] = [(sid, cut_times[k], t, d) for k, t, d in vanished]
    out["new_1d"], out["moved"] = flip_flops(per_cut, DAY)
    return out


def paired_delays(a: dict, b: dict) -> tuple[int, float, float]:
    """(changes both found, median delay of a's, of b's) over the changes two morning runs on the same
    series both found (run_morning's results)."""
    pairs = [(da, db) for sid, fa in a.get("first_found_days", {}).items()
             for da, db in zip(fa, b.get("first_found_days", {}).get(sid, []), strict=False)
             if da is not None and db is not None]
    if not pairs:
        return 0, float("nan"), float("nan")
    da, db = np.array(pairs, float).T
    return len(pairs), float(np.median(da)), float(np.median(db))


def run_morning(fn, series: list, truth: pd.DataFrame, meta: pd.DataFrame, processes: int = 1,
                list_retracted: bool = False, per_series: bool = False) -> dict:
    """series: [(sid, timestamps, values, lower_is_better)] (generated); returns the morning metrics.

    `processes` > 1 runs series in a process pool (fn must be picklable); `seconds` is the time spent
    in fn summed over all calls, so points/s stays a single-core figure either way. `list_retracted`
    adds `retracted_alerts`: (series, cut time, alert timestamp, direction) of every retracted alert;
    `per_series` adds `per_series`: {series: {changes, found, new, retracted}} (to compare two runs).
    """
    first_day = dict(zip(meta["series_id"], pd.to_datetime(meta["first_day"]).to_numpy(), strict=True))
    n_days = dict(zip(meta["series_id"], meta["n_days"], strict=True))
    by_series = {sid: g for sid, g in truth.groupby("series_id")}
    empty = truth.iloc[:0]
    jobs = [(fn, sid, ts, vals, lib, first_day[sid], n_days[sid], by_series.get(sid, empty))
            for sid, ts, vals, lib in series]
    if processes > 1:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            parts = pool.starmap(_series_morning, jobs, chunksize=1)
    else:
        parts = [_series_morning(*j) for j in jobs]
    tot = {k: sum(p[k] for p in parts) for k in
           ("seconds", "points", "calls", "errors", "changes", "new", "retracted", "new_1d", "moved",
            "ceiling_found")}
    delays = [d for p in parts for d in p["delays"]]
    delays_gap = [d for p in parts for d in p["delays_gap_aware"]]
    has_gap = "first_point" in truth
    floor = {k: [d for p in parts for d in p["floor"][k]] for k in FLOOR_POINTS}
    gate_floor = {k: [d for p in parts for d in p["gate_floor"][k]] for k in GATE_FLOOR_POINTS}
    n_changes, n_found = tot["changes"], len(delays)
    # intervals from resampling the series (bench/score.py)
    w = bootstrap_weights(len(parts))
    ci = {
        "found_share": interval(ratio_samples([len(p["delays"]) for p in parts], [p["changes"] for p in parts], w)),
        "median_delay_days": interval(median_samples([p["delays"] for p in parts], w)),
        "retracted_share": interval(ratio_samples([p["retracted"] for p in parts], [p["new"] for p in parts], w)),
    }
    if has_gap:
        ci["found_share_gap_aware"] = interval(
            ratio_samples([len(p["delays_gap_aware"]) for p in parts], [p["changes"] for p in parts], w))
    return {
        "series": len(series),
        "cuts": tot["calls"],
        "changes": n_changes,
        "found": n_found,
        "found_share": n_found / n_changes if n_changes else float("nan"),
        "median_delay_days": float(np.median(delays)) if delays else float("nan"),
        "p90_delay_days": float(np.percentile(delays, 90)) if delays else float("nan"),
        "found_gap_aware": len(delays_gap) if has_gap else None,
        "found_share_gap_aware": len(delays_gap) / n_changes if has_gap and n_changes else float("nan"),
        "median_delay_days_gap_aware": float(np.median(delays_gap)) if delays_gap else float("nan"),
        # the most any detector could find on the strict window: an alert at each change's first point
        # once a cut holds CEILING_POINTS points after it (changes starting in long data gaps or too
        # close to the last cut are out of reach)
        "found_share_ceiling": tot["ceiling_found"] / n_changes if has_gap and n_changes else float("nan"),
        # the fastest any detector could be on these cuts: the first cut with >= k points after each change
        **{f"floor_median_delay_days_{k}pt": float(np.median(v)) if v else float("nan") for k, v in floor.items()},
        # ... and that also waits for a ramp's level to pass the magnitude gate, over the GATE_FLOOR_SHARE
        # of changes quickest to show: a detector that reports only changes of at least GATE_PCT, on k
        # points after them, and finds that share, has a median delay at least this
        **{f"gate_floor_median_delay_days_{k}pt": _quickest_median(v, GATE_FLOOR_SHARE)
           for k, v in gate_floor.items()},
        "new_alerts": tot["new"],
        "retracted": tot["retracted"],
        "retracted_share": tot["retracted"] / tot["new"] if tot["new"] else float("nan"),
        "new_alerts_1d": tot["new_1d"],
        "moved_or_retracted": tot["moved"],
        "moved_or_retracted_share": tot["moved"] / tot["new_1d"] if tot["new_1d"] else float("nan"),
        "seconds": tot["seconds"],
        "points": tot["points"],
        "points_per_s": tot["points"] / tot["seconds"] if tot["seconds"] else float("nan"),
        "errors": tot["errors"],
        "ci90": ci,
        # each series' changes (those before its last cut, in truth order): days to the first cut that
        # matched it, or None (to compare two methods' delays on the changes both found)
        "first_found_days": {s[0]: p["first_found"] for s, p in zip(series, parts, strict=True)},
        **({"retracted_alerts": [a for p in parts for a in p["retracted_alerts"]]} if list_retracted else {}),
        **({"per_series": {s[0]: {"changes": p["changes"], "found": len(p["delays"]), "new": p["new"],
                                  "retracted": p["retracted"]} for s, p in zip(series, parts, strict=True)}}
           if per_series else {}),
    }
