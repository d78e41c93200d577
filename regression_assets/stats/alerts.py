"""Turning a day's evidence into alerts: spline comparisons + the located change, one stable id per change."""

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from regression_assets.stats.changepoint import ScanConfig, detect_changes
from regression_assets.stats.compare import compare_all
from regression_assets.stats.detectors import SCALE_CHANGE, direction_probability, is_scale_change


@dataclass(frozen=True)
class AlertRule:
    p_threshold: float = 0.8  # P(worse) (or P(better)) a comparison must reach
    min_change_pct: float = 2.0  # and its median change
    recent_days: int = 14  # a located change this recent anchors the alert


def alert_id(series_key: str, change_day: pd.Timestamp) -> str:
    """Stable id of a change: the series and the day its first affected point was pushed."""
    return hashlib.sha1(f"{series_key}\x00{pd.Timestamp(change_day):%Y-%m-%d}".encode()).hexdigest()[:16]


def _onset(days: pd.DatetimeIndex, draws: np.ndarray, ref: pd.Timestamp, target: pd.Timestamp) -> pd.Timestamp:
    """Where a drift between `ref` and `target` starts: the first day past a quarter of the change."""
    med = np.median(draws, axis=0)
    i0, i1 = days.get_loc(ref), days.get_loc(target)
    seg = med[i0:i1 + 1]
    total = seg[-1] - seg[0]
    if total == 0:
        return target
    frac = (seg - seg[0]) / total
    past = np.nonzero(frac >= 0.25)[0]
    return days[i0 + int(past[0])] if len(past) else target


def evaluate_day(series_key: str, points: pd.DataFrame, days: pd.DatetimeIndex, draws: np.ndarray,
                 target: pd.Timestamp, calendar: pd.DataFrame | None, lower_is_better: bool,
                 rule: AlertRule = AlertRule(), scan: ScanConfig | None = None) -> pd.DataFrame:
    """One row per comparison for the day (7d, 14d, previous versions), with the alert decision.

    A comparison alerts when P(worse) ≥ p_threshold and the median change ≥ min_change_pct (or the same
    for better: an improvement). A change of the level by 50x or more alerts with direction
    "scale_change" (a unit change or a broken test), never as a regression or an improvement. The
    change is located with the change-point scan on the points; if it finds a change of the same
    direction in the compared span, the alert is anchored there, otherwise at the drift's onset on the
    spline.
    """
    target = pd.Timestamp(target).normalize()
    comps = compare_all(draws, days, target, calendar, lower_is_better)
    use = points[~points["is_outlier"] & ~points["invalid"]] if len(points) else points
    changes = detect_changes(use["timestamp"].to_numpy(), use["value"].to_numpy(), lower_is_better, scan) \
        if len(use) else pd.DataFrame(columns=["timestamp", "direction"])
    first_data_day = use["timestamp"].min().normalize() if len(use) else target
    rows = []
    for c in comps:
        if c.reference_day < first_data_day:
            continue  # no data behind the reference day: an extrapolation, not a comparison
        p_better = 1.0 - c.p_worse
        worse_pct = c.median_pct if lower_is_better else -c.median_pct
        direction = None
        if c.p_worse >= rule.p_threshold and worse_pct >= rule.min_change_pct:
            direction = "regression"
        elif p_better >= rule.p_threshold and -worse_pct >= rule.min_change_pct:
            direction = "improvement"
        if direction and is_scale_change(c.median_pct):
            direction = SCALE_CHANGE  # a unit change or a broken test: flagged, never a 99,900 % regression
        change_ts, located_by = pd.NaT, None
        if direction:
            found = changes[(changes["direction"] == direction)
                            & (changes["timestamp"] > c.reference_day)
                            & (changes["timestamp"] < target + pd.Timedelta(days=1))]
            if len(found):
                change_ts, located_by = pd.Timestamp(found["timestamp"].iloc[-1]), "scan"
            else:
                change_ts, located_by = _onset(days, draws, c.reference_day, target), "spline"
        rows.append({
            "reference": c.reference, "reference_day": c.reference_day, "p_worse": c.p_worse,
            "median_pct": c.median_pct, "lo80_pct": c.lo80_pct, "hi80_pct": c.hi80_pct,
            "is_alert": direction is not None, "direction": direction or "",
            "change_timestamp": change_ts, "located_by": located_by or "",
            "alert_id": alert_id(series_key, change_ts.normalize()) if direction else "",
        })
    # A confident step the spline has not caught up with yet (its first day or two) alerts too.
    recent = changes[changes["timestamp"] >= target - pd.Timedelta(days=rule.recent_days)] if len(changes) else changes
    alerted = {r["alert_id"] for r in rows if r["is_alert"]}
    for _, ch in recent.iterrows():
        aid = alert_id(series_key, pd.Timestamp(ch["timestamp"]).normalize())
        if aid in alerted or ch["probability"] < rule.p_threshold:
            continue
        if any(r["is_alert"] and r["direction"] == ch["direction"] for r in rows):
            continue  # the spline already alerts on this direction: anchored above
        rows.append({
            "reference": "scan", "reference_day": pd.Timestamp(ch["timestamp"]).normalize() - pd.Timedelta(days=1),
            "p_worse": ch["probability"] if (ch["magnitude_pct"] > 0) == bool(lower_is_better) else 1.0 - ch["probability"],
            "median_pct": ch["magnitude_pct"], "lo80_pct": ch["lo80_pct"], "hi80_pct": ch["hi80_pct"],
            "is_alert": True, "direction": ch["direction"], "change_timestamp": pd.Timestamp(ch["timestamp"]),
            "located_by": "scan", "alert_id": aid,
        })
    return pd.DataFrame(rows)


