"""How many modes a series has: Gaussian mixtures (EM, scikit-learn) with K chosen by BIC."""

from dataclasses import dataclass, field, replace

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


# Fewer interior points than this (half a window in from either end) and a series is left alone: with
# every point near an end a fresh step looked like a second mode (a -13% step on a 31-point series
# vanished from the alerts), and on a few dozen points two balanced modes fit as three or four.
MIN_INTERIOR = 60
MIN_DIFFERENCES = 40  # fewer points than this and the differences' three peaks are not looked for
RESOLVED_MODES = 2.5  # modes closer than this many of their largest sds are one (a skewed core and tail)
SEPARATED_MODES = 3.0  # modes this many (of their largest) sds apart are told apart point by point
BALANCED_MODES = 0.15  # ... and each holding this share of the runs can hold a stretch's majority


def _three_peak_fit(d: np.ndarray, iters: int = 15) -> tuple[float, float, float]:
    """(peak distance / sd, share in the outer peaks, sd) of d fitted as peaks at -a, 0 and +a with one sd,
    plus a flat background that takes the odd wild difference (an outlier left in moves two).

    EM on this three-parameter model costs a few milliseconds, where the mixture fit of `fit_modes`
    costs 25: it screens which series that fit is run on. Two starts (a at the 80th and the 95th
    percentile of |d|; the likelier fit is kept): a light second mode's peaks sit far out.
    """
    d = d[np.isfinite(d)]
    scale = float(np.median(np.abs(d)))
    if len(d) < 20 or scale <= 0:
        return 0.0, 0.0, 0.0
    best = (-np.inf, 0.0, 0.0, 0.0)
    background = 1.0 / float(np.ptp(d))
    for start in np.quantile(np.abs(d), [0.8, 0.95]):
        a, v, q, e = float(start), (0.5 * scale) ** 2, 0.3, 0.05
        for _ in range(iters):
            c = (1.0 - e) / np.sqrt(2.0 * np.pi * v)
            l0 = (1.0 - q) * c * np.exp(-d**2 / (2.0 * v))
            lp = 0.5 * q * c * np.exp(-(d - a) ** 2 / (2.0 * v))
            lm = 0.5 * q * c * np.exp(-(d + a) ** 2 / (2.0 * v))
            total = l0 + lp + lm + e * background + 1e-300
            r0, rp, rm = l0 / total, lp / total, lm / total
            e = 1.0 - float(np.mean(r0 + rp + rm))
            inner, outer = float(r0.sum()), float((rp + rm).sum())
            q = outer / max(inner + outer, 1e-12)
            a = max(float(((rp - rm) * d).sum()) / max(outer, 1e-12), 0.0)
            v = max(float((r0 * d**2 + rp * (d - a) ** 2 + rm * (d + a) ** 2).sum()) / max(inner + outer, 1e-12), 1e-18)
        loglik = float(np.log(total).sum())
        if loglik > best[0]:
            best = (loglik, a / np.sqrt(v), q, np.sqrt(v))
    return best[1], best[2], best[3]


SCREEN_SEPARATION = 3.0  # the screen: outer peaks this many sds out ...
SCREEN_SHARE = 0.15  # ... holding this share of the differences (a mode with 8 % of the runs)


