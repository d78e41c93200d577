"""The bad-input catalogue (docs/reliability_catalogue.md): each class of bad input, where it enters, and
what must happen - a clear error naming the input (series / row / field / file) or a flagged skip that is
counted - never a crash of unrelated series, never a silent wrong alert.

Inputs enter at four levels, tested where they enter: the `detect` CLI (in process, on CSV files in
tmp_path), the sources and their validators, the statistics, and - for a few classes - a real
`materialize` of the assets on a fresh DuckDB file (none of these fits the PyMC spline: the series are
kept shorter than its 7-day minimum, so they run in seconds).
"""

import contextlib
import datetime as dt
import json
import re
import warnings
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from dagster_gcp import BigQueryResource
from hypothesis import given, settings
from hypothesis import strategies as st

from regression_assets.cli import main
from regression_assets.detect_io import read_detect_input
from regression_assets.io_managers import ParquetDrawsIOManager
from regression_assets.jobs import PERF_ASSETS
from regression_assets.partitions import daily_partitions, series_partitions
from regression_assets.perf.raw import prepare_day, raw_perf_results
from regression_assets.perf.series import clean_window
from regression_assets.sources.bigquery import BigQueryPerfSource, BigQuerySourceError
from regression_assets.sources.crash_files import LocalCrashSource
from regression_assets.sources.crash_schema import (
    conform_crash_frame,
    conform_release_frame,
    empty_crash_frame,
    validate_crash_rows,
)
from regression_assets.sources.files import LocalPerfSource
from regression_assets.sources.perfherder_api import PerfherderApiError
from regression_assets.sources.schema import (
    RAW_PERF_COLUMNS,
    conform_raw_frame,
    empty_raw_frame,
    parse_utc_timestamps,
    series_key,
    validate_raw_rows,
)
from regression_assets.stats import stability as S
from regression_assets.stats.alerts import evaluate_day
from regression_assets.stats.changepoint import RESULT_COLUMNS, detect_changes
from regression_assets.stats.compare import calendar_gaps, reference_days
from regression_assets.stats.detectors import SCALE_CHANGE
from regression_assets.stats.mixture import fit_modes
from regression_assets.stats.rates import rate_summary, ratio_posterior
from regression_assets.stats.series import clean_points
from regression_assets_tests.conftest import read_table
from regression_assets_tests.sources.test_perfherder_api import (  # noqa: F401 - the 127.0.0.1 server fixture
    DATA_PATH,
    DAY,
    _no_proxies,
    _source,
    treeherder,
)

NASTY = [  # suite, platform: Dagster key delimiters, CSV and SQL metacharacters, path tricks
    ("tp5o|opt,e10s", "linux64[qr]"),
    ("say \"hi\"", "win'10"),
    ("x'; DROP TABLE raw_perf_results; --", "p\\q"),
    ("..", "../../etc"),
    (".hidden", "mac..."),
    ("a" * 300, "b" * 300),
]
KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")


# ------------------------------------------------------------------------------------------ helpers


def series_frame(sid, n=60, at=30, pct=8.0, seed=0, scale=1.0, start="2024-03-01", freq="h") -> pd.DataFrame:
    """One CLI series: hourly points around 100 (0.5 % noise), a step of `pct` % at index `at`."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, periods=n, freq=freq)
    v = 100.0 * (1 + rng.normal(0, 0.005, n))
    v[at:] *= 1 + pct / 100.0
    return pd.DataFrame({"series_id": sid, "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S"), "value": v * scale})


def detect(tmp_path, capsys, frame_or_text, method="default", name="in.csv"):
    """Run `regression-assets detect` in process: (exit code, stderr, output frame or None)."""
    inp, out = tmp_path / name, tmp_path / f"{name}.out.csv"
    if isinstance(frame_or_text, pd.DataFrame):
        frame_or_text.to_csv(inp, index=False, float_format="%.6f")
    elif isinstance(frame_or_text, bytes):
        inp.write_bytes(frame_or_text)
    else:
        inp.write_text(frame_or_text)
    capsys.readouterr()
    code = main(["detect", "--input", str(inp), "--output", str(out), "--method", method, "--quiet"])
    err = capsys.readouterr().err
    df = pd.read_csv(out, dtype={"series_id": str}, keep_default_na=False) if code == 0 else None
    return code, err, df


def perf_rows(suite, platform, days, per_day=3, base=100.0, seed=0, lower_is_better=True, scale_from=None):
    """Raw perf rows (RAW_PERF_COLUMNS) for one series: `per_day` tasks a day at 02:00, 06:00, 10:00 ..."""
    rng = np.random.default_rng(seed)
    out = []
    for d in pd.to_datetime(days):
        for k in range(per_day):
            value = base * (1 + rng.normal(0, 0.005))
            if scale_from is not None and d >= pd.Timestamp(scale_from):
                value *= 1000.0
            out.append({"push_timestamp": d + pd.Timedelta(hours=2 + 4 * k), "repository": "autoland",
                        "framework": "talos", "suite": suite, "platform": platform, "value": value,
                        "lower_is_better": lower_is_better, "revision": f"r{d:%m%d}{k}",
                        "task_id": f"{abs(hash((suite, platform))) % 10**6}-{d:%Y%m%d}-{k}"})
    return pd.DataFrame(out)


def day_list(start, n):
    return [d.strftime("%Y-%m-%d") for d in pd.date_range(start, periods=n)]


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def local_resources(perf_resources, directory) -> dict:
    return {**perf_resources, "perf_source": LocalPerfSource(directory=str(directory), include_talos=False)}


@pytest.fixture
def no_raw_retries(monkeypatch):
    """raw_perf_results retries a failed day 3 times, 10 s apart and doubling: here a failure is final."""
    monkeypatch.setattr(raw_perf_results.op, "_retry_policy", None)


def backfill_raw(resources, instance, start, end, raise_on_error=True):
    """raw_perf_results over [start, end] as one single-run backfill."""
    job = dg.Definitions(assets=[raw_perf_results], resources=resources, jobs=[
        dg.define_asset_job("raw", selection=[raw_perf_results], partitions_def=daily_partitions)]).resolve_job_def("raw")
    return job.execute_in_process(instance=instance, raise_on_error=raise_on_error, tags={
        "dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end})


def raw_meta(result):
    return result.asset_materializations_for_node("raw_perf_results")[0].metadata


def materialize_series(resources, instance, day, key, selection=("cleaned_series", "series_modes")):
    return dg.materialize(PERF_ASSETS, selection=list(selection), resources=resources, instance=instance,
                          partition_key=dg.MultiPartitionKey({"date": day, "series": key}))


def step_failure_messages(result) -> str:
    return " ".join(str(e.event_specific_data.error.to_string()) for e in result.all_events
                    if e.event_type_value == "STEP_FAILURE")


def points_for(ts, values) -> pd.DataFrame:
    """`cleaned_series`-shaped points (what evaluate_day reads)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return clean_points(np.asarray(ts), np.asarray(values, dtype=float))


# ============================================================================ C01 empty day


