"""Asset checks: schema of raw pulls, minimum data per window, posterior diagnostics, interval coverage.

The checks are unpartitioned (Dagster's default for a check on a partitioned asset): one evaluation per
run, covering the run's partitions (`context.partition_keys`: one key in a scheduled run, the whole
range in a single-run backfill), with the partitions at fault listed in its metadata. They read the
stored outputs of exactly those partitions through the asset's own IO manager. Two alternatives don't
work here: taking the asset as a function parameter makes Dagster load *every* partition of it (an
unpartitioned check maps to all upstream partitions), and the assets' materialization metadata is
per run, not per partition (a backfill's 150 days all carry the same totals). A partitioned check
(`partitions_def=`) is a preview API in Dagster 1.13 and, in a single-run backfill, records its one
result under no partition while its per-partition rows stay "planned".

Blocking checks (`raw_schema`, `posterior_diagnostics`) stop the downstream steps of the same run
when they fail with ERROR severity; WARN results never block.

The decisions are plain functions over pandas frames (no Dagster), testable on their own.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import dagster as dg
import numpy as np
import pandas as pd

from regression_assets.perf.posterior import DIAGNOSTIC_COLUMNS, UNCONVERGED_R_HAT, spline_posterior
from regression_assets.perf.raw import raw_perf_results
from regression_assets.perf.series import cleaned_series
from regression_assets.sources.schema import RAW_PERF_COLUMNS

# The stored raw table: the source columns plus what `raw_perf_results` adds.
RAW_TABLE_COLUMNS: dict[str, str] = {**RAW_PERF_COLUMNS, "series_key": "string", "partition_date": "datetime64[ns]"}
MAX_LISTED = 200  # partitions listed in a result's JSON metadata (the markdown table shows fewer)


@dataclass
class CheckDecision:
    """A check's verdict, free of Dagster: `severity` is "ERROR" or "WARN" and matters only when not passed."""

    passed: bool
    severity: str
    description: str
    flagged: list[dict] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------
# Decisions (pure)


def dtype_problem(column: pd.Series, expected: str) -> str | None:
    """Why a stored column doesn't have the expected RAW_PERF_COLUMNS dtype, or None if it does.

    Storage round trips change the pandas spelling, not the kind (DuckDB gives `object` strings and
    `datetime64[us]`), so kinds are compared: string, naive datetime, 64-bit float, bool.
    """
    dtype = column.dtype
    if expected == "string":
        ok = pd.api.types.is_string_dtype(dtype) and (
            not pd.api.types.is_object_dtype(dtype) or column.dropna().map(type).eq(str).all())
    elif expected.startswith("datetime64"):
        ok = pd.api.types.is_datetime64_dtype(dtype)  # naive only: tz-aware is a different column type
    elif expected == "float64":
        ok = pd.api.types.is_float_dtype(dtype) and np.dtype(getattr(dtype, "numpy_dtype", dtype)).itemsize == 8
    elif expected == "bool":
        ok = pd.api.types.is_bool_dtype(dtype)
    else:
        ok = str(dtype) == expected
    return None if ok else f"{column.name}: expected {expected}, got {dtype}"


def raw_schema_problems(frame: pd.DataFrame, expected: Mapping[str, str] = RAW_TABLE_COLUMNS) -> list[str]:
    """Missing columns and wrong dtypes of a stored raw table, one message per column."""
    missing = [f"{c}: missing" for c in expected if c not in frame.columns]
    wrong = [p for c, t in expected.items() if c in frame.columns and (p := dtype_problem(frame[c], t))]
    return missing + wrong


def rows_by_day(frame: pd.DataFrame, days: Iterable[str]) -> dict[str, int]:
    """Stored rows per day (`partition_date`), 0 for a day without any."""
    counts = {d: 0 for d in days}
    if len(frame) and "partition_date" in frame.columns:
        stamped = pd.to_datetime(frame["partition_date"]).dt.strftime("%Y-%m-%d").value_counts()
        counts.update({d: int(stamped.get(d, 0)) for d in counts})
    return counts


