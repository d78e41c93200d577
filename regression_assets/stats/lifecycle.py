"""Alert lifecycle: one registry row per change, with a triage status that survives every re-computation.

The registry is rebuilt from alert rows (`regression_alerts`, `stability_alerts`) by `merge_alerts`:

* a change keeps one stable `alert_key` (the first `alert_id` seen for it);
* an alert whose change point moved by a push or a few days (≤ `merge_days`) merges into the existing
  row of the same series and direction instead of opening a second one;
* merging the same rows again changes nothing (idempotent), and a status is never reset.

Statuses are Perfherder's (`treeherder/perf/models.py::PerformanceAlert`): `set_status` validates them.
Stability alerts are identified by channel, platform, measure and release (their "change" is a release).
"""

import hashlib

import numpy as np
import pandas as pd

from regression_assets.stats.detectors import direction_probability

STATUSES = ("untriaged", "acknowledged", "investigating", "invalid", "wontfix", "fixed", "backedout",
            "reassigned", "downstream")
DEFAULT_STATUS = "untriaged"

REGISTRY_COLUMNS: dict[str, str] = {
    "alert_key": "object", "kind": "object", "series_key": "object",
    "suite": "object", "platform": "object",  # perf
    "channel": "object", "os_name": "object", "measure": "object", "version": "object",  # stability
    "previous_versions": "object",
    "direction": "object", "change_day": "datetime64[ns]", "change_day_min": "datetime64[ns]",
    "change_day_max": "datetime64[ns]", "first_seen": "datetime64[ns]", "last_seen": "datetime64[ns]",
    "magnitude_pct": "float64", "magnitude_pct_max": "float64", "p": "float64", "p_max": "float64",
    "severity": "object", "comparisons": "object", "alert_ids": "object", "revision": "object",
    "status": "object", "status_changed_at": "datetime64[ns]", "note": "object",
}
STATUS_LOG_COLUMNS = {"alert_key": "object", "status": "object", "note": "object", "changed_at": "datetime64[ns]"}

_TEXT_FIELDS = ("suite", "platform", "channel", "os_name", "measure", "version", "previous_versions")


def empty_registry() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in REGISTRY_COLUMNS.items()})


def conform_registry(df: pd.DataFrame) -> pd.DataFrame:
    """Exactly REGISTRY_COLUMNS, in order and type (a registry written by an older version gains columns)."""
    out = pd.DataFrame(index=df.index)
    for col, dtype in REGISTRY_COLUMNS.items():
        values = df[col] if col in df.columns else pd.Series(None, index=df.index, dtype="object")
        if dtype.startswith("datetime"):
            out[col] = pd.to_datetime(values).astype(dtype)
        elif dtype == "float64":
            out[col] = pd.to_numeric(values).astype(dtype)
        else:
            out[col] = values.astype(object).where(values.notna(), None)
    out["status"] = out["status"].fillna(DEFAULT_STATUS)
    out["note"] = out["note"].fillna("")
    return out.sort_values(["first_seen", "alert_key"], kind="stable").reset_index(drop=True)


def stability_alert_id(channel: str, os_name: str, measure: str, version: str) -> str:
    """Stable id of a stability alert: the release (channel, version) on one platform and measure."""
    raw = "\x00".join(["stability", str(channel), str(os_name), str(measure), str(version)])
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------- evidence


def alert_evidence(new_alert_rows: pd.DataFrame) -> pd.DataFrame:
    """Alert rows of either table → one frame of evidence (one row per alerting row), others dropped.

    `regression_alerts` rows are recognised by `alert_id`/`is_alert`, `stability_alerts` rows by
    `status == "alert"`; a frame may hold both (concatenated).
    """
    if new_alert_rows is None or new_alert_rows.empty:
        return _empty_evidence()
    parts = []
    df = new_alert_rows
    if "is_alert" in df.columns:
        ids = df["alert_id"].astype(object).where(df["alert_id"].notna(), "") if "alert_id" in df.columns else ""
        perf = df[df["is_alert"].astype(object).where(df["is_alert"].notna(), False).astype(bool)
                  & pd.Series(ids, index=df.index).astype(str).ne("")]
        if len(perf):
            parts.append(_perf_evidence(perf))
    if "status" in df.columns and "measure" in df.columns:
        stab = df[df["status"].astype(str).eq("alert")]
        if len(stab):
            parts.append(_stability_evidence(stab))
    if not parts:
        return _empty_evidence()
    return pd.concat(parts, ignore_index=True)


