"""Asset checks: the pure decisions on small frames, and the checks in real runs on an ephemeral instance."""

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from regression_assets.checks import (
    ASSET_CHECKS,
    coverage_check_decision,
    days_with_data,
    min_data_decision,
    posterior_check_decision,
    raw_schema_decision,
    raw_schema_problems,
)
from regression_assets.jobs import PERF_ASSETS
from regression_assets.partitions import daily_partitions, perf_series_partitions, series_partitions
from regression_assets.perf.posterior import DIAGNOSTIC_COLUMNS
from regression_assets.perf.raw import raw_perf_results
from regression_assets.perf.series import cleaned_series
from regression_assets.sources.schema import RAW_PERF_COLUMNS, empty_raw_frame

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
SERIES = "tp5o__linux1804-64-shippable-qr"


def diag(r_hats, divergences=None, coverage=None):
    n = len(r_hats)
    return pd.DataFrame({"partition": [f"2026-03-{i + 1:02d}|s" for i in range(n)], "r_hat_max": r_hats,
                         "divergences": divergences or [0] * n, "coverage": coverage or [0.9] * n})


# --- pure decisions -----------------------------------------------------------------------------------------

def test_posterior_decision_flags_then_fails():
    assert posterior_check_decision(diag([1.001, 1.005, 1.01])).passed
    # One fit of ten over 1.01, one with a divergence: flagged (WARN), listed, not blocking.
    warn = posterior_check_decision(diag([1.001] * 8 + [1.03, 1.0], divergences=[0] * 9 + [2]))
    assert not warn.passed and warn.severity == "WARN"
    assert [f["partition"] for f in warn.flagged] == ["2026-03-09|s", "2026-03-10|s"]
    assert warn.flagged[1]["why"] == "divergences"
    # Three of ten just over 1.01: flagged, not blocking (r_hat's own noise at 2 x 500 draws).
    assert posterior_check_decision(diag([1.001] * 7 + [1.03, 1.04, 1.02])).severity == "WARN"
    # Three of ten clearly off (> 1.05; 30% > 20%): ERROR.
    share = posterior_check_decision(diag([1.001] * 7 + [1.06, 1.07, 1.08]))
    assert not share.passed and share.severity == "ERROR" and share.metadata["blocking_share"] == 0.3
    assert posterior_check_decision(diag([1.001] * 7 + [1.06, 1.07, 1.08]), max_bad_share=0.5).severity == "WARN"
    # Any fit that did not converge at all: ERROR whatever the share.
    # one unconverged fit of 21 (a backfill): flagged, its day's alerts withheld, the other days not blocked
    one_bad = posterior_check_decision(diag([1.0] * 20 + [1.2]))
    assert one_bad.severity == "WARN" and not one_bad.passed and "withheld" in one_bad.description
    assert posterior_check_decision(diag([1.0, 1.2])).severity == "ERROR"  # a short run: blocked
    # A single-fit run (a daily run of one series) with r_hat 1.03 is flagged, not blocked.
    assert posterior_check_decision(diag([1.03])).severity == "WARN"
    assert posterior_check_decision(diag([1.06]), min_fits_for_share=1).severity == "ERROR"
    # A missing r_hat can't vouch for convergence.
    assert posterior_check_decision(diag([np.nan, 1.0])).flagged[0]["partition"] == "2026-03-01|s"
    assert posterior_check_decision(diag([])).passed


def test_coverage_decision_warns_outside_85_95():
    ok = coverage_check_decision(diag([1.0] * 3, coverage=[0.85, 0.9, 0.95]))
    assert ok.passed
    bad = coverage_check_decision(diag([1.0] * 3, coverage=[0.8, 0.9, 0.97]))
    assert not bad.passed and bad.severity == "WARN"
    assert [f["coverage"] for f in bad.flagged] == [0.8, 0.97]


def test_min_data_decision_counts_usable_days():
    frame = pd.DataFrame({
        "partition_date": pd.Timestamp("2026-03-10"), "series_key": "s",
        "day": pd.to_datetime(["2026-03-01", "2026-03-01", "2026-03-02", "2026-03-03"]),
        "is_outlier": [False, False, False, True], "invalid": False})
    counts = days_with_data(frame)
    assert counts == {"2026-03-10|s": 2}  # the outlier-only day doesn't count
    decision = min_data_decision(counts, ["2026-03-10|s", "2026-03-10|t"], min_days=2)
    assert decision.severity == "WARN" and decision.flagged == [{"partition": "2026-03-10|t", "days_with_data": 0}]
    assert min_data_decision(counts, ["2026-03-10|s"], min_days=2).passed


