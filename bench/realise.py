"""The real Mozilla series: REALISE (TCPD F1) and the Talos conformance set.

REALISE (`/work/shared/data/realise/`): each `datasets/<id>.json` is one series (one value per push,
`time.raw` the push times); `annotations.json` maps id -> annotator -> 0-based change indices. A method's
alert timestamps are mapped to the index of the first point at or after them, and scored with the TCPD
F1 (margin 5 points, index 0 counted in every set, recall averaged over annotators; bench/score.py).
The direction of a metric is not in the data set: every series is run with lower_is_better=True (the
TCPD F1 ignores direction).

Talos (`/work/shared/data/talos/`): rows `[run_id, [..], push_timestamp, value, ..]`, several rows per
push; `expected_perfherder_changes.json` lists the push times where Perfherder's t-test flags a change,
before its 2 % magnitude gate (which keeps 9 of the 12).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.score import tcpd_f_measure

DATA = Path("/work/shared/data")


def load_realise(root: Path = DATA / "realise") -> tuple[pd.DataFrame, dict[str, dict]]:
    """(points frame in the CLI's input shape, annotations by series id)."""
    ann = json.loads((root / "annotations.json").read_text())
    frames = []
    for p in sorted((root / "datasets").glob("*.json")):
        d = json.loads(p.read_text())
        vals = np.asarray(d["series"][0]["raw"], dtype=np.float64)
        ts = pd.to_datetime(pd.Series(d["time"]["raw"]))
        assert len(vals) == len(ts) == d["n_obs"]
        frames.append(
            pd.DataFrame({"series_id": p.stem, "timestamp": ts, "value": vals, "lower_is_better": True})
        )
    points = pd.concat(frames, ignore_index=True)
    return points, {sid: ann[sid] for sid in points["series_id"].unique() if sid in ann}


def alerts_to_indices(timestamps: np.ndarray, alert_ts) -> list[int]:
    t = np.asarray(timestamps, dtype="datetime64[ns]")
    a = np.asarray(pd.to_datetime(pd.Series(alert_ts)).to_numpy(), dtype="datetime64[ns]")
    idx = np.searchsorted(t, a, side="left")
    return sorted({int(i) for i in idx if 0 <= i < len(t)})


def score_realise(points: pd.DataFrame, annotations: dict, alerts: pd.DataFrame, margin: int = 5) -> dict:
    """Per-series TCPD (F1, P, R) and their means over series."""
    per = {}
    for sid, g in points.groupby("series_id", sort=True):
        g = g.sort_values("timestamp", kind="stable")
        a = alerts[alerts["series_id"] == sid] if len(alerts) else alerts
        pred = alerts_to_indices(g["timestamp"].to_numpy(), a["timestamp"]) if len(a) else []
        f, p, r = tcpd_f_measure(annotations[sid], pred, margin=margin)
        per[sid] = {"f1": f, "precision": p, "recall": r, "n_pred": len(pred), "n_obs": len(g)}
    mean = {k: float(np.mean([v[k] for v in per.values()])) for k in ("f1", "precision", "recall")}
    return {"mean": mean, "per_series": per}


def load_talos(root: Path = DATA / "talos") -> tuple[pd.DataFrame, dict[str, list[int]]]:
    exp = json.loads((root / "expected_perfherder_changes.json").read_text())
    frames = []
    for name in sorted(k for k in exp if not k.startswith("_")):
        rows = json.loads((root / name).read_text())["test_runs"]
        frames.append(
            pd.DataFrame(
                {
                    "series_id": name,
                    "timestamp": pd.to_datetime([int(r[2]) for r in rows], unit="s"),
                    "value": [float(r[3]) for r in rows],
                    "lower_is_better": True,
                }
            )
        )
    return pd.concat(frames, ignore_index=True), {k: v for k, v in exp.items() if not k.startswith("_")}


def score_talos(points: pd.DataFrame, expected: dict[str, list[int]], alerts: pd.DataFrame) -> dict:
    """Alerts at exactly an expected push, and the rest. Expected counts are before the 2 % gate."""
    per = {}
    hit = extra = 0
    for sid, exp in expected.items():
        a = alerts[alerts["series_id"] == sid] if len(alerts) else alerts
        got = sorted({int(pd.Timestamp(t).timestamp()) for t in a["timestamp"]}) if len(a) else []
        h = sorted(set(got) & set(exp))
        per[sid] = {"expected": exp, "alerts": got, "hits": h}
        hit += len(h)
        extra += len(set(got) - set(exp))
    n_exp = sum(len(v) for v in expected.values())
    return {"expected": n_exp, "hits": hit, "extra": extra, "per_series": per}