def test_c01_empty_day_stats_and_sources_answer_empty_typed_frames():
    assert list(detect_changes(np.array([], dtype="datetime64[ns]"), np.array([])).columns) == RESULT_COLUMNS
    assert clean_points(np.array([], dtype="datetime64[ns]"), np.array([])).empty
    assert clean_window(pd.DataFrame(), "2026-03-01", "k", 5.0).empty
    good, rejected = prepare_day(empty_raw_frame(), "2026-03-01", "test")
    assert good.empty and rejected.empty and {c: str(t) for c, t in good[list(RAW_PERF_COLUMNS)].dtypes.items()} == \
        RAW_PERF_COLUMNS
    good, bad = validate_crash_rows(empty_crash_frame())
    assert good.empty and bad.empty
    rates, info = S.hourly_rates(empty_crash_frame(), conform_release_frame(
        pd.DataFrame(columns=["channel", "version", "release_time"]), "t"), ["main_crashes"], pd.Timestamp("2026-03-01"))
    assert rates.empty and info == {"windows_trimmed": 0, "windows": 0}
    assert S.compare_latest_release(rates, pd.Timestamp("2026-03-01")).empty


def test_c01_empty_day_materializes_an_empty_partition(perf_resources, instance, tmp_path):
    perf_rows("tp5o", "linux64", ["2026-03-01"]).to_csv(tmp_path / "results.csv", index=False)
    resources = local_resources(perf_resources, tmp_path)
    result = dg.materialize([raw_perf_results], partition_key="2026-03-02", resources=resources, instance=instance)
    meta = raw_meta(result)
    assert result.success and meta["rows"].value == 0 and meta["rejected_rows"].value == 0
    assert meta["series"].value == 0 and instance.get_dynamic_partitions(series_partitions.name) == []


# ============================================================================ C02 single point


def test_c02_single_point_series_is_skipped_and_counted_next_to_a_good_one(tmp_path, capsys):
    frame = pd.concat([series_frame("good"), pd.DataFrame({"series_id": ["one"], "timestamp": ["2024-03-01T00:00:00"],
                                                            "value": [5.0]})])
    code, err, out = detect(tmp_path, capsys, frame)
    assert code == 0 and out["series_id"].tolist() == ["good"]
    assert "skipped 1 series with fewer than 7 points ('one')" in err
    ts1 = np.array(["2024-03-01"], dtype="datetime64[ns]")
    assert detect_changes(ts1, np.array([5.0])).empty
    assert fit_modes(np.array([5.0])).n_modes == 1


# ============================================================================ C03 constant series


def test_c03_constant_series_no_change_no_outliers_and_a_step_on_constants_is_found(tmp_path, capsys):
    ts = pd.date_range("2024-03-01", periods=60, freq="h")
    const = pd.DataFrame({"series_id": "flat", "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S"), "value": 100.0})
    stepped = const.assign(series_id="flat-step", value=np.where(np.arange(60) < 30, 100.0, 105.0))
    code, err, out = detect(tmp_path, capsys, pd.concat([const, stepped]))
    assert code == 0 and out["series_id"].tolist() == ["flat-step"]
    assert out["direction"].tolist() == ["regression"] and out["magnitude_pct"].iloc[0] == pytest.approx(5.0, rel=1e-3)
    assert not clean_points(ts.to_numpy(), np.full(60, 100.0))["is_outlier"].any()
    assert fit_modes(np.full(60, 4.6)).n_modes == 1


# ============================================================================ C04 all-NaN


def test_c04_all_nan_series_cli_names_the_first_row(tmp_path, capsys):
    frame = pd.concat([series_frame("good"), series_frame("empty").assign(value=np.nan)])
    code, err, _ = detect(tmp_path, capsys, frame)
    assert code == 2 and "line 62 (data row 61)" in err and "field 'value' is empty" in err


def test_c04_all_nan_rows_are_rejected_by_reason_and_stats_stay_quiet():
    day = perf_rows("tp5o", "linux64", ["2026-03-01"]).assign(value=np.nan)
    good, rejected = prepare_day(day, "2026-03-01", "test")
    assert good.empty and rejected["reason"].tolist() == ["value: NaN or infinite"] * 3
    ts = pd.date_range("2024-03-01", periods=40, freq="h").to_numpy()
    assert detect_changes(ts, np.full(40, np.nan)).empty
    assert clean_points(ts, np.full(40, np.nan))["invalid"].all()
    fit = fit_modes(np.full(40, np.nan))
    assert fit.n_modes == 1
    # a crash measure the source lacks entirely is absent (NaN), not zero crashes
    crash = conform_crash_frame(pd.DataFrame({
        "window_start": ["2026-03-01T00:00:00"], "window_end": ["2026-03-01T00:05:00"], "channel": "release",
        "version": "150.0", "build_id": "b", "application": "Firefox", "os_name": "Linux", "usage_hours": 10.0,
        "main_crashes": 1.0}), "t")
    assert crash["gpu_crashes"].isna().all() and crash["main_crashes"].tolist() == [1.0]


# ============================================================================ C05 NaN / inf values


@pytest.mark.parametrize("bad", ["inf", "-inf", "1e400", "NaN"])
def test_c05_nan_or_inf_value_cli_error_names_line_and_field(tmp_path, capsys, bad):
    text = "series_id,timestamp,value\ns,2024-03-01T00:00:00,1.0\ns,2024-03-01T01:00:00," + bad + "\n"
    code, err, _ = detect(tmp_path, capsys, text)
    assert code == 2 and "line 3 (data row 2)" in err and f"field 'value' '{bad}' is not a finite number" in err


def test_c05_nan_and_inf_among_good_points_change_nothing():
    f = series_frame("s")
    ts, v = pd.to_datetime(f["timestamp"]).to_numpy(), f["value"].to_numpy()
    dirty = v.copy()
    dirty[[3, 17, 45]] = [np.nan, np.inf, -np.inf]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a, b = detect_changes(ts, v), detect_changes(ts, dirty)
    assert len(a) == 1 and a["timestamp"].tolist() == b["timestamp"].tolist()
    assert b["magnitude_pct"].iloc[0] == pytest.approx(a["magnitude_pct"].iloc[0], abs=0.5)
    raw = perf_rows("tp5o", "linux64", ["2026-03-01"]).assign(value=[np.inf, -np.inf, 1.0])
    _, rejected = validate_raw_rows(conform_raw_frame(raw, "t"))
    assert rejected["reason"].tolist() == ["value: NaN or infinite"] * 2
    crash = _crash_rows(main_crashes=[np.inf, 1.0], usage_hours=[np.inf, 10.0])
    _, bad = validate_crash_rows(conform_crash_frame(crash, "t"))
    assert bad["reason"].tolist() == ["usage_hours: NaN or infinite"]


