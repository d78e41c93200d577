"""A deterministic, generated multi-release crash sample shaped like `error_aggregates`.

Same dates as the perf sample (2026-01-05 .. 2026-05-31), hourly windows, channels release / beta /
nightly × os_name Windows_NT / Linux / Darwin, a new version on every channel every four weeks (nightly on
the perf calendar's Mondays, beta and release on the Tuesday after). What the generator puts in, written
next to the data as `truth.csv`:

* `regression`: one measure on one platform of one version crashes `factor` × more than its base rate;
* `equal_rate`: release 150.0 and its three predecessors have exactly the base rates (apart from the
  injected regression cells of the predecessors, which only make the new release look *better*);
* `low_usage`: nightly 152.0a1 reaches 0.05% of the channel (and has a ×2.5 main-crash rate nobody can
  judge on so little usage).

Realism that the statistics have to cope with: adoption ramps over ~2 days, every release is crashier in
its first day (×1.8 at hour 0, decaying with a 30-hour time constant), a diurnal and weekly usage cycle,
a per-window Gamma random effect (crash counts over-dispersed vs Poisson), small per-release variation of
the base rates (sd 3%, none on the equal-rate family), and a few bad rows (negative counts, zero usage).

Run `python -m regression_assets.sources.crash_sample` to (re)write `regression_assets/data/crash_sample/`.
"""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from regression_assets.sources.crash_schema import CRASH_MEASURES

SEED = 20260105
START = pd.Timestamp("2026-01-05")
END = pd.Timestamp("2026-05-31")  # inclusive
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data" / "crash_sample"
DATA_FILE = "error_aggregates.parquet"
RELEASES_FILE = "releases.csv"
TRUTH_FILE = "truth.csv"

PLATFORMS = {  # os_name -> (os_version, usage share of the channel, crash-rate multiplier)
    "Windows_NT": ("10.0", 0.84, 1.0),
    "Darwin": ("24.1.0", 0.11, 0.8),
    "Linux": ("6.8", 0.05, 1.3),
}
CHANNEL_USAGE = {"release": 3_500_000.0, "beta": 180_000.0, "nightly": 30_000.0}  # usage hours / day
CHANNEL_RATE = {"release": 1.0, "beta": 1.5, "nightly": 2.5}
BASE_RATE = {  # crashes per 1,000 usage hours on release / Windows
    "main_crashes": 1.2,
    "content_crashes": 2.5,
    "gpu_crashes": 0.35,
    "plugin_crashes": 0.04,
    "gmplugin_crashes": 0.03,
    "content_shutdown_crashes": 0.9,
    "startup_crashes": 0.15,
}
EARLY_EXCESS, EARLY_TAU_HOURS = 0.8, 30.0
WINDOW_SHAPE = 30.0  # Gamma shape of the per-window rate multiplier (mean 1, sd 18%)
RELEASE_SD = 0.03


def _releases() -> pd.DataFrame:
    rows = []
    for i, monday in enumerate(pd.date_range("2025-12-08", periods=7, freq="28D")):
        tuesday = monday + pd.Timedelta(days=8)  # the Tuesday after nightly's merge Monday
        rows.append(("release", f"{145 + i}.0", tuesday + pd.Timedelta(hours=14)))
        rows.append(("beta", f"{146 + i}.0", tuesday + pd.Timedelta(hours=14)))
        rows.append(("nightly", f"{147 + i}.0a1", monday + pd.Timedelta(days=7, hours=10)))
    out = pd.DataFrame(rows, columns=["channel", "version", "release_time"])
    return out[out["release_time"] <= END + pd.Timedelta(days=1)].reset_index(drop=True)


TRUTH = pd.DataFrame(
    [
        ("regression", "release", "147.0", "Darwin", "content_crashes", 1.4),
        ("regression", "release", "148.0", "Windows_NT", "main_crashes", 1.5),
        ("regression", "beta", "150.0", "Linux", "content_crashes", 1.8),
        ("regression", "nightly", "151.0a1", "Windows_NT", "main_crashes", 1.6),
        ("equal_rate", "release", "150.0", "*", "*", 1.0),
        ("low_usage", "nightly", "152.0a1", "*", "*", 1.0),
        ("low_usage", "nightly", "152.0a1", "Windows_NT", "main_crashes", 2.5),
    ],
    columns=["kind", "channel", "version", "os_name", "measure", "factor"],
)
EQUAL_RATE_FAMILY = {("release", v) for v in ("147.0", "148.0", "149.0", "150.0")}
LOW_USAGE_SHARE = 0.0005


def _adoption(age_hours: np.ndarray) -> np.ndarray:
    return np.where(age_hours < 0, 0.0, 0.97 / (1.0 + np.exp(-(age_hours - 40.0) / 14.0)))


