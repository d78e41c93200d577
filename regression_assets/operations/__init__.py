"""Operating the graph: the alert registry and triage, notifications, the daily schedules and sensors."""

from regression_assets.operations.notify import Notifier, notifier_from_env, notify_alerts_job
from regression_assets.operations.registry import (
           AlertStore,
           alert_registry,
           alert_registry_job,
           alert_store_from_env,
)
from regression_assets.operations.schedules import OPERATIONS_SCHEDULES
from regression_assets.operations.sensors import alert_notification_sensor

__all__ = ["AlertStore", "Notifier", "OPERATIONS_SCHEDULES", "alert_notification_sensor", "alert_registry",
           "alert_registry_job", "alert_store_from_env", "notifier_from_env", "notify_alerts_job"]