def _crash_rows(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    base = {"window_start": pd.date_range("2026-03-01", periods=n, freq="5min"),
            "channel": "release", "version": "150.0", "build_id": "b", "application": "Firefox", "os_name": "Linux",
            "usage_hours": 10.0, "count": 5, "main_crashes": 0.0}
    df = pd.DataFrame({**base, **cols})
    df["window_end"] = pd.to_datetime(df["window_start"]) + pd.Timedelta(minutes=5)
    return df


# ============================================================================ C06 zero / negative where ratios are taken


def test_c06_nonpositive_values_are_ignored_counted_and_named_by_the_log_scale_method(tmp_path, capsys):
    clean = series_frame("s")
    dirty = clean.copy()
    dirty.loc[[5, 40], "value"] = [0.0, -3.0]
    code_a, _, out_a = detect(tmp_path, capsys, clean.drop(index=[5, 40]), name="a.csv")
    code_b, err, out_b = detect(tmp_path, capsys, dirty, name="b.csv")
    assert code_a == code_b == 0
    pd.testing.assert_frame_equal(out_a, out_b)  # the same answer as without those rows
    assert "ignored 2 row(s) with a value <= 0 in 1 series" in err and "data row 6" in err
    # Perfherder's t-test works on raw values: they are data there, nothing is ignored
    code, err, _ = detect(tmp_path, capsys, dirty, method="perfherder", name="c.csv")
    assert code == 0 and "<= 0" not in err


def test_c06_nonpositive_values_rejected_at_the_source_and_zero_usage_gives_no_ratio():
    raw = perf_rows("tp5o", "linux64", ["2026-03-01"]).assign(value=[0.0, -1.0, 2.0])
    _, rejected = validate_raw_rows(conform_raw_frame(raw, "t"))
    assert rejected["reason"].tolist() == ["value: not positive (scores are ratios of times/sizes)"] * 2
    crash = _crash_rows(main_crashes=[-2.0, 1.0, 1.0], usage_hours=[10.0, 0.0, -5.0])
    _, bad = validate_crash_rows(conform_crash_frame(crash, "t"))
    assert bad["reason"].tolist() == ["count: negative crash count", "usage_hours: zero usage", "usage_hours: negative"]
    # called directly, the statistics refuse a ratio without exposure instead of P(ratio > 1.2) = 1
    post = ratio_posterior([10.0, 10.0], [0.0, 1000.0], [10.0, 10.0], [1000.0, 0.0])
    assert np.isnan(post["p_gt"]).all() and np.isnan(post["median"]).all()
    assert np.isnan(rate_summary([3.0], [0.0])["rate"]).all()


# ============================================================================ C07 duplicate rows


def test_c07_duplicate_rows_in_a_cli_file_are_dropped_and_counted(tmp_path, capsys):
    rng = np.random.default_rng(3)
    frame = pd.concat([series_frame(f"s{i}", n=80, at=40, pct=rng.uniform(2, 4), seed=i) for i in range(4)])
    code_a, _, once = detect(tmp_path, capsys, frame, name="once.csv")
    code_b, err, twice = detect(tmp_path, capsys, pd.concat([frame, frame]), name="twice.csv")
    assert code_a == code_b == 0
    pd.testing.assert_frame_equal(once, twice)  # a file concatenated twice: the same changes, not more
    assert f"ignored {len(frame)} duplicate row(s)" in err and f"data row {len(frame) + 1}" in err


def test_c07_duplicate_tasks_are_rejected_by_reason_in_raw_metadata(perf_resources, instance, tmp_path):
    rows = perf_rows("tp5o", "linux64", ["2026-03-01"])
    rows.to_csv(tmp_path / "a.csv", index=False)
    rows.to_csv(tmp_path / "b.csv", index=False)  # the same export twice in the directory
    result = dg.materialize([raw_perf_results], partition_key="2026-03-01",
                            resources=local_resources(perf_resources, tmp_path), instance=instance)
    meta = raw_meta(result)
    assert result.success and meta["rows"].value == 3 and meta["rejected_rows"].value == 3
    assert meta["rejected_reasons"].value == {"duplicate: same suite, platform, task_id, time and value": 3}
    # the same crash export twice in a directory would double every count: refused, naming both files
    crash = tmp_path / "crash"
    crash.mkdir()
    _crash_rows(main_crashes=[1.0]).to_parquet(crash / "error_aggregates.parquet")
    (crash / "error_aggregates (copy).parquet").write_bytes((crash / "error_aggregates.parquet").read_bytes())
    with pytest.raises(ValueError, match=r"error_aggregates\.parquet has the same content as error_aggregates \(copy\)"):
        LocalCrashSource(path=str(crash)).fetch_day(dt.date(2026, 3, 1))
    # retriggers (same push time, another task) are data, not duplicates
    retrig = pd.concat([rows, rows.assign(task_id=rows["task_id"] + "-retrigger")])
    good, rejected = validate_raw_rows(conform_raw_frame(retrig, "t"))
    assert len(good) == 6 and rejected.empty


# ============================================================================ C08 out-of-order timestamps


def test_c08_out_of_order_rows_give_the_same_answer(tmp_path, capsys):
    frame = pd.concat([series_frame("a", seed=1), series_frame("b", pct=-6, seed=2)])
    shuffled = frame.sample(frac=1.0, random_state=0)
    _, _, ordered_out = detect(tmp_path, capsys, frame, name="o.csv")
    code, _, shuffled_out = detect(tmp_path, capsys, shuffled, name="s.csv")
    assert code == 0 and len(ordered_out) == 2
    pd.testing.assert_frame_equal(ordered_out, shuffled_out)


def test_c08_cleaned_window_sorts_points_and_keeps_each_revision_with_its_value():
    raw = perf_rows("tp5o", "linux64", day_list("2026-03-01", 3))
    raw = conform_raw_frame(raw, "t").sample(frac=1.0, random_state=1).reset_index(drop=True)
    pts = clean_window(raw, "2026-03-03", "tp5o__linux64", 5.0)
    assert pts["timestamp"].is_monotonic_increasing
    by_rev = raw.set_index("revision")["value"]
    assert np.allclose(pts["value"].to_numpy(), by_rev.loc[pts["revision"]].to_numpy())


# ============================================================================ C09 far-future / out-of-range timestamps


def test_c09_far_future_row_is_kept_flagged_and_raises_no_change(tmp_path, capsys):
    frame = pd.concat([series_frame("s", pct=0.0),
                       pd.DataFrame({"series_id": ["s"], "timestamp": ["2099-01-01T00:00:00"], "value": [150.0]})])
    code, err, out = detect(tmp_path, capsys, frame)
    assert code == 0 and out.empty
    assert "1 row(s) are dated more than a day in the future (first: data row 61, 2099-01-01T00:00:00)" in err


@pytest.mark.parametrize("stamp", ["9999-01-01T00:00:00", "1500-06-01T00:00:00Z"])
def test_c09_out_of_range_timestamp_is_an_error_naming_row_and_field(tmp_path, capsys, stamp):
    code, err, _ = detect(tmp_path, capsys, f"series_id,timestamp,value\ns,{stamp},1.0\n")
    assert code == 2 and "line 2 (data row 1)" in err and "outside the supported range" in err


def test_c09_future_rows_never_reach_a_partition():
    leaked = perf_rows("tp5o", "linux64", ["2026-03-01"])
    leaked.loc[2, "push_timestamp"] = pd.Timestamp("2099-01-01")
    good, rejected = prepare_day(leaked, "2026-03-01", "a source ignoring the day filter")
    assert len(good) == 2 and rejected["reason"].tolist() == ["push_timestamp: outside the day"]
    last = daily_partitions.get_last_partition_key()
    assert pd.Timestamp(last) <= pd.Timestamp.now().normalize()  # no partition exists for a future day


def test_c09_a_parquet_time_beyond_nanoseconds_is_a_rejected_row_not_an_overflow(tmp_path):
    rows = perf_rows("tp5o", "linux64", ["2026-03-01"])
    rows["push_timestamp"] = rows["push_timestamp"].astype("datetime64[us]")
    rows.loc[2, "push_timestamp"] = np.datetime64("9999-12-31T00:00:00", "us")
    rows.to_parquet(tmp_path / "r.parquet")
    day = LocalPerfSource(directory=str(tmp_path), include_talos=False).fetch_day(dt.date(2026, 3, 1))
    good, rejected = prepare_day(day, "2026-03-01", "t")
    assert len(good) == 2 and rejected["reason"].tolist() == ["push_timestamp: unparsable or missing"]


# ============================================================================ C10 timezones


def test_c10_mixed_offsets_and_naive_times_mean_the_same_instants(tmp_path, capsys):
    """pandas 2.3 reads a naive time after a +02:00 one as +02:00: the parser must not (naive = UTC)."""
    utc = series_frame("s")
    mixed = utc.copy()
    t = pd.to_datetime(utc["timestamp"])
    offsets = {"Z": None, "+02:00": 120, "": None, "-05:00": -300, "+05:30": 330, " ": None}
    written = []
    for i, ts in enumerate(t):
        off, minutes = list(offsets.items())[i % len(offsets)]
        local = ts if minutes is None else ts + pd.Timedelta(minutes=minutes)  # the same instant, local time
        written.append(local.strftime("%Y-%m-%dT%H:%M:%S") + off.strip())
    mixed["timestamp"] = written
    parsed = read_detect_input(_write(tmp_path / "m.csv", mixed))["timestamp"]
    assert (parsed.to_numpy() == t.to_numpy()).all()
    _, _, a = detect(tmp_path, capsys, utc, name="u.csv")
    code, _, b = detect(tmp_path, capsys, mixed, name="x.csv")
    assert code == 0 and len(a) == 1
    pd.testing.assert_frame_equal(a, b)


def _write(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False, float_format="%.6f")
    return path


def test_c10_sources_convert_every_timezone_to_naive_utc(tmp_path):
    mixed = pd.Series(["2026-03-01T00:30:00+02:00", "2026-03-01T01:00:00", "2026-03-01 05:00-05:00",
                       pd.Timestamp("2026-03-01 12:00", tz="Europe/Berlin"), pd.Timestamp("2026-03-01 13:00")])
    want = pd.to_datetime(["2026-02-28 22:30", "2026-03-01 01:00", "2026-03-01 10:00", "2026-03-01 11:00",
                           "2026-03-01 13:00"]).tz_localize("UTC")
    assert parse_utc_timestamps(mixed).tolist() == list(want)
    # A push at 00:30 in UTC+2 belongs to the previous UTC day's partition.
    rows = perf_rows("tp5o", "linux64", ["2026-03-01"]).astype({"push_timestamp": str})
    rows.loc[0, "push_timestamp"] = "2026-03-02T00:30:00+02:00"
    rows.to_csv(tmp_path / "r.csv", index=False)
    src = LocalPerfSource(directory=str(tmp_path), include_talos=False)
    assert len(src.fetch_day(dt.date(2026, 3, 1))) == 3 and src.fetch_day(dt.date(2026, 3, 2)).empty
    berlin = perf_rows("tp5o", "linux64", ["2026-03-01"])
    berlin["push_timestamp"] = berlin["push_timestamp"].dt.tz_localize("Europe/Berlin")
    assert conform_raw_frame(berlin, "t")["push_timestamp"].dt.hour.tolist() == [1, 5, 9]
    crash = _crash_rows(main_crashes=[1.0, 1.0]).astype({"window_start": str, "window_end": str})
    crash.loc[0, ["window_start", "window_end"]] = ["2026-03-01T02:00:00+02:00", "2026-03-01T02:05:00+02:00"]
    assert conform_crash_frame(crash, "t")["window_start"].tolist() == [pd.Timestamp("2026-03-01 00:00"),
                                                                          pd.Timestamp("2026-03-01 00:05")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2030, 1, 1)),
                          st.one_of(st.none(), st.integers(-14 * 4, 14 * 4).map(lambda q: q * 15)),
                          st.sampled_from(["T", " "])), min_size=1, max_size=20))
