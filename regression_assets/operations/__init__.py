"""Operating the graph: the alert registry and triage, notifications, the daily schedules and sensors."""

from importlib import import_module

# Loaded on first use (PEP 562): the `regression-assets` CLI imports `operations.cli` for the triage
# options, and a `detect` call from another tool should not pay ~0.8 s to import Dagster.
_EXPORTS = {
    "AlertStore": "registry",
    "Notifier": "notify",
    "OPERATIONS_SCHEDULES": "schedules",
    "alert_notification_sensor": "sensors",
    "alert_registry": "registry",
    "alert_registry_job": "registry",
    "alert_store_from_env": "registry",
    "notifier_from_env": "notify",
    "notify_alerts_job": "notify",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