def good_raw(day="2026-03-02"):
    return empty_raw_frame().assign(series_key=pd.Series(dtype="string"),
                                    partition_date=pd.Series(dtype="datetime64[ns]")).astype(
        {"series_key": "string"})


def test_raw_schema_problems_name_the_column():
    assert raw_schema_problems(good_raw()) == []
    # DuckDB round trip: object strings, microsecond timestamps — same kinds, no problem.
    stored = pd.DataFrame({c: pd.Series(["x"], dtype=object) for c in RAW_PERF_COLUMNS}).assign(
        push_timestamp=pd.Series(pd.to_datetime(["2026-03-02"])).astype("datetime64[us]"), value=1.0,
        lower_is_better=True, series_key="s", partition_date=pd.Timestamp("2026-03-02"))
    assert raw_schema_problems(stored) == []
    assert raw_schema_problems(stored.drop(columns=["revision"])) == ["revision: missing"]
    assert raw_schema_problems(stored.assign(value="1.0")) == ["value: expected float64, got object"]
    assert raw_schema_problems(stored.assign(value=np.float32(1.0)))[0].startswith("value: expected float64")
    tz = stored.assign(push_timestamp=stored["push_timestamp"].dt.tz_localize("UTC"))
    assert raw_schema_problems(tz)[0].startswith("push_timestamp: expected datetime64[ns]")
    assert raw_schema_problems(stored.assign(suite=3))[0] == "suite: expected string, got int64"


def test_raw_decision_fails_on_a_day_whose_rows_were_all_rejected():
    frame = good_raw()
    outage = raw_schema_decision(frame, ["2026-03-02"], rejected={})
    assert outage.passed  # no rows and nothing rejected: an outage, not a broken pull
    lost = raw_schema_decision(frame, ["2026-03-02"], rejected={"2026-03-02": 12})
    assert not lost.passed and lost.severity == "ERROR" and lost.metadata["all_rejected_days"] == ["2026-03-02"]


# --- checks in real runs ----------------------------------------------------------------------------------

@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


@dg.asset(partitions_def=daily_partitions, deps=[raw_perf_results], backfill_policy=dg.BackfillPolicy.single_run())
def raw_consumer() -> None:
    """Stand-in for a step downstream of the raw pull in the same run."""


def raw_job(resources):
    defs = dg.Definitions(assets=[raw_perf_results, raw_consumer], asset_checks=ASSET_CHECKS, resources=resources,
                          jobs=[dg.define_asset_job("raw", selection=[raw_perf_results, raw_consumer])])
    return defs.resolve_job_def("raw")


def evaluation(result, name):
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == name)


def test_raw_schema_passes_on_the_sample_backfill(perf_resources, instance):
    result = raw_job(perf_resources).execute_in_process(
        instance=instance, tags={RANGE_START: "2026-03-02", RANGE_END: "2026-03-04"})
    assert result.success
    ev = evaluation(result, "raw_schema")
    assert ev.passed and ev.metadata["days"].value == 3 and ev.metadata["rows"].value > 0
    assert {m.partition for m in result.get_asset_materialization_events()
            if m.asset_key == raw_consumer.key} == {"2026-03-02", "2026-03-03", "2026-03-04"}