def test_c10_any_mix_of_offsets_parses_to_the_right_instants(stamps):
    text, want = [], []
    for when, minutes, sep in stamps:
        when = when.replace(microsecond=0)
        local = when.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
        if minutes is None:
            text.append(local)
            want.append(pd.Timestamp(when))
        else:
            sign, mm = ("+" if minutes >= 0 else "-"), abs(minutes)
            text.append(local + ("Z" if minutes == 0 and sep == "T" else f"{sign}{mm // 60:02d}:{mm % 60:02d}"))
            want.append(pd.Timestamp(when) - pd.Timedelta(minutes=minutes))
    got = parse_utc_timestamps(pd.Series(text)).dt.tz_localize(None)
    assert got.tolist() == want, list(zip(text, got, want, strict=True))


# ============================================================================ C11 unknown / renamed suite or platform


def test_c11_a_renamed_suite_is_registered_as_a_new_series_and_the_old_one_still_runs(perf_resources, instance,
                                                                                          tmp_path):
    pd.concat([perf_rows("tp5o", "linux64", ["2026-03-01"]),
               perf_rows("tp5o-v2", "linux64", ["2026-03-02"])]).to_csv(tmp_path / "r.csv", index=False)
    resources = local_resources(perf_resources, tmp_path)
    first = dg.materialize([raw_perf_results], partition_key="2026-03-01", resources=resources, instance=instance)
    second = dg.materialize([raw_perf_results], partition_key="2026-03-02", resources=resources, instance=instance)
    assert raw_meta(first)["new_series"].value == ["tp5o__linux64"]
    assert raw_meta(second)["new_series"].value == ["tp5o-v2__linux64"]
    # Both series run the whole chain on 2026-03-02; one day of data is below the spline's 7-day minimum, so
    # neither alerts (no fit, nothing invented) and neither fails.
    for key in ("tp5o__linux64", "tp5o-v2__linux64"):
        result = materialize_series(resources, instance, "2026-03-02", key,
                                    selection=("cleaned_series", "series_modes", "spline_posterior",
                                               "regression_alerts"))
        assert result.success
        spline = result.asset_materializations_for_node("spline_posterior")[0].metadata
        assert spline["failed_partitions"].value == 0 and "fits" not in spline
    assert not _exists(resources, "regression_alerts") or read_table(resources, "regression_alerts").empty
    # a series that never appears at all: see perf/test_assets.py::test_a_series_with_no_data_materializes_empty


def _exists(resources, table) -> bool:
    if not Path(resources["io_manager"].database).exists():
        return False
    with duckdb.connect(resources["io_manager"].database, read_only=True) as con:
        return bool(con.execute("select count(*) from information_schema.tables where table_name = ?",
                                [table]).fetchone()[0])


def test_c11_unknown_or_renamed_crash_measure_is_absent_not_zero():
    rows = _crash_rows(main_crashes=[1.0]).rename(columns={"main_crashes": "main_crash"})
    out = conform_crash_frame(rows, "t")
    assert out["main_crashes"].isna().all()  # "no such measure here", listed by crash_aggregates' metadata


