"""The perf graph in a real ephemeral Dagster instance on a real DuckDB file."""

import dagster as dg
import pandas as pd
import pytest

from regression_assets.checks import ASSET_CHECKS
from regression_assets.jobs import PERF_ASSETS, PERF_SERIES_ASSETS
from regression_assets.partitions import series_partitions
from regression_assets.perf.raw import raw_perf_results
from regression_assets_tests.conftest import read_table

SERIES = "tp5o__linux1804-64-shippable-qr"
DAY = "2026-03-20"  # three days after the injected 5% regression of that series (2026-03-17)
FAST = {"ops": {"spline_posterior": {"config": {"tune": 300, "draws": 300}}}}


def materialize_raw(resources, instance, days):
    for day in days:
        assert dg.materialize([raw_perf_results], partition_key=day, resources=resources, instance=instance).success


def materialize_series(resources, instance, day, key=SERIES):
    return dg.materialize(PERF_ASSETS, selection=PERF_SERIES_ASSETS, resources=resources, instance=instance,
                          partition_key=dg.MultiPartitionKey({"date": day, "series": key}), run_config=FAST)


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def test_one_partition_through_every_asset(perf_resources, instance):
    days = [d.strftime("%Y-%m-%d") for d in pd.date_range(end=DAY, periods=60)]
    materialize_raw(perf_resources, instance, days)
    assert SERIES in instance.get_dynamic_partitions(series_partitions.name)  # registered from raw data
    assert dg.materialize(PERF_ASSETS, selection=["release_calendar"], resources=perf_resources,
                          instance=instance).success
    result = materialize_series(perf_resources, instance, DAY)
    assert result.success
    cleaned = read_table(perf_resources, "cleaned_series")
    assert cleaned["timestamp"].min() >= pd.Timestamp(days[0]) and cleaned["timestamp"].max() < pd.Timestamp(DAY) + \
        pd.Timedelta(days=1)
    modes = read_table(perf_resources, "series_modes")
    assert modes["n_modes"].tolist() == [1]
    alerts = read_table(perf_resources, "regression_alerts")
    fired = alerts[alerts["is_alert"]]
    assert set(fired["direction"]) == {"regression"}
    assert (fired["change_timestamp"].dt.normalize() == pd.Timestamp("2026-03-17")).all()
    assert fired["median_pct"].between(3.0, 7.0).all()
    meta = result.asset_materializations_for_node("spline_posterior")[0].metadata
    assert meta["divergences"].value == 0 and meta["fits"].value == 1

    # Re-materializing the partition replaces its rows: the same table, no duplicates.
    assert materialize_series(perf_resources, instance, DAY).success
    again = read_table(perf_resources, "regression_alerts")
    cols = ["partition_date", "series_key", "reference", "is_alert", "alert_id", "p_worse", "median_pct"]
    pd.testing.assert_frame_equal(alerts[cols].sort_values(cols).reset_index(drop=True),
                                  again[cols].sort_values(cols).reset_index(drop=True))
    assert len(read_table(perf_resources, "cleaned_series")) == len(cleaned)


def test_bad_rows_are_skipped_and_counted(perf_resources, instance, tmp_path):
    from regression_assets.sources.files import LocalPerfSource

    rows = pd.DataFrame({
        "push_timestamp": ["2026-03-02T10:00:00", "2026-03-02T11:00:00", "not a time", "2026-03-02T12:00:00",
                           "2026-03-02T13:00:00"],
        "repository": "autoland", "framework": "talos",
        "suite": ["tp5o", "tp5o", "tp5o", "tp5o", None], "platform": "linux64",
        "value": [100.0, float("nan"), 101.0, -5.0, 99.0], "lower_is_better": True,
        "revision": "abc", "task_id": ["a", "b", "c", "d", "e"],
    })
    rows.to_csv(tmp_path / "results.csv", index=False)
    resources = {**perf_resources, "perf_source": LocalPerfSource(directory=str(tmp_path), include_talos=False)}
    result = dg.materialize([raw_perf_results], partition_key="2026-03-02", resources=resources, instance=instance)
    assert result.success
    meta = result.asset_materializations_for_node("raw_perf_results")[0].metadata
    assert meta["rows"].value == 1 and meta["rejected_rows"].value == 4
    reasons = meta["rejected_reasons"].value
    assert reasons == {"value: NaN or infinite": 1, "push_timestamp: unparsable or missing": 1,
                       "value: not positive (scores are ratios of times/sizes)": 1, "suite: missing": 1}


