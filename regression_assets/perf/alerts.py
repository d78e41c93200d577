"""regression_alerts: for each date × series, P(worse) and the % change vs 7 / 14 days and previous versions."""

import dagster as dg
import pandas as pd

from regression_assets.io_managers import split_multi_key
from regression_assets.partitions import perf_series_partitions
from regression_assets.perf.modes import series_modes
from regression_assets.perf.posterior import UNCONVERGED_R_HAT, frame_to_draws, spline_posterior
from regression_assets.perf.series import PERF_PARTITION_EXPR, cleaned_series
from regression_assets.perf.util import by_partition, concat_frames, for_each_partition
from regression_assets.report.metadata import alert_partition_metadata
from regression_assets.sources.base import PerfSource
from regression_assets.stats.alerts import AlertRule, evaluate_day


class RegressionAlertsConfig(dg.Config):
    p_threshold: float = 0.8
    min_change_pct: float = 2.0


@dg.asset(group_name="perf", kinds={"python", "pandas"},
          retry_policy=dg.RetryPolicy(max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL))
def release_calendar(perf_source: PerfSource) -> pd.DataFrame:
    """Release days of each version (the sample's calendar locally, buildhub in BigQuery)."""
    fetch = getattr(perf_source, "fetch_release_calendar", None)
    cal = fetch() if fetch else pd.DataFrame(columns=["channel", "version", "release_date"])
    return cal.assign(version=cal["version"].astype(str), release_date=pd.to_datetime(cal["release_date"]))


@dg.asset(
    partitions_def=perf_series_partitions,
    group_name="perf",
    kinds={"python", "pandas"},
    metadata={"partition_expr": PERF_PARTITION_EXPR},
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def regression_alerts(context: dg.AssetExecutionContext, config: RegressionAlertsConfig,
                      cleaned_series: pd.DataFrame, series_modes: pd.DataFrame,
                      spline_posterior: dict[str, pd.DataFrame], release_calendar: pd.DataFrame) -> pd.DataFrame:
    """Alerts of the day: P(worse) and % change (median, 80% interval) per comparison, located at the change."""
    rule = AlertRule(p_threshold=config.p_threshold, min_change_pct=config.min_change_pct)
    groups = by_partition(cleaned_series)
    modes = by_partition(series_modes)
    last_day = max(split_multi_key(k)[0] for k in context.partition_keys)

    def one(day: str, key: str) -> pd.DataFrame | None:
        frame = spline_posterior.get(f"{day}|{key}")
        pts = groups.get((pd.Timestamp(day), key))
        if frame is None or pts is None:
            return None
        days, draws, diag = frame_to_draws(frame)
        lower_is_better = bool(pts["lower_is_better"].iat[0])
        rows = evaluate_day(key, pts, days, draws, pd.Timestamp(day), release_calendar, lower_is_better, rule)
        # Every partition gets its summary; the plot costs ~0.3 s to draw, so a backfill draws it for
        # the days that alert and its last day (a single-partition run always draws it).
        if len(rows):
            context.add_asset_metadata(
                alert_partition_metadata(pts, days, draws, rows, modes.get((pd.Timestamp(day), key)),
                                         with_plot=bool(rows["is_alert"].any()) or day == last_day),
                partition_key=dg.MultiPartitionKey({"date": day, "series": key}))
        if rows.empty:
            return None
        r_hat = float(diag.get("r_hat_max", float("nan")))
        if not r_hat <= UNCONVERGED_R_HAT:  # a fit that did not converge says nothing: no alert from it
            withheld.append(f"{day}|{key}")
            rows = rows.assign(is_alert=False)
        return rows.assign(partition_date=pd.Timestamp(day), series_key=key, suite=str(pts["suite"].iat[0]),
                           platform=str(pts["platform"].iat[0]), lower_is_better=lower_is_better,
                           r_hat_max=float(diag.get("r_hat_max", float("nan"))),
                           divergences=int(diag.get("divergences", 0)))

    withheld: list[str] = []
    results, stats = for_each_partition(context, one)
    out = concat_frames(f for _, f in results)
    stats["withheld_unconverged"] = len(withheld)
    if withheld:
        stats["withheld_partitions"] = dg.MetadataValue.json(withheld[:50])
    stats["alert_rows"] = int(out["is_alert"].sum()) if len(out) else 0
    stats["alerts"] = int(out.loc[out["is_alert"], "alert_id"].nunique()) if len(out) else 0
    if len(out) and out["is_alert"].any() and len(context.partition_keys) <= 31:
        show = out[out["is_alert"]][["partition_date", "suite", "platform", "reference", "direction",
                                     "median_pct", "lo80_pct", "hi80_pct", "p_worse"]].round(3)
        stats["alerts_table"] = dg.MetadataValue.md(show.to_markdown(index=False))
    context.add_output_metadata(stats)
    return out


__all__ = ["regression_alerts", "release_calendar", "cleaned_series", "series_modes", "spline_posterior"]
