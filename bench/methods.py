"""The methods the bench runs, and how to run a per-series detector over a frame of points.

In-process methods are per-series functions (timestamps datetime64[ns], values float64, lower_is_better)
-> DataFrame(timestamp, direction, magnitude_pct, probability). "default" and "perfherder" come from the
project's registry `regression_assets.stats.detectors.METHODS` (imported lazily; "unavailable" with the
reason when the import fails). Peers that need their own environment run as a subprocess on the CLI's CSV
shapes (bench/peers/run_*.py in bench/.venv-<peer>).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ALERT_COLS = ["series_id", "timestamp", "direction", "magnitude_pct", "probability"]
Detector = Callable[[np.ndarray, np.ndarray, bool], pd.DataFrame]


@dataclass
class Method:
    name: str
    kind: str  # "inproc" | "venv" | "nothing"
    fn: Detector | None = None
    venv: str | None = None
    script: str | None = None
    args: list[str] = field(default_factory=list)
    note: str = ""
    unavailable: str | None = None


def _registry(name: str) -> tuple[Detector | None, str | None]:
    try:
        from regression_assets.stats.detectors import METHODS  # noqa: PLC0415
    except Exception as exc:  # noqa: BLE001
        return None, f"regression_assets.stats.detectors: {type(exc).__name__}: {exc}"
    fn = METHODS.get(name)
    if fn is None:
        return None, f"METHODS has no {name!r} (has {sorted(METHODS)})"
    return fn, None


def nothing(timestamps: np.ndarray, values: np.ndarray, lower_is_better: bool) -> pd.DataFrame:
    return pd.DataFrame(columns=ALERT_COLS[1:])


def venv_python(peer: str) -> Path:
    return HERE / f".venv-{peer}" / "bin" / "python"


def load_methods(binseg_pen: float | None = None, edivisive_perms: int = 100) -> dict[str, Method]:
    from bench.standin import detect_standin

    out: dict[str, Method] = {}
    for name in ("default", "perfherder"):
        fn, err = _registry(name)
        out[name] = Method(name, "inproc", fn=fn, unavailable=err, note=f"METHODS[{name!r}]")
    out["standin"] = Method("standin", "inproc", fn=detect_standin, note="bench/standin.py (not a product)")
    try:
        import ruptures  # noqa: F401, PLC0415

        from bench.peers.binseg import make_detector

        out["binseg"] = Method(
            "binseg",
            "inproc",
            fn=make_detector(binseg_pen) if binseg_pen is not None else None,
            note=f"ruptures Binseg l2, pen={binseg_pen}",
        )
    except Exception as exc:  # noqa: BLE001
        out["binseg"] = Method("binseg", "inproc", unavailable=f"ruptures: {exc}")
    for peer, script, args, note in (
        (
            "edivisive",
            "run_edivisive.py",
            ["--pvalue", "0.05", "--permutations", str(edivisive_perms)],
            f"signal-processing-algorithms e_divisive, pvalue 0.05, {edivisive_perms} permutations",
        ),
        ("otava", "run_otava.py", [], "apache-otava compute_change_points, window 50, max_pvalue 0.001"),
    ):
        py = venv_python(peer)
        m = Method(peer, "venv", venv=str(py), script=str(HERE / "peers" / script), args=args, note=note)
        if not py.exists():
            m.unavailable = f"no {py.parent.parent.name} (bench/run.sh creates it)"
        out[peer] = m
    out["nothing"] = Method("nothing", "nothing", fn=nothing, note="predicts nothing")
    return out


def iter_series(points: pd.DataFrame):
    for sid, g in points.groupby("series_id", sort=False):
        g = g.sort_values("timestamp", kind="stable")
        yield (
            sid,
            g["timestamp"].to_numpy(dtype="datetime64[ns]"),
            g["value"].to_numpy(dtype=np.float64),
            bool(g["lower_is_better"].iloc[0]),
        )


def run_inproc(fn: Detector, series: list[tuple]) -> tuple[pd.DataFrame, dict]:
    """Run a per-series detector; `seconds` counts only the detector calls."""
    frames = []
    seconds = 0.0
    n_points = 0
    errors = 0
    for sid, ts, vals, lib in series:
        t0 = time.perf_counter()
        try:
            df = fn(ts, vals, lib)
        except Exception:  # noqa: BLE001
            errors += 1
            df = None
        seconds += time.perf_counter() - t0
        n_points += len(vals)
        if df is not None and len(df):
            df = df.copy()
            df.insert(0, "series_id", sid)
            frames.append(df[ALERT_COLS])
    alerts = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ALERT_COLS)
    alerts["timestamp"] = pd.to_datetime(alerts["timestamp"])
    info = {"seconds": seconds, "points": n_points, "series": len(series), "errors": errors}
    return alerts, info


def write_input_csv(points: pd.DataFrame, path: Path) -> None:
    points[["series_id", "timestamp", "value", "lower_is_better"]].to_csv(
        path, index=False, date_format="%Y-%m-%dT%H:%M:%S.%f"
    )


def run_venv(m: Method, in_csv: Path, out_csv: Path, timeout: float = 1500) -> tuple[pd.DataFrame, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [m.venv, m.script, str(in_csv), str(out_csv), *m.args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{m.name} failed: {proc.stderr[-2000:]}")
    info = json.loads(Path(str(out_csv) + ".timing.json").read_text())
    info["end_to_end_seconds"] = wall
    alerts = pd.read_csv(out_csv)
    alerts["series_id"] = alerts["series_id"].astype(str)
    alerts["timestamp"] = pd.to_datetime(alerts["timestamp"])
    return alerts, info


def run_method(m: Method, points: pd.DataFrame, work: Path, tag: str) -> tuple[pd.DataFrame, dict]:
    """Run any method over a frame of points (series_id, timestamp, value, lower_is_better)."""
    if m.kind == "venv":
        work.mkdir(parents=True, exist_ok=True)
        in_csv = work / f"{tag}_in.csv"
        write_input_csv(points, in_csv)
        return run_venv(m, in_csv, work / f"{tag}_{m.name}_out.csv")
    assert m.fn is not None
    return run_inproc(m.fn, list(iter_series(points)))
