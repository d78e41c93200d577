"""How many modes a series has: Gaussian mixtures (EM, scikit-learn) with K chosen by BIC."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps
from sklearn.mixture import GaussianMixture


@dataclass
class ModeFit:
    n_modes: int
    means: list[float] = field(default_factory=list)  # in the units of the input (log values here)
    sds: list[float] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    bic: list[float] = field(default_factory=list)  # BIC for K = 1..max_k
    noise_profile: str = "ok"  # modal | outliers | skewed | ok
    skewness: float = 0.0
    outlier_share: float = 0.0


def fit_modes(x: np.ndarray, *, max_k: int = 4, max_points: int = 2000, min_weight: float = 0.05,
              outlier_share: float = 0.0, seed: int = 0) -> ModeFit:
    """Fit K = 1..max_k Gaussian mixtures, keep the BIC-best one, then count the *distinct* modes.

    BIC alone over-counts on skewed or heavy-tailed noise (it stacks Gaussians to fit a tail), so the
    modes counted are the peaks of the fitted mixture density separated by a real dip, each carrying
    ≥ `min_weight` of the points.
    """
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < 10 or np.ptp(x) == 0:
        return ModeFit(1, [float(np.mean(x)) if len(x) else float("nan")], [0.0], [1.0],
                       outlier_share=outlier_share)
    # Scale for EM's numerical comfort; the answer is scale-free.
    if len(x) > max_points:  # EM cost grows with points; the mode count does not need them all
        x = np.random.default_rng(seed).choice(x, max_points, replace=False)
    center, scale = np.median(x), np.std(x) or 1.0
    z = ((x - center) / scale).reshape(-1, 1)
    fits, bics = [], []
    for k in range(1, min(max_k, len(np.unique(z))) + 1):
        gm = GaussianMixture(n_components=k, covariance_type="full", n_init=1, random_state=seed, init_params="k-means++",
                             reg_covar=1e-4).fit(z)
        fits.append(gm)
        bics.append(float(gm.bic(z)))
    best = fits[int(np.argmin(bics))]
    order = np.argsort(best.means_.ravel())
    means = best.means_.ravel()[order]
    sds = np.sqrt(best.covariances_.reshape(-1)[order])
    weights = best.weights_[order]
    # Count the modes of the fitted *density*, not its components: skewed or heavy-tailed noise is
    # fitted with several overlapping Gaussians whose sum still has one peak.
    grid = np.linspace(z.min(), z.max(), 512)
    comp = weights[:, None] * sps.norm.pdf(grid[None, :], means[:, None], sds[:, None])
    density = comp.sum(axis=0)
    peaks = [i for i in range(1, len(grid) - 1) if density[i] >= density[i - 1] and density[i] > density[i + 1]]
    peaks = peaks or [int(np.argmax(density))]
    kept_peaks = [peaks[0]]
    for p in peaks[1:]:
        q = kept_peaks[-1]
        dip = density[q:p + 1].min()
        if dip > 0.75 * min(density[p], density[q]):
            kept_peaks[-1] = p if density[p] > density[q] else q  # no real dip: one mode
        else:
            kept_peaks.append(p)
    # Each component belongs to the peak nearest its mean; a mode's weight is its components' sum.
    owner = np.array([int(np.argmin([abs(grid[p] - m) for p in kept_peaks])) for m in means])
    mode_w = np.array([weights[owner == j].sum() for j in range(len(kept_peaks))])
    keep = [j for j in range(len(kept_peaks)) if mode_w[j] >= min_weight] or [int(np.argmax(mode_w))]
    mode_means = [float((weights[owner == j] * means[owner == j]).sum() / mode_w[j]) for j in keep]
    mode_sds = [float(np.sqrt((weights[owner == j] * (sds[owner == j] ** 2 + (means[owner == j] - m) ** 2)).sum()
                               / mode_w[j])) for j, m in zip(keep, mode_means, strict=True)]
    means, sds, weights = np.array(mode_means), np.array(mode_sds), mode_w[keep]
    kept = list(range(len(keep)))
    skew = float(sps.skew(x))
    n_modes = len(kept)
    if n_modes > 1:
        profile = "modal"
    elif outlier_share > 0.02:
        profile = "outliers"
    elif abs(skew) > 1.0:
        profile = "skewed"
    else:
        profile = "ok"
    return ModeFit(
        n_modes=n_modes,
        means=[float(center + scale * means[i]) for i in kept],
        sds=[float(scale * sds[i]) for i in kept],
        weights=[float(weights[i]) for i in kept],
        bic=bics, noise_profile=profile, skewness=skew, outlier_share=outlier_share,
    )


def level_residuals(x: np.ndarray, window: int = 31) -> np.ndarray:
    """x minus its centred rolling median: a step or a drift in the level is not a second mode."""
    s = pd.Series(np.asarray(x, dtype=float))
    return (s - s.rolling(window, center=True, min_periods=1).median()).to_numpy()


def bimodality_coefficient(x: np.ndarray) -> float:
    """Sarle's bimodality coefficient: > 5/9 suggests more than one mode (a cheap screen before EM)."""
    n = len(x)
    if n < 10 or np.std(x) == 0:
        return 0.0
    g, k = sps.skew(x), sps.kurtosis(x)  # k: excess kurtosis
    return float((g**2 + 1) / (k + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))))


def demode(log_values: np.ndarray, *, seed: int = 0, screen: float = 0.5, window: int = 31) -> tuple[np.ndarray, int]:
    """Log values with each point's mode offset removed, and the number of modes found.

    On a multi-modal series (runs land in one of a few states), the pooled mean moves whenever the
    share of runs in each state moves, which is noise, not a change. Each point is assigned to the
    mode nearest its residual from the running level, and the offset of that mode from the heaviest
    one is subtracted: what remains compares like with like (the Talos mixture idea).
    """
    x = np.asarray(log_values, dtype=float)
    resid = level_residuals(x, window)
    # The centred median is one-sided within half a window of either end: there a fresh step looks
    # like a second mode (and would be removed as one). Screen and fit the modes on the interior.
    # A series too short for 30 interior points is left alone: there every point is near an end, and a
    # step in it was removed as a "mode" (a -13% step on a 31-point series vanished from the alerts).
    h = window // 2
    core = resid[h:len(resid) - h]
    if len(core) < 30 or bimodality_coefficient(core) < screen:
        return x, 1
    fit = fit_modes(core, seed=seed, max_points=600)
    if fit.n_modes < 2:
        return x, 1
    offsets = np.asarray(fit.means) - fit.means[int(np.argmax(fit.weights))]
    main = int(np.argmax(fit.weights))
    assign = np.argmin(np.abs(resid[:, None] - np.asarray(fit.means)[None, :]), axis=1)
    # Re-estimate the running level from main-mode points only, so a stretch where the other mode
    # happens to dominate cannot drag the level (and with it every assignment) over to that mode.
    for _ in range(2):
        main_pts = pd.Series(np.where(assign == main, x, np.nan))
        level = main_pts.rolling(window, center=True, min_periods=3).median().ffill().bfill()
        level = level.fillna(np.nanmedian(x)).to_numpy()
        assign = np.argmin(np.abs((x - level)[:, None] - offsets[None, :]), axis=1)
    return x - offsets[assign], fit.n_modes
