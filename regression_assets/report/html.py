"""The day's report as one self-contained HTML page (plotly.js inline once; no network needed to view it).

`build_report` takes the day's frames (alert rows, points, posterior draws, modes, crash rates, stability
alerts) and returns the page and its counts; `write_report` writes it atomically. No Dagster import.
"""

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from regression_assets.report.figures import comparison_figure, series_figure, stability_figure

PLOT_CONFIG = {"displaylogo": False, "responsive": True}
# Measures always drawn when present; any other measure is drawn when it alerts or lacks data.
DEFAULT_MEASURES = ("main_crashes", "content_crashes")


@dataclass
class SeriesInputs:
    """What the series and comparison figures of one alerting series need."""

    points: pd.DataFrame
    days: pd.DatetimeIndex
    draws: np.ndarray
    modes_row: pd.DataFrame | None = None


@dataclass
class Report:
    html: str
    alerts: int  # alerting series (one section each)
    plots: int  # plotly figures on the page
    stability_alerts: int
    insufficient_data: int
    missing_posteriors: list[str] = field(default_factory=list)


def rank_alerts(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per alerting series and direction, most severe first.

    Regressions come before improvements; within each, by |magnitude| × P, where magnitude is the
    largest |median %| of the firing comparisons and P their largest probability of that direction.
    """
    cols = ["series_key", "suite", "platform", "direction", "magnitude_pct", "probability", "severity",
            "change_day", "comparisons", "alert_id"]
    a = rows[rows["is_alert"].astype(bool)].copy() if len(rows) else pd.DataFrame()
    if a.empty:
        return pd.DataFrame(columns=cols)
    a["p"] = np.where(a["direction"] == "regression", a["p_worse"], 1.0 - a["p_worse"])
    out = []
    for (key, direction), g in a.groupby(["series_key", "direction"], sort=False):
        best = g.loc[g["median_pct"].abs().idxmax()]
        change = pd.to_datetime(g["change_timestamp"]).dropna()
        out.append({
            "series_key": key, "suite": best.get("suite", ""), "platform": best.get("platform", ""),
            "direction": direction, "magnitude_pct": float(best["median_pct"]), "probability": float(g["p"].max()),
            "change_day": change.dt.normalize().mode().iloc[0] if len(change) else pd.NaT,
            "comparisons": ",".join(sorted(set(g["reference"]))), "alert_id": str(best.get("alert_id", "")),
        })
    out = pd.DataFrame(out)
    out["severity"] = out["magnitude_pct"].abs() * out["probability"]
    out["_regression_first"] = (out["direction"] != "regression").astype(int)
    out = out.sort_values(["_regression_first", "severity"], ascending=[True, False])
    return out[cols].reset_index(drop=True)


def _fig_html(fig: go.Figure, n: int) -> str:
    return pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=f"plot-{n}", config=PLOT_CONFIG)


def _table(df: pd.DataFrame, cls: str = "") -> str:
    if df.empty:
        return "<p class='none'>none</p>"
    return df.to_html(index=False, escape=True, border=0, classes=cls or None, na_rep="")


def _fmt_pct(x: float) -> str:
    return f"{x:+.2f}%" if pd.notna(x) else ""


def _counts(df: pd.DataFrame, side: str) -> list[str]:
    """'k crashes / u h' of the latest (`side` = latest) or the reference releases (`ref`): never a bare rate."""
    return [f"{k:,.0f} crashes / {u:,.0f} h" if pd.notna(u) else "" for k, u in
            zip(df[f"{side}_crashes"], df[f"{side}_usage_hours"], strict=True)]


def _stability_versions(rates: pd.DataFrame, latest: str | None, day: pd.Timestamp) -> list[str]:
    """[latest, previous] by release time (the latest from `stability_alerts` when it names one)."""
    rel = (rates[rates["release_time"] < day + pd.Timedelta(days=1)]
           .groupby("version", as_index=False)["release_time"].min().sort_values("release_time"))
    order = [str(v) for v in rel["version"]]
    if not order:
        return []
    if latest is None or latest not in order:
        today = rates[(pd.to_datetime(rates["day"]) == day) & (rates["usage_hours"] > 0)]
        latest = str(today.sort_values("release_time")["version"].iloc[-1]) if len(today) else order[-1]
    i = order.index(latest)
    return [latest] + ([order[i - 1]] if i > 0 else [])


def stability_panels(day: pd.Timestamp, rates: pd.DataFrame, stability_alerts: pd.DataFrame,
                     min_usage_hours: float = 1000.0, min_events: float = 10.0) -> list[tuple[str, str, go.Figure]]:
    """(channel, measure, figure) for each channel: the default measures, and any that alert or lack data."""
    panels = []
    sa = stability_alerts if len(stability_alerts) else pd.DataFrame(columns=["channel", "measure", "status"])
    channels = sorted(set(rates["channel"].dropna()) | set(sa["channel"].dropna())) if len(rates) else \
        sorted(set(sa["channel"].dropna()))
    for channel in channels:
        r = rates[rates["channel"] == channel] if len(rates) else rates
        s = sa[(sa["channel"] == channel) & (sa["status"] != "score")]
        named = s["latest_version"].dropna() if "latest_version" in s.columns else pd.Series(dtype=object)
        versions = _stability_versions(r, str(named.iloc[0]) if len(named) else None, day) if len(r) else []
        flagged = set(s.loc[s["status"].isin(["alert", "insufficient_data"]), "measure"].dropna())
        present = set(r["measure"].dropna()) if len(r) else set()
        measures = [m for m in DEFAULT_MEASURES if m in present | flagged] + sorted(flagged - set(DEFAULT_MEASURES))
        for measure in measures:
            cell = s[s["measure"] == measure]
            by_status = {st: sorted(str(o) for o in g["os_name"].dropna()) for st, g in cell.groupby("status")}
            status = "insufficient_data" if "insufficient_data" in by_status else ("ok" if by_status else None)
            thin = cell[cell["status"] == "insufficient_data"]
            reason = "; ".join(f"{o}: {why}" for o, why in zip(thin["os_name"], thin["reason"], strict=True))
            m = r[r["measure"] == measure] if len(r) else r
            latest_age = m.loc[m["version"].astype(str) == versions[0], "age_hour"] if versions and len(m) else []
            max_age = int(max(latest_age)) + 1 if len(latest_age) else None
            title = f"{channel} · {measure} (all platforms): {' vs '.join(versions) or 'no release'}"
            verdict = [f"{st.replace('_', ' ')} on {', '.join(oses)}" for st, oses in sorted(by_status.items())
                       if st != "ok"]
            if by_status:
                title += " — " + ("; ".join(verdict) if verdict else "ok")
            fig = stability_figure(m if len(m) else pd.DataFrame(columns=["version", "age_hour"]), versions, title,
                                   status=status, reason=reason, max_age_hours=max_age,
                                   min_usage_hours=min_usage_hours, min_events=min_events)
            panels.append((channel, measure, fig))
    return panels


def build_report(day, alert_rows: pd.DataFrame, series: dict[str, SeriesInputs], rates: pd.DataFrame,
                 stability_alerts: pd.DataFrame, min_change_pct: float = 2.0, title: str = "Regression report") -> Report:
    """The page for `day`: alerts by severity (series plot + comparison distributions), then stability.

    `alert_rows`: the day's `regression_alerts` rows; `series`: {series_key: SeriesInputs} for the
    alerting series (a missing one is listed, not drawn); `rates`: `crash_rates` rows up to the day of
    the channels' latest and previous releases; `stability_alerts`: the day's rows.
    """
    day = pd.Timestamp(day).normalize()
    ranked = rank_alerts(alert_rows)
    rates = rates if rates is not None else pd.DataFrame()
    stability_alerts = stability_alerts if stability_alerts is not None else pd.DataFrame()
    n, body, missing = 0, [], []

    body.append(f"<h2>Performance alerts ({len(ranked)})</h2>")
    if len(ranked):
        body.append(_table(ranked.assign(
            magnitude=ranked["magnitude_pct"].map(_fmt_pct), P=ranked["probability"].astype(float).round(3),
            change_day=pd.to_datetime(ranked["change_day"]).dt.strftime("%Y-%m-%d"),
        )[["suite", "platform", "direction", "magnitude", "P", "change_day", "comparisons"]], "summary"))
    else:
        body.append("<p class='none'>No alert today.</p>")
    for i, a in ranked.iterrows():
        key = a["series_key"]
        rows = alert_rows[alert_rows["series_key"] == key].sort_values("reference_day", ascending=False)
        head = (f"{i + 1}. {a['suite']} · {a['platform']} — {a['direction']} {_fmt_pct(a['magnitude_pct'])}, "
                f"P = {a['probability']:.2f}")
        body.append(f"<section class='alert {html.escape(a['direction'])}' data-alert-id='{html.escape(a['alert_id'])}' "
                    f"data-series='{html.escape(key)}'><h3>{html.escape(head)}</h3>")
        show = rows.assign(
            median=rows["median_pct"].map(_fmt_pct),
            interval80=[f"[{lo:+.2f}, {hi:+.2f}]" for lo, hi in zip(rows["lo80_pct"], rows["hi80_pct"], strict=True)],
            reference_day=pd.to_datetime(rows["reference_day"]).dt.strftime("%Y-%m-%d"),
            P_worse=rows["p_worse"].round(3),
        )[["reference", "reference_day", "median", "interval80", "P_worse", "direction"]]
        body.append(_table(show, "rows"))
        inputs = series.get(key)
        if inputs is None or len(inputs.days) == 0:
            missing.append(key)
            body.append("<p class='missing'>No posterior draws stored for this series and day: no plot.</p>")
        else:
            figs = [series_figure(inputs.points, inputs.days, inputs.draws, rows, inputs.modes_row, target=day,
                                  name=key),
                    comparison_figure(inputs.days, inputs.draws, rows, day, min_change_pct=min_change_pct)]
            for fig in figs:
                n += 1
                body.append(f"<div class='plot'>{_fig_html(fig, n)}</div>")
        body.append("</section>")

    sa = stability_alerts
    status = sa["status"] if len(sa) else pd.Series(dtype=object)
    alerts = sa[status == "alert"] if len(sa) else sa
    thin = sa[status == "insufficient_data"] if len(sa) else sa
    body.append(f"<h2>Release stability ({len(alerts)} alerts, {len(thin)} with insufficient data)</h2>")
    if len(alerts):
        body.append(_table(alerts.assign(
            latest=_counts(alerts, "latest"), previous=_counts(alerts, "ref"),
            rate_ratio=[f"{m:.2f} [{lo:.2f}, {hi:.2f}]" for m, lo, hi in
                        zip(alerts["ratio_median"], alerts["ratio_lo80"], alerts["ratio_hi80"], strict=True)],
            P=alerts["p_ratio_gt_threshold_adjusted"].round(3),
        )[["channel", "os_name", "measure", "latest_version", "previous_versions", "latest", "previous",
           "rate_ratio", "P", "severity"]], "stability"))
    body.append(f"<h3 id='insufficient-data'>Insufficient data ({len(thin)})</h3>")
    if len(thin):
        body.append(_table(thin.assign(latest=_counts(thin, "latest"), previous=_counts(thin, "ref"))[
            ["channel", "os_name", "measure", "latest_version", "previous_versions", "latest", "previous",
             "reason"]], "insufficient"))
    else:
        body.append("<p class='none'>none</p>")
    panels = stability_panels(day, rates, sa) if len(rates) or len(sa) else []
    for channel, measure, fig in panels:
        n += 1
        body.append(f"<section class='stability' data-channel='{html.escape(channel)}' "
                    f"data-measure='{html.escape(measure)}'><div class='plot'>{_fig_html(fig, n)}</div></section>")
    if not panels:
        body.append("<p class='none'>No crash rates for this day.</p>")

    page = _PAGE.format(
        title=html.escape(f"{title} {day:%Y-%m-%d}"), day=f"{day:%Y-%m-%d}", plotlyjs=get_plotlyjs(), plots=n,
        alerts=len(ranked), body="\n".join(body),
    )
    return Report(html=page, alerts=len(ranked), plots=n, stability_alerts=len(alerts), insufficient_data=len(thin),
                  missing_posteriors=missing)


def report_path(directory: Path | str, day) -> Path:
    return Path(directory) / f"regression_report_{pd.Timestamp(day):%Y-%m-%d}.html"


def write_report(page: str, path: Path | str) -> Path:
    """Write atomically (a temporary file renamed over the target): a reader never sees half a page."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="icon" href="data:,">
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem auto; max-width: 1200px;
       color: #222; padding: 0 1rem; }}
h1 {{ font-size: 1.5rem; }} h2 {{ border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }}
table {{ border-collapse: collapse; font-size: .85rem; margin: .5rem 0 1rem; }}
th, td {{ padding: .2rem .6rem; text-align: right; border-bottom: 1px solid #eee; }}
th {{ background: #f6f6f6; }} td:first-child, th:first-child {{ text-align: left; }}
section.alert {{ border-left: 4px solid #7f8c8d; padding-left: 1rem; margin: 1.5rem 0; }}
section.alert.regression {{ border-color: #c0392b; }} section.alert.improvement {{ border-color: #1e8449; }}
.none, .missing {{ color: #777; font-style: italic; }}
</style>
<script type="text/javascript">{plotlyjs}</script>
</head>
<body data-day="{day}" data-expected-plots="{plots}" data-alerts="{alerts}">
<h1>{title}</h1>
<p>Alerts of the day, most severe first (regressions, then improvements; by |magnitude| × probability).
Each plot is interactive: hover for values, drag to zoom, double-click to reset.</p>
{body}
</body>
</html>
"""
