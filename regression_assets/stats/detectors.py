"""Registry of per-series change detectors, by name (used by the CLI and the asset graph).

Every method is a function ``(timestamps: datetime64[ns] array, values: float64 array,
lower_is_better: bool) -> DataFrame`` with at least the columns ``timestamp, direction, magnitude_pct,
probability`` (one row per change, sorted by time); extra columns are method-specific. Points sharing a
timestamp are allowed (one push / day with several results).

`MIN_POINTS[name]` is the fewest points a series needs before the method can say anything; callers
skip shorter series instead of calling the method.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from regression_assets.stats.perfherder import perfherder_changes

Detector = Callable[[np.ndarray, np.ndarray, bool], pd.DataFrame]

REQUIRED_COLUMNS = ("timestamp", "direction", "magnitude_pct", "probability")


def _default(timestamps: np.ndarray, values: np.ndarray, lower_is_better: bool = True) -> pd.DataFrame:
    """The project's detector, `regression_assets.stats.changepoint.detect_changes` (imported lazily:
    it pulls in scipy and is not needed by the other methods)."""
    from regression_assets.stats.changepoint import detect_changes

    return detect_changes(timestamps, values, lower_is_better)


def _perfherder(timestamps: np.ndarray, values: np.ndarray, lower_is_better: bool = True) -> pd.DataFrame:
    """Perfherder's t-test detector with Perfherder's defaults (12-24 / 12 / t > 7, 2 % gate)."""
    return perfherder_changes(timestamps, values, lower_is_better)


METHODS: dict[str, Detector] = {
    "default": _default,
    "perfherder": _perfherder,
}

# Perfherder needs min_back_window values behind and fore_window values ahead of a change (12 + 12).
# The default method's own floor is ScanConfig.min_before + min_after (4 + 3) points.
MIN_POINTS: dict[str, int] = {
    "default": 7,
    "perfherder": 24,
}


# Methods that work on log values: a value <= 0 carries no information for them and is ignored.
POSITIVE_ONLY = frozenset({"default"})

# A level that moves by this factor or more in one change (x1000 ms -> us, /1024 bytes -> KiB, a sign
# flip) is a change of units or a broken test, not a performance change: it is reported with direction
# SCALE_CHANGE, never as a regression or an improvement of 99,900 %.
SCALE_CHANGE_FACTOR = 50.0
SCALE_CHANGE = "scale_change"


def is_scale_change(magnitude_pct) -> np.ndarray:
    """True where a signed % change means a level ratio of at least SCALE_CHANGE_FACTOR either way."""
    ratio = 1.0 + np.asarray(magnitude_pct, dtype=float) / 100.0
    with np.errstate(invalid="ignore"):
        return (ratio >= SCALE_CHANGE_FACTOR) | (ratio <= 1.0 / SCALE_CHANGE_FACTOR)


def direction_probability(direction, p_worse) -> np.ndarray:
    """P(the change went the alerted way) from P(worse): p_worse for a regression, 1 - p_worse for an
    improvement, and for a scale change whichever way the level moved."""
    direction = np.asarray(direction, dtype=object)
    pw = np.asarray(p_worse, dtype=float)
    return np.where(direction == "improvement", 1.0 - pw,
                    np.where(direction == SCALE_CHANGE, np.maximum(pw, 1.0 - pw), pw))


def label_scale_changes(changes: pd.DataFrame) -> pd.DataFrame:
    """`changes` with the direction of every scale change set to SCALE_CHANGE."""
    if len(changes) == 0 or "magnitude_pct" not in changes.columns:
        return changes
    scale = is_scale_change(changes["magnitude_pct"].to_numpy(dtype=float))
    if not scale.any():
        return changes
    out = changes.copy()
    out["direction"] = out["direction"].astype(object)
    out.loc[scale, "direction"] = SCALE_CHANGE
    return out


def get_method(name: str) -> Detector:
    """The detector called `name`; KeyError listing the known names otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; known: {', '.join(sorted(METHODS))}") from None


def min_points(name: str) -> int:
    return MIN_POINTS.get(name, 2)