# ============================================================================ C12 metacharacters in names


def test_c12_nasty_names_give_safe_distinct_stable_keys():
    keys = [series_key(s, p) for s, p in NASTY]
    assert len(set(keys)) == len(keys) == len({series_key(s, p) for s, p in NASTY})
    for k in keys:
        assert KEY_RE.match(k) and "..." not in k and len(k) <= 2 * 60 + 2 + 9, k
        path = ParquetDrawsIOManager(base_dir="/base")._path("spline_posterior", f"2026-03-01|{k}")
        assert path.parent.parent == Path("/base/spline_posterior") and len(path.parent.name.encode()) < 255
    assert series_key("tp5o", "linux1804-64-shippable-qr") == "tp5o__linux1804-64-shippable-qr"  # plain: unchanged
    assert series_key("a b", "p") != series_key("a-b", "p")  # sanitised alike, kept apart by the hash


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80), st.text(max_size=80), st.text(max_size=80))
def test_c12_series_key_is_always_a_valid_partition_key(s1, p1, s2, p2):
    from dagster._core.definitions.partitions.utils.base import INVALID_PARTITION_SUBSTRINGS

    k1 = series_key(s1, p1)
    assert re.fullmatch(r"[A-Za-z0-9._-]*__[A-Za-z0-9._-]*(-[0-9a-f]{8})?", k1) and not k1.startswith(".")
    assert not any(bad in k1 for bad in INVALID_PARTITION_SUBSTRINGS)
    assert k1 == series_key(s1, p1)
    if (s1, p1) != (s2, p2):
        assert k1 != series_key(s2, p2)


def test_c12_nasty_names_round_trip_through_the_cli(tmp_path, capsys):
    ids = ["a|b,c", "say \"hi\"", "x'; DROP TABLE t; --", "[1]", "ünï cødé", "007"]
    frame = pd.concat([series_frame(sid, seed=i) for i, sid in enumerate(ids)])
    code, _, out = detect(tmp_path, capsys, frame)
    assert code == 0 and sorted(out["series_id"]) == sorted(ids)


@settings(max_examples=40, deadline=None)
@given(st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=30)
       .filter(lambda s: s.strip() == s and s.strip() != "" and not s.startswith("\ufeff")))
def test_c12_any_series_id_is_read_back_verbatim(sid):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "in.csv"
        pd.DataFrame({"series_id": [sid], "timestamp": ["2024-03-01T00:00:00"], "value": [1.0]}).to_csv(path, index=False)
        assert read_detect_input(path)["series_id"].tolist() == [sid]


def test_c12_nasty_names_are_stored_verbatim_and_their_series_run(perf_resources, instance, tmp_path):
    days = day_list("2026-03-01", 4)
    pd.concat([perf_rows(s, p, days, seed=i) for i, (s, p) in enumerate(NASTY)]).to_csv(tmp_path / "r.csv", index=False)
    resources = local_resources(perf_resources, tmp_path)
    assert backfill_raw(resources, instance, days[0], days[-1]).success
    registered = set(instance.get_dynamic_partitions(series_partitions.name))
    assert registered == {series_key(s, p) for s, p in NASTY}
    raw = read_table(resources, "raw_perf_results")
    assert set(zip(raw["suite"], raw["platform"], strict=True)) == set(NASTY)  # verbatim in DuckDB
    for s, p in NASTY[:3]:  # the cheap per-series assets, keyed by the sanitised key
        key = series_key(s, p)
        assert materialize_series(resources, instance, days[-1], key).success
    cleaned = read_table(resources, "cleaned_series")
    assert set(zip(cleaned["suite"], cleaned["platform"], strict=True)) == set(NASTY[:3])
    assert (cleaned.groupby("series_key").size() == 12).all()
    # the warehouse query is parameterised: a key made of SQL finds nothing and breaks nothing
    wh = resources["warehouse"]
    assert wh.series_window("x' OR '1'='1", pd.Timestamp("2000-01-01"), pd.Timestamp("2100-01-01")).empty
    assert len(read_table(resources, "raw_perf_results")) == len(raw)


# ============================================================================ C13 huge outliers


def test_c13_a_1e9_point_is_flagged_not_alerted(tmp_path, capsys):
    frame = series_frame("s", pct=0.0)
    frame.loc[25, "value"] = 1e9
    code, _, out = detect(tmp_path, capsys, frame)
    assert code == 0 and out.empty
    pts = clean_points(pd.to_datetime(frame["timestamp"]).to_numpy(), frame["value"].to_numpy())
    assert pts["is_outlier"].tolist() == [i == 25 for i in range(60)]


def test_c13_an_absurd_crash_count_is_rejected_not_alerted():
    rows = _synthetic_crash_day(1e9)
    good, bad = validate_crash_rows(conform_crash_frame(rows, "t"))
    assert bad["reason"].tolist() == ["count: more crashes than seconds of usage"]
    assert good["main_crashes"].max() < 100
    # a real crash loop (many crashes, but fewer than one per second of use) is data, not corruption
    loop, bad = validate_crash_rows(conform_crash_frame(_synthetic_crash_day(5000.0), "t"))
    assert bad.empty and loop["main_crashes"].max() == 5000.0


def _synthetic_crash_day(spike: float) -> pd.DataFrame:
    rows = _crash_rows(main_crashes=[1.0] * 24, usage_hours=[100.0] * 24)
    rows["window_start"] = pd.date_range("2026-03-01", periods=24, freq="h")
    rows["window_end"] = rows["window_start"] + pd.Timedelta(minutes=5)
    rows.loc[7, "main_crashes"] = spike
    return rows


def test_c13_absurd_crash_count_counted_in_crash_aggregates_metadata(tmp_path):
    src = tmp_path / "crash"
    src.mkdir()
    _synthetic_crash_day(1e9).to_parquet(src / "error_aggregates.parquet")
    result = dg.materialize(
        [S_ASSETS["crash_aggregates"]], partition_key=dg.MultiPartitionKey({"date": "2026-03-01", "channel": "release"}),
        resources={"io_manager": _duck(tmp_path), "crash_source": LocalCrashSource(path=str(src))},
        instance=dg.DagsterInstance.ephemeral())
    meta = result.asset_materializations_for_node("crash_aggregates")[0].metadata
    assert result.success and meta["rows_rejected"].value == 1
    assert meta["rejected_by_reason"].value == {"count: more crashes than seconds of usage": 1}
    assert meta["crashes_in_rejected_rows"].value == 1e9


def _duck(tmp_path):
    from dagster_duckdb_pandas import DuckDBPandasIOManager

    return DuckDBPandasIOManager(database=str(tmp_path / "s.duckdb"), schema="regression_assets")


def _stability_assets():
    from regression_assets.stability import STABILITY_ASSETS

    return {a.key.path[-1]: a for a in STABILITY_ASSETS}


S_ASSETS = _stability_assets()


# ============================================================================ C14 scale change (unit change)


