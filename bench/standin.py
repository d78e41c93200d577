"""A stand-in detector with the project's detector signature, used while the real ones are not there.

Not a product: log values, outliers (> 5 MAD from a centred rolling median) dropped, numpy binary
segmentation (l2, penalty 3 log n in units of the robust noise variance, segments >= 5 points), then the
shared 2 % gate and direction logic of the peers (bench/peers/common.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.peers.common import to_alerts


def robust_clean(values: np.ndarray, window: int = 15, k: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """(log values with outliers dropped, the kept indices); sigma from the MAD of first differences."""
    y = np.log(np.maximum(values, 1e-12))
    if y.size < 5:
        return y, np.arange(y.size)
    med = pd.Series(y).rolling(window, center=True, min_periods=1).median().to_numpy()
    r = y - med
    mad = np.median(np.abs(r - np.median(r))) * 1.4826
    if mad <= 0:
        return y, np.arange(y.size)
    keep = np.flatnonzero(np.abs(r) <= k * mad)
    return y[keep], keep


def noise_sigma(y: np.ndarray) -> float:
    if y.size < 3:
        return 1.0
    d = np.diff(y)
    s = 1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2)
    return float(s) if s > 0 else float(np.std(y) or 1.0)


def binseg(z: np.ndarray, pen: float, min_size: int = 5) -> list[int]:
    """Greedy binary segmentation with the l2 cost on a unit-variance signal."""
    n = z.size
    cs = np.concatenate([[0.0], np.cumsum(z)])
    cps: list[int] = []
    stack = [(0, n)]
    while stack:
        a, b = stack.pop()
        m = b - a
        if m < 2 * min_size:
            continue
        k = np.arange(a + min_size, b - min_size + 1)
        left = cs[k] - cs[a]
        right = cs[b] - cs[k]
        nl = k - a
        nr = b - k
        gain = left**2 / nl + right**2 / nr - (cs[b] - cs[a]) ** 2 / m
        j = int(np.argmax(gain))
        if gain[j] > pen:
            c = int(k[j])
            cps.append(c)
            stack.extend([(a, c), (c, b)])
    return sorted(cps)


def detect_standin(timestamps: np.ndarray, values: np.ndarray, lower_is_better: bool) -> pd.DataFrame:
    cols = ["timestamp", "direction", "magnitude_pct", "probability"]
    y, keep = robust_clean(np.asarray(values, dtype=np.float64))
    if y.size < 10:
        return pd.DataFrame(columns=cols)
    z = (y - np.median(y)) / noise_sigma(y)
    cps = binseg(z, pen=3.0 * np.log(z.size))
    ts = np.asarray(timestamps)[keep]
    rows = to_alerts("", ts, np.exp(y), lower_is_better, cps)
    df = pd.DataFrame(rows, columns=["series_id", *cols])[cols]
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    return df