def test_a_failing_series_does_not_fail_the_others(perf_resources, instance, monkeypatch):
    import regression_assets.perf.series as series_mod

    days = [d.strftime("%Y-%m-%d") for d in pd.date_range(end="2026-03-10", periods=20)]
    materialize_raw(perf_resources, instance, days)
    real = series_mod.clean_window

    def broken(raw, day, key, mad):
        if day == "2026-03-09":
            raise ValueError("corrupt series")
        return real(raw, day, key, mad)

    monkeypatch.setattr(series_mod, "clean_window", broken)
    job = dg.Definitions(assets=PERF_ASSETS, resources=perf_resources, jobs=[
        dg.define_asset_job("j", selection=["cleaned_series"], partitions_def=PERF_SERIES_ASSETS[0].partitions_def)
    ]).resolve_job_def("j")
    result = job.execute_in_process(instance=instance, tags={
        "dagster/asset_partition_range_start": f"2026-03-08|{SERIES}",
        "dagster/asset_partition_range_end": f"2026-03-10|{SERIES}"})
    assert result.success
    meta = result.asset_materializations_for_node("cleaned_series")[0].metadata
    assert meta["failed_partitions"].value == 1
    assert set(read_table(perf_resources, "cleaned_series")["partition_date"].dt.strftime("%Y-%m-%d")) == \
        {"2026-03-08", "2026-03-10"}


@pytest.mark.slow
def test_sample_backfill_finds_the_injected_changes(perf_resources, instance, tmp_path):
    """Backfill the days around each injected change (and quiet stretches), score against the truth."""
    from regression_assets.sources.sample import SAMPLE_DIR
    from regression_assets.stats.alerts import summarize_alerts

    truth = pd.read_csv(SAMPLE_DIR / "truth.csv", parse_dates=["start", "end"])
    defs = dg.Definitions(assets=PERF_ASSETS, resources=perf_resources, jobs=[
        dg.define_asset_job("raw_perf_job", selection=["raw_perf_results"],
                            partitions_def=raw_perf_results.partitions_def),
        dg.define_asset_job("perf_series_job", selection=PERF_SERIES_ASSETS,
                            partitions_def=PERF_SERIES_ASSETS[0].partitions_def),
        dg.define_asset_job("release_calendar_job", selection=["release_calendar"])])
    # Raw data for the whole sample, then for each series a window of days around its change.
    job_raw = defs.resolve_job_def("raw_perf_job")
    assert job_raw.execute_in_process(instance=instance, tags={
        "dagster/asset_partition_range_start": "2026-01-05", "dagster/asset_partition_range_end": "2026-05-31"}
    ).success
    assert defs.resolve_job_def("release_calendar_job").execute_in_process(instance=instance).success
    spans = {r.series_key: (r.start - pd.Timedelta(days=2), r.end + pd.Timedelta(days=4)) for r in truth.itertuples()}
    spans["speedometer3__windows11-64-shippable-qr"] = (pd.Timestamp("2026-04-01"), pd.Timestamp("2026-04-20"))
    spans["sessionrestore__windows11-64-shippable-qr"] = (pd.Timestamp("2026-04-01"), pd.Timestamp("2026-04-20"))
    job = defs.resolve_job_def("perf_series_job")
    quiet_days = 0
    for key, (a, b) in spans.items():
        res = job.execute_in_process(instance=instance, run_config=FAST, tags={
            "dagster/asset_partition_range_start": f"{a:%Y-%m-%d}|{key}",
            "dagster/asset_partition_range_end": f"{b:%Y-%m-%d}|{key}"})
        assert res.success
        if key not in set(truth["series_key"]):
            quiet_days += (b - a).days + 1
    summary = summarize_alerts(read_table(perf_resources, "regression_alerts"))
    found, false_alerts = 0, 0
    matched = set()
    for r in truth.itertuples():
        hit = summary[(summary["series_key"] == r.series_key) & (summary["direction"] == r.direction)
                      & (pd.to_datetime(summary["change_day"]) >= r.start - pd.Timedelta(days=1))
                      & (pd.to_datetime(summary["change_day"]) <= r.end + pd.Timedelta(days=3))]
        if len(hit):
            found += 1
            matched.update(hit.index)
    false_alerts = len(summary) - len(matched)
    recall = found / len(truth)
    print(f"\nsample backfill: recall {found}/{len(truth)} = {recall:.2f}, false alerts {false_alerts} "
          f"({quiet_days} quiet series-days backfilled)\n{summary.to_string()}")
    assert recall == 1.0
    assert false_alerts <= 1