@pytest.mark.parametrize("method", ["default", "perfherder"])
@pytest.mark.parametrize("factor", [1000.0, 1 / 1000.0, 1024.0])
def test_c14_a_unit_change_is_a_flagged_scale_change_never_a_regression(tmp_path, capsys, method, factor):
    frame = series_frame("ms-to-us", n=80, at=40, pct=0.0)
    frame.loc[40:, "value"] *= factor
    code, err, out = detect(tmp_path, capsys, pd.concat([frame, series_frame("plain", n=80, at=40, seed=5)]),
                            method=method)
    assert code == 0
    got = out.set_index("series_id")["direction"]
    assert got["ms-to-us"] == SCALE_CHANGE and got["plain"] == "regression"  # the other series is untouched
    assert "reported as 'scale_change'" in err and "'ms-to-us'" in err


def test_c14_a_unit_change_in_the_alert_asset_logic_is_a_scale_change_alert():
    """evaluate_day (what regression_alerts runs) on a level that jumps 1000x: flagged, not a regression."""
    days = pd.date_range("2026-02-01", "2026-03-20")
    level = np.where(days < pd.Timestamp("2026-03-12"), 100.0, 100_000.0)
    rng = np.random.default_rng(0)
    draws = (level[None, :] * np.exp(rng.normal(0, 0.003, (200, len(days))))).astype("float32")
    ts = np.repeat(days.to_numpy(), 3) + np.tile(np.array([2, 8, 14], dtype="timedelta64[h]"), len(days))
    vals = np.repeat(level, 3) * np.exp(rng.normal(0, 0.003, len(ts)))
    rows = evaluate_day("k", points_for(ts, vals), days, draws, pd.Timestamp("2026-03-20"), None, True)
    fired = rows[rows["is_alert"]]
    assert len(fired) and set(fired["direction"]) == {SCALE_CHANGE}
    assert (pd.to_datetime(fired["change_timestamp"]).dt.normalize() == pd.Timestamp("2026-03-12")).all()
    # an ordinary 5 % step through the same code is still a regression
    level5 = np.where(days < pd.Timestamp("2026-03-12"), 100.0, 105.0)
    draws5 = (level5[None, :] * np.exp(rng.normal(0, 0.003, (200, len(days))))).astype("float32")
    rows5 = evaluate_day("k", points_for(ts, np.repeat(level5, 3) * np.exp(rng.normal(0, 0.003, len(ts)))),
                         days, draws5, pd.Timestamp("2026-03-20"), None, True)
    assert set(rows5.loc[rows5["is_alert"], "direction"]) == {"regression"}


# ============================================================================ C15 wrong column types


def test_c15_wrong_types_in_perf_sources(tmp_path):
    rows = perf_rows("tp5o", "linux64", ["2026-03-01"])
    with pytest.raises(ValueError, match=r"src\.csv: column 'push_timestamp' holds numbers"):
        conform_raw_frame(rows.assign(push_timestamp=1772323200), "src.csv")
    # "false" as text is False (a plain cast would make it True and flip every alert's direction)
    out = conform_raw_frame(rows.assign(lower_is_better=["false", "FALSE", "0"]), "t")
    assert out["lower_is_better"].tolist() == [False, False, False] and out["lower_is_better"].dtype == bool
    good, rejected = validate_raw_rows(conform_raw_frame(rows.assign(lower_is_better=["true", "maybe", None]), "t"))
    assert rejected["reason"].tolist() == ["lower_is_better: not a boolean"]
    assert good["lower_is_better"].tolist() == [True, True] and good["lower_is_better"].dtype == bool
    assert conform_raw_frame(rows.assign(lower_is_better=["true", "maybe", None]), "t")["lower_is_better"].tolist() \
        == [True, "maybe", True]  # what can't be read is kept, to be rejected naming it
    # through a file source and the day's preparation (conform twice): still rejected, never defaulted to True
    src = tmp_path / "src"
    src.mkdir()
    rows.assign(lower_is_better=["false", "maybe", ""]).to_csv(src / "r.csv", index=False)
    day = LocalPerfSource(directory=str(src), include_talos=False).fetch_day(dt.date(2026, 3, 1))
    good, rejected = prepare_day(day, "2026-03-01", "t")
    assert rejected["reason"].tolist() == ["lower_is_better: not a boolean"]
    assert good["lower_is_better"].tolist() == [False, True]  # "false" is False; empty is the default, True
    with pytest.raises(ValueError, match="'lower_is_better' holds no booleans"):
        conform_raw_frame(rows.assign(lower_is_better="lower"), "t")
    _, rejected = validate_raw_rows(conform_raw_frame(rows.assign(value=["12.5", "abc", "1,5"]), "t"))
    assert rejected["reason"].tolist() == ["value: NaN or infinite"] * 2


def test_c15_swapped_columns_in_the_cli_name_the_field(tmp_path, capsys):
    text = "series_id,timestamp,value\ns,101.3,2024-03-01T00:00:00\n"
    code, err, _ = detect(tmp_path, capsys, text)
    assert code == 2 and "line 2 (data row 1): field 'timestamp' '101.3' is not an ISO-8601 timestamp" in err


def test_c15_wrong_types_in_crash_sources(tmp_path):
    rows = _crash_rows(main_crashes=["3", "abc", None])
    good, bad = validate_crash_rows(conform_crash_frame(rows, "t"))
    assert bad["reason"].tolist() == ["count: not a number or infinite"]  # not silently 0 crashes
    assert good["main_crashes"].tolist() == [3.0, 0.0]  # missing = no event
    with pytest.raises(ValueError, match="column 'content_crashes' holds no numbers"):
        conform_crash_frame(_crash_rows(main_crashes=[1.0], content_crashes=["many"]), "t")
    src = tmp_path / "c"
    src.mkdir()
    _crash_rows(main_crashes=[1.0]).astype({"window_start": str}).to_parquet(src / "e.parquet")
    with pytest.raises(ValueError, match="column 'window_start' is (large_)?string, expected a timestamp"):
        LocalCrashSource(path=str(src)).fetch_day(dt.date(2026, 3, 1))


# ============================================================================ C16 truncated files


def test_c16_truncated_parquet_fails_the_day_naming_the_file(perf_resources, instance, tmp_path, no_raw_retries):
    good = tmp_path / "results.parquet"
    perf_rows("tp5o", "linux64", ["2026-03-01"]).to_parquet(good)
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    result = dg.materialize([raw_perf_results], partition_key="2026-03-01", raise_on_error=False,
                            resources=local_resources(perf_resources, tmp_path), instance=instance)
    assert not result.success
    msg = step_failure_messages(result)
    assert f"{good}: unreadable perf results file" in msg
    assert not _exists(perf_resources, "raw_perf_results")  # nothing half-written
    crash = tmp_path / "crash"
    crash.mkdir()
    _crash_rows(main_crashes=[1.0]).to_parquet(crash / "e.parquet")
    blob = (crash / "e.parquet").read_bytes()
    (crash / "e.parquet").write_bytes(blob[:100])
    with pytest.raises(ValueError, match=r"LocalCrashSource\(.*crash\): unreadable Parquet .*e\.parquet"):
        LocalCrashSource(path=str(crash)).fetch_day(dt.date(2026, 3, 1))


