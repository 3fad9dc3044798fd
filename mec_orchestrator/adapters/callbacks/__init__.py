"""Notifications to subscribers' callback URIs (ETSI MEC callbackReference), for real.

`CallbackDelivery` POSTs each notification as JSON with retries, backoff and jitter, one bounded
queue and worker per callback URI; `policy` holds its pure rules, `metrics` its Prometheus series.
Delivery is at least once while the process runs; the queues are in memory (see `delivery`).
"""

from mec_orchestrator.adapters.callbacks.delivery import (
    NOTIFICATION_ID_HEADER,
    CallbackDelivery,
    NotificationResult,
    Outcome,
)
from mec_orchestrator.adapters.callbacks.metrics import CallbackMetrics, default_metrics
from mec_orchestrator.adapters.callbacks.settings import DeliverySettings
from mec_orchestrator.adapters.callbacks.subscribers import notify_subscriber

__all__ = [
    "NOTIFICATION_ID_HEADER",
    "CallbackDelivery",
    "CallbackMetrics",
    "DeliverySettings",
    "NotificationResult",
    "Outcome",
    "default_metrics",
    "notify_subscriber",
]
