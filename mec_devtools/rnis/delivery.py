"""POSTing notifications to subscribers' callbacks, with a few quick retries and counters.

A handover's notifications to one UE's subscribers are delivered (or given up) before the next
phase starts, which is what keeps them in order per UE. A 2xx answer is a delivery; a
connection error, a timeout, 408, 429 or a 5xx is retried (`attempts` in all, backoff doubling
from `backoff_s`); any other answer is a failure at once (the subscriber refused it).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({408, 429})


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    attempts: int = 0
    retries: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "notificationsSent": self.sent,
            "notificationsFailed": self.failed,
            "attempts": self.attempts,
            "retries": self.retries,
        }


class Delivery:
    """One HTTP client for every callback, and the counters of what became of each POST."""

    def __init__(
        self, *, attempts: int = 4, backoff_s: float = 0.05, timeout_s: float = 2.0
    ) -> None:
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.stats = DeliveryStats()
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post(self, url: str, body: dict[str, Any]) -> bool:
        """Deliver body to url; True when a 2xx answer came back within the attempts."""
        for attempt in range(self.attempts):
            if attempt:
                self.stats.retries += 1
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            self.stats.attempts += 1
            try:
                answer = await self._client.post(url, json=body)
            except httpx.HTTPError as error:
                log.info("notification to %s: %s (attempt %d)", url, error, attempt + 1)
                continue
            if answer.is_success:
                self.stats.sent += 1
                return True
            if answer.status_code < 500 and answer.status_code not in RETRIED_STATUSES:
                log.info("notification to %s refused: %d", url, answer.status_code)
                break
        self.stats.failed += 1
        return False

    async def post_all(self, batch: list[tuple[str, dict[str, Any]]]) -> tuple[int, int]:
        """Deliver each (url, body) concurrently; (delivered, failed)."""
        results = await asyncio.gather(*(self.post(url, body) for url, body in batch))
        delivered = sum(1 for ok in results if ok)
        return delivered, len(results) - delivered