_EVIDENCE = ["kind", "series_key", "alert_id", "direction", "change_day", "seen", "magnitude_pct", "p",
             "severity", "reference", "revision", *_TEXT_FIELDS]


def _empty_evidence() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c in ("change_day", "seen") else "object")
                         for c in _EVIDENCE})


def _col(df: pd.DataFrame, name: str, default=None) -> pd.Series:
    return df[name] if name in df.columns else pd.Series(default, index=df.index, dtype="object")


def _perf_evidence(a: pd.DataFrame) -> pd.DataFrame:
    direction = a["direction"].astype(str)
    p = direction_probability(direction, a["p_worse"])
    return pd.DataFrame({
        "kind": "perf", "series_key": a["series_key"].astype(str), "alert_id": a["alert_id"].astype(str),
        "direction": direction, "change_day": pd.to_datetime(a["change_timestamp"]).dt.normalize(),
        "seen": pd.to_datetime(a["partition_date"]).dt.normalize(), "magnitude_pct": a["median_pct"].astype(float),
        "p": p, "severity": "", "reference": _col(a, "reference", "").astype(str), "revision": _col(a, "revision"),
        "suite": _col(a, "suite"), "platform": _col(a, "platform"), "channel": None, "os_name": None,
        "measure": None, "version": None, "previous_versions": None,
    }).reset_index(drop=True)


def _stability_evidence(s: pd.DataFrame) -> pd.DataFrame:
    ids = [stability_alert_id(c, o, m, v) for c, o, m, v in
           zip(s["channel"], s["os_name"], s["measure"], s["latest_version"], strict=True)]
    day = pd.to_datetime(s["day"]).dt.normalize()
    ratio = pd.to_numeric(s["ratio_median"])
    return pd.DataFrame({
        "kind": "stability",
        "series_key": s["channel"].astype(str) + "/" + s["os_name"].astype(str) + "/" + s["measure"].astype(str),
        "alert_id": ids, "direction": "regression",
        # The change is the release: its first alerting day stands in for the change day.
        "change_day": day.groupby(ids).transform("min").to_numpy(),
        "seen": day, "magnitude_pct": (ratio - 1.0) * 100.0,
        "p": pd.to_numeric(_col(s, "p_ratio_gt_threshold_adjusted", np.nan)),
        "severity": _col(s, "severity", "").fillna(""), "reference": _col(s, "period", "").fillna(""),
        "revision": None, "suite": None, "platform": None, "channel": s["channel"], "os_name": s["os_name"],
        "measure": s["measure"], "version": s["latest_version"].astype(str),
        "previous_versions": _col(s, "previous_versions"),
    }).reset_index(drop=True)


# ------------------------------------------------------------------------------------------- merge


def _split(ids) -> set[str]:
    return {x for x in str(ids or "").split(",") if x}


def _days_apart(day: pd.Timestamp, lo: pd.Timestamp, hi: pd.Timestamp) -> float:
    """Days from `day` to the interval [lo, hi] (0 inside)."""
    if day < lo:
        return (lo - day).days
    if day > hi:
        return (day - hi).days
    return 0.0


_SEVERITY_RANK = {"": 0, "minor": 1, "major": 2, "critical": 3}


