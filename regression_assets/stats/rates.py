"""Crash rates per 1,000 usage hours: Gamma–Poisson posteriors, rate ratios, over-dispersion, trends.

Model and priors (all vectorised over numpy arrays):

* Counts k over exposure E (in 1,000 usage hours) are Poisson(λ·E). With the Jeffreys prior
  p(λ) ∝ λ^(-1/2), i.e. Gamma(shape 0.5, rate 0), the posterior is Gamma(k + 0.5, E).
* Crash counts are over-dispersed: a window's rate varies (who is online, a crash loop on one machine).
  `pearson_dispersion` estimates φ = X²/(n-1) from the per-hour counts (floored at 1); the quasi-Poisson
  posterior then uses the *effective* counts k/φ over E/φ - same mean, φ× the variance. Without it,
  millions of usage hours make every 2% wobble "significant".
* The ratio of two independent Gamma posteriors is analytic: with a = k₁+½, b = k₂+½,
  B = λ₁E₁/(λ₁E₁+λ₂E₂) ~ Beta(a, b), so R = λ₁/λ₂ = (E₂/E₁)·B/(1-B); quantiles and P(R > c) are Beta
  quantiles and tails (no Monte Carlo needed).
* Multiplicity (`spike_slab_exceedance`): across the m (platform, measure) cells of one release the log
  ratio θ has prior mass 1 - 1/m on "no change" (θ = 0) and 1/m on N(0, slab_sd²): one regression per
  release expected a priori (Scott & Berger's multiplicity adjustment through the prior). The posterior
  P(R > c) under that prior is what alerts use; it shrinks a noisy cell's excursion towards "no change".
"""

import numpy as np
from scipy import special, stats

JEFFREYS_SHAPE = 0.5
PER_HOURS = 1000.0


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def rate_posterior(crashes, usage_hours, prior_shape: float = JEFFREYS_SHAPE, prior_rate: float = 0.0):
    """(shape, rate) of the Gamma posterior of crashes per 1,000 usage hours."""
    k, u = _arr(crashes), _arr(usage_hours)
    return k + prior_shape, u / PER_HOURS + prior_rate


def rate_summary(crashes, usage_hours, mass: float = 0.95, dispersion=1.0) -> dict[str, np.ndarray]:
    """Point rate (k / E), posterior median and central `mass` interval, per 1,000 usage hours.

    `dispersion` (φ ≥ 1) widens the interval the quasi-Poisson way (effective counts k/φ over E/φ).
    Zero usage gives NaN, never a rate without exposure.
    """
    k, u, phi = _arr(crashes), _arr(usage_hours), np.maximum(_arr(dispersion), 1.0)
    shape, rate = rate_posterior(k / phi, u / phi)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(rate > 0, 1.0 / rate, np.nan)
        lo_q, hi_q = (1 - mass) / 2, 1 - (1 - mass) / 2
        return {
            "rate": np.where(u > 0, k / (u / PER_HOURS), np.nan),
            "median": stats.gamma.ppf(0.5, shape, scale=scale),
            "lo": stats.gamma.ppf(lo_q, shape, scale=scale),
            "hi": stats.gamma.ppf(hi_q, shape, scale=scale),
        }