def all_rejected_days(stored: Mapping[str, int], rejected: Mapping[str, int]) -> list[str]:
    """Days with no stored row but rejected rows: the whole pull of the day failed validation.

    A day with neither (an outage, a weekend without runs) is not a schema problem.
    """
    return sorted(d for d, n in stored.items() if n == 0 and rejected.get(d, 0) > 0)


def raw_schema_decision(frame: pd.DataFrame, days: Iterable[str], rejected: Mapping[str, int]) -> CheckDecision:
    """ERROR when the stored table lacks a column or has a wrong dtype, or a day's rows were all rejected."""
    days = list(days)
    problems = raw_schema_problems(frame)
    stored = rows_by_day(frame, days) if not problems else {}
    emptied = all_rejected_days(stored, rejected)
    flagged = [{"column": p.split(":")[0], "problem": p} for p in problems] + \
        [{"day": d, "problem": f"all {rejected[d]} row(s) rejected"} for d in emptied]
    if problems:
        text = f"stored table does not match RAW_PERF_COLUMNS: {'; '.join(problems)}"
    elif emptied:
        text = f"every row rejected on {len(emptied)} day(s): {', '.join(emptied[:10])}"
    else:
        text = f"{len(days)} day(s): schema ok, {sum(stored.values())} rows"
    return CheckDecision(passed=not flagged, severity="ERROR", description=text, flagged=flagged,
                         metadata={"days": len(days), "rows": sum(stored.values()), "schema_problems": len(problems),
                                   "all_rejected_days": emptied})


def days_with_data(frame: pd.DataFrame) -> dict[str, int]:
    """Per `date|series` partition of a cleaned_series frame: days with at least one usable point."""
    if not len(frame):
        return {}
    use = frame
    for flag in ("is_outlier", "invalid"):
        if flag in use.columns:
            use = use[~use[flag].astype(bool)]
    days = pd.to_datetime(use["day"] if "day" in use.columns else use["timestamp"]).dt.floor("D")
    keys = pd.to_datetime(use["partition_date"]).dt.strftime("%Y-%m-%d") + "|" + use["series_key"].astype(str)
    return {k: int(v) for k, v in days.groupby(keys).nunique().items()}


def min_data_decision(days_by_partition: Mapping[str, int], partition_keys: Iterable[str],
                      min_days: int = 7) -> CheckDecision:
    """WARN with the partitions whose window has fewer than `min_days` days with data (none: 0 days)."""
    keys = [str(k) for k in partition_keys]
    short = [{"partition": k, "days_with_data": int(days_by_partition.get(k, 0))}
             for k in keys if days_by_partition.get(k, 0) < min_days]
    text = (f"{len(short)} of {len(keys)} partition(s) have < {min_days} days with data (not fitted)" if short
            else f"all {len(keys)} partition(s) have ≥ {min_days} days with data")
    return CheckDecision(passed=not short, severity="WARN", description=text, flagged=short,
                         metadata={"partitions": len(keys), "short_partitions": len(short), "min_days": min_days})


