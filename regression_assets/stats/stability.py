"""Release stability over `error_aggregates` frames: hourly rates by age, equal-age comparisons, alerts, trends.

Pure pandas / numpy on top of `stats.rates`; the Dagster assets in `regression_assets.stability` call these.

* Age: hours since the version's release on its channel (the calendar's release time, else the first
  window seen). Comparisons are made at *equal age*: a release out 3 days is compared with its
  predecessors' first 3 days, so "every release is crashier in its first days" cancels out.
* The first `early_hours` (24) after a release are a separate, flagged period (`first_24h`). Once the
  release is older than that, decisions use hours [24, age) only, as Mission Control did.
* Reference: each of the previous `n_previous` releases, and all of them pooled (the decision row). The
  pooled reference is widened by the between-release variance (DerSimonian–Laird τ²) so natural
  release-to-release variation does not read as a regression.
"""

import numpy as np
import pandas as pd

from regression_assets.stats import rates as R

FIRST_24H, AFTER_24H = "first_24h", "after_24h"
POOLED = "pooled"

_T, _S, _F, _I, _B = "datetime64[ns]", "object", "float64", "int64", "bool"
RATE_SCHEMA = {
    "day": _T, "channel": _S, "os_name": _S, "version": _S, "measure": _S, "release_time": _T,
    "release_source": _S, "age_hour": _I, "hour_start": _T, "period": _S, "is_first_24h": _B,
    "crashes": _F, "usage_hours": _F, "n_windows": _I, "n_trimmed": _I, "crashes_trimmed": _F,
    "usage_hours_trimmed": _F, "dispersion_day": _F, "rate_per_1k": _F, "rate_median": _F,
    "rate_lo95": _F, "rate_hi95": _F,
}
COMPARISON_SCHEMA = {
    "day": _T, "channel": _S, "os_name": _S, "measure": _S, "period": _S, "is_decision": _B,
    "latest_version": _S, "latest_release_time": _T, "age_hours": _I, "age_lo": _I, "age_hi": _I,
    "reference": _S, "previous_versions": _S, "previous_release_time": _T,
    "latest_crashes": _F, "latest_usage_hours": _F, "latest_dispersion": _F, "latest_hours": _I,
    "latest_rate": _F, "latest_rate_lo95": _F, "latest_rate_hi95": _F,
    "ref_crashes": _F, "ref_usage_hours": _F, "ref_dispersion": _F, "ref_hours": _I,
    "ref_rate": _F, "ref_rate_lo95": _F, "ref_rate_hi95": _F, "between_release_var": _F,
    "expected_events": _F, "ratio_median": _F, "ratio_lo80": _F, "ratio_hi80": _F,
    "p_ratio_gt_threshold": _F, "p_ratio_gt_threshold_adjusted": _F, "p_change": _F,
    "threshold": _F, "family_size": _I,
}
ALERT_SCHEMA = {
    "day": _T, "channel": _S, "os_name": _S, "measure": _S, "period": _S, "latest_version": _S,
    "previous_versions": _S, "age_hours": _I, "latest_rate": _F, "ref_rate": _F, "ratio_median": _F,
    "ratio_lo80": _F, "ratio_hi80": _F, "p_ratio_gt_threshold": _F, "p_ratio_gt_threshold_adjusted": _F,
    "latest_usage_hours": _F, "latest_crashes": _F, "ref_usage_hours": _F, "ref_crashes": _F,
    "expected_events": _F, "status": _S, "severity": _S, "reason": _S,
}
TREND_SCHEMA = {
    "day": _T, "channel": _S, "measure": _S, "version": _S, "release_index": _I, "is_latest": _B,
    "period": _S, "age_lo": _I, "age_hi": _I, "crashes": _F, "usage_hours": _F, "dispersion": _F,
    "rate_per_1k": _F, "rate_lo95": _F, "rate_hi95": _F, "slope_per_release": _F, "slope_sd": _F,
    "ratio_per_release": _F, "p_worsening": _F, "direction": _S, "n_versions": _I,
}


def conform(df: pd.DataFrame, schema: dict[str, str]) -> pd.DataFrame:
    """Exactly `schema`'s columns, in order and type (so tables keep one shape, empty or not)."""
    out = pd.DataFrame(index=df.index)
    for col, dtype in schema.items():
        values = df[col] if col in df.columns else pd.Series(np.nan, index=df.index)
        if dtype == _T:
            out[col] = pd.to_datetime(values).astype(_T)
        elif dtype == _S:
            out[col] = values.astype(object).where(values.notna(), None)
        elif dtype == _I:
            out[col] = pd.to_numeric(values).fillna(0).astype(_I)
        elif dtype == _B:
            out[col] = values.fillna(False).astype(_B)
        else:
            out[col] = pd.to_numeric(values).astype(_F)
    return out.reset_index(drop=True)