def summarize_alerts(alerts: pd.DataFrame, merge_days: int = 3) -> pd.DataFrame:
    """One line per change: alerts of a series whose change days lie within `merge_days` are one change.

    Input: rows of the `regression_alerts` table. Output: suite, platform, change day, direction,
    first and last day it alerted, the largest |median %| and P seen, and the comparisons that fired.
    """
    a = alerts[alerts["is_alert"]].copy()
    if a.empty:
        return pd.DataFrame(columns=["suite", "platform", "change_day", "direction", "first_alert", "last_alert",
                                     "magnitude_pct", "probability", "comparisons"])
    a["change_day"] = pd.to_datetime(a["change_timestamp"]).dt.normalize()
    a["p"] = direction_probability(a["direction"], a["p_worse"])
    out = []
    for _, g in a.sort_values("change_day").groupby(["series_key", "direction"]):
        cluster, last = [], None
        for _, row in g.iterrows():
            if last is not None and (row["change_day"] - last).days > merge_days:
                out.append(_summarize_cluster(pd.DataFrame(cluster)))
                cluster = []
            cluster.append(row)
            last = row["change_day"]
        out.append(_summarize_cluster(pd.DataFrame(cluster)))
    return pd.DataFrame(out).sort_values(["first_alert", "suite", "platform"]).reset_index(drop=True)


def _summarize_cluster(g: pd.DataFrame) -> dict:
    first = g.sort_values("partition_date").iloc[0]
    best = g.loc[g["median_pct"].abs().idxmax()]
    return {
        "suite": first["suite"], "platform": first["platform"], "series_key": first["series_key"],
        "change_day": g["change_day"].mode().iloc[0].date(), "direction": first["direction"],
        "first_alert": pd.Timestamp(g["partition_date"].min()).date(),
        "last_alert": pd.Timestamp(g["partition_date"].max()).date(),
        "magnitude_pct": round(float(best["median_pct"]), 2), "probability": round(float(g["p"].max()), 3),
        "comparisons": ",".join(sorted(set(g["reference"]))), "alert_id": first["alert_id"],
    }
