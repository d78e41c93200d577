"""Outlier flags from forward and backward rolling medians (the slow_regressions rule)."""

import numpy as np
import pandas as pd

MAD_TO_SD = 1.4826


def robust_z(values: np.ndarray, window: int = 15) -> np.ndarray:
    """Robust z of each point against the medians of the `window` points before and after it.

    A point is judged against both sides so that the first points after a real step (which sit far
    from the backward median but close to the forward one) are not taken for outliers. The returned
    z is the smaller of the two in absolute value, and 0 for a point between the two medians.
    """
    if int(window) < 1:
        raise ValueError(f"robust_z: window must be at least 1 point, got {window!r}")
    x = pd.Series(np.asarray(values, dtype=float))
    n = len(x)
    if n == 0:
        return np.zeros(0)
    minp = min(3, n, int(window))
    back_med = x.rolling(window, min_periods=minp).median()
    fwd_med = x[::-1].rolling(window, min_periods=minp).median()[::-1]
    # One scale for the whole series, from first differences (robust to steps and to slow drift).
    diffs = np.abs(np.diff(x.to_numpy()))
    scale = MAD_TO_SD * np.median(diffs) / np.sqrt(2.0) if n > 1 else 0.0
    if not np.isfinite(scale) or scale <= 0:
        dev = np.abs(x - x.median())
        scale = MAD_TO_SD * float(dev.median()) if n else 0.0
    if not np.isfinite(scale) or scale <= 0:
        scale = max(1e-12, 1e-9 * float(np.nanmax(np.abs(x)) if n else 1.0))
    z_back = ((x - back_med.fillna(fwd_med)) / scale).to_numpy()
    z_fwd = ((x - fwd_med.fillna(back_med)) / scale).to_numpy()
    z = np.where(np.abs(z_back) < np.abs(z_fwd), z_back, z_fwd)
    # A point between its backward and forward medians is on the way from one to the other: a slow
    # ramp on a sparse, quiet series puts each point several MADs from both medians (a 10% ramp over
    # a month at one run a day), and flagging them all hid the ramp.
    return np.where(z_back * z_fwd < 0, 0.0, z)


def flag_outliers(values: np.ndarray, threshold: float = 5.0, window: int = 15) -> np.ndarray:
    """True where a point is more than `threshold` MADs from both its backward and forward medians."""
    return np.abs(robust_z(values, window)) > threshold