def test_a_drifted_column_type_fails_the_check_and_stops_downstream(perf_resources, instance):
    # An older version of the table stored `value` as text: the pull still writes (DuckDB casts), the
    # check must catch it before anything reads the day.
    cols = {**{c: "VARCHAR" for c in RAW_PERF_COLUMNS}, "push_timestamp": "TIMESTAMP",
            "lower_is_better": "BOOLEAN", "series_key": "VARCHAR", "partition_date": "TIMESTAMP"}
    with duckdb.connect(perf_resources["io_manager"].database) as con:
        con.execute("CREATE SCHEMA regression_assets")
        con.execute("CREATE TABLE regression_assets.raw_perf_results ("
                    + ", ".join(f'"{c}" {t}' for c, t in cols.items()) + ")")
    result = raw_job(perf_resources).execute_in_process(
        instance=instance, raise_on_error=False, tags={RANGE_START: "2026-03-02", RANGE_END: "2026-03-03"})
    assert not result.success
    ev = evaluation(result, "raw_schema")
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.ERROR
    assert ev.metadata["flagged"].value == [{"column": "value", "problem": "value: expected float64, got object"}]
    assert not [m for m in result.get_asset_materialization_events() if m.asset_key == raw_consumer.key]
    assert "raw_consumer" not in {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert [e.step_key for e in result.get_step_failure_events()] == ["raw_perf_results_raw_schema"]


def test_a_missing_column_fails_the_check(perf_resources, instance, monkeypatch):
    import regression_assets.perf.raw as raw_mod

    real = raw_mod.prepare_day
    monkeypatch.setattr(raw_mod, "prepare_day", lambda *a: (lambda g, r: (g.drop(columns=["revision"]), r))(*real(*a)))
    result = dg.materialize([raw_perf_results, raw_consumer, *ASSET_CHECKS], selection=[raw_perf_results, raw_consumer],
                            partition_key="2026-03-02", resources=perf_resources, instance=instance,
                            raise_on_error=False)
    assert not result.success
    assert evaluation(result, "raw_schema").metadata["flagged"].value == [
        {"column": "revision", "problem": "revision: missing"}]


def test_a_day_whose_rows_were_all_rejected_fails_the_check(perf_resources, instance, tmp_path):
    from regression_assets.sources.files import LocalPerfSource

    pd.DataFrame({"push_timestamp": ["2026-03-02T10:00:00", "2026-03-02T11:00:00"], "repository": "autoland",
                  "framework": "talos", "suite": "tp5o", "platform": "linux64", "value": [float("nan"), -1.0],
                  "lower_is_better": True, "revision": "abc", "task_id": ["a", "b"],
                  }).to_csv(tmp_path / "results.csv", index=False)
    resources = {**perf_resources, "perf_source": LocalPerfSource(directory=str(tmp_path), include_talos=False)}
    # A table already holding a good day (the sample's), then a day whose every row is rejected.
    assert raw_job(perf_resources).execute_in_process(instance=instance, partition_key="2026-03-03").success
    job = raw_job(resources)
    result = job.execute_in_process(instance=instance, partition_key="2026-03-02", raise_on_error=False)
    assert not result.success
    ev = evaluation(result, "raw_schema")
    assert ev.metadata["schema_problems"].value == 0 and ev.metadata["all_rejected_days"].value == ["2026-03-02"]
    assert not [m for m in result.get_asset_materialization_events() if m.asset_key == raw_consumer.key]
    # A day with no data at all (an outage) passes.
    assert job.execute_in_process(instance=instance, partition_key="2026-03-05").success


def test_a_first_pull_whose_rows_were_all_rejected_fails_the_check(perf_resources, instance, tmp_path):
    """On a fresh table the all-rejected day also leaves `series_key` typed DOUBLE (an empty float column)."""
    from regression_assets.sources.files import LocalPerfSource

    pd.DataFrame({"push_timestamp": ["2026-03-02T10:00:00"], "repository": "autoland", "framework": "talos",
                  "suite": "tp5o", "platform": "linux64", "value": [-1.0], "lower_is_better": True,
                  "revision": "abc", "task_id": ["a"]}).to_csv(tmp_path / "results.csv", index=False)
    resources = {**perf_resources, "perf_source": LocalPerfSource(directory=str(tmp_path), include_talos=False)}
    result = raw_job(resources).execute_in_process(instance=instance, partition_key="2026-03-02",
                                                   raise_on_error=False)
    assert not result.success and not evaluation(result, "raw_schema").passed


def test_min_days_with_data_warns_on_short_windows(perf_resources, instance):
    defs = dg.Definitions(assets=PERF_ASSETS, asset_checks=ASSET_CHECKS, resources=perf_resources, jobs=[
        dg.define_asset_job("raw", selection=[raw_perf_results]),
        dg.define_asset_job("clean", selection=[cleaned_series])])
    assert defs.resolve_job_def("raw").execute_in_process(
        instance=instance, tags={RANGE_START: "2026-03-01", RANGE_END: "2026-03-10"}).success
    result = defs.resolve_job_def("clean").execute_in_process(
        instance=instance, tags={RANGE_START: f"2026-03-03|{SERIES}", RANGE_END: f"2026-03-10|{SERIES}"})
    assert result.success  # WARN never fails a run
    ev = evaluation(result, "min_days_with_data")
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN
    short = {f["partition"]: f["days_with_data"] for f in ev.metadata["flagged"].value}
    assert f"2026-03-03|{SERIES}" in short and f"2026-03-10|{SERIES}" not in short
    assert all(n < 7 for n in short.values()) and ev.metadata["partitions"].value == 8


# Stand-ins for the PyMC assets: same keys, same storage, same diagnostics columns; no sampling.

def fake_posterior(r_hats: dict[str, float]):
    @dg.asset(name="spline_posterior", partitions_def=perf_series_partitions, io_manager_key="draws_io_manager",
              backfill_policy=dg.BackfillPolicy.single_run())
    def _posterior(context: dg.AssetExecutionContext) -> dict[str, pd.DataFrame]:
        out = {}
        for key in map(str, context.partition_keys):
            frame = pd.DataFrame(np.ones((4, 3), dtype="float32"), columns=["2026-03-01", "2026-03-02", "2026-03-03"])
            values = {c: 1.0 for c in DIAGNOSTIC_COLUMNS} | {"r_hat_max": r_hats[key], "divergences": 0,
                                                             "coverage": 0.9}
            out[key] = frame.assign(**values)
        return out

    @dg.asset(name="regression_alerts", partitions_def=perf_series_partitions, io_manager_key="draws_io_manager",
              backfill_policy=dg.BackfillPolicy.single_run())
    def _alerts(spline_posterior: dict[str, pd.DataFrame]) -> None:
        """Stand-in: reads the draws like the real alerts asset."""

    return [_posterior, _alerts]


def posterior_run(perf_resources, instance, r_hats, run_config=None):
    instance.add_dynamic_partitions(series_partitions.name, ["s"])
    assets = fake_posterior(r_hats)
    defs = dg.Definitions(assets=assets, asset_checks=ASSET_CHECKS[2:], resources=perf_resources, jobs=[
        dg.define_asset_job("post", selection=dg.AssetSelection.all())])
    return defs.resolve_job_def("post").execute_in_process(
        instance=instance, raise_on_error=False, run_config=run_config,
        tags={RANGE_START: "2026-03-01|s", RANGE_END: f"2026-03-0{len(r_hats)}|s"})


def test_posterior_check_flags_fits_without_blocking(perf_resources, instance):
    result = posterior_run(perf_resources, instance, {"2026-03-01|s": 1.003, "2026-03-02|s": 1.03,
                                                      "2026-03-03|s": 1.004})
    assert result.success
    ev = evaluation(result, "posterior_diagnostics")
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN
    assert [f["partition"] for f in ev.metadata["flagged"].value] == ["2026-03-02|s"]
    assert evaluation(result, "interval_coverage").passed
    assert "regression_alerts" in {m.asset_key.path[-1] for m in result.get_asset_materialization_events()}


def test_posterior_check_blocks_alerts_when_too_many_fits_are_bad(perf_resources, instance):
    r_hats = {"2026-03-01|s": 1.003, "2026-03-02|s": 1.07, "2026-03-03|s": 1.06}
    config = {"ops": {"spline_posterior_checks": {"config": {"min_fits_for_share": 3}}}}
    result = posterior_run(perf_resources, instance, r_hats, run_config=config)
    assert not result.success
    ev = evaluation(result, "posterior_diagnostics")
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.ERROR
    assert "regression_alerts" not in {m.asset_key.path[-1] for m in result.get_asset_materialization_events()}
    assert "regression_alerts" not in {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert [e.step_key for e in result.get_step_failure_events()] == ["spline_posterior_checks"]
    from regression_assets.backfill import run_outcome

    assert run_outcome(result) == "blocked"  # `make run` reports it as withheld alerts, not a broken graph


def test_definitions_wire_the_checks_into_the_jobs(perf_resources):
    from regression_assets.jobs import perf_series_job, raw_perf_job

    defs = dg.Definitions(assets=PERF_ASSETS, asset_checks=ASSET_CHECKS, jobs=[raw_perf_job, perf_series_job],
                          resources=perf_resources)
    names = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert names == {"raw_schema", "min_days_with_data", "posterior_diagnostics", "interval_coverage"}
    assert {k.name for k in defs.resolve_job_def("raw_perf_job").asset_layer.asset_graph.asset_check_keys} >= \
        {"raw_schema"}
    series_checks = defs.resolve_job_def("perf_series_job").asset_layer.asset_graph.asset_check_keys
    assert {"posterior_diagnostics", "interval_coverage", "min_days_with_data"} <= {k.name for k in series_checks}


def test_a_check_launched_alone_checks_the_latest_partition(perf_resources, instance):
    assert raw_job(perf_resources).execute_in_process(instance=instance, partition_key="2026-03-03").success
    result = dg.materialize([raw_perf_results, *ASSET_CHECKS], selection=dg.AssetSelection.checks(ASSET_CHECKS[0]),
                            resources=perf_resources, instance=instance)
    ev = evaluation(result, "raw_schema")
    assert result.success and ev.passed and ev.metadata["days"].value == 1 and ev.metadata["rows"].value > 0
