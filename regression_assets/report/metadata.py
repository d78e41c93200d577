"""Dagster metadata of one `regression_alerts` partition: a markdown summary and the series plot.

Dagster's UI renders markdown metadata, including an image given as a `data:` URI; it has no plotly
value. The plot is therefore a small static PNG of the same layers as the report's plotly figure
(`figures.series_layers`), drawn with matplotlib's Agg backend: 0.2–0.5 s and no browser. (plotly's
own PNG export, kaleido 1.x, works here with Debian's chromium but costs a ~3 s browser start in every
worker and 0.3–0.5 s a figure, and needs a browser on every machine that runs the graph.)
"""

import base64
import io

import dagster as dg
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from regression_assets.report.figures import direction_color, series_layers

PNG_SIZE_IN, PNG_DPI = (8.0, 3.4), 80


def _one_row(modes_row):
    """The modes row as a Series, or None (a missing or empty frame)."""
    if isinstance(modes_row, pd.DataFrame):
        return modes_row.iloc[0] if len(modes_row) else None
    return modes_row


def series_png(points: pd.DataFrame, days: pd.DatetimeIndex, draws: np.ndarray, rows: pd.DataFrame | None = None,
               modes_row=None, target: pd.Timestamp | None = None) -> bytes:
    """The series picture as a 640×272 palette PNG (~10–15 kB): points, outliers, 50/90% bands, markers."""
    L = series_layers(points, days, draws, rows, modes_row, target)
    # A bare Figure (Agg canvas), not pyplot: no global state, safe in threads, nothing to close.
    fig = Figure(figsize=PNG_SIZE_IN, dpi=PNG_DPI)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.07, right=0.99, top=0.91, bottom=0.17)  # fixed: tight_layout costs a draw
    ax.fill_between(L.days, L.q05, L.q95, color="#2980b9", alpha=0.15, lw=0, label="90% band")
    ax.fill_between(L.days, L.q25, L.q75, color="#2980b9", alpha=0.30, lw=0, label="50% band")
    ax.plot(L.days, L.median, color="#1f5f8b", lw=1.6, label="posterior median")
    ax.scatter(L.points["timestamp"], L.points["value"], s=4, color="#3c3c3c", alpha=0.5, lw=0, label="points")
    if len(L.outliers):
        ax.scatter(L.outliers["timestamp"], L.outliers["shown_value"], s=22, marker="x", color="#e67e22",
                   lw=1.2, label="outliers")
    styles = {"target": ("*", 150, "#000000", "today"), "reference": ("D", 40, "#8e44ad", "compared days"),
              "change": ("o", 130, None, "change point")}
    for kind, (marker, size, color, label) in styles.items():
        m = L.markers[L.markers["kind"] == kind] if len(L.markers) else L.markers
        if m is None or m.empty:
            continue
        colors = [color or direction_color(d) for d in m["direction"]]
        if kind == "change":
            ax.scatter(m["day"], m["level"], s=size, marker=marker, facecolors="none", edgecolors=colors,
                       lw=2, label=label, zorder=5)
        else:
            ax.scatter(m["day"], m["level"], s=size, marker=marker, color=colors, label=label, zorder=5)
        if kind == "reference":
            for _, r in m.iterrows():
                ax.annotate(r["label"], (r["day"], r["level"]), textcoords="offset points", xytext=(0, 7),
                            ha="center", fontsize=7, color="#5b2c6f")
    ax.set_ylim(*L.y_range)
    first = L.points["timestamp"].min() if len(L.points) else (L.days[0] if len(L.days) else None)
    if first is not None and len(L.days):
        ax.set_xlim(pd.Timestamp(first) - pd.Timedelta(days=3), L.days[-1] + pd.Timedelta(days=2))
    ax.set_title(L.title, fontsize=9, loc="left")
    ax.set_title("; ".join(L.notes), fontsize=7, loc="right", color="#555")
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.25)
    ax.legend(fontsize=6, ncol=8, loc="upper center", bbox_to_anchor=(0.5, -0.09), frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    # A 128-colour palette keeps the metadata small (it is stored in the event log of every run).
    img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


def summary_markdown(points: pd.DataFrame, rows: pd.DataFrame, modes_row=None, day=None, series_key=None) -> str:
    """A few lines and one table: points and outliers, modes and noise, each comparison with its decision."""
    n_out = int(points["is_outlier"].sum()) if len(points) and "is_outlier" in points else 0
    mode = _one_row(modes_row)
    lines = [f"**{series_key or ''}** on {pd.Timestamp(day):%Y-%m-%d}" if day is not None else f"**{series_key or ''}**",
             "",
             f"- points: {len(points) - n_out}, outliers (ignored): {n_out}"]
    if mode is not None:
        lines.append(f"- modes: {int(mode['n_modes'])} (offsets % {mode.get('mode_offsets_pct', '')}), "
                     f"noise profile: {mode['noise_profile']}")
    else:
        lines.append("- modes: not computed (under 10 points)")
    alerts = rows[rows["is_alert"].astype(bool)] if len(rows) else rows
    if len(alerts):
        for _, a in alerts.iterrows():
            lines.append(f"- **{a['direction'].upper()}** vs {a['reference']}: {a['median_pct']:+.2f}% "
                         f"[{a['lo80_pct']:+.2f}, {a['hi80_pct']:+.2f}] (80%), P(worse) = {a['p_worse']:.2f}, "
                         f"change at {pd.Timestamp(a['change_timestamp']):%Y-%m-%d %H:%M}")
    else:
        lines.append("- no alert")
    if len(rows):
        table = rows.assign(reference_day=pd.to_datetime(rows["reference_day"]).dt.strftime("%Y-%m-%d"))[
            ["reference", "reference_day", "median_pct", "lo80_pct", "hi80_pct", "p_worse", "direction"]]
        lines += ["", table.to_markdown(index=False, floatfmt=".3g")]
    return "\n".join(lines)


def _plot_markdown(points, days, draws, rows, modes_row, day, key) -> str:
    encoded = base64.b64encode(series_png(points, days, draws, rows, modes_row, target=day)).decode("ascii")
    return f"![{key or 'series'}](data:image/png;base64,{encoded})"


def alert_partition_metadata(points: pd.DataFrame, days: pd.DatetimeIndex, draws: np.ndarray, rows: pd.DataFrame,
                             modes_row=None, day=None, with_plot: bool = True) -> dict:
    """Metadata of one date × series partition of `regression_alerts`: summary, plot, counts.

    `points`: its `cleaned_series` rows; `days`, `draws`: `frame_to_draws` of its posterior; `rows`:
    `evaluate_day`'s rows; `modes_row`: its `series_modes` row (a one-row frame, a Series, or None).
    `with_plot=False` skips the image (~0.3 s to draw), leaving a note where it would be.
    """
    key = str(points["series_key"].iat[0]) if "series_key" in points.columns and len(points) else None
    if day is None and "partition_date" in points.columns and len(points):
        day = points["partition_date"].iat[0]
    n_alerts = int(rows["is_alert"].astype(bool).sum()) if len(rows) else 0
    mode = _one_row(modes_row)
    meta = {
        "summary": dg.MetadataValue.md(summary_markdown(points, rows, modes_row, day, key)),
        "plot": dg.MetadataValue.md(_plot_markdown(points, days, draws, rows, modes_row, day, key) if with_plot else
                                    "_Drawn for alerting days and a backfill's last day: re-materialize this "
                                    "partition alone to draw it._"),
        "alert_rows": n_alerts,
        "direction": dg.MetadataValue.text(
            ",".join(sorted(set(rows.loc[rows["is_alert"].astype(bool), "direction"]))) if n_alerts else "none"),
    }
    if mode is not None:
        meta["n_modes"] = int(mode["n_modes"])
        meta["noise_profile"] = dg.MetadataValue.text(str(mode["noise_profile"]))
    return meta


__all__ = ["alert_partition_metadata", "series_png", "summary_markdown"]