def grouped_dispersion(df: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """`pearson_dispersion` of `crashes` over `usage_hours` within each group, broadcast to its rows."""
    g = df.groupby(keys)
    k, u = df["crashes"].to_numpy(float), df["usage_hours"].to_numpy(float)
    lam = (g["crashes"].transform("sum") / g["usage_hours"].transform("sum")).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where((u > 0) & (lam > 0), (k - lam * u) ** 2 / (lam * u), 0.0)
    x2 = pd.Series(term, index=df.index).groupby([df[c] for c in keys]).transform("sum").to_numpy()
    n = pd.Series((u > 0).astype(float), index=df.index).groupby([df[c] for c in keys]).transform("sum").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(n >= 2, x2 / (n - 1), 1.0)
    return np.maximum(np.nan_to_num(phi, nan=1.0), 1.0)


# --------------------------------------------------------------------------------------------------
# 1. hourly rates by age
# --------------------------------------------------------------------------------------------------


def release_times(aggs: pd.DataFrame, calendar: pd.DataFrame) -> pd.DataFrame:
    """`channel, version, release_time`: the calendar's, else the first window seen in `aggs`."""
    seen = aggs.groupby(["channel", "version"], as_index=False)["window_start"].min()
    seen = seen.rename(columns={"window_start": "first_seen"})
    cal = calendar[["channel", "version", "release_time"]].astype({"channel": "string", "version": "string"})
    out = seen.astype({"channel": "string", "version": "string"}).merge(cal, on=["channel", "version"], how="left")
    out["release_source"] = np.where(out["release_time"].isna(), "first_seen", "calendar")
    out["release_time"] = out["release_time"].fillna(out["first_seen"]).astype("datetime64[ns]")
    return out[["channel", "version", "release_time", "release_source"]]


def hourly_rates(
    aggs: pd.DataFrame,
    calendar: pd.DataFrame,
    measures: list[str],
    day: pd.Timestamp,
    trim_fraction: float = 0.001,
    early_hours: int = 24,
    mass: float = 0.95,
) -> tuple[pd.DataFrame, dict]:
    """One day's rates per (channel, os_name, version, measure, hour since release), and trim statistics.

    Each row keeps the crashes and usage hours it was computed from next to the rate and its Jeffreys
    credible interval (widened by the day's over-dispersion φ of that version, platform and measure).
    The top `trim_fraction` of windows by rate are dropped first, per (version, platform, measure, day).
    """
    cols = list(RATE_SCHEMA)
    present = [m for m in measures if m in aggs.columns and aggs[m].notna().any()]
    if aggs.empty or not present:
        return conform(pd.DataFrame(), RATE_SCHEMA), {"windows_trimmed": 0, "windows": 0}
    rel = release_times(aggs, calendar)
    keys = ["channel", "os_name", "version", "window_start"]
    # one unit per (window, build): what Mission Control ranks and trims
    units = aggs.groupby([*keys, "build_id"], as_index=False, dropna=False)[["usage_hours", *present]].sum(min_count=1)
    long = units.melt(id_vars=[*keys, "build_id", "usage_hours"], value_vars=present, var_name="measure", value_name="crashes")
    long = long[long["crashes"].notna() & (long["usage_hours"] > 0)]
    long = long.merge(rel, on=["channel", "version"], how="left")
    long["window_rate"] = long["crashes"] / long["usage_hours"]
    gkeys = ["channel", "os_name", "version", "measure"]
    rank = long.groupby(gkeys)["window_rate"].rank(method="first")
    size = long.groupby(gkeys)["window_rate"].transform("size")
    keep = (rank <= np.ceil(size * (1.0 - trim_fraction) - 1e-9)).to_numpy()
    long["kept"] = keep
    long["age_hour"] = np.floor((long["window_start"] - long["release_time"]) / pd.Timedelta(hours=1)).astype("int64")
    long["hour_start"] = long["window_start"].dt.floor("h")
    long["trimmed"] = (~keep).astype("int64")
    long["k_kept"] = long["crashes"].where(keep, 0.0)
    long["u_kept"] = long["usage_hours"].where(keep, 0.0)
    long["k_trim"] = long["crashes"].where(~keep, 0.0)
    long["u_trim"] = long["usage_hours"].where(~keep, 0.0)
    group = ["channel", "os_name", "version", "measure", "release_time", "release_source", "age_hour"]
    out = long.groupby(group, as_index=False).agg(
        hour_start=("hour_start", "min"),
        crashes=("k_kept", "sum"),
        usage_hours=("u_kept", "sum"),
        n_windows=("kept", "size"),
        n_trimmed=("trimmed", "sum"),
        crashes_trimmed=("k_trim", "sum"),
        usage_hours_trimmed=("u_trim", "sum"),
    )
    out["dispersion_day"] = grouped_dispersion(out, gkeys)
    s = R.rate_summary(out["crashes"], out["usage_hours"], mass=mass, dispersion=out["dispersion_day"])
    out["rate_per_1k"], out["rate_median"], out["rate_lo95"], out["rate_hi95"] = s["rate"], s["median"], s["lo"], s["hi"]
    out["is_first_24h"] = (out["age_hour"] >= 0) & (out["age_hour"] < early_hours)
    out["period"] = np.where(out["age_hour"] < early_hours, FIRST_24H, AFTER_24H)
    out["day"] = pd.Timestamp(day).normalize()
    out = out[cols].sort_values(["channel", "os_name", "measure", "version", "age_hour"]).reset_index(drop=True)
    return out, {"windows_trimmed": int((~keep).sum()), "windows": len(long)}


# --------------------------------------------------------------------------------------------------
# 2. equal-age comparison of the latest release with its predecessors
# --------------------------------------------------------------------------------------------------


def latest_release(rates: pd.DataFrame, day: pd.Timestamp) -> tuple[str, pd.Timestamp] | None:
    """The most recently released version with usage on `day` (and released by its end)."""
    day = pd.Timestamp(day).normalize()
    today = rates[(rates["day"] == day) & (rates["usage_hours"] > 0)]
    today = today[today["release_time"] < day + pd.Timedelta(days=1)]
    if today.empty:
        return None
    row = today.sort_values(["release_time", "version"]).iloc[-1]
    return str(row["version"]), pd.Timestamp(row["release_time"])


def age_windows(age_hours: int, early_hours: int = 24) -> list[tuple[str, int, int]]:
    """[(period, lo, hi)] hour ranges to compare; the last one decides."""
    out = [(FIRST_24H, 0, min(age_hours, early_hours))]
    if age_hours > early_hours:
        out.append((AFTER_24H, early_hours, age_hours))
    return out


def _cell_totals(rates: pd.DataFrame, lo: int, hi: int) -> pd.DataFrame:
    """Per (os_name, measure, version): crashes, usage, φ (over the hourly bins), hours covered."""
    sub = rates[(rates["age_hour"] >= lo) & (rates["age_hour"] < hi)]
    keys = ["os_name", "measure", "version"]
    hourly = sub.groupby([*keys, "age_hour"], as_index=False)[["crashes", "usage_hours"]].sum()
    hourly["dispersion"] = grouped_dispersion(hourly, keys) if len(hourly) else []
    hourly["hours"] = (hourly["usage_hours"] > 0).astype("int64")
    return hourly.groupby(keys, as_index=False).agg(
        crashes=("crashes", "sum"), usage_hours=("usage_hours", "sum"), dispersion=("dispersion", "first"),
        hours=("hours", "sum"),
    )


def _pooled(refs: pd.DataFrame) -> pd.DataFrame:
    """Previous releases pooled per cell on effective counts, widened by the between-release τ²."""
    r = refs.copy()
    r["k_eff"], r["u_eff"] = r["crashes"] / r["dispersion"], r["usage_hours"] / r["dispersion"]
    r["m"], r["v"] = R.log_rate_moments(r["k_eff"], r["u_eff"])
    r["w"] = 1.0 / r["v"]
    r["wm"], r["wm2"], r["w2"] = r["w"] * r["m"], r["w"] * r["m"] ** 2, r["w"] ** 2
    g = r.groupby(["os_name", "measure"], as_index=False).agg(
        versions=("version", lambda v: ",".join(map(str, v))),
        crashes=("crashes", "sum"), usage_hours=("usage_hours", "sum"), k_eff=("k_eff", "sum"),
        u_eff=("u_eff", "sum"), hours=("hours", "min"), n=("w", "size"), sw=("w", "sum"), swm=("wm", "sum"),
        swm2=("wm2", "sum"), sw2=("w2", "sum"),
    )
    # DerSimonian–Laird: Q = Σw(m - m̄)², τ² = max(0, (Q - (n-1)) / (Σw - Σw²/Σw))
    q = g["swm2"] - g["swm"] ** 2 / g["sw"]
    c = g["sw"] - g["sw2"] / g["sw"]
    with np.errstate(divide="ignore", invalid="ignore"):
        tau2 = np.where((g["n"] > 1) & (c > 0), np.maximum(0.0, (q - (g["n"] - 1)) / c), 0.0)
    _, v_pool = R.log_rate_moments(g["k_eff"], g["u_eff"])
    widen = 1.0 + tau2 / v_pool
    g["k_eff"], g["u_eff"], g["between_release_var"] = g["k_eff"] / widen, g["u_eff"] / widen, tau2
    with np.errstate(divide="ignore", invalid="ignore"):
        g["dispersion"] = np.where(g["k_eff"] > 0, g["crashes"] / g["k_eff"], widen)
    g["version"] = POOLED
    return g.drop(columns=["n", "sw", "swm", "swm2", "sw2"])


def compare_latest_release(
    rates: pd.DataFrame,
    day: pd.Timestamp,
    n_previous: int = 3,
    threshold: float = 1.2,
    early_hours: int = 24,
    mass: float = 0.8,
    prior_regressions: float = 1.0,
    slab_sd: float = 0.3,
) -> pd.DataFrame:
    """Rate ratios of the latest release vs each of the previous `n_previous` and vs them pooled.

    `rates` are one channel's `hourly_rates` rows of every day up to `day` (later ones are ignored).
    Per (platform, measure, period): exact Beta posterior of the ratio on over-dispersion-adjusted
    counts (median, central `mass` interval, P(ratio > threshold)), and the multiplicity-adjusted
    P(ratio > threshold) under a spike-and-slab prior with `prior_regressions` expected regressed cells
    among the m cells (platform × measure with any event) of this release.
    """
    day = pd.Timestamp(day).normalize()
    rates = rates[rates["day"] <= day]
    found = latest_release(rates, day)
    if found is None:
        return pd.DataFrame()
    latest, latest_time = found
    channel = str(rates["channel"].iloc[0])
    versions = rates[["version", "release_time"]].drop_duplicates().sort_values("release_time")
    previous = versions[versions["release_time"] < latest_time].tail(n_previous).iloc[::-1]
    prev_versions = [str(v) for v in previous["version"]]
    prev_times = dict(zip(prev_versions, previous["release_time"], strict=True))
    age = int(rates.loc[rates["version"] == latest, "age_hour"].max()) + 1
    rates = rates[rates["version"].isin([latest, *prev_versions]) & (rates["age_hour"] < age)]
    windows = age_windows(age, early_hours)
    frames = []
    for period, lo, hi in windows:
        tot = _cell_totals(rates, lo, hi)
        new = tot[tot["version"] == latest].drop(columns="version")
        refs = tot[tot["version"].isin(prev_versions)].copy()
        refs["k_eff"], refs["u_eff"] = refs["crashes"] / refs["dispersion"], refs["usage_hours"] / refs["dispersion"]
        refs["between_release_var"], refs["versions"] = 0.0, refs["version"]
        if not refs.empty:
            refs = pd.concat([refs, _pooled(refs)], ignore_index=True)
        cells = new.merge(refs, on=["os_name", "measure"], suffixes=("_new", "_ref"))
        events = cells[cells["version"] == POOLED].set_index(["os_name", "measure"])
        family = max(1, int(((events["crashes_new"] + events["crashes_ref"]) > 0).sum()))
        cells["period"], cells["age_lo"], cells["age_hi"], cells["family_size"] = period, lo, hi, family
        frames.append(cells)
    if not frames or all(f.empty for f in frames):
        return pd.DataFrame()
    c = pd.concat(frames, ignore_index=True)
    kn, un = c["crashes_new"] / c["dispersion_new"], c["usage_hours_new"] / c["dispersion_new"]
    post = R.ratio_posterior(kn, un, c["k_eff"], c["u_eff"], threshold=threshold, mass=mass)
    mn, vn = R.log_rate_moments(kn, un)
    mr, vr = R.log_rate_moments(c["k_eff"], c["u_eff"])
    adj = R.spike_slab_exceedance(mn - mr, vn + vr, threshold, prior_regressions / c["family_size"], slab_sd)
    rn = R.rate_summary(c["crashes_new"], c["usage_hours_new"], dispersion=c["dispersion_new"])
    rr = R.rate_summary(c["k_eff"], c["u_eff"])
    with np.errstate(divide="ignore", invalid="ignore"):
        ref_rate = np.where(c["usage_hours_ref"] > 0, c["crashes_ref"] / (c["usage_hours_ref"] / 1000.0), np.nan)
        expected = np.where(c["u_eff"] > 0, c["k_eff"] / c["u_eff"] * c["usage_hours_new"], np.nan)
    out = pd.DataFrame({
        "day": day, "channel": channel, "os_name": c["os_name"], "measure": c["measure"],
        "period": c["period"], "is_decision": c["period"] == windows[-1][0],
        "latest_version": latest, "latest_release_time": latest_time, "age_hours": age,
        "age_lo": c["age_lo"], "age_hi": c["age_hi"],
        "reference": np.where(c["version"] == POOLED, POOLED, "single"),
        "previous_versions": np.where(c["version"] == POOLED, c["versions"], c["version"]),
        "previous_release_time": c["version"].map(prev_times).astype("datetime64[ns]"),
        "latest_crashes": c["crashes_new"], "latest_usage_hours": c["usage_hours_new"],
        "latest_dispersion": c["dispersion_new"], "latest_hours": c["hours_new"],
        "latest_rate": rn["rate"], "latest_rate_lo95": rn["lo"], "latest_rate_hi95": rn["hi"],
        "ref_crashes": c["crashes_ref"], "ref_usage_hours": c["usage_hours_ref"],
        "ref_dispersion": c["dispersion_ref"], "ref_hours": c["hours_ref"],
        "ref_rate": ref_rate, "ref_rate_lo95": rr["lo"], "ref_rate_hi95": rr["hi"],
        "between_release_var": c["between_release_var"], "expected_events": expected,
        "ratio_median": post["median"], "ratio_lo80": post["lo"], "ratio_hi80": post["hi"],
        "p_ratio_gt_threshold": post["p_gt"], "p_ratio_gt_threshold_adjusted": adj["p_gt"],
        "p_change": adj["p_change"], "threshold": threshold, "family_size": c["family_size"],
    })
    order = {v: i for i, v in enumerate([*prev_versions, POOLED])}
    out["_o"] = c["version"].map(order)
    return out.sort_values(["period", "os_name", "measure", "_o"]).drop(columns="_o").reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# 3. alerts
# --------------------------------------------------------------------------------------------------

SEVERITY_ORDER = {"critical": 0, "major": 1, "minor": 2, "": 3}


def classify(
    comparisons: pd.DataFrame,
    alert_probability: float = 0.75,
    min_usage_hours: float = 1000.0,
    min_events: float = 10.0,
) -> pd.DataFrame:
    """Decision rows (pooled reference) with `status` alert / ok / insufficient_data, `severity`, `reason`."""
    if comparisons.empty:
        return pd.DataFrame()
    d = comparisons[comparisons["is_decision"] & (comparisons["reference"] == POOLED)].copy()
    events = np.maximum(d["latest_crashes"], d["expected_events"].fillna(0.0))
    thin = (
        (d["latest_usage_hours"] < min_usage_hours) | (d["ref_usage_hours"] < min_usage_hours) | (events < min_events)
    )
    p = d["p_ratio_gt_threshold_adjusted"]
    d["status"] = np.where(thin, "insufficient_data", np.where(p >= alert_probability, "alert", "ok"))
    d["severity"] = np.select(
        [d["status"] != "alert", d["ratio_lo80"] >= 1.5, p >= 0.95], ["", "critical", "major"], default="minor"
    )
    d["reason"] = np.where(
        thin,
        "usage < " + f"{min_usage_hours:,.0f}" + " h or events < " + f"{min_events:,.0f}",
        np.where(d["status"] == "alert", "P(ratio > " + d["threshold"].map("{:.2g}".format) + ") = " + p.map("{:.2f}".format), ""),
    )
    return d


def channel_scores(decisions: pd.DataFrame, measures=("main_crashes", "content_crashes")) -> pd.DataFrame:
    """Mission Control's top-level number: geometric mean across platforms of (main + content) rates."""
    if decisions.empty:
        return pd.DataFrame()
    rows = []
    for (day, channel), g in decisions.groupby(["day", "channel"]):
        sub = g[g["measure"].isin(measures)]
        if sub.empty:
            continue
        per_os = sub.groupby("os_name")[["latest_crashes", "latest_usage_hours", "ref_crashes", "ref_usage_hours"]].agg(
            {"latest_crashes": "sum", "latest_usage_hours": "first", "ref_crashes": "sum", "ref_usage_hours": "first"}
        )
        latest = R.geometric_mean(per_os["latest_crashes"] / (per_os["latest_usage_hours"] / 1000.0))
        ref = R.geometric_mean(per_os["ref_crashes"] / (per_os["ref_usage_hours"] / 1000.0))
        first = g.iloc[0]
        rows.append({
            "day": day, "channel": channel, "os_name": "ALL", "measure": "+".join(m.split("_")[0] for m in measures),
            "period": first["period"], "latest_version": first["latest_version"],
            "previous_versions": first["previous_versions"], "age_hours": first["age_hours"],
            "latest_rate": latest, "ref_rate": ref, "ratio_median": latest / ref if ref > 0 else np.nan,
            "latest_usage_hours": float(per_os["latest_usage_hours"].sum()),
            "latest_crashes": float(per_os["latest_crashes"].sum()),
            "status": "score", "severity": "",
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# 4. trend over the last N releases at the same age
# --------------------------------------------------------------------------------------------------


def release_trend(
    rates: pd.DataFrame,
    day: pd.Timestamp,
    n_versions: int = 5,
    early_hours: int = 24,
    improving_below: float = 0.1,
    worsening_above: float = 0.9,
) -> pd.DataFrame:
    """Per measure (platforms summed): each of the last `n_versions` releases' rate at the latest's age,
    and the posterior slope of log rate per release (P(worsening) = P(slope > 0))."""
    day = pd.Timestamp(day).normalize()
    rates = rates[rates["day"] <= day]
    found = latest_release(rates, day)
    if found is None:
        return pd.DataFrame()
    latest, latest_time = found
    age = int(rates.loc[rates["version"] == latest, "age_hour"].max()) + 1
    period, lo, hi = age_windows(age, early_hours)[-1]
    versions = rates[["version", "release_time"]].drop_duplicates().sort_values("release_time")
    versions = versions[versions["release_time"] <= latest_time].tail(n_versions)
    order = {v: i for i, v in enumerate(versions["version"].astype(str))}
    sub = rates[rates["version"].isin(order) & (rates["age_hour"] >= lo) & (rates["age_hour"] < hi)]
    hourly = sub.groupby(["measure", "version", "age_hour"], as_index=False)[["crashes", "usage_hours"]].sum()
    rows = []
    for measure, g in hourly.groupby("measure"):
        per = []
        for version, h in g.groupby("version"):
            phi = R.pearson_dispersion(h["crashes"], h["usage_hours"])
            k, u = float(h["crashes"].sum()), float(h["usage_hours"].sum())
            m, v = R.log_rate_moments(k, u, phi)
            s = R.rate_summary(k, u, dispersion=phi)
            per.append({"version": version, "index": order[str(version)], "crashes": k, "usage_hours": u,
                        "dispersion": phi, "rate": float(s["rate"]), "rate_lo95": float(s["lo"]),
                        "rate_hi95": float(s["hi"]), "log_mean": float(m), "log_var": float(v)})
        per = pd.DataFrame(per).sort_values("index")
        tr = R.trend_slope(per["log_mean"], per["log_var"], per["index"])
        direction = (
            "unknown" if not np.isfinite(tr["p_worsening"])
            else "worsening" if tr["p_worsening"] >= worsening_above
            else "improving" if tr["p_worsening"] <= improving_below
            else "stable"
        )
        for r in per.itertuples():
            rows.append({
                "day": day, "channel": str(rates["channel"].iloc[0]), "measure": measure, "version": r.version,
                "release_index": int(r.index), "is_latest": r.version == latest, "period": period,
                "age_lo": lo, "age_hi": hi, "crashes": r.crashes, "usage_hours": r.usage_hours,
                "dispersion": r.dispersion, "rate_per_1k": r.rate, "rate_lo95": r.rate_lo95, "rate_hi95": r.rate_hi95,
                "slope_per_release": tr["slope"], "slope_sd": tr["slope_sd"],
                "ratio_per_release": float(np.exp(tr["slope"])) if np.isfinite(tr["slope"]) else np.nan,
                "p_worsening": tr["p_worsening"], "direction": direction, "n_versions": tr["n"],
            })
    return pd.DataFrame(rows)
