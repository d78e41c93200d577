"""Scoring: the tolerance matcher for the generated set and the TCPD F1 for the annotated real series.

Tolerance matching (generated set): a true change is found by an alert of the same direction whose
timestamp lies in [start - 1 day, start + 3 days] (a ramp: [start - 1 day, end + 3 days]); each alert
matches at most one change and each change at most one alert. Changes are taken in order of start,
each one taking the closest eligible unmatched alert (changes are >= 30 days apart in the generated set,
so the windows never overlap and this greedy matching is a maximum matching). The gap-aware variant
(`gap_aware=True`) ends a window 3 days after the first data point after the start when that is later:
a change that starts in a data gap is first visible there.

TCPD F1 (van den Burg & Williams, "An Evaluation of Change Point Detection Algorithms", 2020; the
reference is `analysis/scripts/metrics.py` of alan-turing-institute/TCPDBench): index 0 is added to every
annotator's set and to the predictions; precision = |TP(union of annotations, predictions)| / |predictions|,
recall = mean over annotators of |TP(annotator's set, predictions)| / |annotator's set|, a true positive
being an annotated point with an unused prediction within `margin` points (closest first, each
prediction used at most once), F = P R / (alpha R + (1 - alpha) P) with alpha = 0.5.
The reference iterates the annotated points in Python set order; we iterate them in ascending order,
which is the same for the small non-negative ints of these data sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

DAY = pd.Timedelta(days=1)
BEFORE = 1 * DAY
AFTER = 3 * DAY


# ----------------------------------------------------------------------------------------------- TCPD


def tcpd_true_positives(truth: Iterable[int], predictions: Iterable[int], margin: int = 5) -> set[int]:
    """Annotated points matched by a distinct prediction within `margin` (closest first)."""
    remaining = set(predictions)
    tp: set[int] = set()
    for tau in sorted(set(truth)):
        close = sorted((abs(tau - x), x) for x in remaining if abs(tau - x) <= margin)
        if not close:
            continue
        tp.add(tau)
        remaining.remove(close[0][1])
    return tp


def tcpd_f_measure(
    annotations: Mapping[object, Iterable[int]],
    predictions: Iterable[int],
    margin: int = 5,
    alpha: float = 0.5,
) -> tuple[float, float, float]:
    """(F, precision, recall) as TCPDBench defines them; 0 is counted in every set."""
    tks = [set(int(i) for i in v) | {0} for v in annotations.values()]
    if not tks:
        raise ValueError("no annotators")
    x = set(int(i) for i in predictions) | {0}
    tstar: set[int] = set().union(*tks)
    p = len(tcpd_true_positives(tstar, x, margin)) / len(x)
    r = sum(len(tcpd_true_positives(tk, x, margin)) / len(tk) for tk in tks) / len(tks)
    f = p * r / (alpha * r + (1 - alpha) * p) if (p + r) > 0 else 0.0
    return f, p, r


# ---------------------------------------------------------------------------------- tolerance matching


def match_series(truth: pd.DataFrame, alerts: pd.DataFrame, gap_aware: bool = False) -> tuple[list[int | None], int]:
    """Match one series' alerts to its true changes.

    truth: columns start, end, direction (one row per change), and first_point (the first data point
    at or after start) for `gap_aware` matching: the window then ends 3 days after the later of end and
    first_point, so a change that starts inside a data gap can be matched where it first shows;
    alerts: timestamp, direction.
    Returns (for each truth row in the given order: the positional index of the matched alert or None,
    the number of matched alerts).
    """
    a_ts = pd.to_datetime(alerts["timestamp"]).to_numpy() if len(alerts) else np.array([], "datetime64[ns]")
    a_dir = alerts["direction"].to_numpy() if len(alerts) else np.array([], dtype=object)
    used = np.zeros(len(a_ts), dtype=bool)
    result: list[int | None] = [None] * len(truth)
    order = np.argsort(pd.to_datetime(truth["start"]).to_numpy(), kind="stable")
    starts = pd.to_datetime(truth["start"]).to_numpy()
    ends = pd.to_datetime(truth["end"]).to_numpy()
    firsts = pd.to_datetime(truth["first_point"]).to_numpy() if gap_aware else starts
    dirs = truth["direction"].to_numpy()
    for i in order:
        lo = starts[i] - BEFORE.to_timedelta64()
        hi = max(starts[i], ends[i], firsts[i]) + AFTER.to_timedelta64()
        ok = (~used) & (a_dir == dirs[i]) & (a_ts >= lo) & (a_ts <= hi)
        if not ok.any():
            continue
        cand = np.flatnonzero(ok)
        dist = np.abs((a_ts[cand] - starts[i]).astype(np.int64))
        j = int(cand[np.argmin(dist)])
        used[j] = True
        result[i] = j
    return result, int(used.sum())


@dataclass
class Score:
    n_true: int
    n_found: int
    n_alerts: int
    n_true_alerts: int
    precision: float
    recall: float
    f1: float
    false_alerts_quiet: int
    quiet_series_days: float
    false_per_1000_quiet_days: float
    recall_step: float
    recall_ramp: float

    def as_dict(self) -> dict:
        return asdict(self)


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b else float("nan")


COUNT_COLUMNS = ["n_true", "n_found", "n_alerts", "n_true_alerts"]


def series_counts(
    truth: pd.DataFrame,
    alerts: pd.DataFrame,
    meta: pd.DataFrame,
    gap_aware: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per series of `meta` (in its order): changes, changes found, alerts and matched alerts.

    Returns (that frame, indexed by series_id with COUNT_COLUMNS; the truth rows of those series with a
    `found` column). Summed, the counts give precision and recall; resampled by series, their intervals.
    """
    ids = list(meta["series_id"])
    truth = truth[truth["series_id"].isin(set(ids))].copy()
    alerts = alerts[alerts["series_id"].isin(set(ids))] if len(alerts) else alerts
    truth["found"] = False
    counts = pd.DataFrame(0, index=pd.Index(ids, name="series_id"), columns=COUNT_COLUMNS)
    if len(truth):
        counts["n_true"] = truth.groupby("series_id").size().reindex(ids, fill_value=0)
    if len(alerts):
        counts["n_alerts"] = alerts.groupby("series_id").size().reindex(ids, fill_value=0)
    a_groups = dict(tuple(alerts.groupby("series_id"))) if len(alerts) else {}
    for sid, tg in (truth.groupby("series_id") if len(truth) else ()):
        ag = a_groups.get(sid)
        if ag is None or not len(ag):
            continue
        res, n_matched = match_series(tg, ag, gap_aware=gap_aware)
        truth.loc[tg.index, "found"] = [r is not None for r in res]
        counts.loc[sid, "n_true_alerts"] = n_matched
    if len(truth):
        counts["n_found"] = truth.groupby("series_id")["found"].sum().reindex(ids, fill_value=0).astype(int)
    return counts, truth


