"""Events that tell the story of each handover on its EdgeApp (`kubectl describe ea`).

Registered with the users' directory (`UserDirectory.on_handover`): every step becomes an Event
(HandoverStarted, HandoverCompleted with the bytes moved and the fenced time, HandoverFailed
with why), within a per-app budget (`decisions.handover.story.EventBudget`); Events over the
budget are counted and said in the next one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from mec_orchestrator.adapters.kube import events
from mec_orchestrator.adapters.kube.errors import ApiError
from mec_orchestrator.decisions.handover import HandoverEvent
from mec_orchestrator.decisions.handover.story import EventBudget, story
from mec_orchestrator.operator.state import OperatorState

log = logging.getLogger(__name__)


class HandoverStory:
    """Handover steps -> Kubernetes Events on the EdgeApp (see the module)."""

    def __init__(
        self,
        state: OperatorState,
        budget: EventBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._state = state
        self._budget = budget or EventBudget()
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    def told(self, event: HandoverEvent) -> None:
        key = (event.namespace, event.app)
        app = self._state.view.apps.get(key)
        if app is None or not self._state.ready:
            return
        if not self._budget.allow(key, self._clock()):
            return
        reason, message, warning = story(event)
        skipped = self._budget.take_suppressed(key)
        if skipped:
            message += f" ({skipped} more handover Event(s) not sent: too many)"
        involved = {
            "apiVersion": app.api_version,
            "kind": app.kind,
            "name": app.metadata.name or "",
            "namespace": app.metadata.namespace or "",
            "uid": app.metadata.uid or "",
        }
        task = asyncio.create_task(self._emit(involved, reason, message, warning))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _emit(
        self, involved: dict[str, str], reason: str, message: str, warning: bool
    ) -> None:
        try:
            await events.emit(
                self._state.api, involved=involved, reason=reason, message=message, warning=warning
            )
        except (ApiError, OSError) as error:
            log.warning("handover Event not recorded: %s", error)
