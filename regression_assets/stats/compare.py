"""Comparing days by posterior draws of the level: today vs 7 / 14 days ago and previous versions."""

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Comparison:
    reference: str  # "7d", "14d", "version 151", ...
    reference_day: pd.Timestamp
    p_worse: float
    median_pct: float  # signed % change of today's level vs the reference day's
    lo80_pct: float
    hi80_pct: float


def pct_change_draws(level_draws: np.ndarray, i_target: int, i_ref: int) -> np.ndarray:
    return 100.0 * (level_draws[:, i_target] / level_draws[:, i_ref] - 1.0)


def compare(level_draws: np.ndarray, days: pd.DatetimeIndex, target: pd.Timestamp, reference: pd.Timestamp,
            label: str, lower_is_better: bool) -> Comparison | None:
    """P(worse) and the % change (median, 80% interval) of `target` vs `reference`; None if outside."""
    idx = {d: i for i, d in enumerate(days)}
    target, reference = pd.Timestamp(target).normalize(), pd.Timestamp(reference).normalize()
    if target not in idx or reference not in idx:
        return None
    pct = pct_change_draws(level_draws, idx[target], idx[reference])
    worse = pct > 0 if lower_is_better else pct < 0
    lo, med, hi = np.quantile(pct, [0.1, 0.5, 0.9])
    return Comparison(label, reference, float(np.mean(worse)), float(med), float(lo), float(hi))


def reference_days(target: pd.Timestamp, calendar: pd.DataFrame | None, n_versions: int = 2) -> list[tuple[str, pd.Timestamp]]:
    """7 and 14 days before, and the last day of each of the `n_versions` versions before the current one.

    `calendar` has columns `version` and `release_date`; the version current on a day is the latest
    released by then, and a version's last day is the day before the next one was released. Rows without
    a version or a readable date are ignored. When the calendar has a gap after a version (the next
    entry's major version is more than one higher: 147 then 149), that version's last day is unknown
    and its comparison is skipped rather than made against a day of the missing version under its
    label (see `calendar_gaps`).
    """
    target = pd.Timestamp(target).normalize()
    refs = [("7d", target - pd.Timedelta(days=7)), ("14d", target - pd.Timedelta(days=14))]
    cal = _clean_calendar(calendar)
    if cal.empty:
        return refs
    current = cal.index[cal["release_date"] <= target]
    if len(current) == 0:
        return refs
    k = int(current[-1])
    for j in range(1, n_versions + 1):
        if k - j < 0:
            break
        if _is_gap(cal.loc[k - j, "version"], cal.loc[k - j + 1, "version"]):
            continue
        last_day = cal.loc[k - j + 1, "release_date"] - pd.Timedelta(days=1)
        refs.append((f"version {cal.loc[k - j, 'version']}", last_day))
    return refs


def _clean_calendar(calendar: pd.DataFrame | None) -> pd.DataFrame:
    if calendar is None or calendar.empty:
        return pd.DataFrame(columns=["version", "release_date"])
    dates = pd.to_datetime(calendar["release_date"], errors="coerce", format="ISO8601")
    cal = calendar.assign(release_date=dates.dt.normalize())
    cal = cal[cal["version"].notna() & cal["release_date"].notna()]
    return cal.sort_values("release_date").drop_duplicates("version", keep="first").reset_index(drop=True)


def _major(version) -> int | None:
    m = re.match(r"\s*(\d+)", str(version))
    return int(m.group(1)) if m else None


def _is_gap(version, next_version) -> bool:
    a, b = _major(version), _major(next_version)
    return a is not None and b is not None and b - a > 1


def calendar_gaps(calendar: pd.DataFrame | None) -> list[str]:
    """Versions missing between consecutive calendar entries, e.g. ["148 (between 147 and 149)"]."""
    cal = _clean_calendar(calendar)
    out = []
    for a, b in zip(cal["version"].iloc[:-1], cal["version"].iloc[1:], strict=True):
        if _is_gap(a, b):
            missing = range(_major(a) + 1, _major(b))
            out.append(f"{','.join(map(str, missing))} (between {a} and {b})")
    return out


def compare_all(level_draws: np.ndarray, days: pd.DatetimeIndex, target: pd.Timestamp,
                calendar: pd.DataFrame | None, lower_is_better: bool) -> list[Comparison]:
    out = []
    for label, ref in reference_days(target, calendar):
        c = compare(level_draws, days, target, ref, label, lower_is_better)
        if c is not None:
            out.append(c)
    return out


def is_alert(c: Comparison, p_threshold: float = 0.8, min_change_pct: float = 2.0, lower_is_better: bool = True) -> bool:
    """P(worse) high enough and the median change at least `min_change_pct` in the worse direction."""
    worse_pct = c.median_pct if lower_is_better else -c.median_pct
    return c.p_worse >= p_threshold and worse_pct >= min_change_pct