def merge_alerts(existing_registry: pd.DataFrame | None, new_alert_rows: pd.DataFrame,
                 merge_days: int = 3) -> pd.DataFrame:
    """Merge alert rows into the registry: one row per change, statuses kept, idempotent.

    `new_alert_rows`: rows of `regression_alerts` and/or `stability_alerts` (non-alert rows are ignored).
    An alert id already in a registry row goes to that row. Another perf alert of the same series and
    direction whose change day lies within `merge_days` of a row's change-day span (the change point
    moved by a push or a day) merges into the nearest such row; otherwise it opens a row whose
    `alert_key` is its own `alert_id`, with status "untriaged".
    """
    reg = conform_registry(existing_registry if existing_registry is not None else empty_registry())
    ev = alert_evidence(new_alert_rows)
    if ev.empty:
        return reg

    # (alert_id, direction) -> alert_key: an alert id names a series and change day, not a direction.
    owner: dict[tuple[str, str], str] = {}
    for key, ids, direction in zip(reg["alert_key"], reg["alert_ids"], reg["direction"], strict=True):
        for i in _split(ids):
            owner.setdefault((i, direction), key)
    spans = {k: (lo, hi, kind, s, d) for k, lo, hi, kind, s, d in zip(
        reg["alert_key"], reg["change_day_min"], reg["change_day_max"], reg["kind"], reg["series_key"],
        reg["direction"], strict=True)}

    # Unknown alert ids, earliest change first (deterministic): join the nearest row or open one.
    firsts = ev.groupby(["alert_id", "direction"]).agg(change_day=("change_day", "min"), kind=("kind", "first"),
                                                      series_key=("series_key", "first")).reset_index()
    for _, f in firsts.sort_values(["change_day", "alert_id", "direction"]).iterrows():
        aid = f["alert_id"]
        if (aid, f["direction"]) in owner:
            continue
        best = None
        if f["kind"] == "perf":
            for key, (lo, hi, kind, series, direction) in spans.items():
                if (kind, series, direction) != ("perf", f["series_key"], f["direction"]):
                    continue
                gap = _days_apart(f["change_day"], lo, hi)
                if gap <= merge_days and (best is None or (gap, key) < best):
                    best = (gap, key)
        key = best[1] if best else aid
        if key in spans and spans[key][4] != f["direction"]:  # the id is taken by the other direction
            key = f"{aid}-{f['direction'][:3]}"
        owner[(aid, f["direction"])] = key
        lo, hi, *_ = spans.get(key, (f["change_day"], f["change_day"]))
        spans[key] = (min(lo, f["change_day"]), max(hi, f["change_day"]), f["kind"], f["series_key"],
                      f["direction"])

    ev = ev.assign(alert_key=[owner[(i, d)] for i, d in zip(ev["alert_id"], ev["direction"], strict=True)])
    by_key = {k: g for k, g in ev.groupby("alert_key")}
    rows = {k: r for k, r in zip(reg["alert_key"], reg.to_dict("records"), strict=True)}
    for key, g in by_key.items():
        rows[key] = _combine(rows.get(key), _summarize(key, g))
    return conform_registry(pd.DataFrame(list(rows.values())) if rows else empty_registry())


def _summarize(key: str, g: pd.DataFrame) -> dict:
    """One batch's evidence about one change → registry fields (status fields left to `_combine`)."""
    last = g["seen"].max()
    latest = g[g["seen"] == last].assign(_abs=lambda x: x["magnitude_pct"].abs()).sort_values(
        ["p", "_abs", "alert_id"], ascending=[False, False, True], na_position="last").iloc[0]
    strongest = g.loc[g["magnitude_pct"].abs().fillna(-1).idxmax()]
    revisions = g.loc[g["seen"] == last, "revision"].dropna()
    revisions = revisions if len(revisions) else g["revision"].dropna()
    out = {
        "alert_key": key, "kind": latest["kind"], "series_key": latest["series_key"],
        "direction": latest["direction"], "change_day": latest["change_day"],
        "change_day_min": g["change_day"].min(), "change_day_max": g["change_day"].max(),
        "first_seen": g["seen"].min(), "last_seen": last,
        "magnitude_pct": latest["magnitude_pct"], "magnitude_pct_max": strongest["magnitude_pct"],
        "p": latest["p"], "p_max": g["p"].max(),
        "severity": max(g["severity"].fillna(""), key=lambda s: _SEVERITY_RANK.get(s, 0)),
        "comparisons": ",".join(sorted({r for r in g["reference"].fillna("") if r})),
        "alert_ids": ",".join(sorted(set(g["alert_id"]))),
        "revision": str(revisions.iloc[-1]) if len(revisions) else None,
    }
    for f in _TEXT_FIELDS:
        out[f] = latest[f]
    return out


def _rank(row: dict) -> tuple:
    p = row.get("p")
    mag = row.get("magnitude_pct")
    # A total order (ties broken by the later change day): merging the same evidence twice, or in
    # another order, gives the same row.
    return (row["last_seen"], -np.inf if pd.isna(p) else p, -np.inf if pd.isna(mag) else abs(mag),
            row["change_day"])