def modes_from_differences(x: np.ndarray, *, seed: int = 0, max_points: int = 1000,
                           resid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Two modes found in the differences of successive values: (offsets, weights, within-mode sd), or None.

    Successive runs of a two-mode series differ by the mode gap d (one in each mode) or by about 0
    (both in one mode): their differences are symmetric about 0, with peaks at -d, 0 and +d, whatever the
    level does (a step moves one difference), and skewed or heavy-tailed noise gives one peak (the
    difference of two runs of it is symmetric and unimodal). `resid`: x's `level_residuals`, if the
    caller has them.
    """
    dx = np.diff(np.asarray(x, dtype=float))
    if len(dx) < 20:
        return None
    if len(dx) > max_points:
        dx_screen = np.random.default_rng(seed).choice(dx, max_points, replace=False)
    else:
        dx_screen = dx
    separation, share, sd_screen = _three_peak_fit(dx_screen)
    if separation < SCREEN_SEPARATION or share < SCREEN_SHARE:
        return None
    fit = fit_modes(dx, seed=seed, max_points=max_points)
    if fit.n_modes != 3:
        return None
    m, w = np.asarray(fit.means), np.asarray(fit.weights)
    gap = (m[2] - m[0]) / 2.0
    if gap <= 0 or abs(m[1]) > 0.2 * gap or abs(m[2] + m[0]) > 0.2 * gap or min(w[0], w[2]) < 0.5 * max(w[0], w[2]):
        return None
    q = float(w[0] + w[2]) / 2.0  # P(two successive runs in different modes) / 2 = p (1 - p)
    p = (1.0 - np.sqrt(max(1.0 - 4.0 * q, 0.0))) / 2.0  # the lighter mode's share
    # the within-mode sd from the screen's fit, whose one sd is taken from all three peaks: the mixture
    # fit's centre sometimes merges a wide component into it (1.3 % where the runs' noise is 0.3 %, on
    # some mornings of check-0260) and the modes would not look separated
    spread = float(sd_screen) / np.sqrt(2.0)
    # which side the lighter mode is on: residuals from the running level sit at +gap (a light upper
    # mode) more often than at -gap
    if resid is None:
        resid = level_residuals(np.asarray(x, dtype=float))
    up, down = np.mean(resid > gap / 2.0), np.mean(resid < -gap / 2.0)
    offsets = np.array([0.0, gap if up >= down else -gap])
    return offsets, np.array([1.0 - p, p]), spread


def separated_modes_from_differences(x: np.ndarray, *, seed: int = 0, resid: np.ndarray | None = None
                                     ) -> tuple[np.ndarray, np.ndarray, float] | None:
    """`modes_from_differences` where `demode_modes` takes them: at least MIN_DIFFERENCES runs, modes
    SEPARATED_MODES sds apart and each with BALANCED_MODES of the runs (the rest go the residuals' way)."""
    if len(x) < MIN_DIFFERENCES:
        return None
    found = modes_from_differences(x, seed=seed, resid=resid)
    if found is None or abs(found[0][1]) < SEPARATED_MODES * found[2] or min(found[1]) < BALANCED_MODES:
        return None
    return found


def demode(log_values: np.ndarray, *, seed: int = 0, screen: float = 0.5, window: int = 31) -> tuple[np.ndarray, int]:
    """Log values with each point's mode offset removed, and the number of modes found (`demode_modes`)."""
    out, offsets, _ = demode_modes(log_values, seed=seed, screen=screen, window=window)
    return out, len(offsets)


def demode_modes(log_values: np.ndarray, *, seed: int = 0, screen: float = 0.5,
                 window: int = 31) -> tuple[np.ndarray, np.ndarray, float]:
    """Log values with each point's mode offset removed; the modes' offsets from the heaviest one (one
    per mode: [0.0] for a series left alone) and their largest sd (0.0 then).

    On a multi-modal series (runs land in one of a few states), the pooled mean moves whenever the
    share of runs in each state moves, which is noise, not a change. Each point is assigned to the
    mode nearest its residual from the running level, and the offset of that mode from the heaviest
    one is subtracted: what remains compares like with like (the Talos mixture idea).

    Two modes are looked for first in the differences of successive runs (`modes_from_differences`),
    then, for what that does not find (three modes, a light one), in the residuals from the running
    median, screened by their bimodality coefficient.
    """
    x = np.asarray(log_values, dtype=float)
    resid = level_residuals(x, window)
    # Residuals from a running median miss two balanced modes: the median flips between them, the
    # residuals come out three-peaked and under the bimodality screen (the screen passed 11 % of the
    # generated two-mode series, bench/EXPERIMENTS.md, session 19). Their differences do not, and a
    # fresh step moves one difference, not a stretch of them: they need no interior.
    found = separated_modes_from_differences(x, seed=seed, resid=resid)
    if found is not None:
        offsets, weights, spread = found
        assign = _assign_by_level(x, offsets, weights, spread, window)
        return x - offsets[assign], offsets, float(spread)
    # Not found, or a light mode, or modes not far apart: the residuals' way. The centred median is
    # one-sided within half a window of either end: there a fresh step looks like a second mode (and
    # would be removed as one). Screen and fit the modes on the interior.
    h = window // 2
    core = resid[h:len(resid) - h]
    if len(core) < MIN_INTERIOR or bimodality_coefficient(core) < screen:
        return x, np.zeros(1), 0.0
    fit = _drop_mirror_modes(fit_modes(core, seed=seed, max_points=600))
    if fit.n_modes < 2:
        return x, np.zeros(1), 0.0
    main = int(np.argmax(fit.weights))
    weights = np.asarray(fit.weights)
    offsets = np.asarray(fit.means) - fit.means[main]
    spread = max(fit.sds)
    gap = float(np.diff(np.sort(offsets)).min())
    if gap < RESOLVED_MODES * spread:
        return x, np.zeros(1), 0.0
    if gap >= SEPARATED_MODES * spread and min(weights) >= BALANCED_MODES:
        assign = _assign_by_level(x, offsets, weights, spread, window)
    else:
        # A light second mode (a skewed tail fitted as one, say) never holds a stretch's majority,
        # and it casts too few votes to tell the level from its shifted copy: the running median of
        # the points taken to be in the main mode is the steadier level there.
        assign = np.argmin(np.abs(resid[:, None] - np.asarray(fit.means)[None, :]), axis=1)
        for _ in range(2):
            main_pts = pd.Series(np.where(assign == main, x, np.nan))
            level = main_pts.rolling(window, center=True, min_periods=3).median().ffill().bfill()
            level = level.fillna(np.nanmedian(x)).to_numpy()
            assign = np.argmin(np.abs((x - level)[:, None] - offsets[None, :]), axis=1)
    return x - offsets[assign], offsets, float(spread)


def _assign_by_level(x: np.ndarray, offsets: np.ndarray, weights: np.ndarray, spread: float,
                     window: int) -> np.ndarray:
    """Each point's mode, for modes far apart that each hold a good share of the runs.

    Either mode can hold the majority of a stretch, so the level is the one that explains most
    points, whichever mode they are in (`mode_level`). A point counts for a level within about one
    mode's spread of it, and well under half the gap between modes (so that one point never votes
    for two levels).
    """
    gap = float(np.diff(np.sort(offsets)).min())
    bandwidth = min(1.5 * spread, 0.4 * gap)
    level = mode_level(x, offsets, window, bandwidth=bandwidth, weights=weights)
    return np.argmin(np.abs((x - level)[:, None] - offsets[None, :]), axis=1)


def _drop_mirror_modes(fit: ModeFit) -> ModeFit:
    """Drop a light mode that mirrors a heavier one across the main mode (offsets -d and +d).

    Residuals from a running median have that shape when the median flips to the other mode over a
    stretch where that mode holds the majority: the main mode's points there sit at -d. A real third
    mode at -d would not be several times lighter than its mirror.
    """
    if fit.n_modes < 3:
        return fit
    means, sds, w = map(np.asarray, (fit.means, fit.sds, fit.weights))
    main = int(np.argmax(w))
    off = means - means[main]
    keep = np.ones(len(w), bool)
    for j in range(len(w)):
        if j == main:
            continue
        keep[j] = not any(abs(off[j] + off[k]) <= 2.0 * max(sds[j], sds[k]) and w[j] < 0.5 * w[k]
                          for k in range(len(w)) if k not in (j, main))
    if keep.all():
        return fit
    return replace(fit, n_modes=int(keep.sum()), means=list(means[keep]), sds=list(sds[keep]),
                   weights=list(w[keep] / w[keep].sum()))


def mode_level(x: np.ndarray, offsets: np.ndarray, window: int, *, bandwidth: float,
               weights: np.ndarray | None = None) -> np.ndarray:
    """The running level of a multi-modal series: the level that most points in a centred window sit
    at, give or take one of the mode offsets.

    Each point votes for a level at x - offset for every mode; the true level gets a vote from every
    point, a wrong one (shifted by a mode gap) only from the points of some modes. So the answer does
    not move when one mode happens to dominate a stretch (a rolling median of the points, or of the
    points taken to be in the main mode, follows whichever mode holds the majority there). Ties (a
    window with no point in some mode: the level and its shifted copy get the same votes) go to the
    level whose votes come from the heavier modes (`weights`, one per offset).
    """
    x = np.asarray(x, dtype=float)
    offsets = np.asarray(offsets, dtype=float)
    w = np.ones(len(offsets)) if weights is None else np.asarray(weights, dtype=float)
    n, h = len(x), window // 2
    cand = np.pad(x[:, None] - offsets[None, :], ((h, h), (0, 0)), constant_values=np.nan)
    win = np.lib.stride_tricks.sliding_window_view(cand, window, axis=0).reshape(n, -1)
    wts = np.broadcast_to(np.repeat(w, window)[None, :], win.shape)
    order = np.argsort(win, axis=1)  # NaNs last
    win = np.take_along_axis(win, order, axis=1)
    valid = ~np.isnan(win)
    wts = np.where(valid, np.take_along_axis(wts, order, axis=1), 0.0)
    # Count each candidate's neighbours within the bandwidth in one sorted pass over all windows:
    # window i is shifted by i * span, so no two windows' candidates are ever within reach.
    span = float(np.nanmax(win) - np.nanmin(win)) + 4.0 * bandwidth + 1.0
    rows = np.arange(n)[:, None] * span
    keys = (np.where(valid, win, np.nanmax(win) + 2.0 * bandwidth + 0.5) + rows).ravel()
    lo = np.searchsorted(keys, keys - bandwidth, side="left")
    hi = np.searchsorted(keys, keys + bandwidth, side="right")
    cw = np.r_[0.0, np.cumsum(wts.ravel())]
    # the weighted count is under 1 per window (weights sum to at most 1 per point, scaled by 1/window):
    # it only ranks candidates with the same count of votes
    score = (hi - lo) + (cw[hi] - cw[lo]) / (window * w.sum() + 1.0)
    best = np.argmax(np.where(valid, score.reshape(win.shape), -1.0), axis=1)
    # the level: the mean of the candidates within the bandwidth of the best-supported one
    centre = win[np.arange(n), best] + rows[:, 0]
    lo = np.searchsorted(keys, centre - bandwidth, side="left")
    hi = np.searchsorted(keys, centre + bandwidth, side="right")
    csum = np.r_[0.0, np.cumsum(np.where(valid, win, 0.0).ravel())]
    return (csum[hi] - csum[lo]) / (hi - lo)
