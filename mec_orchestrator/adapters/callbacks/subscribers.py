"""Queueing a notification for one durable subscription (a MecSubscription resource).

Every ETSI API sends its notifications the same way: to the subscription's callback, under the
subscription's id, expiring with it. Delivery is asynchronous (queued, retried); a refusal here
(a full queue, a callback the delivery will not call, a delivery not running) is logged and
counted by the delivery, never raised to the caller whose change caused the notification.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from mec_orchestrator.adapters.callbacks.delivery import CallbackDelivery
from mec_orchestrator.model import MecSubscription

log = logging.getLogger(__name__)


def notify_subscriber(
    delivery: CallbackDelivery,
    subscription: MecSubscription,
    body: Mapping[str, Any],
    *,
    notification_id: str,
    what: str,
) -> bool:
    """Queue body for the subscription's callback; False (logged) when refused."""
    spec, meta = subscription.spec, subscription.metadata
    try:
        delivery.submit(
            spec.callback_reference,
            body,
            notification_id=notification_id,
            subscription_id=f"{meta.namespace}/{meta.name}",
            api=spec.api.value,
            expires_at=spec.expiry_deadline,
        )
    except (ValueError, RuntimeError) as error:
        log.warning("%s not sent to subscription %s/%s: %s", what, meta.namespace, meta.name, error)
        return False
    return True