def test_a_series_with_no_data_materializes_empty(perf_resources, instance):
    """An unknown / renamed series (registered, but absent from raw data) gives empty tables, not a crash."""
    materialize_raw(perf_resources, instance, ["2026-03-01"])
    instance.add_dynamic_partitions(series_partitions.name, ["no-such-suite__linux64"])
    assert dg.materialize(PERF_ASSETS, selection=["release_calendar"], resources=perf_resources,
                          instance=instance).success
    result = materialize_series(perf_resources, instance, "2026-03-01", key="no-such-suite__linux64")
    assert result.success
    meta = result.asset_materializations_for_node("cleaned_series")[0].metadata
    assert meta["points"].value == 0


def test_an_unconverged_fit_withholds_its_days_alerts_only(perf_resources, instance, monkeypatch):
    import dataclasses

    import regression_assets.perf.posterior as posterior_mod

    days = [d.strftime("%Y-%m-%d") for d in pd.date_range(end=DAY, periods=60)]
    materialize_raw(perf_resources, instance, days)
    assert dg.materialize(PERF_ASSETS, selection=["release_calendar"], resources=perf_resources,
                          instance=instance).success
    real = posterior_mod.fit_spline
    bad_day = pd.Timestamp(DAY)

    def unconverged_on_bad_day(*args, **kwargs):
        fit = real(*args, **kwargs)
        return dataclasses.replace(fit, r_hat_max=1.5) if pd.Timestamp(args[2]) == bad_day else fit

    monkeypatch.setattr(posterior_mod, "fit_spline", unconverged_on_bad_day)
    job = dg.Definitions(assets=PERF_ASSETS, resources=perf_resources, asset_checks=ASSET_CHECKS, jobs=[
        dg.define_asset_job("j", selection=PERF_SERIES_ASSETS, partitions_def=PERF_SERIES_ASSETS[0].partitions_def)
    ]).resolve_job_def("j")
    result = job.execute_in_process(instance=instance, raise_on_error=False, tags={
        "dagster/asset_partition_range_start": f"2026-03-11|{SERIES}",
        "dagster/asset_partition_range_end": f"{DAY}|{SERIES}"})
    check = [e for e in result.get_asset_check_evaluations() if e.check_name == "posterior_diagnostics"][0]
    assert check.severity == dg.AssetCheckSeverity.WARN, check.description  # flagged, not blocking
    assert not check.passed and result.success
    meta = result.asset_materializations_for_node("regression_alerts")[0].metadata
    assert meta["withheld_unconverged"].value == 1
    alerts = read_table(perf_resources, "regression_alerts")
    on_bad = alerts[alerts["partition_date"] == bad_day]
    assert len(on_bad) and not on_bad["is_alert"].any() and (on_bad["r_hat_max"] == 1.5).all()
    others = alerts[alerts["partition_date"] < bad_day]
    assert others["is_alert"].any()  # the converged days of the same run still alert


def test_two_balanced_modes_are_counted_as_two():
    # half the runs 3 % higher on 0.4 % noise: the residuals from a running median (which flips between
    # the modes) do not show two modes; the differences of successive runs do, and the detector removes them
    import json

    import numpy as np

    from regression_assets.perf.modes import modes_row
    from regression_assets.stats.mixture import fit_modes, level_residuals

    rng = np.random.default_rng(3)
    logs = np.log(100.0) + np.where(rng.random(300) < 0.5, np.log(1.03), 0.0) + rng.normal(0, 0.004, 300)
    points = pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=300, freq="4h"), "log_value": logs,
                           "is_outlier": False, "invalid": False})
    row = modes_row(points, "2026-02-20", SERIES).iloc[0]
    assert row["n_modes"] == 2 and row["noise_profile"] == "modal"
    offsets = sorted(abs(v) for v in json.loads(row["mode_offsets_pct"]))
    assert offsets == pytest.approx([0.0, 3.0], abs=0.25)
    assert fit_modes(level_residuals(logs)).n_modes != 2
