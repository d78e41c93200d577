"""Shaping a series: order points, take logs, flag outliers, aggregate by day."""

import numpy as np
import pandas as pd

from regression_assets.stats.outliers import flag_outliers, robust_z


def clean_points(timestamps: np.ndarray, values: np.ndarray, *, mad_threshold: float = 5.0,
                 window: int = 15) -> pd.DataFrame:
    """Points sorted by time with `log_value`, `robust_z` and an `is_outlier` flag (nothing dropped).

    Non-finite or non-positive values are flagged `invalid` and excluded from the outlier scan.
    """
    df = pd.DataFrame({"timestamp": pd.to_datetime(timestamps), "value": np.asarray(values, dtype=float)})
    df = df.sort_values("timestamp", kind="stable").reset_index(drop=True)
    df["invalid"] = ~np.isfinite(df["value"]) | (df["value"] <= 0)
    df["log_value"] = np.log(df["value"].where(~df["invalid"]))
    df["robust_z"] = np.nan
    df["is_outlier"] = False
    ok = ~df["invalid"]
    if ok.any():
        z = robust_z(df.loc[ok, "log_value"].to_numpy(), window)
        df.loc[ok, "robust_z"] = z
        df.loc[ok, "is_outlier"] = np.abs(z) > mad_threshold
    return df


def daily_aggregate(points: pd.DataFrame) -> pd.DataFrame:
    """Per day: point count, outliers, median / mean / sd of the non-outlier values."""
    use = points[~points["is_outlier"] & ~points["invalid"]]
    day = use["timestamp"].dt.floor("D")
    agg = use.groupby(day)["value"].agg(n_points="size", median="median", mean="mean", sd="std")
    n_out = points[points["is_outlier"]].groupby(points["timestamp"].dt.floor("D")).size()
    agg["n_outliers"] = n_out.reindex(agg.index).fillna(0).astype(int)
    agg.index.name = "day"
    return agg.reset_index()


__all__ = ["clean_points", "daily_aggregate", "flag_outliers"]
