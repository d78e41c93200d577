"""Binary segmentation peer (ruptures, l2), run in the project's process.

Preprocessing (the same as for the stand-in): log values, points > 5 MAD from a centred rolling median
dropped, the signal divided by its robust noise sd so that one penalty fits every series; then
`rpt.Binseg(model="l2", min_size=3, jump=1).fit(z).predict(pen=PEN)`. PEN is tuned once on the tuning
split (best F1 under the tolerance rule) and then frozen for every data set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.peers.common import to_alerts
from bench.standin import noise_sigma, robust_clean

COLS = ["timestamp", "direction", "magnitude_pct", "probability"]


def fit(values: np.ndarray):
    """(fitted Binseg or None, kept indices, cleaned log values)."""
    import ruptures as rpt

    y, keep = robust_clean(np.asarray(values, dtype=np.float64))
    if y.size < 10:
        return None, keep, y
    z = (y - np.median(y)) / noise_sigma(y)
    algo = rpt.Binseg(model="l2", min_size=3, jump=1).fit(z)
    return algo, keep, y


def alerts_from_fit(algo, keep, y, timestamps, lower_is_better: bool, pen: float) -> pd.DataFrame:
    if algo is None:
        return pd.DataFrame(columns=COLS)
    bkps = algo.predict(pen=pen)[:-1]  # ruptures includes n as the last breakpoint
    rows = to_alerts("", np.asarray(timestamps)[keep], np.exp(y), lower_is_better, bkps)
    df = pd.DataFrame(rows, columns=["series_id", *COLS])[COLS]
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    return df


class BinsegDetector:
    """The peer's detector at a frozen penalty: a class, not a closure, so that the morning view's
    process pool can pickle it."""

    def __init__(self, pen: float):
        self.pen = pen

    def __call__(self, timestamps: np.ndarray, values: np.ndarray, lower_is_better: bool) -> pd.DataFrame:
        algo, keep, y = fit(values)
        return alerts_from_fit(algo, keep, y, timestamps, lower_is_better, self.pen)


def make_detector(pen: float) -> BinsegDetector:
    return BinsegDetector(pen)
