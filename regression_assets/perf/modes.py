"""series_modes: how many modes a series' window has (Gaussian mixture, K by BIC) and its noise profile."""

import json
from dataclasses import replace

import dagster as dg
import numpy as np
import pandas as pd

from regression_assets.partitions import perf_series_partitions
from regression_assets.perf.series import PERF_PARTITION_EXPR, cleaned_series
from regression_assets.perf.util import by_partition, concat_frames, for_each_partition
from regression_assets.stats.mixture import fit_modes, level_residuals, separated_modes_from_differences


def modes_row(points: pd.DataFrame, day: str, key: str) -> pd.DataFrame:
    use = points[~points["is_outlier"] & ~points["invalid"]].sort_values(["timestamp", "log_value"], kind="stable")
    x = use["log_value"].to_numpy()
    resid = level_residuals(x)
    fit = fit_modes(resid, outlier_share=float(points["is_outlier"].mean()), seed=0)
    # Two balanced modes show in the differences of successive runs, not in the residuals from a running
    # median (which flips between them): the modes the detector removes (`demode_modes`) are the ones shown.
    two = separated_modes_from_differences(x, seed=0, resid=resid)
    if two is not None:
        offsets, weights, _ = two
        order = np.argsort(offsets)
        fit = replace(fit, n_modes=2, means=[float(m) for m in offsets[order]],
                      weights=[float(w) for w in weights[order]], noise_profile="modal")
    return pd.DataFrame([{
        "partition_date": pd.Timestamp(day), "series_key": key, "n_points": len(use), "n_modes": fit.n_modes,
        # Modes as % offsets from the series' running level.
        "mode_offsets_pct": json.dumps([round(100.0 * float(np.expm1(m)), 3) for m in fit.means]),
        "mode_weights": json.dumps([round(w, 4) for w in fit.weights]),
        "noise_profile": fit.noise_profile, "skewness": fit.skewness, "outlier_share": fit.outlier_share,
    }])


@dg.asset(
    partitions_def=perf_series_partitions,
    group_name="perf",
    kinds={"scikitlearn", "pandas"},
    metadata={"partition_expr": PERF_PARTITION_EXPR},
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def series_modes(context: dg.AssetExecutionContext, cleaned_series: pd.DataFrame) -> pd.DataFrame:
    """Mode count, component means/weights and noise profile (skewed / outliers / modal / ok) of a window."""
    groups = by_partition(cleaned_series)

    def one(day: str, key: str) -> pd.DataFrame | None:
        pts = groups.get((pd.Timestamp(day), key))
        return None if pts is None or len(pts) < 10 else modes_row(pts, day, key)

    results, stats = for_each_partition(context, one)
    out = concat_frames(f for _, f in results)
    if len(out):
        stats["modal_series"] = int((out["n_modes"] > 1).sum())
        stats["profiles"] = dg.MetadataValue.json(out["noise_profile"].value_counts().to_dict())
    context.add_output_metadata(stats)
    return out


__all__ = ["series_modes", "cleaned_series"]
