"""Plotly figures of an alert and of release stability: pure functions of frames and arrays, no Dagster.

* `series_layers` computes what a series picture shows (points, outliers, posterior bands, the alert
  point, the compared days, a y-range robust to outliers); `series_figure` draws it with plotly and
  `regression_assets.report.metadata` draws the same layers as a static PNG.
* `comparison_figure`: the posterior distribution of the % change against each compared day.
* `stability_figure`: crashes per 1,000 usage hours by hours since release, latest vs previous
  release, with intervals; counts and usage on hover, thin bins marked "insufficient data".
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from regression_assets.stats import rates as R
from regression_assets.stats.compare import pct_change_draws

REGRESSION, IMPROVEMENT, NEUTRAL = "#c0392b", "#1e8449", "#7f8c8d"
BAND90, BAND50, MEDIAN = "rgba(41,128,185,0.15)", "rgba(41,128,185,0.30)", "#1f5f8b"
VERSION_COLORS = ["#c0392b", "#2c3e50", "#7f8c8d", "#95a5a6"]
INSUFFICIENT = "insufficient data"


def direction_color(direction: str) -> str:
    return {"regression": REGRESSION, "improvement": IMPROVEMENT}.get(direction or "", NEUTRAL)


@dataclass
class SeriesLayers:
    """Everything a series picture shows, in plotting units (the test's value)."""

    title: str
    points: pd.DataFrame  # timestamp, value (kept points)
    outliers: pd.DataFrame  # timestamp, value, shown_value (clipped to the y-range), off_scale
    days: pd.DatetimeIndex
    median: np.ndarray
    q05: np.ndarray
    q25: np.ndarray
    q75: np.ndarray
    q95: np.ndarray
    markers: pd.DataFrame  # kind (target / reference / change), label, day, level, direction
    y_range: tuple[float, float]
    notes: list[str] = field(default_factory=list)


def _mode_text(modes_row) -> tuple[str, str]:
    if modes_row is None or len(modes_row) == 0:
        return "modes: n/a", "noise: n/a"
    row = modes_row.iloc[0] if isinstance(modes_row, pd.DataFrame) else modes_row
    n = row.get("n_modes")
    n_text = "modes: n/a" if n is None or pd.isna(n) else f"{int(n)} mode{'s' if int(n) != 1 else ''}"
    return n_text, f"noise: {row.get('noise_profile') or 'n/a'}"


def series_layers(points: pd.DataFrame, days: pd.DatetimeIndex, draws: np.ndarray, rows: pd.DataFrame | None = None,
                  modes_row=None, target: pd.Timestamp | None = None, name: str | None = None) -> SeriesLayers:
    """The layers of one series' picture on its partition day `target` (default: the last posterior day).

    `points`: `cleaned_series` rows of the partition (timestamp, value, is_outlier[, invalid]);
    `days`, `draws` (n_draws × n_days): the posterior level (`frame_to_draws`); `rows`: the day's
    `evaluate_day` rows; `modes_row`: the partition's `series_modes` row (n_modes, noise_profile).
    """
    days = pd.DatetimeIndex(days)
    draws = np.asarray(draws, dtype=float)
    if draws.size:
        q05, q25, median, q75, q95 = np.quantile(draws, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    else:
        q05 = q25 = median = q75 = q95 = np.full(len(days), np.nan)
    pts = points if points is not None else pd.DataFrame(columns=["timestamp", "value", "is_outlier"])
    if "invalid" in pts.columns:
        pts = pts[~pts["invalid"].astype(bool)]
    is_out = pts["is_outlier"].astype(bool) if "is_outlier" in pts.columns else pd.Series(False, index=pts.index)
    kept = pts.loc[~is_out, ["timestamp", "value"]].reset_index(drop=True)
    out = pts.loc[is_out, ["timestamp", "value"]].reset_index(drop=True)

    # The y-range follows the kept points and the bands, so one 60-sd outlier cannot flatten the picture.
    core = np.concatenate([kept["value"].to_numpy(float), q05[np.isfinite(q05)], q95[np.isfinite(q95)]])
    if core.size:
        lo, hi = np.nanquantile(core, [0.005, 0.995]) if len(core) > 200 else (np.nanmin(core), np.nanmax(core))
        pad = 0.08 * (hi - lo) if hi > lo else max(abs(hi) * 0.05, 1.0)
        y_range = (float(lo - pad), float(hi + pad))
    else:
        y_range = (0.0, 1.0)
    out["off_scale"] = (out["value"] < y_range[0]) | (out["value"] > y_range[1])
    out["shown_value"] = out["value"].clip(y_range[0], y_range[1])

    if target is None:
        target = days[-1] if len(days) else pd.Timestamp("NaT")
    target = pd.Timestamp(target).normalize()
    level = dict(zip(days, median, strict=False))
    marks = []
    if target in level:
        marks.append({"kind": "target", "label": f"{target:%Y-%m-%d} (today)", "day": target,
                      "level": level[target], "direction": ""})
    rows = rows if rows is not None else pd.DataFrame()
    for _, r in rows.iterrows():
        ref_day = pd.Timestamp(r["reference_day"]).normalize()
        if ref_day in level and r["reference"] != "scan":
            marks.append({"kind": "reference", "label": str(r["reference"]), "day": ref_day,
                          "level": level[ref_day], "direction": r.get("direction", "") if r.get("is_alert") else ""})
    alerting = rows[rows["is_alert"].astype(bool)] if len(rows) else rows
    for change in sorted({pd.Timestamp(t) for t in alerting.get("change_timestamp", []) if pd.notna(t)}):
        direction = str(alerting.loc[alerting["change_timestamp"] == change, "direction"].iloc[0])
        day = change.normalize()
        marks.append({"kind": "change", "label": f"change {change:%Y-%m-%d %H:%M} ({direction})", "day": change,
                      "level": level.get(day, np.nan), "direction": direction})
    markers = pd.DataFrame(marks, columns=["kind", "label", "day", "level", "direction"])
    # Several references may share a day (7d and "version N"): one marker with both labels.
    if len(markers):
        markers = (markers.groupby(["kind", "day"], as_index=False, sort=False)
                   .agg(label=("label", ", ".join), level=("level", "first"), direction=("direction", "max")))

    n_text, noise_text = _mode_text(modes_row)
    key = name or (str(points["series_key"].iat[0]) if points is not None and "series_key" in points.columns
                   and len(points) else "series")
    n_off = int(out["off_scale"].sum())
    notes = [f"{len(kept)} points, {len(out)} outliers" + (f" ({n_off} off scale, drawn at the edge)" if n_off else "")]
    return SeriesLayers(title=f"{key} — {n_text}, {noise_text}", points=kept, outliers=out, days=days,
                        median=median, q05=q05, q25=q25, q75=q75, q95=q95, markers=markers, y_range=y_range,
                        notes=notes)


def _band(x, lo, hi, color: str, name: str) -> list[go.Scatter]:
    return [
        go.Scatter(x=x, y=hi, mode="lines", line={"width": 0}, hoverinfo="skip", showlegend=False,
                   legendgroup=name),
        go.Scatter(x=x, y=lo, mode="lines", line={"width": 0}, fill="tonexty", fillcolor=color, name=name,
                   legendgroup=name, hoverinfo="skip"),
    ]


def series_figure(points: pd.DataFrame, days: pd.DatetimeIndex, draws: np.ndarray, rows: pd.DataFrame | None = None,
                  modes_row=None, target: pd.Timestamp | None = None, name: str | None = None,
                  height: int = 420) -> go.Figure:
    """Points (outliers marked), posterior median with 50/90% bands, the alert point and the compared days."""
    L = series_layers(points, days, draws, rows, modes_row, target, name)
    fig = go.Figure()
    for trace in _band(L.days, L.q05, L.q95, BAND90, "90% band") + _band(L.days, L.q25, L.q75, BAND50, "50% band"):
        fig.add_trace(trace)
    fig.add_trace(go.Scatter(x=L.days, y=L.median, mode="lines", line={"color": MEDIAN, "width": 2},
                             name="posterior median", hovertemplate="%{x|%Y-%m-%d}<br>level %{y:.4g}<extra></extra>"))
    fig.add_trace(go.Scatter(x=L.points["timestamp"], y=L.points["value"], mode="markers", name="points",
                             marker={"size": 4, "color": "rgba(60,60,60,0.55)"},
                             hovertemplate="%{x|%Y-%m-%d %H:%M}<br>%{y:.4g}<extra></extra>"))
    if len(L.outliers):
        symbols = np.where(L.outliers["off_scale"], np.where(L.outliers["value"] > L.y_range[1],
                                                             "triangle-up-open", "triangle-down-open"), "x-thin-open")
        fig.add_trace(go.Scatter(x=L.outliers["timestamp"], y=L.outliers["shown_value"], mode="markers",
                                 name="outliers (ignored)", customdata=L.outliers["value"],
                                 marker={"size": 8, "color": "#e67e22", "symbol": list(symbols),
                                         "line": {"width": 1.5, "color": "#e67e22"}},
                                 hovertemplate="%{x|%Y-%m-%d %H:%M}<br>outlier %{customdata:.4g}<extra></extra>"))
    styles = {"target": ("star", 15, "#000000", "today"), "reference": ("diamond", 11, "#8e44ad", "compared days"),
              "change": ("circle-open", 18, None, "change point")}
    for kind, (symbol, size, color, label) in styles.items():
        m = L.markers[L.markers["kind"] == kind] if len(L.markers) else L.markers
        if m is None or m.empty:
            continue
        colors = [color or direction_color(d) for d in m["direction"]]
        fig.add_trace(go.Scatter(x=m["day"], y=m["level"], mode="markers+text" if kind == "reference" else "markers",
                                 text=m["label"] if kind == "reference" else None, textposition="top center",
                                 name=label, customdata=m["label"],
                                 marker={"symbol": symbol, "size": size, "color": colors,
                                         "line": {"width": 2.5, "color": colors}},
                                 hovertemplate="%{customdata}<br>level %{y:.4g}<extra></extra>"))
    first = L.points["timestamp"].min() if len(L.points) else (L.days[0] if len(L.days) else None)
    if first is not None and len(L.days):  # the window before the first point is extrapolation: not shown
        fig.update_xaxes(range=[pd.Timestamp(first) - pd.Timedelta(days=3), L.days[-1] + pd.Timedelta(days=2)])
    fig.update_layout(title={"text": L.title, "font": {"size": 15}}, height=height, template="plotly_white",
                      margin={"l": 60, "r": 20, "t": 50, "b": 40}, legend={"orientation": "h", "y": -0.15},
                      yaxis={"range": list(L.y_range), "title": "value"}, hovermode="closest")
    fig.add_annotation(text="; ".join(L.notes), xref="paper", yref="paper", x=0, y=1.0, yanchor="bottom",
                       showarrow=False, font={"size": 11, "color": "#555"})
    return fig


def comparison_figure(days: pd.DatetimeIndex, draws: np.ndarray, rows: pd.DataFrame, target: pd.Timestamp,
                      min_change_pct: float = 2.0, height: int = 340) -> go.Figure:
    """Distributions of the % change of `target`'s level against each compared day (the rows' references).

    The spline comparisons are violins of the posterior draws; a `scan` row (the change-point scan has
    no draws) is its median with the 80% interval. ±`min_change_pct` is the alert gate.
    """
    days = pd.DatetimeIndex(days)
    idx = {d: i for i, d in enumerate(days)}
    target = pd.Timestamp(target).normalize()
    fig = go.Figure()
    for _, r in rows.iterrows():
        label = f"{r['reference']} ({pd.Timestamp(r['reference_day']):%m-%d})"
        color = direction_color(r["direction"]) if r.get("is_alert") else NEUTRAL
        ref_day = pd.Timestamp(r["reference_day"]).normalize()
        hover = (f"{r['reference']}: median {r['median_pct']:+.2f}% "
                 f"[{r['lo80_pct']:+.2f}, {r['hi80_pct']:+.2f}] (80%), P(worse) {r['p_worse']:.2f}")
        if r["reference"] != "scan" and target in idx and ref_day in idx and len(draws):
            pct = pct_change_draws(np.asarray(draws, dtype=float), idx[target], idx[ref_day])
            fig.add_trace(go.Violin(y=pct, name=label, line_color=color, fillcolor=color, opacity=0.55,
                                    box_visible=True, meanline_visible=False, points=False, spanmode="hard",
                                    hoveron="violins", text=hover, hoverinfo="text"))
        else:
            fig.add_trace(go.Scatter(x=[label], y=[r["median_pct"]], mode="markers", name=label,
                                     marker={"size": 12, "color": color, "symbol": "diamond"},
                                     error_y={"type": "data", "symmetric": False,
                                              "array": [r["hi80_pct"] - r["median_pct"]],
                                              "arrayminus": [r["median_pct"] - r["lo80_pct"]]},
                                     hovertext=hover, hoverinfo="text"))
    for y in (-min_change_pct, min_change_pct):
        fig.add_hline(y=y, line={"dash": "dot", "color": "#999", "width": 1})
    fig.add_hline(y=0, line={"color": "#444", "width": 1})
    fig.update_layout(title={"text": f"% change of the level on {target:%Y-%m-%d} vs each compared day",
                             "font": {"size": 14}},
                      height=height, template="plotly_white", showlegend=False,
                      margin={"l": 60, "r": 20, "t": 45, "b": 40}, yaxis={"title": "% change", "zeroline": False})
    return fig


def binned_rates(rates: pd.DataFrame, bin_hours: int, min_usage_hours: float, min_events: float,
                 mass: float = 0.95) -> pd.DataFrame:
    """`crash_rates` rows (one measure) summed over platforms per version and `bin_hours` of age.

    The interval is the Jeffreys one widened by the largest day-dispersion in the bin (conservative);
    a bin under `min_usage_hours` or `min_events` crashes is flagged `thin`.
    """
    cols = ["version", "age_lo", "age_hi", "crashes", "usage_hours", "rate", "lo", "hi", "thin"]
    if rates.empty:
        return pd.DataFrame(columns=cols)
    r = rates.assign(age_lo=(rates["age_hour"] // bin_hours) * bin_hours)
    g = r.groupby(["version", "age_lo"], as_index=False).agg(
        crashes=("crashes", "sum"), usage_hours=("usage_hours", "sum"), dispersion=("dispersion_day", "max"))
    g["age_hi"] = g["age_lo"] + bin_hours
    s = R.rate_summary(g["crashes"], g["usage_hours"], mass=mass, dispersion=g["dispersion"].fillna(1.0))
    g["rate"], g["lo"], g["hi"] = s["rate"], s["lo"], s["hi"]
    g["thin"] = (g["usage_hours"] < min_usage_hours) | (g["crashes"] < min_events)
    return g[cols].sort_values(["version", "age_lo"]).reset_index(drop=True)


def stability_figure(rates: pd.DataFrame, versions: list[str], title: str, status: str | None = None,
                     reason: str = "", bin_hours: int | None = None, max_age_hours: int | None = None,
                     min_usage_hours: float = 1000.0, min_events: float = 10.0, height: int = 380) -> go.Figure:
    """Crashes per 1,000 usage hours vs hours since release for `versions` (latest first), 95% intervals.

    `rates`: `crash_rates` rows of one channel and measure (any platforms, any days). Hover shows each
    bin's crashes and usage hours next to its rate; thin bins are open markers labelled "insufficient
    data", and a `status` of `insufficient_data` (from `stability_alerts`) is written on the figure.
    """
    rates = rates[rates["version"].astype(str).isin([str(v) for v in versions])]
    if max_age_hours is not None:
        rates = rates[rates["age_hour"] < max_age_hours]
    if bin_hours is None:
        span = int(rates["age_hour"].max()) + 1 if len(rates) else 24
        bin_hours = 6 if span <= 96 else 12 if span <= 24 * 7 else 24
    b = binned_rates(rates.assign(version=rates["version"].astype(str)), bin_hours, min_usage_hours, min_events)
    fig = go.Figure()
    for i, version in enumerate(str(v) for v in versions):
        v = b[b["version"] == version]
        color = VERSION_COLORS[min(i, len(VERSION_COLORS) - 1)]
        label = f"{version} ({'latest' if i == 0 else 'previous'})"
        if v.empty:
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"{label}: no data",
                                     marker={"color": color}))
            continue
        x = (v["age_lo"] + v["age_hi"]) / 2.0
        fill = color.lstrip("#")
        rgba = f"rgba({int(fill[0:2], 16)},{int(fill[2:4], 16)},{int(fill[4:6], 16)},0.15)"
        for trace in _band(x, v["lo"], v["hi"], rgba, f"{label} 95% interval"):
            fig.add_trace(trace)
        hover = [
            f"version {version}, hours {lo}–{hi} since release<br>{k:,.0f} crashes in {u:,.0f} usage hours<br>"
            + (f"rate {rt:.3g} per 1k h [{a:.3g}, {z:.3g}] (95%)" if np.isfinite(rt) else "no usage")
            + (f"<br><b>{INSUFFICIENT}</b> (usage &lt; {min_usage_hours:,.0f} h or &lt; {min_events:,.0f} crashes)"
               if thin else "")
            for lo, hi, k, u, rt, a, z, thin in zip(v["age_lo"], v["age_hi"], v["crashes"], v["usage_hours"],
                                                   v["rate"], v["lo"], v["hi"], v["thin"], strict=True)
        ]
        fig.add_trace(go.Scatter(
            x=x, y=v["rate"], mode="lines+markers", name=label, hovertext=hover, hoverinfo="text",
            line={"color": color, "width": 2},
            marker={"color": color, "size": 8, "symbol": ["circle-open" if t else "circle" for t in v["thin"]]}))
    notes = []
    if status == "insufficient_data":
        notes.append(f"<b>{INSUFFICIENT}</b>" + (f": {reason}" if reason else ""))
    if len(b) and b["thin"].any():
        notes.append(f"open markers: {INSUFFICIENT} in that bin")
    if b.empty:
        notes.append(f"<b>{INSUFFICIENT}</b>: no usage in these releases")
    for j, note in enumerate(notes):
        fig.add_annotation(text=note, xref="paper", yref="paper", x=0.01, y=0.98 - 0.08 * j, showarrow=False,
                           xanchor="left", yanchor="top", font={"size": 12, "color": REGRESSION if j == 0 else "#555"},
                           bgcolor="rgba(255,255,255,0.8)")
    fig.update_layout(title={"text": title, "font": {"size": 14}}, height=height, template="plotly_white",
                      margin={"l": 60, "r": 20, "t": 45, "b": 40}, hovermode="closest",
                      xaxis={"title": f"hours since release ({bin_hours} h bins)", "rangemode": "tozero"},
                      yaxis={"title": "crashes per 1,000 usage hours", "rangemode": "tozero"},
                      legend={"orientation": "h", "y": -0.2})
    return fig