def generate(start: pd.Timestamp = START, end: pd.Timestamp = END, seed: int = SEED) -> dict[str, pd.DataFrame]:
    """{"data": error_aggregates rows, "releases": calendar, "truth": injected effects}; deterministic."""
    rng = np.random.default_rng(seed)
    releases = _releases()
    hours = pd.date_range(start, end + pd.Timedelta(hours=23), freq="h")
    hod = hours.hour.to_numpy()
    diurnal = 1.0 + 0.45 * np.sin(2 * np.pi * (hod - 9) / 24.0)
    weekly = np.where(hours.dayofweek.to_numpy() >= 5, 0.85, 1.0)
    usage_shape = diurnal * weekly / diurnal.mean()
    factor = {
        (r.channel, r.version, r.os_name, r.measure): r.factor
        for r in TRUTH.itertuples()
        if r.kind != "equal_rate" and r.measure != "*"
    }
    frames = []
    for channel, rel in releases.groupby("channel", sort=True):
        rel = rel.sort_values("release_time").reset_index(drop=True)
        times = rel["release_time"].to_numpy()
        # share of each version at each hour: the newest takes adoption(age) of the previous one's share
        shares = np.zeros((len(rel), len(hours)))
        shares[0] = 1.0
        for i in range(1, len(rel)):
            age = (hours.to_numpy() - times[i]) / np.timedelta64(1, "h")
            a = _adoption(age)
            if (channel, rel.loc[i, "version"]) == ("nightly", "152.0a1"):
                a = np.where(age < 0, 0.0, LOW_USAGE_SHARE)
            shares[i] = a * shares[: i].sum(axis=0)
            shares[:i] *= 1.0 - a
        # versions two releases old keep ~0.1% of the channel; drop them below 0.2% (not the low-usage one)
        low = rel["version"].eq("152.0a1").to_numpy() & (channel == "nightly")
        shares[(shares < 0.002) & ~low[:, None]] = 0.0
        for os_name, (os_version, os_share, os_rate) in PLATFORMS.items():
            per_hour = CHANNEL_USAGE[channel] / 24.0 * os_share * usage_shape
            for i, r in rel.iterrows():
                usage = per_hour * shares[i]
                keep = usage > 0.05
                if not keep.any():
                    continue
                n = int(keep.sum())
                u = usage[keep] * rng.gamma(200.0, 1 / 200.0, n)
                age = (hours.to_numpy()[keep] - r.release_time.to_datetime64()) / np.timedelta64(1, "h")
                early = 1.0 + EARLY_EXCESS * np.exp(-np.clip(age, 0, None) / EARLY_TAU_HOURS)
                row = {
                    "window_start": hours[keep],
                    "window_end": hours[keep] + pd.Timedelta(hours=1),
                    "channel": channel,
                    "version": r.version,
                    "build_id": (r.release_time - pd.Timedelta(days=2)).strftime("%Y%m%d%H%M%S"),
                    "application": "Firefox",
                    "os_name": os_name,
                    "os_version": os_version,
                    "architecture": "x86-64",
                    "experiment_id": None,
                    "experiment_branch": None,
                    "usage_hours": np.round(u, 4),
                    "count": rng.poisson(u / 3.0).astype("int64"),
                }
                for m in CRASH_MEASURES:
                    rel_sd = 0.0 if (channel, r.version) in EQUAL_RATE_FAMILY else RELEASE_SD
                    lam = (
                        BASE_RATE[m] * CHANNEL_RATE[channel] * os_rate
                        * np.exp(rng.normal(0.0, rel_sd) if rel_sd else 0.0)
                        * factor.get((channel, r.version, os_name, m), 1.0)
                    )
                    window_effect = rng.gamma(WINDOW_SHAPE, 1 / WINDOW_SHAPE, n)
                    row[m] = rng.poisson(lam * early * window_effect * u / 1000.0).astype("float64")
                frames.append(pd.DataFrame(row))
    data = pd.concat(frames, ignore_index=True)
    data = data.sort_values(["window_start", "channel", "os_name", "version"]).reset_index(drop=True)
    # bad rows the validation must count, not die on
    bad = rng.choice(len(data), size=40, replace=False)
    data.loc[bad[:20], "main_crashes"] = -rng.integers(1, 5, 20).astype("float64")
    data.loc[bad[20:], "usage_hours"] = 0.0
    data.loc[bad[20:], "count"] = 0
    truth = TRUTH.copy()
    truth = truth.merge(releases, on=["channel", "version"], how="left")
    return {"data": data, "releases": releases, "truth": truth}


def write_sample(directory: Path = SAMPLE_DIR, seed: int = SEED) -> dict[str, Path]:
    """Write the sample (Parquet + calendar CSV + truth CSV) to `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    out = generate(seed=seed)
    paths = {
        "data": directory / DATA_FILE,
        "releases": directory / RELEASES_FILE,
        "truth": directory / TRUTH_FILE,
    }
    out["data"].to_parquet(paths["data"], index=False, compression="zstd", row_group_size=8_000)
    out["releases"].to_csv(paths["releases"], index=False)
    out["truth"].to_csv(paths["truth"], index=False)
    return paths


def load_truth(directory: Path = SAMPLE_DIR) -> pd.DataFrame:
    return pd.read_csv(directory / TRUTH_FILE, parse_dates=["release_time"], dtype={"version": str})


def sample_days() -> list[dt.date]:
    return [d.date() for d in pd.date_range(START, END, freq="D")]


if __name__ == "__main__":
    for name, path in write_sample().items():
        print(f"{name}: {path} ({path.stat().st_size / 1e6:.2f} MB)")