def _combine(old: dict | None, new: dict) -> dict:
    """Existing row ⊕ batch summary: spans and maxima widen, the latest evidence wins, status is kept."""
    if old is None:
        return {**new, "status": DEFAULT_STATUS, "status_changed_at": pd.NaT, "note": ""}
    newer = _rank(new) > _rank(old)
    out = dict(old)
    if newer:
        for f in ("change_day", "magnitude_pct", "p", "direction", *_TEXT_FIELDS):
            out[f] = new[f]
    out["revision"] = (new["revision"] if newer else old.get("revision")) or old.get("revision") or new["revision"]
    out["change_day_min"] = min(old["change_day_min"], new["change_day_min"])
    out["change_day_max"] = max(old["change_day_max"], new["change_day_max"])
    out["first_seen"] = min(old["first_seen"], new["first_seen"])
    out["last_seen"] = max(old["last_seen"], new["last_seen"])
    old_max, new_max = old.get("magnitude_pct_max"), new["magnitude_pct_max"]
    out["magnitude_pct_max"] = new_max if pd.isna(old_max) or (
        not pd.isna(new_max) and abs(new_max) > abs(old_max)) else old_max
    out["p_max"] = _nanmax(old.get("p_max"), new["p_max"])
    out["severity"] = max(old.get("severity") or "", new["severity"] or "", key=lambda s: _SEVERITY_RANK.get(s, 0))
    out["comparisons"] = ",".join(sorted(_split(old.get("comparisons")) | _split(new["comparisons"])))
    out["alert_ids"] = ",".join(sorted(_split(old.get("alert_ids")) | _split(new["alert_ids"])))
    if out["kind"] == "stability":  # the change is the release: anchored at its first alerting day
        out["change_day"] = out["change_day_min"]
    return out


def _nanmax(a, b) -> float:
    vals = [float(v) for v in (a, b) if v is not None and not pd.isna(v)]
    return max(vals) if vals else np.nan


# ------------------------------------------------------------------------------------------- status


def validate_status(status: str) -> str:
    s = str(status).strip().lower()
    if s not in STATUSES:
        raise ValueError(f"unknown status {status!r}; one of: {', '.join(STATUSES)}")
    return s


def set_status(registry: pd.DataFrame, alert_key: str, status: str, note: str = "",
               changed_at: pd.Timestamp | None = None) -> pd.DataFrame:
    """A copy of the registry with `alert_key`'s status (validated) and note set."""
    status = validate_status(status)
    reg = conform_registry(registry)
    hit = reg["alert_key"] == alert_key
    if not hit.any():
        raise KeyError(f"no alert with key {alert_key!r}")
    reg.loc[hit, "status"] = status
    reg.loc[hit, "note"] = note or ""
    reg.loc[hit, "status_changed_at"] = pd.Timestamp(changed_at) if changed_at is not None else pd.Timestamp.now(
        tz="UTC").tz_localize(None)
    return reg


def apply_status_log(registry: pd.DataFrame, status_log: pd.DataFrame | None) -> pd.DataFrame:
    """The registry with each alert's latest logged status change applied (unknown keys ignored)."""
    reg = conform_registry(registry)
    if status_log is None or status_log.empty:
        return reg
    log = status_log.assign(changed_at=pd.to_datetime(status_log["changed_at"]))
    latest = log.sort_values("changed_at", kind="stable").groupby("alert_key").tail(1).set_index("alert_key")
    hit = reg["alert_key"].isin(latest.index)
    if not hit.any():
        return reg
    keys = reg.loc[hit, "alert_key"]
    reg.loc[hit, "status"] = keys.map(latest["status"].map(validate_status)).to_numpy()
    reg.loc[hit, "note"] = keys.map(latest["note"].fillna("")).to_numpy()
    reg.loc[hit, "status_changed_at"] = keys.map(latest["changed_at"]).to_numpy()
    return reg


def resolve_key(registry: pd.DataFrame, key_or_prefix: str) -> str:
    """The alert key matching a full key or a unique prefix of at least 6 characters."""
    keys = registry["alert_key"].astype(str)
    if (keys == key_or_prefix).any():
        return key_or_prefix
    hits = keys[keys.str.startswith(key_or_prefix)] if len(key_or_prefix) >= 6 else keys.iloc[0:0]
    if len(hits) == 1:
        return str(hits.iloc[0])
    if len(hits) > 1:
        raise KeyError(f"alert key prefix {key_or_prefix!r} is ambiguous ({len(hits)} alerts)")
    raise KeyError(f"no alert with key {key_or_prefix!r}")
