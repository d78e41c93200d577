"""The notification sensor on an ephemeral instance, over real materializations and DuckDB tables."""

import json

import dagster as dg
import pandas as pd

from regression_assets.io_managers import DuckDBTableIOManager
from regression_assets.operations import (
    AlertStore,
    Notifier,
    alert_notification_sensor,
    alert_registry,
    alert_registry_job,
    notify_alerts_job,
)
from regression_assets.perf.series import PERF_PARTITION_EXPR
from regression_assets_tests.operations._rows import perf_rows, stability_rows
from regression_assets_tests.operations._server import webhook_server

# Stand-ins with the real keys, partitions shape and tables (the real ones need hours of PyMC here).
SERIES = ["tp5o__linux", "tp5o__mac"]
PARTS = dg.MultiPartitionsDefinition({"date": dg.DailyPartitionsDefinition(start_date="2026-03-01"),
                                      "series": dg.StaticPartitionsDefinition(SERIES)})


@dg.asset(name="regression_alerts", partitions_def=PARTS, metadata={"partition_expr": PERF_PARTITION_EXPR})
def regression_alerts_standin(context: dg.AssetExecutionContext) -> pd.DataFrame:
    """Stand-in: one alert row for the partition's series on its date."""
    key = context.partition_key.keys_by_dimension
    rows = perf_rows(key["series"], change="2026-03-17", seen=(key["date"],))
    context.add_output_metadata({"alerts": int(rows["is_alert"].sum())})
    return rows


@dg.asset(name="stability_alerts")
def stability_alerts_standin(context: dg.AssetExecutionContext) -> pd.DataFrame:
    """Stand-in: one release alert."""
    context.add_output_metadata({"alerts": 1})
    return stability_rows(days=("2026-03-17",))


def _setup(tmp_path, url=None):
    db = str(tmp_path / "w.duckdb")
    resources = {"io_manager": DuckDBTableIOManager(database=db), "alert_store": AlertStore(database=db),
                 "notifier": Notifier(webhook_url=url, reports_dir=str(tmp_path), backoff_s=0.01)}
    defs = dg.Definitions(assets=[regression_alerts_standin, stability_alerts_standin, alert_registry],
                          jobs=[alert_registry_job, notify_alerts_job], sensors=[alert_notification_sensor],
                          resources=resources)
    return defs, resources


def _tick(instance, defs, cursor):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                  resources={"alert_store": defs.resources["alert_store"]})
    data = alert_notification_sensor.evaluate_tick(ctx)
    return data.run_requests or [], data.cursor


def _run(defs, instance, request):
    return defs.resolve_job_def(request.job_name).execute_in_process(instance=instance)


def test_sensor_refreshes_registry_then_notifies_each_alert_once(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    with webhook_server() as (url, received, _):
        defs, resources = _setup(tmp_path, url)
        requests, cursor = _tick(instance, defs, None)
        assert requests == []  # nothing materialized yet

        key = dg.MultiPartitionKey({"date": "2026-03-17", "series": "tp5o__linux"})
        assert dg.materialize([regression_alerts_standin], partition_key=key, instance=instance,
                              resources=resources).success
        assert dg.materialize([stability_alerts_standin], instance=instance, resources=resources).success
        requests, cursor = _tick(instance, defs, cursor)
        assert [r.job_name for r in requests] == ["alert_registry_job"]
        assert _tick(instance, defs, cursor)[0] == []  # the same materializations are not seen twice

        assert _run(defs, instance, requests[0]).success
        requests, cursor = _tick(instance, defs, cursor)
        assert [r.job_name for r in requests] == ["notify_alerts_job"]
        assert requests[0].tags["pending_alerts"] == "2"
        assert _run(defs, instance, requests[0]).success
        assert len(received) == 2  # one perf push, one release
        assert _tick(instance, defs, cursor)[0] == []

        # Re-materializing the same partition: the registry is refreshed, nothing is sent again.
        assert dg.materialize([regression_alerts_standin], partition_key=key, instance=instance,
                              resources=resources).success
        requests, cursor = _tick(instance, defs, cursor)
        assert [r.job_name for r in requests] == ["alert_registry_job"]
        assert _run(defs, instance, requests[0]).success
        requests, cursor = _tick(instance, defs, cursor)
        assert requests == [] and len(received) == 2
        assert len(resources["alert_store"].read_registry()) == 2


def test_unsent_alerts_are_retried_on_a_later_tick(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    defs, resources = _setup(tmp_path)
    assert dg.materialize([stability_alerts_standin, alert_registry], instance=instance, resources=resources).success
    requests, cursor = _tick(instance, defs, None)
    assert {r.job_name for r in requests} == {"alert_registry_job", "notify_alerts_job"}
    # Say the delivery failed: nothing was marked sent. No new request until the retry time...
    assert _tick(instance, defs, cursor)[0] == []
    # ...then one.
    state = json.loads(cursor)
    state["retry_at"] = 0
    requests, _ = _tick(instance, defs, json.dumps(state))
    assert [r.job_name for r in requests] == ["notify_alerts_job"] and requests[0].run_key.startswith("notify-retry")
