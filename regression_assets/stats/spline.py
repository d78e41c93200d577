"""A Bayesian spline of a series' daily level (the slow_regressions model), fitted with nutpie.

The model is compiled once per process and reused with each series' data swapped in
(`CompiledModel.with_data`): ~0.3 s per fit instead of ~13 s for a fresh `pm.sample`.
"""

import hashlib
import logging
import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.interpolate import BSpline

KNOT_SPACING_DAYS = 14  # about two knots per ~4-week release cycle
DEGREE = 3
_LOG = logging.getLogger(__name__)


@dataclass
class SplineFit:
    days: pd.DatetimeIndex  # every day of the window, oldest first; the last is the fit date
    level_draws: np.ndarray  # (draws, days) float32: the level in the series' own units; NaN before its data
    calibration: float  # factor applied to level spreads so ~90% of points fall in the 90% interval
    coverage_raw: float  # share of points inside the model's own 90% predictive interval
    coverage: float  # the same after recalibration
    r_hat_max: float
    ess_bulk_min: float
    divergences: int
    n_points: int
    n_days: int  # days with data (the model's observations)

    def summary(self) -> pd.DataFrame:
        q = np.nanquantile(self.level_draws, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
        return pd.DataFrame({"day": self.days, "q05": q[0], "q25": q[1], "median": q[2], "q75": q[3],
                             "q95": q[4]})


NOISE_FLOOR_LOG = 0.002  # the least noise assumed in a day's level, in log units (0.2%)


def basis(window_days: int, spacing: int = KNOT_SPACING_DAYS) -> BSpline:
    """Cubic B-spline basis over day indices 0..window_days-1 with interior knots every `spacing` days."""
    n_inner = max(int(np.ceil((window_days - 1) / spacing)), 1)
    inner = np.linspace(0.0, window_days - 1.0, n_inner + 1)
    knots = np.r_[[inner[0]] * DEGREE, inner, [inner[-1]] * DEGREE]
    n_basis = len(knots) - DEGREE - 1
    return BSpline(knots, np.eye(n_basis), DEGREE, extrapolate=False)


def design(spl: BSpline, day_index: np.ndarray) -> np.ndarray:
    out = spl(np.asarray(day_index, dtype=float))
    return np.nan_to_num(out).astype("float64")


def build_model(n_basis: int, n_obs: int = 10):
    """The PyMC model: a Student-t random walk of spline coefficients, Student-t noise, on daily log medians."""
    import pymc as pm

    with pm.Model() as model:
        b_obs = pm.Data("b_obs", np.zeros((n_obs, n_basis)))
        y_obs = pm.Data("y_obs", np.zeros(n_obs))
        # A day's median of n runs is ~1/sqrt(n) as noisy as one run.
        obs_scale = pm.Data("obs_scale", np.ones(n_obs))
        # A random walk with heavy-tailed (Student-t, nu = 2) steps and a fixed scale: small wiggles are
        # shrunk, a real step between two knots is allowed. A hierarchical scale (tau ~ HalfNormal)
        # sent flat series into the tau → 0 funnel (divergences, r_hat > 1.05).
        coef = pm.RandomWalk("coef", innovation_dist=pm.StudentT.dist(nu=2.0, sigma=0.3),
                             init_dist=pm.Normal.dist(0.0, 3.0), steps=n_basis - 1)
        sigma = pm.HalfNormal("sigma", 1.5)
        # A noise floor (standardized units, set per fit): a series that repeats one value (quantized
        # timings, a stuck test) would otherwise pull sigma to 0, a funnel the sampler cannot mix in
        # (a constant Talos series gave r_hat 1.2-2.1 and fits of minutes).
        sigma_floor = pm.Data("sigma_floor", 0.1)
        # nu at least 4: heavy tails for the odd stray point, but not so heavy that "the level
        # stepped" and "these points are outliers" become two modes of the posterior (a chain stuck
        # in each gave r_hat 1.4-1.8 days after a real step).
        nu = pm.Deterministic("nu", 4.0 + pm.Gamma("nu_excess", 2.0, 0.1))
        mu = pm.math.dot(b_obs, coef)
        noise = pm.math.sqrt(sigma**2 + sigma_floor**2)
        pm.StudentT("y", nu=nu, mu=mu, sigma=noise * obs_scale, observed=y_obs, shape=mu.shape)
    return model


_COMPILED: dict[int, object] = {}
_COMPILE_LOCK = threading.Lock()


def compiled_model(n_basis: int):
    """One compiled model per basis size per process."""
    with _COMPILE_LOCK:
        if n_basis not in _COMPILED:
            import nutpie

            _LOG.info("compiling the spline model for %d basis functions (once per process)", n_basis)
            _COMPILED[n_basis] = nutpie.compile_pymc_model(build_model(n_basis))
        return _COMPILED[n_basis]


def stable_seed(*parts: object) -> int:
    """A seed derived from names (series key, date): the same inputs always give the same draws."""
    return int.from_bytes(hashlib.sha256("\x00".join(map(str, parts)).encode()).digest()[:4], "little")


def _posterior_arrays(raw, shapes: dict[str, tuple]) -> dict[str, np.ndarray]:
    """(chains, draws, *shape) arrays of the named variables, and `diverging`, without warm-up draws."""
    import pyarrow as pa

    def values(col) -> np.ndarray:
        col = pa.array(col)  # nutpie's columns are Arrow arrays of another library (the C data interface)
        col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        col = col.flatten() if hasattr(col, "flatten") else col
        return col.to_numpy(zero_copy_only=False)

    draw_batches, stat_batches = raw.get_arrow_trace()
    out: dict[str, list] = {k: [] for k in (*shapes, "diverging")}
    for draws, stats in zip(draw_batches, stat_batches, strict=True):
        keep = ~values(stats.column("tuning")).astype(bool)
        for name, shape in shapes.items():
            out[name].append(values(draws.column(name)).reshape(draws.num_rows, *shape)[keep])
        out["diverging"].append(values(stats.column("diverging")).astype(bool)[keep])
    return {k: np.stack(v) for k, v in out.items()}


@dataclass(frozen=True)
class ModelInputs:
    """What the model sees of one window: daily medians, standardized, and how to undo that."""

    days: pd.DatetimeIndex  # the window's days
    obs_day: np.ndarray  # day index (float) of each observation
    y: np.ndarray  # the day's median log value, standardized
    obs_scale: np.ndarray  # 1 / sqrt(runs that day)
    center: float  # log value subtracted ...
    scale: float  # ... and divided by
    sigma_floor: float  # the least noise, standardized
    spl: BSpline
    n_points: int

    @property
    def n_basis(self) -> int:
        return self.spl.c.shape[1]

    def data(self) -> dict[str, np.ndarray]:
        """The model's `pm.Data` values."""
        return {"b_obs": design(self.spl, self.obs_day), "y_obs": self.y, "obs_scale": self.obs_scale,
                "sigma_floor": np.asarray(self.sigma_floor)}


def model_inputs(timestamps: np.ndarray, values: np.ndarray, end_day: pd.Timestamp,
                 window_days: int = 180) -> ModelInputs:
    """The window's points as the model sees them (positive values, outliers already removed)."""
    end_day = pd.Timestamp(end_day).normalize()
    days = pd.date_range(end=end_day, periods=window_days, freq="D")
    ts = pd.to_datetime(timestamps)
    v = np.asarray(values, dtype=float)
    keep = (ts >= days[0]) & (ts < end_day + pd.Timedelta(days=1)) & np.isfinite(v) & (v > 0)
    ts, v = ts[keep], v[keep]
    if len(v) < 5:
        raise ValueError(f"only {len(v)} usable points in the {window_days}-day window ending {end_day.date()}")
    day_idx = ((ts.normalize() - days[0]) // pd.Timedelta(days=1)).to_numpy(dtype=int)
    logv = np.log(v)
    center = float(np.median(logv))
    # Noise scale from successive differences: robust to the steps we are looking for.
    d = np.diff(logv[np.argsort(ts.to_numpy(), kind="stable")])
    scale = float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0)) if len(d) > 2 else 0.0
    # Floors: a tenth of the overall spread, and 0.1% of the level (below any change worth
    # reporting) for a series that barely moves at all.
    scale = max(scale, float(np.std(logv)) * 0.1, 1e-3)
    # The model sees one observation per day (the median of that day's runs): the cost of a fit
    # grows with observations, and the quantity of interest is the daily level.
    daily = pd.DataFrame({"day": day_idx, "y": (logv - center) / scale}).groupby("day")["y"].agg(["median", "size"])
    obs_day = daily.index.to_numpy(dtype=float)
    y = daily["median"].to_numpy()
    obs_scale = 1.0 / np.sqrt(daily["size"].to_numpy(dtype=float))

    spl = basis(window_days)
    # The noise floor: 0.2% of the level (a tenth of the smallest change worth reporting), at least a
    # tenth of the scale. A series of a few repeated values (quantized timings) has almost no point
    # noise, and a step of 20+ noise units between knots left the sampler between modes (r_hat 1.8).
    sigma_floor = max(0.1, NOISE_FLOOR_LOG / scale)
    return ModelInputs(days=days, obs_day=obs_day, y=y, obs_scale=obs_scale, center=center, scale=scale,
                       sigma_floor=sigma_floor, spl=spl, n_points=len(v))


