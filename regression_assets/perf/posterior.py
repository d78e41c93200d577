"""spline_posterior: posterior draws of a series' daily level for every day of its window (PyMC + nutpie)."""

import dagster as dg
import numpy as np
import pandas as pd

from regression_assets.partitions import perf_series_partitions
from regression_assets.perf.series import cleaned_series
from regression_assets.perf.util import by_partition, for_each_partition
from regression_assets.stats.mixture import demode
from regression_assets.stats.spline import SplineFit, fit_spline, stable_seed

DIAGNOSTIC_COLUMNS = ["r_hat_max", "ess_bulk_min", "divergences", "calibration", "coverage_raw", "coverage",
                      "n_points", "n_days"]


# A fit with r_hat above this has not converged at all: its day raises no alert (`regression_alerts`),
# and the check `posterior_diagnostics` lists it (blocking the run only when such fits are many).
UNCONVERGED_R_HAT = 1.1


class SplinePosteriorConfig(dg.Config):
    window_days: int = 180
    min_days_with_data: int = 7
    chains: int = 2
    tune: int = 300
    draws: int = 1000
    keep_draws: int = 200


def draws_frame(fit: SplineFit) -> pd.DataFrame:
    """Wide float32 frame: one row per kept draw, one column per day (ISO date); diagnostics alongside."""
    frame = pd.DataFrame(fit.level_draws, columns=[d.strftime("%Y-%m-%d") for d in fit.days])
    for col in DIAGNOSTIC_COLUMNS:
        frame[col] = getattr(fit, col)
    return frame


def frame_to_draws(frame: pd.DataFrame) -> tuple[pd.DatetimeIndex, np.ndarray, dict]:
    day_cols = [c for c in frame.columns if c not in DIAGNOSTIC_COLUMNS]
    diag = {c: frame[c].iat[0] for c in DIAGNOSTIC_COLUMNS if c in frame.columns}
    return pd.DatetimeIndex(pd.to_datetime(day_cols)), frame[day_cols].to_numpy(dtype="float32"), diag


@dg.asset(
    partitions_def=perf_series_partitions,
    group_name="perf",
    kinds={"pymc", "parquet"},
    io_manager_key="draws_io_manager",
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="pymc",
)
def spline_posterior(context: dg.AssetExecutionContext, config: SplinePosteriorConfig,
                     cleaned_series: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Posterior draws (thinned, float32) of the daily level over the window, recalibrated to 90% coverage."""
    groups = by_partition(cleaned_series)
    diagnostics = []

    def one(day: str, key: str) -> pd.DataFrame | None:
        pts = groups.get((pd.Timestamp(day), key))
        if pts is None:
            return None
        # Ties (retriggers share a push time) broken by value: warehouse reads come in no fixed
        # order, and the noise scale and the mode fit depend on the order of the points.
        use = pts[~pts["is_outlier"] & ~pts["invalid"]].sort_values(["timestamp", "log_value"], kind="stable")
        if use["day"].nunique() < config.min_days_with_data:
            return None
        # The level of the main mode: points in another mode are moved by that mode's offset.
        level_values = np.exp(demode(use["log_value"].to_numpy())[0])
        fit = fit_spline(use["timestamp"].to_numpy(), level_values, pd.Timestamp(day),
                         window_days=config.window_days, chains=config.chains, tune=config.tune,
                         draws=config.draws, keep_draws=config.keep_draws, seed=stable_seed(key, day))
        diagnostics.append({"partition": f"{day}|{key}", **{c: getattr(fit, c) for c in DIAGNOSTIC_COLUMNS}})
        return draws_frame(fit)

    results, stats = for_each_partition(context, one)
    out = {k: v for k, v in results if v is not None}
    if diagnostics:
        diag = pd.DataFrame(diagnostics)
        stats.update({
            "fits": len(diag), "r_hat_max": float(diag["r_hat_max"].max()),
            "ess_bulk_min": float(diag["ess_bulk_min"].min()), "divergences": int(diag["divergences"].sum()),
            "coverage_mean": float(diag["coverage"].mean()),
            "fits_r_hat_over_1_01": int((diag["r_hat_max"] > 1.01).sum()),
        })
        if len(diag) <= 30:
            stats["diagnostics"] = dg.MetadataValue.md(diag.round(3).to_markdown(index=False))
    context.add_output_metadata(stats)
    return out


__all__ = ["spline_posterior", "cleaned_series"]