def log_rate_moments(crashes, usage_hours, dispersion=1.0) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and variance of log λ: ψ(a) − log b and ψ′(a) for Gamma(a, b)."""
    phi = np.maximum(_arr(dispersion), 1.0)
    shape, rate = rate_posterior(_arr(crashes) / phi, _arr(usage_hours) / phi)
    with np.errstate(divide="ignore"):
        return special.digamma(shape) - np.log(rate), special.polygamma(1, shape)


def pearson_dispersion(counts, usage_hours) -> float:
    """φ = Pearson X² / (n − 1) of counts around a common rate, floored at 1 (1 when n < 2 or no events)."""
    k, u = _arr(counts), _arr(usage_hours)
    keep = u > 0
    k, u = k[keep], u[keep]
    if len(k) < 2 or k.sum() <= 0:
        return 1.0
    expected = u * (k.sum() / u.sum())
    x2 = float(np.sum((k - expected) ** 2 / expected))
    return max(1.0, x2 / (len(k) - 1))


def trim_top_fraction(rates, fraction: float = 0.001) -> np.ndarray:
    """Keep-mask dropping the top `fraction` of windows by rate, as Mission Control does.

    Mission Control sorts a version's (rate, count, usage) points and keeps the first ceil(n·(1-f)), so
    fewer than 1/f windows are never trimmed.
    """
    r = _arr(rates)
    n = len(r)
    keep = np.ones(n, dtype=bool)
    n_keep = int(np.ceil(n * (1.0 - fraction) - 1e-9))
    if n_keep < n:
        order = np.argsort(r, kind="stable")
        keep[order[n_keep:]] = False
    return keep


def ratio_posterior(
    k_new, u_new, k_ref, u_ref, threshold: float = 1.2, mass: float = 0.8, phi_new=1.0, phi_ref=1.0
) -> dict[str, np.ndarray]:
    """Posterior of R = λ_new / λ_ref under independent Jeffreys Gamma posteriors (exact, via Beta).

    Returns the median, the central `mass` interval and P(R > threshold); all NaN where either side
    has no usage (or a negative or non-finite count): no exposure, no ratio (a zero-usage release would
    otherwise get P(R > threshold) = 1).
    """
    pn, pr = np.maximum(_arr(phi_new), 1.0), np.maximum(_arr(phi_ref), 1.0)
    kn, kr, un, ur = _arr(k_new), _arr(k_ref), _arr(u_new), _arr(u_ref)
    with np.errstate(invalid="ignore"):
        valid = (un > 0) & (ur > 0) & np.isfinite(un) & np.isfinite(ur) & (kn >= 0) & (kr >= 0) \
            & np.isfinite(kn) & np.isfinite(kr)
    a = np.where(valid, kn / pn, np.nan) + JEFFREYS_SHAPE
    b = np.where(valid, kr / pr, np.nan) + JEFFREYS_SHAPE
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(valid, (ur / pr) / (un / pn), np.nan)

        def ratio_at(q):
            x = stats.beta.ppf(q, a, b)
            return scale * x / (1.0 - x)

        t = threshold / scale
        p_gt = stats.beta.sf(t / (1.0 + t), a, b)
        return {
            "median": ratio_at(0.5),
            "lo": ratio_at((1 - mass) / 2),
            "hi": ratio_at(1 - (1 - mass) / 2),
            "p_gt": p_gt,
        }


def spike_slab_exceedance(
    log_ratio, var, threshold: float = 1.2, prior_slab: float = 0.05, slab_sd: float = 0.3
) -> dict[str, np.ndarray]:
    """P(R > threshold) when log R has prior (1-π)·δ₀ + π·N(0, slab_sd²) and y ~ N(log R, var).

    Returns `p_gt` and `p_change` (posterior weight of the slab). A conjugate normal update under the
    slab; the spike contributes nothing above any threshold > 1.
    """
    y, v = _arr(log_ratio), np.maximum(_arr(var), 1e-12)
    pi = np.clip(_arr(prior_slab), 1e-9, 1 - 1e-9)
    s2 = slab_sd**2
    log_slab = stats.norm.logpdf(y, 0.0, np.sqrt(v + s2)) + np.log(pi)
    log_spike = stats.norm.logpdf(y, 0.0, np.sqrt(v)) + np.log1p(-pi)
    w = special.expit(log_slab - log_spike)
    post_var = 1.0 / (1.0 / v + 1.0 / s2)
    post_mean = post_var * y / v
    p_slab = stats.norm.sf(np.log(threshold), post_mean, np.sqrt(post_var))
    out_nan = ~np.isfinite(y)
    return {
        "p_gt": np.where(out_nan, np.nan, w * p_slab),
        "p_change": np.where(out_nan, np.nan, w),
    }


def between_release_variance(log_means, log_vars) -> float:
    """DerSimonian–Laird τ² of log rates across releases (0 when they agree within their noise)."""
    y, v = _arr(log_means), _arr(log_vars)
    ok = np.isfinite(y) & np.isfinite(v) & (v > 0)
    y, v = y[ok], v[ok]
    if len(y) < 2:
        return 0.0
    w = 1.0 / v
    ybar = np.sum(w * y) / w.sum()
    q = float(np.sum(w * (y - ybar) ** 2))
    c = w.sum() - np.sum(w**2) / w.sum()
    return max(0.0, (q - (len(y) - 1)) / c) if c > 0 else 0.0


def trend_slope(log_means, log_vars, x=None) -> dict[str, float]:
    """Weighted least-squares slope of log rate on release index, with its posterior under a flat prior.

    Residual scatter beyond the stated variances inflates the slope's variance (factor X²/(n-2) ≥ 1).
    `p_worsening` = P(slope > 0): the chance each release crashes more than the one before.
    """
    y, v = _arr(log_means), _arr(log_vars)
    x = np.arange(len(y), dtype=float) if x is None else _arr(x)
    ok = np.isfinite(y) & np.isfinite(v) & (v > 0)
    y, v, x = y[ok], v[ok], x[ok]
    if len(y) < 2:
        return {"slope": np.nan, "slope_sd": np.nan, "p_worsening": np.nan, "n": len(y)}
    w = 1.0 / v
    xbar, ybar = np.sum(w * x) / w.sum(), np.sum(w * y) / w.sum()
    sxx = np.sum(w * (x - xbar) ** 2)
    slope = float(np.sum(w * (x - xbar) * (y - ybar)) / sxx)
    var = 1.0 / sxx
    if len(y) > 2:
        resid = y - (ybar + slope * (x - xbar))
        var *= max(1.0, float(np.sum(w * resid**2)) / (len(y) - 2))
    sd = float(np.sqrt(var))
    return {"slope": slope, "slope_sd": sd, "p_worsening": float(stats.norm.sf(0.0, slope, sd)), "n": len(y)}


def geometric_mean(values) -> float:
    v = _arr(values)
    v = v[np.isfinite(v) & (v > 0)]
    return float(np.exp(np.mean(np.log(v)))) if len(v) else float("nan")
