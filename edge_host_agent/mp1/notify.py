"""AppTerminationNotifications POSTed to the apps' callbacks (MEC 011 7.1.4.2).

A notification is tried a few times (connection errors, 429 and 5xx are retried with a short
backoff, every attempt bounded by a timeout); each subscription's outcome is returned, never
raised, so one app's dead callback does not stop the others being told.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from edge_host_agent.mp1.registry import TerminationSubscription

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """What became of one notification: the callback's status, or the last error."""

    subscription_id: str
    callback_reference: str
    status: int | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def termination_notification(
    subscription_href: str, confirm_href: str, grace_seconds: int, action: str = "TERMINATING"
) -> dict[str, Any]:
    return {
        "notificationType": "AppTerminationNotification",
        "operationAction": action,
        "maxGracefulTimeout": grace_seconds,
        "_links": {
            "subscription": {"href": subscription_href},
            "confirmTermination": {"href": confirm_href},
        },
    }


class Notifier:
    """One HTTP client for every callback; `aclose` when done."""

    def __init__(self, timeout_s: float = 5.0, attempts: int = 3, backoff_s: float = 0.5) -> None:
        self._client = httpx.AsyncClient(timeout=timeout_s, trust_env=False)
        self._attempts = attempts
        self._backoff_s = backoff_s

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post(self, subscription: TerminationSubscription, body: dict[str, Any]) -> Delivery:
        status: int | None = None
        error: str | None = None
        for attempt in range(self._attempts):
            if attempt:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
            try:
                response = await self._client.post(subscription.callback_reference, json=body)
            except httpx.HTTPError as failure:
                status, error = None, f"{type(failure).__name__}: {failure}"
                continue
            status, error = response.status_code, None
            if status != 429 and status < 500:
                break
        outcome = Delivery(
            subscription.subscription_id, subscription.callback_reference, status, error
        )
        if not outcome.delivered:
            log.warning(
                "termination notification to %s not delivered (status %s, %s)",
                subscription.callback_reference,
                status,
                error,
            )
        return outcome