def score_generated(
    truth: pd.DataFrame,
    alerts: pd.DataFrame,
    meta: pd.DataFrame,
    series_ids: Iterable[str] | None = None,
    gap_aware: bool = False,
) -> tuple[Score, pd.DataFrame]:
    """Score alerts (series_id, timestamp, direction) against truth on the series in `meta`.

    Returns (the Score, the truth frame with a `found` column). Quiet series-days are the days spanned by
    the series with no change (meta.n_days), false alerts on them are all their alerts.
    Precision with no alert at all is undefined (NaN); F1 is then 0. `gap_aware`: see match_series.
    """
    meta = meta if series_ids is None else meta[meta["series_id"].isin(set(series_ids))]
    counts, truth = series_counts(truth, alerts, meta, gap_aware=gap_aware)
    return score_counts(counts, truth, meta), truth


def ceiling_alerts(truth: pd.DataFrame) -> pd.DataFrame:
    """The alerts of a detector that knows the truth: one per change, at its first data point, its direction.

    Scored strictly, they give the most any detector can find on these series: a change that starts in a
    data gap longer than the window's 3 days has no point to alert at inside its window.
    """
    return pd.DataFrame({"series_id": truth["series_id"].to_numpy(), "timestamp": truth["first_point"].to_numpy(),
                         "direction": truth["direction"].to_numpy()})