def posterior_check_decision(diagnostics: pd.DataFrame, max_bad_share: float = 0.2, r_hat_limit: float = 1.01,
                             r_hat_fail: float = UNCONVERGED_R_HAT, min_fits_for_share: int = 5,
                             r_hat_block: float = 1.05) -> CheckDecision:
    """Flag fits with r_hat > `r_hat_limit` or divergences (WARN); ERROR if the run's fits are broadly bad.

    `diagnostics`: one row per fit with `partition`, `r_hat_max`, `divergences`. ERROR when more than
    `max_bad_share` of the fits are clearly off (r_hat > `r_hat_block` or divergences), with at least
    `min_fits_for_share` fits (so that a one-series daily run whose single fit has r_hat 1.06 is flagged,
    not blocked); in a run of fewer fits, when one has r_hat > `r_hat_fail` (not converged at all). In a
    longer run (a backfill) a few such fits do not block the series' other days: `regression_alerts`
    withholds the alerts of exactly those days (`UNCONVERGED_R_HAT`, the default `r_hat_fail`). A missing
    r_hat counts as flagged. (With 2 chains the estimate of r_hat itself wanders by ~0.01, so 1.01 flags
    and 1.05 blocks.)
    """
    n = len(diagnostics)
    if n == 0:
        return CheckDecision(passed=True, severity="WARN", description="no fits in this run",
                             metadata={"fits": 0})
    r_hat = pd.to_numeric(diagnostics["r_hat_max"], errors="coerce")
    div = pd.to_numeric(diagnostics["divergences"], errors="coerce").fillna(0)
    bad = ~(r_hat <= r_hat_limit) | (div > 0)
    awful = r_hat > r_hat_fail
    share = float((~(r_hat <= r_hat_block) | (div > 0)).mean())
    flagged = [{"partition": str(p), "r_hat_max": round(float(r), 4), "divergences": int(d),
                "why": ", ".join(w for w, on in ((f"r_hat > {r_hat_limit}", not r <= r_hat_limit),
                                                 ("divergences", d > 0)) if on)}
               for p, r, d in zip(diagnostics.loc[bad, "partition"], r_hat[bad], div[bad], strict=True)]
    too_many = n >= min_fits_for_share and share > max_bad_share
    if too_many or (n < min_fits_for_share and awful.any()):
        why = (f"{int(awful.sum())} fit(s) with r_hat > {r_hat_fail}" if awful.any()
               else f"{share:.0%} of {n} fits with r_hat > {r_hat_block} or divergences (> {max_bad_share:.0%})")
        severity, text = "ERROR", f"posterior not trustworthy: {why}"
    elif flagged:
        severity, text = "WARN", f"{len(flagged)} of {n} fit(s) flagged (r_hat > {r_hat_limit} or divergences)"
        if awful.any():
            text += f"; {int(awful.sum())} with r_hat > {r_hat_fail}: those days' alerts are withheld"
    else:
        severity, text = "WARN", f"all {n} fit(s) have r_hat ≤ {r_hat_limit} and no divergences"
    return CheckDecision(passed=not flagged, severity=severity, description=text, flagged=flagged, metadata={
        "fits": n, "flagged_fits": len(flagged), "blocking_share": round(share, 4), "r_hat_block": r_hat_block,
        "r_hat_max": float(r_hat.max()) if r_hat.notna().any() else float("nan"),
        "divergences": int(div.sum()), "max_bad_share": max_bad_share, "r_hat_limit": r_hat_limit,
        "r_hat_fail": r_hat_fail})


def coverage_check_decision(diagnostics: pd.DataFrame, low: float = 0.85, high: float = 0.95) -> CheckDecision:
    """WARN with the fits whose recalibrated 90% interval covers a share of days outside [low, high]."""
    n = len(diagnostics)
    cov = pd.to_numeric(diagnostics["coverage"], errors="coerce") if n else pd.Series(dtype=float)
    out = ~cov.between(low, high)
    flagged = [{"partition": str(p), "coverage": round(float(c), 4)}
               for p, c in zip(diagnostics.loc[out, "partition"], cov[out], strict=True)] if n else []
    text = (f"{len(flagged)} of {n} fit(s) with coverage outside {low:.0%}–{high:.0%}" if flagged
            else f"{n} fit(s), coverage within {low:.0%}–{high:.0%}")
    return CheckDecision(passed=not flagged, severity="WARN", description=text, flagged=flagged, metadata={
        "fits": n, "out_of_range": len(flagged), "coverage_mean": float(cov.mean()) if n else float("nan"),
        "coverage_min": float(cov.min()) if n else float("nan")})


