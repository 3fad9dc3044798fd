"""The orchestrator's subscription to the RNIS's cell changes, kept alive.

With `MEC_OPERATOR_RNIS_URL` set, the orchestrator subscribes to every cell change
(CellChangeSubscription) with its callback (`MEC_OPERATOR_RNIS_CALLBACK_URI` + the intake's
secret path), retries until the RNIS answers, checks every `rnis_check_seconds` that the
subscription still exists (an RNIS that restarted forgot it) and subscribes again if not, and
deletes it on the way out. It also answers where a device is (`rab_info`), for a device that
attaches before any cell change named it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from mec_orchestrator.adapters.rnis import RnisClient, RnisError

log = logging.getLogger(__name__)

RETRY_INITIAL_S = 0.5
RETRY_MAX_S = 10.0


class RnisLink:
    """One subscription with one RNIS, and the device-location query."""

    def __init__(self, client: RnisClient, callback: str, check_seconds: float) -> None:
        self.client = client
        self.callback = callback
        self.check_seconds = check_seconds
        self.subscription: str | None = None
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._keep(), name="rnis-subscription")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.subscription is not None:
            try:
                await self.client.unsubscribe(self.subscription)
            except RnisError as error:
                log.warning("could not delete the RNIS subscription: %s", error)
            self.subscription = None
        await self.client.close()

    async def locate(self, address: str) -> str | None:
        return await self.client.cell_of(address)

    async def _keep(self) -> None:
        delay = RETRY_INITIAL_S
        while True:
            try:
                if self.subscription is None or not await self.client.subscription_exists(
                    self.subscription
                ):
                    self.subscription = await self.client.subscribe_cell_changes(self.callback)
                    log.info("subscribed to the RNIS's cell changes: %s", self.subscription)
                self.subscribed.set()
                delay = RETRY_INITIAL_S
                await asyncio.sleep(self.check_seconds)
            except RnisError as error:
                self.subscribed.clear()
                log.warning("RNIS subscription: %s (again in %.1f s)", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
