"""`notify_alerts_job`: tell people about new alerts — Slack, else a JSON webhook, else a log line.

Alerts are grouped like Perfherder's alert summaries: perf alerts per push (revision, else change day),
stability alerts per release (channel, version). Each alert is sent exactly once: it is recorded in
`notifications_sent` only after the message carrying it was accepted (a 2xx, or Slack's ok); a send
that fails after the in-process retries stays unsent, fails the op (so its RetryPolicy runs it again)
and is picked up by the next run if those fail too.
"""

import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
import pandas as pd

from regression_assets.operations.registry import AlertStore

RETRYABLE_HTTP = {408, 425, 429, 500, 502, 503, 504}


@dataclass
class Message:
    group_key: str
    title: str
    text: str
    alert_keys: list[str]
    payload: dict = field(default_factory=dict)

    @property
    def idempotency_key(self) -> str:
        return hashlib.sha1(",".join(sorted(self.alert_keys)).encode()).hexdigest()


class Notifier(dg.ConfigurableResource):
    """Where alert messages go: Slack when a token is set, else a webhook URL (http/https), else the log."""

    slack_token: str | None = None
    slack_channel: str = "#perf-alerts"
    slack_api_url: str | None = None  # a Slack-compatible API base (tests, proxies); default Slack's own
    webhook_url: str | None = None
    report_base_url: str | None = None  # default file://<reports_dir>
    reports_dir: str = "data_out/reports"
    timeout_s: float = 10.0
    attempts: int = 4  # per message, in process, with exponential backoff
    backoff_s: float = 1.0

    def transport(self) -> str:
        if self.slack_token:
            return "slack"
        if self.webhook_url:
            if urlparse(self.webhook_url).scheme not in ("http", "https"):
                raise ValueError("REGRESSION_ASSETS_WEBHOOK_URL must be an http:// or https:// URL")
            return "webhook"
        return "log"

    def report_link(self, day: pd.Timestamp) -> str:
        name = f"regression_report_{pd.Timestamp(day):%Y-%m-%d}.html"
        if self.report_base_url:
            return f"{self.report_base_url.rstrip('/')}/{name}"
        return (Path(self.reports_dir).resolve() / name).as_uri()

    def send(self, message: Message, log) -> bool:
        """Deliver one message; True once accepted. Retries transient failures with backoff."""
        kind = self.transport()
        if kind == "log":
            log.info(f"{message.title}\n{message.text}")
            return True
        post = self._post_slack if kind == "slack" else self._post_webhook
        for attempt in range(max(1, self.attempts)):
            try:
                retry = post(message)
                if retry is None:
                    return True
            except Exception as exc:  # network errors, timeouts, Slack API errors
                retry = True
                log.warning(f"notify {message.group_key}: attempt {attempt + 1} failed: {exc}")
            if not retry:
                return False
            if attempt + 1 < self.attempts:
                time.sleep(self.backoff_s * 2**attempt)
        return False

    def _post_webhook(self, message: Message) -> bool | None:
        """None when accepted; else whether the failure is worth retrying."""
        body = json.dumps(message.payload, default=str).encode()
        req = urllib.request.Request(self.webhook_url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Idempotency-Key": message.idempotency_key})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 (scheme checked)
                return None if 200 <= resp.status < 300 else True
        except urllib.error.HTTPError as exc:
            if exc.code in RETRYABLE_HTTP:
                raise
            return False  # a 4xx: the receiver refuses this message; it stays unsent

    def _post_slack(self, message: Message) -> bool | None:
        from dagster_slack import SlackResource

        client = SlackResource(token=self.slack_token).get_client()
        if self.slack_api_url:
            client.base_url = self.slack_api_url.rstrip("/") + "/"
        client.chat_postMessage(channel=self.slack_channel, text=f"*{message.title}*\n{message.text}",
                                unfurl_links=False)
        return None


def notifier_from_env() -> Notifier:
    """SLACK_TOKEN (+ REGRESSION_ASSETS_SLACK_CHANNEL) > REGRESSION_ASSETS_WEBHOOK_URL > log."""
    from regression_assets.resources import data_dir

    return Notifier(
        slack_token=dg.EnvVar("SLACK_TOKEN") if os.getenv("SLACK_TOKEN") else None,
        slack_channel=os.getenv("REGRESSION_ASSETS_SLACK_CHANNEL", "#perf-alerts"),
        webhook_url=dg.EnvVar("REGRESSION_ASSETS_WEBHOOK_URL") if os.getenv("REGRESSION_ASSETS_WEBHOOK_URL") else None,
        report_base_url=os.getenv("REGRESSION_ASSETS_REPORT_BASE_URL") or None,
        reports_dir=str(data_dir() / "reports"),
    )


# ------------------------------------------------------------------------------------------- messages


def _fmt_alert(a: pd.Series) -> str:
    p = "" if pd.isna(a["p"]) else f" (P={a['p']:.2f})"
    mag = "" if pd.isna(a["magnitude_pct"]) else f" {a['magnitude_pct']:+.1f}%"
    if a["kind"] == "perf":
        what = f"{a['suite']} on {a['platform']}"
        when = f", change {pd.Timestamp(a['change_day']):%Y-%m-%d}"
    else:
        what = f"{a['measure']} on {a['os_name']}"
        when = f", {a['severity']}" if a["severity"] else ""
    return f"• {a['direction']}: {what}{mag}{p}{when} [{a['alert_key']}]"


def _group_key(a: pd.Series) -> str:
    if a["kind"] == "stability":
        return f"release {a['channel']} {a['version']}"
    if a["revision"]:
        return f"revision {a['revision']}"
    return f"push day {pd.Timestamp(a['change_day']):%Y-%m-%d}"


def build_messages(pending: pd.DataFrame, notifier: Notifier) -> list[Message]:
    """One message per revision / change day (perf) and per release (stability), like alert summaries."""
    if pending.empty:
        return []
    df = pending.assign(_group=pending.apply(_group_key, axis=1))
    out = []
    for group, g in df.sort_values(["kind", "_group", "series_key"]).groupby("_group", sort=False):
        regressions = int((g["direction"] == "regression").sum())
        improvements = len(g) - regressions
        kind = "Crash-rate" if g["kind"].iat[0] == "stability" else "Perf"
        counts = ", ".join(x for x in (f"{regressions} regression(s)" if regressions else "",
                                       f"{improvements} improvement(s)" if improvements else "") if x)
        report = notifier.report_link(g["last_seen"].max())
        title = f"{kind} alerts for {group}: {counts}"
        text = "\n".join([*(_fmt_alert(a) for _, a in g.iterrows()), f"Report: {report}"])
        alerts = g.drop(columns=["_group"]).astype(object).where(g.drop(columns=["_group"]).notna(), None)
        out.append(Message(group_key=str(group), title=title, text=text, alert_keys=list(g["alert_key"]),
                           payload={"title": title, "text": text, "group": str(group), "report_url": report,
                                    "alerts": alerts.to_dict("records")}))
    return out


@dataclass
class SendReport:
    transport: str
    sent: int = 0
    failed: int = 0
    failed_groups: list[str] = field(default_factory=list)


def send_pending(store: AlertStore, notifier: Notifier, log) -> SendReport:
    """Send every untriaged, not yet notified alert; record each group as sent once it was accepted."""
    report = SendReport(transport=notifier.transport())
    for message in build_messages(store.pending_notifications(), notifier):
        if notifier.send(message, log):
            store.mark_sent(message.alert_keys, report.transport, message.group_key)
            report.sent += len(message.alert_keys)
        else:
            report.failed += len(message.alert_keys)
            report.failed_groups.append(message.group_key)
    return report


@dg.op(retry_policy=dg.RetryPolicy(max_retries=3, delay=60, backoff=dg.Backoff.EXPONENTIAL))
def send_alert_notifications(context: dg.OpExecutionContext, alert_store: AlertStore, notifier: Notifier) -> None:
    """Send the pending alert notifications; fail (and retry) while some could not be delivered."""
    report = send_pending(alert_store, notifier, context.log)
    context.log.info(f"notifications via {report.transport}: {report.sent} alert(s) sent, {report.failed} failed")
    if report.failed:
        raise dg.Failure(description=f"{report.failed} alert(s) not delivered: {', '.join(report.failed_groups)}",
                         metadata={"sent": report.sent, "failed": report.failed})


@dg.job(tags={"regression_assets/kind": "notification"})
def notify_alerts_job():
    """Notify the new (untriaged, not yet sent) alerts of the registry."""
    send_alert_notifications()