def diagnostics_from_draws(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per stored draws frame: its partition key and DIAGNOSTIC_COLUMNS (constant down a frame)."""
    rows = [{"partition": k, **{c: f[c].iat[0] for c in DIAGNOSTIC_COLUMNS if c in f.columns}}
            for k, f in frames.items() if f is not None and len(f)]
    return pd.DataFrame(rows, columns=["partition", *DIAGNOSTIC_COLUMNS])


# ---------------------------------------------------------------------------------------------------
# Dagster glue


def to_result(decision: CheckDecision, check_name: str | None = None, asset_key: dg.AssetKey | None = None,
              ) -> dg.AssetCheckResult:
    meta = {k: (dg.MetadataValue.json(v) if isinstance(v, list | dict) else v) for k, v in decision.metadata.items()}
    if decision.flagged:
        meta["flagged"] = dg.MetadataValue.json(decision.flagged[:MAX_LISTED])
        meta["flagged_table"] = dg.MetadataValue.md(pd.DataFrame(decision.flagged[:50]).to_markdown(index=False))
    severity = dg.AssetCheckSeverity.ERROR if decision.severity == "ERROR" else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(passed=decision.passed, severity=severity, description=decision.description,
                               metadata=meta, check_name=check_name, asset_key=asset_key)


def _run_key_range(context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey) -> dg.PartitionKeyRange | None:
    """The run's partitions; a run without any (the check launched alone) checks the latest materialized one."""
    if context.has_partition_key or context.has_partition_key_range:
        return context.partition_key_range
    event = context.instance.get_latest_materialization_event(asset_key)
    key = event.dagster_event.partition if event and event.dagster_event else None
    return dg.PartitionKeyRange(key, key) if key else None


def _partition_keys(context: dg.AssetCheckExecutionContext, key_range: dg.PartitionKeyRange) -> list[str]:
    if context.has_partition_key or context.has_partition_key_range:
        return [str(k) for k in context.partition_keys]
    return [str(key_range.start)]


def load_stored(context: dg.AssetCheckExecutionContext, assets_def: dg.AssetsDefinition, io_manager_key: str,
                key_range: dg.PartitionKeyRange):
    """The stored output of `assets_def` for a partition range, through the asset's IO manager."""
    key = assets_def.key
    upstream = dg.build_output_context(asset_key=key, definition_metadata=assets_def.metadata_by_key[key])
    input_context = dg.build_input_context(
        asset_key=key, asset_partitions_def=assets_def.partitions_def, asset_partition_key_range=key_range,
        upstream_output=upstream, instance=context.instance,
        dagster_type=dg.PythonObjectDagsterType(pd.DataFrame, name="StoredFrame"))
    return getattr(context.resources, io_manager_key).load_input(input_context)


def _rejected_rows(context: dg.AssetCheckExecutionContext, days: Iterable[str]) -> dict[str, int]:
    """Rejected rows per day from raw_perf_results' materialization metadata, where it says per day.

    The metadata is per run: `rejected_rows` is a day's count only when the run pulled one day (or the
    metadata carries a `rejected_by_day` mapping).
    """
    out = {}
    for day in days:
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=raw_perf_results.key, asset_partitions=[day]), limit=1).records
        if not records:
            continue
        meta = records[0].asset_materialization.metadata if records[0].asset_materialization else {}
        by_day = meta.get("rejected_by_day")
        if by_day is not None and day in (by_day.value or {}):
            out[day] = int(by_day.value[day])
        elif "days" in meta and meta["days"].value == 1 and "rejected_rows" in meta:
            out[day] = int(meta["rejected_rows"].value)
    return out


