"""A readable text table of the latest `stability_alerts` per channel (what `make run` prints)."""

from pathlib import Path

import duckdb
import pandas as pd

from regression_assets.resources import SCHEMA

_STATUS_ORDER = {"alert": 0, "insufficient_data": 1, "ok": 2, "score": 3}


def _fmt(x: float, spec: str = ".2f") -> str:
    return "-" if pd.isna(x) else format(x, spec)


def load_latest_alerts(duckdb_path: str | Path, schema: str = SCHEMA) -> pd.DataFrame:
    """The `stability_alerts` rows of each channel's most recent day (empty if the table is missing)."""
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = 'stability_alerts'",
            [schema],
        ).fetchone()[0]
        if not exists:
            return pd.DataFrame()
        return con.execute(
            f"""SELECT * FROM "{schema}".stability_alerts a
                WHERE day = (SELECT max(day) FROM "{schema}".stability_alerts b WHERE b.channel = a.channel)"""
        ).df()


def summarize_stability_alerts(duckdb_path: str | Path, schema: str = SCHEMA, show_ok: bool = False) -> str:
    """Alerts, "insufficient data" rows and channel scores of the latest day, as an aligned text table."""
    df = load_latest_alerts(duckdb_path, schema)
    if df.empty:
        return "stability: no stability_alerts materialized yet"
    n_alerts = int((df["status"] == "alert").sum())
    n_thin = int((df["status"] == "insufficient_data").sum())
    n_ok = int((df["status"] == "ok").sum())
    shown = df if show_ok else df[df["status"] != "ok"]
    shown = shown.assign(_o=shown["status"].map(_STATUS_ORDER)).sort_values(["channel", "_o", "os_name", "measure"])
    rows = [
        {
            "day": pd.Timestamp(r.day).date().isoformat(),
            "channel": r.channel,
            "platform": r.os_name,
            "measure": r.measure,
            "version vs previous": f"{r.latest_version} vs {r.previous_versions or '-'} ({int(r.age_hours)} h, {r.period})",
            "ratio median [80%]": (
                f"{_fmt(r.ratio_median)}" if r.status == "score"
                else f"{_fmt(r.ratio_median)} [{_fmt(r.ratio_lo80)}, {_fmt(r.ratio_hi80)}]"
            ),
            "P(ratio>1.2)": "-" if r.status == "score" else _fmt(r.p_ratio_gt_threshold_adjusted),
            "rate/1k h new|prev": f"{_fmt(r.latest_rate)}|{_fmt(r.ref_rate)}",
            "usage hours": _fmt(r.latest_usage_hours, ",.0f"),
            "events": _fmt(r.latest_crashes, ",.0f"),
            "status": r.status + (f" ({r.severity})" if r.severity else ""),
        }
        for r in shown.itertuples()
    ]
    header = (
        f"Release stability — latest day per channel: {n_alerts} alert(s), {n_thin} insufficient-data, "
        f"{n_ok} ok (P is multiplicity-adjusted; alert at P(ratio > 1.2) ≥ 0.75)"
    )
    if not rows:
        return header
    table = pd.DataFrame(rows)
    return header + "\n" + table.to_string(index=False)
