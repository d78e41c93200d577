"""The bundled sample: Perfherder-like series with injected, known changes (fixed seed).

Run `python -m regression_assets.sources.sample` to rewrite the committed files in
`regression_assets/data/sample/`: `perf_results.parquet` (RAW_PERF_COLUMNS), `truth.csv` (the injected
changes) and `release_calendar.csv` (version release days).
"""

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from regression_assets.sources.schema import RAW_PERF_COLUMNS, series_key

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data" / "sample"
FIRST_DAY = dt.date(2026, 1, 5)
LAST_DAY = dt.date(2026, 5, 31)
SEED = 20260105

# Nightly versions every four weeks, as Firefox ships.
RELEASES = [("147", "2025-12-15"), ("148", "2026-01-12"), ("149", "2026-02-09"), ("150", "2026-03-09"),
            ("151", "2026-04-06"), ("152", "2026-05-04"), ("153", "2026-06-01")]


@dataclass(frozen=True)
class Change:
    start: str  # first day that carries the new level
    magnitude_pct: float  # signed change of the value
    ramp_days: int = 0  # > 0: a slow ramp reaching the full magnitude after this many days


@dataclass(frozen=True)
class SeriesSpec:
    suite: str
    platform: str
    base: float
    noise_pct: float
    profile: str  # ok | bimodal | outliers | heavy | skewed
    lower_is_better: bool = True
    changes: tuple[Change, ...] = ()


SERIES = [
    SeriesSpec("tp5o", "linux1804-64-shippable-qr", 250.0, 1.2, "ok", changes=(Change("2026-03-17", 5.0),)),
    SeriesSpec("tp5o", "windows11-64-shippable-qr", 310.0, 1.5, "outliers", changes=(Change("2026-04-21", 3.5),)),
    SeriesSpec("tsvgx", "linux1804-64-shippable-qr", 180.0, 1.0, "bimodal", changes=(Change("2026-02-24", 8.0),)),
    SeriesSpec("tsvgx", "windows11-64-shippable-qr", 210.0, 1.3, "heavy", changes=(Change("2026-03-31", -6.0),)),
    SeriesSpec("speedometer3", "linux1804-64-shippable-qr", 28.0, 1.0, "skewed", lower_is_better=False,
               changes=(Change("2026-04-14", -4.0),)),
    SeriesSpec("speedometer3", "windows11-64-shippable-qr", 31.0, 1.1, "ok", lower_is_better=False),
    SeriesSpec("sessionrestore", "linux1804-64-shippable-qr", 420.0, 1.0, "ok",
               changes=(Change("2026-03-02", 6.0, ramp_days=20),)),
    SeriesSpec("sessionrestore", "windows11-64-shippable-qr", 460.0, 1.4, "bimodal"),
]


def _noise(rng: np.random.Generator, profile: str, n: int, sd: float) -> np.ndarray:
    z = rng.normal(0.0, 1.0, n)
    if profile == "heavy":
        z = rng.standard_t(3, n) / np.sqrt(3.0)
    elif profile == "skewed":
        z = (rng.gamma(2.0, 1.0, n) - 2.0) / np.sqrt(2.0)
    elif profile == "bimodal":
        z = z * 0.6 + np.where(rng.random(n) < 0.3, 6.0, 0.0)  # a second mode ~6 sd (≈7%) up, 30% of runs
    noise = z * sd
    if profile == "outliers":
        hit = rng.random(n) < 0.03
        noise[hit] += sd * rng.uniform(8.0, 60.0, hit.sum()) * rng.choice([-0.2, 1.0], hit.sum())
    return noise


def level_factor(spec: SeriesSpec, days: np.ndarray) -> np.ndarray:
    """Multiplicative level (1.0 = baseline) at each day for a series' injected changes."""
    factor = np.ones(len(days))
    for ch in spec.changes:
        start = np.datetime64(ch.start)
        elapsed = (days - start).astype("timedelta64[D]").astype(float)
        if ch.ramp_days:
            frac = np.clip((elapsed + 1.0) / ch.ramp_days, 0.0, 1.0)
        else:
            frac = (elapsed >= 0).astype(float)
        factor *= 1.0 + ch.magnitude_pct / 100.0 * frac
    return factor


def generate(seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build (perf_results, truth)."""
    rng = np.random.default_rng(seed)
    all_days = np.arange(np.datetime64(FIRST_DAY), np.datetime64(LAST_DAY) + 1)
    # Shared outages: whole days without results (tree closures).
    gap_days = set(rng.choice(np.arange(20, len(all_days) - 5), size=4, replace=False).tolist())
    frames, truth = [], []
    for s_i, spec in enumerate(SERIES):
        rows = []
        for d_i, day in enumerate(all_days):
            if d_i in gap_days:
                continue
            weekday = pd.Timestamp(day).weekday()
            runs = rng.integers(0, 3) if weekday >= 5 else rng.integers(2, 7)
            if runs == 0:
                continue
            secs = np.sort(rng.integers(0, 86400, runs))
            for k, sec in enumerate(secs):
                pushes = 1 + (k % 3 == 2)  # some pushes are retriggered: two rows, one push time
                for _ in range(pushes):
                    rows.append((day + np.timedelta64(int(sec), "s"), day))
        ts = np.array([r[0] for r in rows], dtype="datetime64[s]")
        days = np.array([r[1] for r in rows], dtype="datetime64[D]")
        sd = spec.base * spec.noise_pct / 100.0
        values = spec.base * level_factor(spec, days) + _noise(rng, spec.profile, len(ts), sd)
        values = np.maximum(values, spec.base * 0.05)
        revs = [f"{(s_i * 7919 + i * 104729) % 16**12:012x}" for i in range(len(ts))]
        frames.append(pd.DataFrame({
            "push_timestamp": ts.astype("datetime64[ns]"), "repository": "autoland",
            "framework": "talos" if spec.suite != "speedometer3" else "browsertime",
            "suite": spec.suite, "platform": spec.platform, "value": np.round(values, 3),
            "lower_is_better": spec.lower_is_better, "revision": revs,
            "task_id": [f"T{s_i:02d}{i:06d}" for i in range(len(ts))],
        }))
        for ch in spec.changes:
            end = (np.datetime64(ch.start) + max(ch.ramp_days - 1, 0)).astype(str)
            worse = (ch.magnitude_pct > 0) == spec.lower_is_better
            truth.append({
                "suite": spec.suite, "platform": spec.platform, "series_key": series_key(spec.suite, spec.platform),
                "start": ch.start, "end": end, "kind": "ramp" if ch.ramp_days else "step",
                "magnitude_pct": ch.magnitude_pct, "direction": "regression" if worse else "improvement",
                "profile": spec.profile,
            })
    perf = pd.concat(frames, ignore_index=True).sort_values(["push_timestamp", "suite", "platform"])
    perf = perf.astype({c: t for c, t in RAW_PERF_COLUMNS.items()}).reset_index(drop=True)
    return perf, pd.DataFrame(truth)


def release_calendar() -> pd.DataFrame:
    return pd.DataFrame([{"channel": "nightly", "version": v, "release_date": d} for v, d in RELEASES])


def write_sample(directory: Path = SAMPLE_DIR) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    perf, truth = generate()
    perf.to_parquet(directory / "perf_results.parquet", index=False)
    truth.to_csv(directory / "truth.csv", index=False)
    release_calendar().to_csv(directory / "release_calendar.csv", index=False)


if __name__ == "__main__":
    write_sample()
    print(f"wrote {SAMPLE_DIR}")
