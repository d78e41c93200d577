"""Perfherder's t-test change detector, ported from Mozilla Treeherder (MPL-2.0).

Two implementations of the same algorithm live here:

* a faithful, line-by-line port of Treeherder's ``treeherder/perfalert/perfalert/__init__.py``
  (`analyze`, `default_weights`, `linear_weights`, `calc_t`, `RevisionDatum`, `detect_changes`). It is
  the reference: slow (pure Python, ~40 µs per push) but arithmetically identical to Perfherder.
* `detect_changes_arrays`, a numpy kernel computing the same t statistics and the same change flags on
  push-aggregated arrays (~1 µs per push). It is checked against the reference on the Talos files and
  on random series (`regression_assets_tests/stats/test_perfherder.py`); it can differ only where the
  reference's result hinges on floating-point rounding (see the note on constant windows below).

`perfherder_changes` is the per-series entry point the rest of the project uses: it groups points with
the same timestamp into one push (as Perfherder groups a push's replicate results into one
`RevisionDatum`), runs the detector, applies Perfherder's magnitude gate (alert only when
|% change| >= the signature's ``alert_threshold``, default 2 %; see
``treeherder/perf/alerts.py::generate_new_alerts_in_series``) and reports one row per alert.

How the algorithm works (Treeherder's own code, restated):

* Data are pushes sorted by push time, each with one or more values.
* For each push ``i >= 1`` a back window is taken from pushes ``i-1, i-2, ...`` until it holds at least
  ``max_back_window`` *values*, or it spans ``min(max(last_seen_regression, min_back_window),
  max_back_window)`` *pushes*; ``last_seen_regression`` counts pushes since the last push whose t
  exceeded the threshold, so after a quiet stretch the back window may grow from 12 to 24 pushes, and
  right after a change it shrinks back to 12. The fore window is pushes ``i, i+1, ...`` until it holds
  at least ``fore_window`` values.
* ``t = |calc_t(back, fore, linear_weights)|``: Welch-style ``Δmean / sqrt(s1²/n1 + s2²/n2)`` where the
  means are *linearly weighted* per push - weight ``(n-j)/n`` for the j-th push counted from push i
  outward, in *both* windows - while the variances are the unweighted ``Σ(x - weighted_mean)² /
  (n-1)`` around that weighted mean. If the means are equal t = 0; if both variances are 0, t = inf.
* A push is a change when it has at least ``min_back_window`` values behind it and ``fore_window``
  ahead, ``t > t_threshold``, and t is not smaller than its neighbours' t (ties are all flagged).
* The alert's ``prev_value``/``new_value`` are the *uniformly* weighted means of the back and fore
  windows, and ``pct_change = 100·|new - prev| / prev`` (0 when prev is 0).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "CHANGE_COLUMNS",
    "RevisionDatum",
    "analyze",
    "calc_t",
    "default_weights",
    "detect_changes",
    "detect_changes_arrays",
    "linear_weights",
    "perfherder_changes",
    "t_to_probability",
]

# --------------------------------------------------------------------------------------------------
# Faithful port of treeherder/perfalert/perfalert/__init__.py
# --------------------------------------------------------------------------------------------------


def analyze(revision_data: Sequence[RevisionDatum], weight_fn: Callable[[int, int], float] | None = None) -> dict:
    """Weighted average and sample variance of the values of a list of `RevisionDatum`.

    The weight of push j is ``weight_fn(j, len(revision_data))`` and applies to each of its values; the
    variance is the unweighted ``Σ(x - weighted_avg)² / (n - 1)`` over all values (0 for n <= 1).
    """
    if weight_fn is None:
        weight_fn = default_weights

    num_revisions = len(revision_data)
    weights = [weight_fn(i, num_revisions) for i in range(num_revisions)]
    weighted_sum = 0
    sum_of_weights = 0
    for i in range(num_revisions):
        weighted_sum += sum(value * weights[i] for value in revision_data[i].values)
        sum_of_weights += weights[i] * len(revision_data[i].values)
    weighted_avg = weighted_sum / sum_of_weights if num_revisions > 0 else 0.0

    all_data = [v for datum in revision_data for v in datum.values]
    variance = (
        (sum(pow(d - weighted_avg, 2) for d in all_data) / (len(all_data) - 1)) if len(all_data) > 1 else 0.0
    )

    return {"avg": weighted_avg, "n": len(all_data), "variance": variance}


def default_weights(i: int, n: int) -> float:
    """A window function that weights all points uniformly."""
    return 1.0


def linear_weights(i: int, n: int) -> float:
    """A window function that falls off arithmetically: (n - i) / n (Treeherder bug 879903)."""
    if i >= n:
        return 0.0
    return float(n - i) / float(n)


def calc_t(w1: Sequence[RevisionDatum], w2: Sequence[RevisionDatum], weight_fn=None) -> float:
    """Student/Welch t statistic of window w2 against w1 (signed; 0 for an empty window)."""
    if not w1 or not w2:
        return 0

    s1 = analyze(w1, weight_fn)
    s2 = analyze(w2, weight_fn)
    delta_s = s2["avg"] - s1["avg"]

    if delta_s == 0:
        return 0
    if s1["variance"] == 0 and s2["variance"] == 0:
        return float("inf")

    return delta_s / (((s1["variance"] / s1["n"]) + (s2["variance"] / s2["n"])) ** 0.5)


@functools.total_ordering
class RevisionDatum:
    """One push (revision) and the values measured on it; ordered by push_timestamp only."""

    def __init__(self, push_timestamp, push_id, values):
        self.push_timestamp = push_timestamp
        self.push_id = push_id
        self.values = copy.copy(values)
        self.t = 0
        self.change_detected = False

    def __eq__(self, o):
        return self.push_timestamp == o.push_timestamp

    def __lt__(self, o):
        return self.push_timestamp < o.push_timestamp

    __hash__ = None  # type: ignore[assignment]  # like Treeherder's: __eq__ without __hash__

    def __repr__(self):
        values_csv = ", ".join(f"{value:.3f}" for value in self.values)
        return f"<{self.push_timestamp}: {self.push_id}, [ {values_csv} ], {self.t:.3f}, {self.change_detected}>"


def detect_changes(data, min_back_window=12, max_back_window=24, fore_window=12, t_threshold=7):
    """Treeherder's `detect_changes`: sets `.t`, `.change_detected`, `.historical_stats`,
    `.forward_stats`, `.amount_prev_data`, `.amount_next_data` on each datum; returns them sorted."""
    data = sorted(data)

    last_seen_regression = 0
    for i in range(1, len(data)):
        di = data[i]

        # back window: previous pushes until max_back_window values, or the push limit
        jw = []
        di.amount_prev_data = 0
        prev_indice = i - 1
        while (
            di.amount_prev_data < max_back_window
            and prev_indice >= 0
            and ((i - prev_indice) <= min(max(last_seen_regression, min_back_window), max_back_window))
        ):
            jw.append(data[prev_indice])
            di.amount_prev_data += len(jw[-1].values)
            prev_indice -= 1

        # fore window: this push and later ones until fore_window values
        kw = []
        di.amount_next_data = 0
        next_indice = i
        while di.amount_next_data < fore_window and next_indice < len(data):
            kw.append(data[next_indice])
            di.amount_next_data += len(kw[-1].values)
            next_indice += 1

        di.historical_stats = analyze(jw)
        di.forward_stats = analyze(kw)

        di.t = abs(calc_t(jw, kw, linear_weights))
        if di.t > t_threshold:
            last_seen_regression = 0
        else:
            last_seen_regression += 1

    for i in range(1, len(data)):
        di = data[i]
        if di.amount_prev_data < min_back_window or di.amount_next_data < fore_window:
            continue
        if di.t <= t_threshold:
            continue
        prev = data[i - 1]
        if prev.t > di.t:
            continue
        if (i + 1) < len(data):
            nxt = data[i + 1]
            if nxt.t > di.t:
                continue
        di.change_detected = True

    return data


# --------------------------------------------------------------------------------------------------
# Vectorised kernel (same algorithm on push-aggregated arrays)
# --------------------------------------------------------------------------------------------------

_CHUNK = 65536  # pushes per block of the 2-D window gathers (bounds memory at ~ CHUNK x 24 x 8 bytes)


def _push_limits(min_back_window: int, max_back_window: int) -> list[int]:
    """The values min(max(lsr, min_back), max_back) can take as last_seen_regression runs 0, 1, 2, ..."""
    lo = min(min_back_window, max_back_window)
    return list(range(lo, max(lo, max_back_window) + 1))


def cum_rows_arr(x: np.ndarray) -> np.ndarray:
    """np.cumsum(x, axis=0) as a loop of contiguous row adds (much faster for few, long rows)."""
    out = np.empty_like(x)
    if len(x):
        out[0] = x[0]
        for k in range(1, len(x)):
            np.add(out[k - 1], x[k], out=out[k])
    return out


def detect_changes_arrays(
    counts: np.ndarray,
    sums: np.ndarray,
    within_ss: np.ndarray,
    mins: np.ndarray,
    maxs: np.ndarray,
    *,
    min_back_window: int = 12,
    max_back_window: int = 24,
    fore_window: int = 12,
    t_threshold: float = 7.0,
) -> dict[str, np.ndarray]:
    """Perfherder's `detect_changes` on pushes given as per-push aggregates, sorted by push time.

    counts: values per push (>= 1); sums: their sum; within_ss: Σ(x - push mean)² per push; mins/maxs:
    per-push min/max. Returns arrays per push: ``t``, ``change`` (bool), ``back_start`` (first push of the
    back window), ``fore_end`` (one past the last push of the fore window), ``amount_prev``,
    ``amount_next``.

    Numerics: window means and variances are computed from per-push aggregates (variance as
    Σ within_ss + Σ n_p (mean_p - m)², which is stable) rather than by Treeherder's value-by-value sums,
    so t agrees with the reference to ~1e-12 relative. On a window whose values are all equal this
    kernel uses the exact mean and variance 0; the reference computes the linearly weighted mean of equal
    values with rounding, which can leave a variance of ~1e-34 and a non-zero Δmean of ~1e-17 between
    two flat windows - its t there is rounding noise (it may even exceed the threshold); here it is 0.
    """
    counts = np.asarray(counts, dtype=np.int64)
    sums = np.asarray(sums, dtype=np.float64)
    within_ss = np.asarray(within_ss, dtype=np.float64)
    mins = np.asarray(mins, dtype=np.float64)
    maxs = np.asarray(maxs, dtype=np.float64)
    n = len(counts)
    out = {
        "t": np.zeros(n),
        "change": np.zeros(n, dtype=bool),
        "back_start": np.arange(n),
        "fore_end": np.arange(n),
        "amount_prev": np.zeros(n, dtype=np.int64),
        "amount_next": np.zeros(n, dtype=np.int64),
    }
    if n < 2:
        return out
    means = sums / counts
    cum = np.concatenate([[0], np.cumsum(counts)])
    idx = np.arange(n)

    # fore window [i, fore_end): smallest k with cum[k] - cum[i] >= fore_window, else n
    if fore_window > 0:
        fore_end = np.minimum(np.searchsorted(cum, cum[:n] + fore_window, side="left"), n)
    else:
        fore_end = idx.copy()
    # back window reaches at most back to the push that brings the value count to >= max_back_window
    if max_back_window > 0:
        value_start = np.maximum(np.searchsorted(cum, cum[:n] - max_back_window, side="right") - 1, 0)
    else:
        value_start = idx.copy()
    limits = _push_limits(min_back_window, max_back_window)
    max_width = max(1, max(limits))
    fore_width = max(1, int(min(max(fore_window, 0), n)))

    # t for every push under every possible push limit L; the sequential scan then picks one per push.
    # Window sums use (width, pushes) blocks: row d is the series shifted by d pushes (a contiguous
    # slice), cumulative sums down the rows give every window length in O(1) per push.
    t_by_limit = np.zeros((len(limits), n))
    start_by_limit = np.zeros((len(limits), n), dtype=np.int64)
    P, F = max_width, fore_width
    cnt_f = counts.astype(np.float64)
    zeros_p, zeros_f = np.zeros(P), np.zeros(F)
    pad_c = np.concatenate([zeros_p, cnt_f, zeros_f])
    pad_m = np.concatenate([zeros_p, means, zeros_f])
    pad_w = np.concatenate([zeros_p, within_ss, zeros_f])
    has_wss = bool(np.any(within_ss))

    # constant windows: run_start[k] = first push of the run of constant, equal pushes ending at k
    push_const = mins == maxs
    same = np.zeros(n, dtype=bool)
    same[1:] = push_const[1:] & push_const[:-1] & (mins[1:] == mins[:-1])
    run_start = np.maximum.accumulate(np.where(same, 0, idx))

    def window_stats(c0, c1, offsets, ref):
        """Cumulative sums (down the rows) for windows made of pushes i + offsets[0], i + offsets[1],
        ...: count, centred sum, centred sum of squares, within-push SS, and the row-index-weighted
        count and centred sum. Padding rows outside the series have count 0."""
        k = np.arange(len(offsets), dtype=np.float64)[:, None]
        C = np.stack([pad_c[P + c0 + o : P + c1 + o] for o in offsets])
        D = np.stack([pad_m[P + c0 + o : P + c1 + o] for o in offsets]) - ref[None, :]
        CD = C * D
        cW = cum_rows_arr(np.stack([pad_w[P + c0 + o : P + c1 + o] for o in offsets])) if has_wss else None
        return cum_rows_arr(C), cum_rows_arr(CD), cum_rows_arr(CD * D), cW, cum_rows_arr(C * k), cum_rows_arr(CD * k)

    def finish(stats, length, ref, cols, const, const_val):
        cC, cCD, cCDD, cW, kC, kCD = stats
        row = np.maximum(length - 1, 0)
        N = cC[row, cols]
        s_cd = cCD[row, cols]
        with np.errstate(invalid="ignore", divide="ignore"):
            da = (length * s_cd - kCD[row, cols]) / (length * N - kC[row, cols])
        avg = np.where(const, const_val, ref + da)
        ss = cCDD[row, cols] - 2.0 * da * s_cd + da * da * N
        if cW is not None:
            ss = ss + cW[row, cols]
        ss = np.maximum(ss, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where(const, 0.0, np.where(N > 1, ss / np.maximum(N - 1, 1), 0.0))
        return avg, var, N

    for c0 in range(1, n, _CHUNK):
        c1 = min(n, c0 + _CHUNK)
        ii = idx[c0:c1]
        cols = np.arange(c1 - c0)
        # fore window: pushes i + k, k = 0..F-1; weight (nf - k) / nf
        nf = fore_end[c0:c1] - ii
        rf = means[ii]
        last_f = np.maximum(fore_end[c0:c1] - 1, 0)
        fconst = (nf > 0) & push_const[last_f] & (run_start[last_f] <= ii)
        fstats = window_stats(c0, c1, range(F), rf)
        favg, fvar, fN = finish(fstats, nf, rf, cols, fconst, mins[ii])

        # back window: pushes i - 1 - k, k = 0..P-1; weight (nb - k) / nb
        r = means[ii - 1]
        bstats = window_stats(c0, c1, range(-1, -P - 1, -1), r)
        vstart = value_start[c0:c1]
        prev_nb = None
        for li, L in enumerate(limits):
            start = np.minimum(ii, np.maximum(vstart, ii - L))
            nb = ii - start  # pushes in the back window
            start_by_limit[li, c0:c1] = start
            if prev_nb is not None and np.array_equal(nb, prev_nb):
                t_by_limit[li, c0:c1] = t_by_limit[li - 1, c0:c1]
                continue
            prev_nb = nb
            bconst = (nb > 0) & push_const[ii - 1] & (run_start[ii - 1] <= start)
            bavg, bvar, bN = finish(bstats, nb, r, cols, bconst, mins[ii - 1])
            with np.errstate(invalid="ignore", divide="ignore"):
                delta = favg - bavg
                t = np.abs(delta / np.sqrt(bvar / bN + fvar / fN))
            t = np.where((bvar == 0) & (fvar == 0), np.inf, t)
            t = np.where(delta == 0, 0.0, t)
            t = np.where((nb == 0) | (nf == 0), 0.0, t)
            t_by_limit[li, c0:c1] = t

    # sequential part: last_seen_regression picks the push limit for each push
    lo = limits[0]
    n_lim = len(limits)
    # limit index for last_seen_regression = 0, 1, 2, ...; beyond the table it stays at the last one
    lsr_table = [min(max(k, lo), limits[-1]) - lo for k in range(limits[-1] + 1)]
    last_li = n_lim - 1
    t_rows = [row.tolist() for row in t_by_limit]
    thr = float(t_threshold)
    choice_list = [0] * n
    lsr = 0
    for i in range(1, n):
        li = lsr_table[lsr] if lsr <= limits[-1] else last_li
        choice_list[i] = li
        if t_rows[li][i] > thr:
            lsr = 0
        else:
            lsr += 1
    choice = np.asarray(choice_list, dtype=np.int64)
    t = t_by_limit[choice, idx]
    t[0] = 0.0
    back_start = start_by_limit[choice, idx]
    back_start[0] = 0
    amount_prev = cum[:n] - cum[back_start]
    amount_next = cum[fore_end] - cum[:n]
    amount_next[0] = 0

    # local-maximum rule
    prev_t = np.concatenate([[np.inf], t[:-1]])
    next_t = np.concatenate([t[1:], [-np.inf]])
    change = (
        (idx >= 1)
        & (amount_prev >= min_back_window)
        & (amount_next >= fore_window)
        & (t > thr)
        & ~(prev_t > t)
        & ~(next_t > t)
    )
    out.update(
        t=t, change=change, back_start=back_start, fore_end=fore_end, amount_prev=amount_prev, amount_next=amount_next
    )
    return out


# --------------------------------------------------------------------------------------------------
# Per-series entry point
# --------------------------------------------------------------------------------------------------

CHANGE_COLUMNS: dict[str, str] = {
    "timestamp": "datetime64[ns]",
    "direction": "object",
    "magnitude_pct": "float64",
    "probability": "float64",
    "t_value": "float64",
    "prev_mean": "float64",
    "new_mean": "float64",
}


def t_to_probability(t, scale: float = 7.0):
    """Map Perfherder's |t| to [0, 1] monotonically: ``t / (t + scale)`` = ``1 - 1/(1 + t/scale)``.

    Not a probability in any statistical sense - a score in the same column as the Bayesian methods'
    posterior probabilities so that one sort order works for every method. With the default scale (the
    default t_threshold, 7) the detection threshold maps to 0.5, t = 21 to 0.75, t = 63 to 0.9, inf to 1.
    """
    t = np.asarray(t, dtype=float)
    with np.errstate(invalid="ignore"):
        p = np.where(np.isinf(t), 1.0, t / (t + scale))
    return p


def _empty_changes() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=d) for c, d in CHANGE_COLUMNS.items()})


def _group_pushes(timestamps: np.ndarray, values: np.ndarray):
    """Sort by time (stable) and group equal timestamps into pushes; returns push times, per-push
    aggregates and the sorted values with push boundaries."""
    ts = np.asarray(timestamps).astype("datetime64[ns]")
    vals = np.asarray(values, dtype=np.float64)
    if ts.shape != vals.shape or ts.ndim != 1:
        raise ValueError(f"timestamps and values must be 1-D and equal length, got {ts.shape} and {vals.shape}")
    if np.isnat(ts).any():
        raise ValueError("timestamps contain NaT")
    if not np.isfinite(vals).all():
        raise ValueError("values contain NaN or infinity")
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    vals = vals[order]
    if len(ts) == 0:
        return ts, np.zeros(0, np.int64), vals, np.zeros(0, np.int64)
    new_push = np.concatenate([[True], ts[1:] != ts[:-1]])
    starts = np.flatnonzero(new_push)
    counts = np.diff(np.concatenate([starts, [len(ts)]]))
    return ts[starts], starts, vals, counts


def perfherder_changes(
    timestamps: np.ndarray,
    values: np.ndarray,
    lower_is_better: bool = True,
    *,
    min_back_window: int = 12,
    max_back_window: int = 24,
    fore_window: int = 12,
    t_threshold: float = 7.0,
    magnitude_gate_pct: float = 2.0,
    engine: str = "fast",
) -> pd.DataFrame:
    """Perfherder alerts on one series.

    Points with the same timestamp form one push. Returns one row per alert, sorted by time:
    ``timestamp`` (the first push of the new level, i.e. the flagged push), ``direction``
    ("regression" when the new mean is worse given `lower_is_better`, else "improvement"),
    ``magnitude_pct`` (signed ``100·(new - prev)/prev``; 0 when prev is 0, as in Perfherder),
    ``probability`` (`t_to_probability` of t with scale `t_threshold`), ``t_value`` (|t|; inf when both
    windows are constant), ``prev_mean``/``new_mean`` (uniform means of the back and fore windows,
    Perfherder's prev_value/new_value).

    `magnitude_gate_pct` is Perfherder's alert_threshold: changes with |magnitude_pct| below it are
    dropped (pass 0 to keep every detected change). `engine`: "fast" (numpy kernel) or "reference"
    (the line-by-line port; slow).
    """
    push_ts, starts, vals, counts = _group_pushes(timestamps, values)
    n = len(push_ts)
    if n < 2:
        return _empty_changes()

    if engine == "reference":
        data = [RevisionDatum(j, j, vals[s : s + c].tolist()) for j, (s, c) in enumerate(zip(starts, counts, strict=True))]
        res = detect_changes(
            data,
            min_back_window=min_back_window,
            max_back_window=max_back_window,
            fore_window=fore_window,
            t_threshold=t_threshold,
        )
        flagged = [d for d in res if d.change_detected]
        rows_i = [d.push_id for d in flagged]
        tvals = [float(d.t) for d in flagged]
        prev_means = [float(d.historical_stats["avg"]) for d in flagged]
        new_means = [float(d.forward_stats["avg"]) for d in flagged]
    elif engine == "fast":
        sums = np.add.reduceat(vals, starts)
        pmeans = sums / counts
        dev = vals - np.repeat(pmeans, counts)
        wss = np.add.reduceat(dev * dev, starts)
        mins = np.minimum.reduceat(vals, starts)
        maxs = np.maximum.reduceat(vals, starts)
        res = detect_changes_arrays(
            counts,
            sums,
            wss,
            mins,
            maxs,
            min_back_window=min_back_window,
            max_back_window=max_back_window,
            fore_window=fore_window,
            t_threshold=t_threshold,
        )
        rows_i = np.flatnonzero(res["change"]).tolist()
        tvals = [float(res["t"][i]) for i in rows_i]
        # Perfherder's prev/new values: analyze() with uniform weights on the chosen windows
        prev_means, new_means = [], []
        for i in rows_i:
            b0, f1 = int(res["back_start"][i]), int(res["fore_end"][i])
            prev_means.append(float(analyze([_Values(vals[starts[p] : starts[p] + counts[p]]) for p in range(i - 1, b0 - 1, -1)])["avg"]))
            new_means.append(float(analyze([_Values(vals[starts[p] : starts[p] + counts[p]]) for p in range(i, f1)])["avg"]))
    else:
        raise ValueError(f"unknown engine {engine!r}; use 'fast' or 'reference'")

    if not rows_i:
        return _empty_changes()
    prev = np.asarray(prev_means)
    new = np.asarray(new_means)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(prev != 0, 100.0 * (new - prev) / prev, 0.0)
    worse = (new > prev) if lower_is_better else (new < prev)
    out = pd.DataFrame(
        {
            "timestamp": push_ts[np.asarray(rows_i, dtype=np.int64)].astype("datetime64[ns]"),
            "direction": np.where(worse, "regression", "improvement").astype(object),
            "magnitude_pct": pct.astype(float),
            "probability": t_to_probability(tvals, scale=float(t_threshold) if t_threshold > 0 else 7.0),
            "t_value": np.asarray(tvals, dtype=float),
            "prev_mean": prev.astype(float),
            "new_mean": new.astype(float),
        }
    )
    # Perfherder's gate: skip when pct_change < alert_threshold (pct_change = |pct|)
    out = out[~(np.abs(out["magnitude_pct"]) < magnitude_gate_pct)]
    return out.reset_index(drop=True)


class _Values:
    """Minimal stand-in for RevisionDatum in `analyze` (only `.values` is read)."""

    __slots__ = ("values",)

    def __init__(self, values):
        self.values = values.tolist() if hasattr(values, "tolist") else list(values)


def changed_push_timestamps(runs: Sequence[Sequence], *, engine: str = "fast", **kwargs) -> list[int]:
    """Push timestamps (epoch seconds) Perfherder flags on Talos ``test_runs`` rows, before the magnitude
    gate, with rows grouped into pushes by push_timestamp (``row[2]``; value ``row[3]``)."""
    ts = np.asarray([int(r[2]) for r in runs], dtype=np.int64)
    vals = np.asarray([float(r[3]) for r in runs], dtype=np.float64)
    out = perfherder_changes(
        (ts * 1_000_000_000).astype("datetime64[ns]"), vals, magnitude_gate_pct=0.0, engine=engine, **kwargs
    )
    return [int(x) // 1_000_000_000 for x in out["timestamp"].to_numpy().astype(np.int64)]