def score_counts(counts: pd.DataFrame, truth: pd.DataFrame, meta: pd.DataFrame) -> Score:
    """The Score from `series_counts`' two frames (for callers that also need the per-series counts)."""
    total = counts.sum()
    n_alerts, n_true_alerts = int(total["n_alerts"]), int(total["n_true_alerts"])
    quiet = meta[meta["n_changes"] == 0]
    fa_quiet = int(counts.loc[list(quiet["series_id"]), "n_alerts"].sum())
    quiet_days = float(quiet["n_days"].sum())
    n_true, n_found = int(total["n_true"]), int(total["n_found"])
    precision = _ratio(n_true_alerts, n_alerts)
    recall = _ratio(n_found, n_true)
    f1 = 2 * precision * recall / (precision + recall) if n_alerts and (precision + recall) > 0 else 0.0
    steps = truth[truth["kind"] == "step"]
    ramps = truth[truth["kind"] == "ramp"]
    return Score(
        n_true=n_true,
        n_found=n_found,
        n_alerts=n_alerts,
        n_true_alerts=n_true_alerts,
        precision=precision,
        recall=recall,
        f1=f1,
        false_alerts_quiet=fa_quiet,
        quiet_series_days=quiet_days,
        false_per_1000_quiet_days=1000 * _ratio(fa_quiet, quiet_days),
        recall_step=_ratio(steps["found"].sum(), len(steps)),
        recall_ramp=_ratio(ramps["found"].sum(), len(ramps)),
    )


# ---------------------------------------------------------------------------------------- intervals

# Intervals resample whole series (a series' changes and alerts are not independent of each other),
# with the same resamples for every method, so that the difference between two methods is paired.
BOOTSTRAP_SEED = 20261124
BOOTSTRAP_RESAMPLES = 2000
LEVEL = 0.9


def bootstrap_weights(n_series: int, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """(resamples, n_series): how often each series is drawn in each resample of n_series series."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_series, np.full(n_series, 1.0 / n_series), size=resamples)


def f1_samples(counts: pd.DataFrame, weights: np.ndarray) -> np.ndarray:
    """F1 of each resample from per-series counts (`series_counts`); 0 where a resample has no alert."""
    s = weights @ counts[COUNT_COLUMNS].to_numpy(dtype=float)
    n_true, n_found, n_alerts, n_true_alerts = s.T
    with np.errstate(invalid="ignore", divide="ignore"):
        p, r = n_true_alerts / n_alerts, n_found / n_true
        f1 = 2 * p * r / (p + r)
    return np.where((n_alerts > 0) & (p + r > 0), f1, 0.0)


def ratio_samples(num: np.ndarray, den: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum(num) / sum(den) of each resample (per-series num and den); NaN where den sums to 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights @ np.asarray(num, float)) / (weights @ np.asarray(den, float))


def median_samples(values: list[list[float]], weights: np.ndarray) -> np.ndarray:
    """The (lower) median of the pooled values of each resample, `values` listed per series."""
    flat = np.array([v for vs in values for v in vs], float)
    owner = np.array([i for i, vs in enumerate(values) for _ in vs], int)
    if not flat.size:
        return np.full(len(weights), np.nan)
    order = np.argsort(flat, kind="stable")
    cw = np.cumsum(weights[:, owner[order]], axis=1)
    k = np.array([np.searchsorted(row, row[-1] / 2.0) if row[-1] else -1 for row in cw])
    return np.where(k >= 0, flat[order][np.maximum(k, 0)], np.nan)


def interval(samples: np.ndarray, level: float = LEVEL) -> list[float]:
    """The central `level` percentile interval of bootstrap samples (NaNs ignored; all NaN: NaN, NaN)."""
    x = np.asarray(samples, float)
    x = x[np.isfinite(x)]
    if not x.size:
        return [float("nan"), float("nan")]
    q = (1.0 - level) / 2.0
    lo, hi = np.quantile(x, [q, 1.0 - q])
    return [float(lo), float(hi)]
