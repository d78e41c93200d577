"""`alert_notification_sensor`: new alert materializations → refresh the registry → notify unsent alerts.

Cursor (JSON): the last storage id seen of the alert assets and of `alert_registry`, and when unsent
alerts (a failed delivery) may next be retried.
"""

import json
import time

import dagster as dg

from regression_assets.operations.notify import notify_alerts_job
from regression_assets.operations.registry import AlertStore, alert_registry_job

ALERT_ASSETS = (dg.AssetKey("regression_alerts"), dg.AssetKey("stability_alerts"))
REGISTRY_ASSET = dg.AssetKey("alert_registry")
RETRY_SECONDS = 15 * 60


def _new_records(instance: dg.DagsterInstance, key: dg.AssetKey, after: int) -> list:
    out, cursor = [], None
    while True:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=after or None), limit=500, cursor=cursor,
            ascending=True)
        out.extend(result.records)
        if not result.has_more:
            return out
        cursor = result.cursor


def _has_alerts(record) -> bool:
    """Whether a materialization reported alerts (its `alerts` metadata; unknown counts as yes)."""
    mat = record.asset_materialization
    value = mat.metadata.get("alerts") if mat is not None else None
    return value is None or bool(getattr(value, "value", value))


@dg.sensor(jobs=[alert_registry_job, notify_alerts_job], minimum_interval_seconds=60,
           description="Refresh the alert registry after new alerts, then notify the unsent ones.")
def alert_notification_sensor(context: dg.SensorEvaluationContext, alert_store: AlertStore):
    state = json.loads(context.cursor) if context.cursor else {}
    alerts_seen, registry_seen = int(state.get("alerts", 0)), int(state.get("registry", 0))
    retry_at = float(state.get("retry_at", 0.0))
    now = time.time()
    requests = []

    new_alerts = [r for key in ALERT_ASSETS for r in _new_records(context.instance, key, alerts_seen)]
    if new_alerts:
        alerts_seen = max(r.storage_id for r in new_alerts)
        if any(_has_alerts(r) for r in new_alerts):
            requests.append(dg.RunRequest(job_name=alert_registry_job.name, run_key=f"registry:{alerts_seen}"))

    new_registry = _new_records(context.instance, REGISTRY_ASSET, registry_seen)
    if new_registry:
        registry_seen = max(r.storage_id for r in new_registry)
    pending = len(alert_store.pending_notifications()) if (new_registry or now >= retry_at) else 0
    if pending and (new_registry or now >= retry_at):
        run_key = f"notify:{registry_seen}" if new_registry else f"notify-retry:{int(now)}"
        requests.append(dg.RunRequest(job_name=notify_alerts_job.name, run_key=run_key,
                                      tags={"pending_alerts": str(pending)}))
        retry_at = now + RETRY_SECONDS

    cursor = json.dumps({"alerts": alerts_seen, "registry": registry_seen, "retry_at": retry_at})
    if not requests:
        return dg.SensorResult(skip_reason="no new alerts and nothing unsent", cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)