@dg.asset_check(asset=raw_perf_results, blocking=True, required_resource_keys={"io_manager"})
def raw_schema(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """The stored raw table has RAW_PERF_COLUMNS (+ series_key, partition_date) with their dtypes, and no day lost every row."""
    key_range = _run_key_range(context, raw_perf_results.key)
    if key_range is None:
        return dg.AssetCheckResult(passed=True, description="raw_perf_results has no materialized partition yet")
    days = _partition_keys(context, key_range)
    frame = load_stored(context, raw_perf_results, "io_manager", key_range)
    stored = rows_by_day(frame, days)
    rejected = _rejected_rows(context, [d for d, n in stored.items() if n == 0])
    return to_result(raw_schema_decision(frame, days, rejected))


class MinDataCheckConfig(dg.Config):
    min_days_with_data: int = 7


@dg.asset_check(asset=cleaned_series, required_resource_keys={"io_manager"})
def min_days_with_data(context: dg.AssetCheckExecutionContext, config: MinDataCheckConfig) -> dg.AssetCheckResult:
    """Each date × series window has at least 7 days with usable points (else the series isn't fitted)."""
    key_range = _run_key_range(context, cleaned_series.key)
    if key_range is None:
        return dg.AssetCheckResult(passed=True, description="cleaned_series has no materialized partition yet")
    keys = _partition_keys(context, key_range)
    frame = load_stored(context, cleaned_series, "io_manager", key_range)
    return to_result(min_data_decision(days_with_data(frame), keys, config.min_days_with_data))


class PosteriorCheckConfig(dg.Config):
    max_bad_share: float = 0.2
    r_hat_limit: float = 1.01
    r_hat_fail: float = UNCONVERGED_R_HAT  # the same bound regression_alerts withholds a day at
    r_hat_block: float = 1.05
    min_fits_for_share: int = 5
    coverage_low: float = 0.85
    coverage_high: float = 0.95


POSTERIOR_DIAGNOSTICS = dg.AssetCheckSpec(
    "posterior_diagnostics", asset=spline_posterior, blocking=True,
    description="r_hat ≤ 1.01 and no divergences per fit (flagged, WARN); ERROR, blocking the alerts, when "
                "> 20% of the run's fits have r_hat > 1.05 or divergences, or a short run's fit has "
                "r_hat > 1.1; otherwise a fit over 1.1 withholds only its own day's alerts.")
INTERVAL_COVERAGE = dg.AssetCheckSpec(
    "interval_coverage", asset=spline_posterior,
    description="After recalibration, each fit's 90% interval covers 85–95% of its days (WARN otherwise).")


@dg.multi_asset_check(specs=[POSTERIOR_DIAGNOSTICS, INTERVAL_COVERAGE], can_subset=True,
                      required_resource_keys={"draws_io_manager"})
def spline_posterior_checks(context: dg.AssetCheckExecutionContext, config: PosteriorCheckConfig):
    """Convergence and coverage of the run's spline fits, read once from their stored draws."""
    key_range = _run_key_range(context, spline_posterior.key)
    frames = {}
    if key_range is not None:
        # One partition at a time: a backfill's draws together would not fit in memory.
        for key in _partition_keys(context, key_range):
            one = load_stored(context, spline_posterior, "draws_io_manager", dg.PartitionKeyRange(key, key))
            frames.update({k: f[[c for c in DIAGNOSTIC_COLUMNS if c in f.columns]].head(1) for k, f in one.items()})
    diagnostics = diagnostics_from_draws(frames)
    selected = context.selected_asset_check_keys
    if POSTERIOR_DIAGNOSTICS.key in selected:
        yield to_result(posterior_check_decision(diagnostics, config.max_bad_share, config.r_hat_limit,
                                                 config.r_hat_fail, config.min_fits_for_share, config.r_hat_block),
                        check_name=POSTERIOR_DIAGNOSTICS.name, asset_key=spline_posterior.key)
    if INTERVAL_COVERAGE.key in selected:
        yield to_result(coverage_check_decision(diagnostics, config.coverage_low, config.coverage_high),
                        check_name=INTERVAL_COVERAGE.name, asset_key=spline_posterior.key)


ASSET_CHECKS = [raw_schema, min_days_with_data, spline_posterior_checks]

__all__ = ["ASSET_CHECKS", "CheckDecision", "coverage_check_decision", "min_data_decision",
           "posterior_check_decision", "raw_schema_decision", "raw_schema_problems"]