def test_c16_truncated_csv_rejects_the_cut_row_and_keeps_the_rest(tmp_path):
    path = tmp_path / "results.csv"
    perf_rows("tp5o", "linux64", ["2026-03-01"]).to_csv(path, index=False)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:-1], lines[-1][:9]]))  # the download stopped at "2026-03-0"
    day = LocalPerfSource(directory=str(tmp_path), include_talos=False).fetch_day(dt.date(2026, 3, 1))
    good, rejected = prepare_day(day, "2026-03-01", "t")
    assert len(good) == 2 and rejected["reason"].tolist() == ["push_timestamp: unparsable or missing"]


def test_c16_truncated_cli_input_names_the_line(tmp_path, capsys):
    code, err, _ = detect(tmp_path, capsys, "series_id,timestamp,value\ns,2024-03-01T00:00:00,1.0\ns,2024-03-01T0")
    assert code == 2 and "line 3 (data row 2)" in err and "field 'timestamp'" in err
    code, err, _ = detect(tmp_path, capsys, 'series_id,timestamp,value\n"s,2024-03-01T00:00:00,1.0\n', name="q.csv")
    assert code == 2 and "q.csv" in err and ("malformed CSV" in err or "line" in err)
    code, err, _ = detect(tmp_path, capsys, "series_id,timestamp,value\ns,2024-03-01T00:00:00,caf\xe9\n".encode("latin-1"),
                          name="l.csv")
    assert code == 2 and "not UTF-8" in err


def test_c16_truncated_release_calendar_names_file_and_line(tmp_path):
    (tmp_path / "release_calendar.csv").write_text("channel,version,release_date\nnightly,147,2025-12-15\nnightly,148,2026-0")
    with pytest.raises(ValueError, match=r"release_calendar\.csv: line 3: field 'release_date' is '2026-0', not a date"):
        LocalPerfSource(directory=str(tmp_path), include_talos=False).fetch_release_calendar()


# ============================================================================ C17 HTTP / BigQuery error mid-page


def test_c17_http_error_on_the_second_page_fails_the_whole_day(treeherder):  # noqa: F811 - fixture
    calls = {"n": 0}
    real = treeherder.respond

    def second_page_fails(path, query):
        if path == DATA_PATH:
            calls["n"] += 1
            if calls["n"] >= 2:
                return 502, {"detail": "bad gateway"}
        return real(path, query)

    treeherder.respond = second_page_fails
    with pytest.raises(PerfherderApiError, match=r"performance/data/.*failed after 2 attempt\(s\).*502") as info:
        _source(treeherder, signatures_per_request=2, max_retries=1).fetch_day(DAY)
    assert info.value.status == 502  # no half day returned: the first page's rows are not kept


def test_c17_malformed_payload_is_a_clear_error_naming_the_url(treeherder):  # noqa: F811 - fixture
    real = treeherder.respond
    treeherder.respond = lambda path, query: (200, {"h": [{"signature_id": 4712301}]}) if path == DATA_PATH \
        else real(path, query)
    with pytest.raises(PerfherderApiError, match=r"GET http://127\.0\.0\.1:\d+/api/project/autoland/performance/data/"
                                                 r".*unexpected payload.*push_timestamp"):
        _source(treeherder).fetch_day(DAY)
    treeherder.respond = lambda path, query: (200, ["not", "an", "object"]) if "signatures" in path else real(path, query)
    with pytest.raises(PerfherderApiError, match="signatures/.*unexpected payload"):
        _source(treeherder).fetch_day(DAY)


class _PagedJob:
    """`to_dataframe()` downloading result pages; page `fail_at` raises like a dropped connection."""

    def __init__(self, pages, fail_at=None):
        self.pages, self.fail_at = pages, fail_at

    def to_dataframe(self):
        from google.api_core.exceptions import ServiceUnavailable

        got = []
        for i, page in enumerate(self.pages):
            if i == self.fail_at:
                raise ServiceUnavailable("GET https://bigquery.googleapis.com/bigquery/v2/projects/p/queries/j"
                                         "?pageToken=BFX2: Backend error")
            got.append(page)
        return pd.concat(got, ignore_index=True)


class _FakeClient:
    def __init__(self):
        self.fail_days: set[dt.date] = set()

    def query(self, sql, job_config=None):
        day = next(p.value for p in job_config.query_parameters if p.name == "day")
        rows = perf_rows("tp5o", "linux64", [day], per_day=4).rename(columns={"suite": "suite_name"})
        return _PagedJob([rows.iloc[:2], rows.iloc[2:]], fail_at=1 if day in self.fail_days else None)


@pytest.fixture
def fake_bigquery(monkeypatch):
    client = _FakeClient()

    @contextlib.contextmanager
    def get_client(self):
        yield client

    monkeypatch.setattr(BigQueryResource, "get_client", get_client)
    return client


def test_c17_bigquery_page_error_fails_that_day_only_with_nothing_partial(perf_resources, instance, fake_bigquery,
                                                                        no_raw_retries):
    fake_bigquery.fail_days = {dt.date(2026, 3, 2)}
    source = BigQueryPerfSource(bigquery=BigQueryResource(project="test-project"), projects=["autoland"])
    with pytest.raises(BigQuerySourceError, match=r"moz-fx-data-derived-datasets\.taskclusteretl\.perfherder on "
                                                  r"2026-03-02: BigQuery read failed \(ServiceUnavailable"):
        source.fetch_day(dt.date(2026, 3, 2))
    resources = {**perf_resources, "perf_source": source}
    ok = dg.materialize([raw_perf_results], partition_key="2026-03-01", resources=resources, instance=instance)
    assert ok.success and raw_meta(ok)["rows"].value == 4
    bad = dg.materialize([raw_perf_results], partition_key="2026-03-02", resources=resources, instance=instance,
                         raise_on_error=False)
    assert not bad.success and "2026-03-02: BigQuery read failed" in step_failure_messages(bad)
    table = read_table(perf_resources, "raw_perf_results")
    assert set(table["partition_date"].dt.strftime("%Y-%m-%d")) == {"2026-03-01"} and len(table) == 4


# ============================================================================ C18 release calendar gaps


def _calendar(versions):
    dates = {"146": "2025-11-17", "147": "2025-12-15", "148": "2026-01-12", "149": "2026-02-09", "150": "2026-03-09"}
    return pd.DataFrame({"channel": "nightly", "version": versions, "release_date": [dates[v] for v in versions]})


def test_c18_a_gap_in_the_calendar_skips_the_comparison_it_cannot_date():
    full = dict(reference_days(pd.Timestamp("2026-03-20"), _calendar(["147", "148", "149", "150"])))
    assert full["version 149"] == pd.Timestamp("2026-03-08") and full["version 148"] == pd.Timestamp("2026-02-08")
    gap = _calendar(["146", "147", "149", "150"])  # 148 missing
    refs = dict(reference_days(pd.Timestamp("2026-03-20"), gap))
    assert refs["version 149"] == pd.Timestamp("2026-03-08")
    assert "version 147" not in refs  # its last day would really be one of 148's days: not compared under its name
    assert calendar_gaps(gap) == ["148 (between 147 and 149)"]
    # a calendar that stops long before the day, or is empty, leaves the 7 / 14 day comparisons
    assert [r[0] for r in reference_days(pd.Timestamp("2027-01-01"), _calendar(["146"]))] == ["7d", "14d"]
    assert [r[0] for r in reference_days(pd.Timestamp("2026-03-20"), pd.DataFrame())] == ["7d", "14d"]