def fit_spline(timestamps: np.ndarray, values: np.ndarray, end_day: pd.Timestamp, *, window_days: int = 180,
               chains: int = 2, tune: int = 300, draws: int = 1000, keep_draws: int = 200,
               seed: int = 0) -> SplineFit:
    """Fit the level of `values` (positive, outliers already removed) over the window ending `end_day`."""
    import arviz as az
    import nutpie

    inputs = model_inputs(timestamps, values, end_day, window_days)
    days, obs_day, y, obs_scale, spl = inputs.days, inputs.obs_day, inputs.y, inputs.obs_scale, inputs.spl
    n_basis, center, scale, sigma_floor = inputs.n_basis, inputs.center, inputs.scale, inputs.sigma_floor
    cm = compiled_model(n_basis).with_data(**inputs.data())
    # maxdepth 7 (<= 128 leapfrog steps a draw): on a young series the coefficients before its first
    # day are prior-only heavy-tailed draws, and unbounded trees there took minutes per fit.
    # The raw Arrow trace, read directly: building a full ArviZ InferenceData from it costs about as
    # much as the sampling itself at this size.
    # The low-rank mass matrix adapts to the coefficients' correlations (neighbouring spline
    # coefficients trade off): ~40% fewer leapfrog steps a draw, so 1000 draws after 300 tuning
    # steps cost about what 500/500 did, and 91% of fits reach r_hat <= 1.01 instead of 44%
    # (bench/SCALE.md).
    raw = nutpie.sample(cm, chains=chains, tune=tune, draws=draws, seed=seed, progress_bar=False, cores=1,
                        return_raw_trace=True, maxdepth=7, low_rank_modified_mass_matrix=True)
    post = _posterior_arrays(raw, {"coef": (n_basis,), "sigma": (), "nu": ()})
    coef = post["coef"].reshape(-1, n_basis)
    sigma = post["sigma"].reshape(-1)
    nu = post["nu"].reshape(-1)
    divergences = int(post["diverging"].sum())
    # Diagnose what the data inform: basis functions with no observed day under them (days before a
    # young series' first point) are prior draws of a heavy-tailed walk, used for nothing.
    supported = design(spl, obs_day).sum(axis=0) > 0
    dataset = az.convert_to_dataset({"coef": post["coef"][..., supported], "sigma": post["sigma"], "nu": post["nu"]})
    r_hat = float(max(np.nanmax(v.values) for v in az.rhat(dataset).data_vars.values()))
    ess_bulk = float(min(np.nanmin(v.values) for v in az.ess(dataset, method="bulk").data_vars.values()))

    rng = np.random.default_rng(seed)
    level_std = coef @ design(spl, np.arange(window_days)).T  # (draws, days), standardized units
    # Calibration: how wide must the predictive 90% interval be for 90% of the days to fall in it?
    at_obs = level_std[:, obs_day.astype(int)]
    noise_sd = np.sqrt(sigma**2 + sigma_floor**2)  # as in the likelihood
    noise = rng.standard_t(nu[:, None], size=at_obs.shape) * noise_sd[:, None] * obs_scale[None, :]
    lo, med, hi = np.quantile(at_obs + noise, [0.05, 0.5, 0.95], axis=0)
    coverage_raw = float(np.mean((y >= lo) & (y <= hi)))
    half = np.where(y >= med, hi - med, med - lo)
    ratio = np.abs(y - med) / np.maximum(half, 1e-12)
    calibration = float(np.clip(np.quantile(ratio, 0.90), 0.5, 5.0))
    coverage = float(np.mean(ratio <= calibration))
    # Widen (never narrow) the level's spread by the same factor: an over-confident noise model
    # means an over-confident level too, and a false alarm costs more than a late one.
    widen = max(calibration, 1.0)
    level_med = np.median(level_std, axis=0, keepdims=True)
    level_std = level_med + widen * (level_std - level_med)

    pick = rng.choice(level_std.shape[0], size=min(keep_draws, level_std.shape[0]), replace=False)
    level = np.exp(center + scale * level_std[np.sort(pick)]).astype("float32")
    level[:, : int(obs_day.min())] = np.nan  # no level before the series' first day in the window
    return SplineFit(
        days=days, level_draws=level, calibration=calibration, coverage_raw=coverage_raw, coverage=coverage,
        r_hat_max=r_hat, ess_bulk_min=ess_bulk,
        divergences=divergences, n_points=inputs.n_points, n_days=len(y),
    )
