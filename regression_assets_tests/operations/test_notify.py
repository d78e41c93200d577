"""Notifications over a real HTTP server on 127.0.0.1: exactly once, retried, never lost."""

import logging

import duckdb
import pandas as pd
import pytest

from regression_assets.operations.notify import Notifier, build_messages, notify_alerts_job, send_pending
from regression_assets.operations.registry import AlertStore
from regression_assets_tests.operations._rows import perf_rows, stability_rows
from regression_assets_tests.operations._server import webhook_server

LOG = logging.getLogger("test_notify")


@pytest.fixture
def store(tmp_path):
    """A warehouse with two perf changes (one push) and one stability release alert, registry built."""
    s = AlertStore(database=str(tmp_path / "w.duckdb"))
    perf = pd.concat([perf_rows("tp5o__linux"), perf_rows("tp5o__mac")], ignore_index=True)
    with duckdb.connect(s.database) as con:
        con.execute("CREATE SCHEMA regression_assets")
        con.register("p", perf)
        con.register("st", stability_rows())
        con.execute("CREATE TABLE regression_assets.regression_alerts AS SELECT * FROM p")
        con.execute("CREATE TABLE regression_assets.stability_alerts AS SELECT * FROM st")
        raw = pd.DataFrame({"series_key": ["tp5o__linux"], "push_timestamp": [perf["change_timestamp"].iat[0]],
                            "revision": ["abcdef123456"]})
        con.register("r", raw)
        con.execute("CREATE TABLE regression_assets.raw_perf_results AS SELECT * FROM r")
    s.refresh_registry()
    return s


def _notifier(url, tmp_path, **kw):
    return Notifier(webhook_url=url, reports_dir=str(tmp_path / "reports"), backoff_s=0.01, **kw)


def test_messages_are_grouped_per_push_and_release_with_a_report_link(store, tmp_path):
    messages = build_messages(store.pending_notifications(), _notifier(None, tmp_path))
    groups = {m.group_key: m for m in messages}
    assert set(groups) == {"revision abcdef123456", "push day 2026-03-17", "release release 140.0"}
    assert "file://" in groups["release release 140.0"].text and "regression_report_2026-02-02.html" in \
        groups["release release 140.0"].text
    assert sum(len(m.alert_keys) for m in messages) == 3


def test_webhook_receives_each_alert_once(store, tmp_path):
    with webhook_server() as (url, received, _):
        report = send_pending(store, _notifier(url + "/hook", tmp_path), LOG)
        assert (report.transport, report.sent, report.failed) == ("webhook", 3, 0)
        assert send_pending(store, _notifier(url + "/hook", tmp_path), LOG).sent == 0  # nothing new
    assert len(received) == 3 and {r["_path"] for r in received} == {"/hook"}
    keys = [a["alert_key"] for r in received for a in r["alerts"]]
    assert sorted(keys) == sorted(set(keys)) and len(keys) == 3
    assert all(r["report_url"].endswith(".html") and r["_idempotency_key"] for r in received)
    assert store.pending_notifications().empty and len(store.sent_keys()) == 3


def test_server_failing_twice_then_succeeding_sends_exactly_once(store, tmp_path):
    with webhook_server(fail_first=2) as (url, received, state):
        report = send_pending(store, _notifier(url, tmp_path, attempts=4), LOG)
    assert report.failed == 0 and report.sent == 3
    assert state["calls"] == 3 + 2  # two failed attempts, then one accepted POST per message
    keys = [a["alert_key"] for r in received for a in r["alerts"]]
    assert len(keys) == len(set(keys)) == 3


def test_persistently_failing_server_marks_nothing_and_the_next_run_sends(store, tmp_path):
    with webhook_server(fail_first=10**6) as (url, received, _):
        report = send_pending(store, _notifier(url, tmp_path, attempts=2), LOG)
    assert report.sent == 0 and report.failed == 3 and not received
    assert store.sent_keys() == set() and len(store.pending_notifications()) == 3
    with webhook_server() as (url, received, _):
        assert send_pending(store, _notifier(url, tmp_path), LOG).sent == 3
    assert len(received) == 3 and store.pending_notifications().empty


def test_a_4xx_is_not_retried_and_stays_unsent(store, tmp_path):
    with webhook_server(fail_first=10**6, fail_status=400) as (url, _, state):
        report = send_pending(store, _notifier(url, tmp_path, attempts=4), LOG)
    assert report.failed == 3 and state["calls"] == 3  # one attempt per message


def test_triaged_alerts_are_not_notified(store, tmp_path):
    key = store.read_registry()["alert_key"].iat[0]
    store.set_status(key, "invalid", "infra noise")
    assert key not in set(store.pending_notifications()["alert_key"])


def test_only_http_urls_and_log_fallback(store, tmp_path):
    with pytest.raises(ValueError, match="http"):
        Notifier(webhook_url="file:///etc/passwd").transport()
    report = send_pending(store, Notifier(reports_dir=str(tmp_path)), LOG)
    assert report.transport == "log" and report.sent == 3


def test_slack_is_preferred_when_a_token_is_set(store, tmp_path):
    pytest.importorskip("dagster_slack")
    with webhook_server() as (url, received, _):
        # A Slack-compatible API on 127.0.0.1 (slack_sdk posts form/JSON to <base>/chat.postMessage).
        notifier = Notifier(slack_token="xoxb-test", slack_api_url=url + "/api/", webhook_url=url + "/hook",
                            reports_dir=str(tmp_path), backoff_s=0.01)
        assert notifier.transport() == "slack"
        report = send_pending(store, notifier, LOG)
    assert report.sent == 3 and {r["_path"] for r in received} == {"/api/chat.postMessage"}
    assert all(r["channel"] == "#perf-alerts" and "Report:" in r["text"] for r in received)


def test_notify_job_sends_through_its_resources(store, tmp_path):
    # (Failed deliveries are covered above through send_pending: the job's op then raises and its
    # RetryPolicy waits a minute between attempts.)
    with webhook_server() as (url, received, _):
        result = notify_alerts_job.execute_in_process(
            resources={"alert_store": store, "notifier": _notifier(url, tmp_path)})
    assert result.success and len(received) == 3 and store.pending_notifications().empty