def test_c18_a_crash_release_missing_from_the_calendar_is_dated_by_first_sight_and_flagged():
    aggs = _crash_rows(main_crashes=[1.0, 1.0], usage_hours=[10.0, 10.0]).assign(version=["150.0", "151.0"])
    cal = conform_release_frame(pd.DataFrame({"channel": ["release"], "version": ["150.0"],
                                              "release_time": ["2026-02-01T00:00:00"]}), "t")
    rel = S.release_times(conform_crash_frame(aggs, "t"), cal).set_index("version")
    assert rel.loc["150.0", "release_source"] == "calendar" and rel.loc["151.0", "release_source"] == "first_seen"


# ============================================================================ C19 names that are not file-safe


def test_c19_path_like_and_overlong_names_never_escape_or_overflow_the_draws_directory(tmp_path):
    io = ParquetDrawsIOManager(base_dir=str(tmp_path))
    for s, p in NASTY:
        path = io._path("spline_posterior", f"2026-03-01|{series_key(s, p)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"x": [1.0]}).to_parquet(path)  # the file system accepts it
        assert path.resolve().is_relative_to(tmp_path.resolve())


# ============================================================================ C20 missing columns


def test_c20_a_missing_column_is_an_error_naming_it_everywhere(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"src: missing column\(s\) \['value'\]"):
        conform_raw_frame(perf_rows("a", "b", ["2026-03-01"]).drop(columns="value"), "src")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['usage_hours'\]"):
        conform_crash_frame(_crash_rows(main_crashes=[1.0]).drop(columns="usage_hours"), "src")
    (tmp_path / "release_calendar.csv").write_text("channel,version\nnightly,147\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['release_date'\]"):
        LocalPerfSource(directory=str(tmp_path), include_talos=False).fetch_release_calendar()
    code, err, _ = detect(tmp_path, capsys, "series,timestamp,value\ns,2024-03-01T00:00:00,1\n")
    assert code == 2 and "missing column(s) 'series_id'" in err


# ============================================================================ security


SECRETS = {"GCP_CREDENTIALS": "c2VjcmV0LWtleS1kby1ub3QtbGVhaw==", "SLACK_TOKEN": "xoxb-secret-do-not-leak",
           "REGRESSION_ASSETS_WEBHOOK_URL": "https://hooks.example.invalid/secret-path-do-not-leak"}


def test_security_credentials_come_from_the_environment_as_envvars(monkeypatch, tmp_path):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("REGRESSION_ASSETS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GCP_PROJECT", "test-project")
    from regression_assets.resources import bigquery_resources

    resources = bigquery_resources()
    seen_envvars = set()

    def walk(obj, where):
        if isinstance(obj, dg.EnvVar):
            seen_envvars.add(obj.env_var_name)
            return
        if isinstance(obj, str):
            assert not any(v in obj for v in SECRETS.values()), f"{where} holds a secret's value"
            return
        if isinstance(obj, dg.ConfigurableResource | dg.ConfigurableIOManager):
            for name in type(obj).model_fields:
                walk(getattr(obj, name, None), f"{where}.{name}")
        elif isinstance(obj, dict | list | tuple):
            for i, v in (obj.items() if isinstance(obj, dict) else enumerate(obj)):
                walk(v, f"{where}[{i}]")

    for key, res in resources.items():
        walk(res, key)
        assert not any(v in repr(res) for v in SECRETS.values()), key
    assert {"GCP_CREDENTIALS", "SLACK_TOKEN", "REGRESSION_ASSETS_WEBHOOK_URL", "GCP_PROJECT"} <= seen_envvars
    # In the code, a secret's value is never read into a variable: os.getenv("X") only tests presence,
    # next to the dg.EnvVar("X") that Dagster resolves at run time.
    package = Path(__file__).resolve().parents[1] / "regression_assets"
    for path in package.rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for name in SECRETS:
                if re.search(rf"(getenv|environ(\.get)?)\(?\[?[\"']{name}[\"']", line):
                    assert f'EnvVar("{name}")' in line, f"{path}:{n} reads {name} outside an EnvVar"


def test_security_secrets_never_reach_metadata_logs_or_errors(perf_resources, instance, fake_bigquery, monkeypatch,
                                                             no_raw_retries):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    source = BigQueryPerfSource(bigquery=BigQueryResource(project="test-project",
                                                          gcp_credentials=dg.EnvVar("GCP_CREDENTIALS")),
                                projects=["autoland"])
    resources = {**perf_resources, "perf_source": source}
    fake_bigquery.fail_days = {dt.date(2026, 3, 2)}
    ok = dg.materialize([raw_perf_results], partition_key="2026-03-01", resources=resources, instance=instance)
    bad = dg.materialize([raw_perf_results], partition_key="2026-03-02", resources=resources, instance=instance,
                         raise_on_error=False)
    assert ok.success and not bad.success
    for result in (ok, bad):
        run = instance.get_run_by_id(result.run_id)
        text = json.dumps(run.run_config, default=str) + " ".join(
            str(r) for r in instance.all_logs(result.run_id))
        assert not any(v in text for v in SECRETS.values())
    # Every query is parameterised: see sources/test_bigquery.py::test_day_query_uses_parameters_only,
    # ::test_table_regex_rejects_injection, sources/test_crash_sources.py::test_bigquery_query_is_parameterised
    # and C12 above (a key made of SQL through the DuckDB warehouse).
    from regression_assets.warehouse import SERIES_WINDOW_SQL, SERIES_WINDOW_SQL_BQ

    assert SERIES_WINDOW_SQL.count("?") == 3 and "@series_key" in SERIES_WINDOW_SQL_BQ
    assert set(re.findall(r"{(\w+)}", SERIES_WINDOW_SQL + SERIES_WINDOW_SQL_BQ)) == {"table"}


# ============================================================================ C14 through the real asset chain


def test_c14_unit_change_through_the_asset_chain_alerts_as_scale_change(perf_resources, instance, tmp_path):
    """The one PyMC fit of this file (~15 s compile): raw -> cleaned -> modes -> spline -> alerts."""
    days = day_list("2026-03-01", 21)
    perf_rows("tp5o", "linux64", days, scale_from="2026-03-15").to_csv(tmp_path / "r.csv", index=False)
    resources = local_resources(perf_resources, tmp_path)
    assert backfill_raw(resources, instance, days[0], days[-1]).success
    result = dg.materialize(PERF_ASSETS, selection=["cleaned_series", "series_modes", "spline_posterior",
                                                    "regression_alerts"], resources=resources, instance=instance,
                            partition_key=dg.MultiPartitionKey({"date": days[-1], "series": "tp5o__linux64"}),
                            run_config={"ops": {"spline_posterior": {"config": {"tune": 300, "draws": 300}}}})
    assert result.success
    alerts = read_table(resources, "regression_alerts")
    fired = alerts[alerts["is_alert"]]
    assert len(fired) and set(fired["direction"]) == {SCALE_CHANGE}  # never a 99,900 % "regression"
    assert (pd.to_datetime(fired["change_timestamp"]).dt.normalize() == pd.Timestamp("2026-03-15")).all()
