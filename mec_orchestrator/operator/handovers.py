"""How users move between instances: the handover steps of the users' directory.

A mixin of `UserDirectory` (operator/users.py), which owns every piece of state these steps
touch; it is apart only so that each module stays readable. The steps:

- `_handover`: MecAssisted — prepare both agents, transfer (pre-copy, then the fenced rest),
  commit the target, then the source; any failure before the target's commit aborts the
  target first, then the source (docs/handover.md).
- `device_preparing` / `device_handover_failed`: the radio's IN_PREPARATION starts a handover
  ahead (prepared and pre-copied in the background); CANCELLED or REJECTED undoes it.
- `_self_controlled`: AppSelfControlled — MEC 021 TRIGGERED, then the switch once the app
  reports its transfer (`context_transfer_reported`), FAILED after the timeout.
- `on_handover`: observers of every step (MEC 021 notifications, Events).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from mec_orchestrator.adapters.agent_link.commands import (
    AgentCommandError,
    AgentSessions,
    HandoverSide,
)
from mec_orchestrator.decisions.handover import HandoverEvent, HandoverEventKind, InstanceRef
from mec_orchestrator.decisions.users import PlacementRules
from mec_orchestrator.decisions.users.notifications import context_update
from mec_orchestrator.decisions.users.sessions import DeviceSession
from mec_orchestrator.model import EdgeApp
from mec_orchestrator.model.edgeapp import ContextTransfer
from mec_orchestrator.operator import metrics
from mec_orchestrator.operator.state import OperatorState
from mec_orchestrator.operator.user_types import (
    MoveOutcome,
    MoveResult,
    PreparedHandover,
    ServingInstance,
    mobility_policy,
)

log = logging.getLogger(__name__)

HandoverObserver = Callable[[HandoverEvent], None]
"""Told every step of every move of a user (TRIGGERED, then COMPLETED or FAILED)."""


class HandoverSteps:
    """The handover steps of `UserDirectory` (see the module); state is the directory's."""

    if TYPE_CHECKING:  # what the directory provides
        _state: OperatorState
        _agents: AgentSessions
        _sessions: dict[str, DeviceSession]
        _by_device: dict[str, set[str]]
        _handover_observers: list[HandoverObserver]
        _transfer_reports: dict[tuple[str, str], asyncio.Event]
        _preparing: dict[str, asyncio.Task[PreparedHandover | None]]
        _handover_timeout_s: float
        _moving: dict[tuple[str, str], int]
        _clock: Callable[[], float]
        _monotonic: Callable[[], float]
        _agent_endpoint: Callable[[str], str | None]

        def _lock(self, context_id: str) -> asyncio.Lock: ...
        def _rules(self, app: EdgeApp, own_host: str | None = None) -> PlacementRules: ...
        def serving_instances(self, namespace: str, app: str) -> Mapping[str, ServingInstance]: ...
        def _forget(self, session: DeviceSession) -> None: ...
        def _remember(self, session: DeviceSession) -> None: ...
        def _notify(self, session: DeviceSession, body: dict[str, object]) -> None: ...
        async def _move(
            self,
            session: DeviceSession,
            target: ServingInstance,
            reason: str,
            handover_id: str | None = None,
        ) -> MoveResult: ...

    def context_transfer_reported(self, app_instance_id: str, context_id: str) -> bool:
        """An AppSelfControlled app says it moved a user's context (MEC 021).

        Its USER_CONTEXT_TRANSFER_COMPLETED; True when a handover was waiting for it.
        """
        waiting = self._transfer_reports.get((app_instance_id, context_id))
        if waiting is None:
            return False
        waiting.set()
        return True

    def on_handover(self, observer: HandoverObserver) -> Callable[[], None]:
        """Call observer(event) at every step of every move of a user; returns the undo.

        Quick and non-blocking, as for `on_position` (the MEC 021 API and Events listen here).
        """
        self._handover_observers.append(observer)

        def remove() -> None:
            if observer in self._handover_observers:
                self._handover_observers.remove(observer)

        return remove

    def moving(self, namespace: str, app: str) -> int:
        """How many of the app's users are in a move that has not ended."""
        return self._moving.get((namespace, app), 0)

    def _tell_handover(self, event: HandoverEvent) -> None:
        key = (event.namespace, event.app)
        before = self._moving.get(key, 0)
        after = before + (1 if event.kind is HandoverEventKind.TRIGGERED else -1)
        after = max(after, 0)
        self._moving[key] = after
        if (before == 0) != (after == 0):  # the HandoverInProgress condition changes
            self._state.kick(*key)
        for observer in list(self._handover_observers):
            try:
                observer(event)
            except Exception:  # an observer's bug must not fail a user's move
                log.exception("handover observer %r failed", observer)

    def _handover_event(
        self,
        kind: HandoverEventKind,
        handover_id: str,
        session: DeviceSession,
        target: ServingInstance,
        **details: Any,
    ) -> HandoverEvent:
        app = self._state.view.apps.get((session.namespace, session.app))
        return HandoverEvent(
            kind=kind,
            handover_id=handover_id,
            context_id=session.context_id,
            namespace=session.namespace,
            app=session.app,
            app_d_id=app.spec.app_d_id if app is not None else "",
            device_address=session.device_address,
            source=InstanceRef(session.host, session.app_instance_id, session.reference_uri),
            target=InstanceRef(target.host, target.app_instance_id, target.reference_uri),
            context_transfer=app.spec.mobility.context_transfer.value if app else "None",
            at_s=self._clock(),
            **details,
        )

    async def device_preparing(self, address: str, access_point: str) -> int:
        """The radio prepares the device's handover to access_point's cell: get ahead of it.

        For each user of an app whose context moves (MecAssisted) that the policy would move
        there, both agents are prepared and a first copy of the context is sent while the
        source still serves it, in the background; the COMPLETED cell change then only sends
        what changed since and switches. Returns how many handovers were started.
        """
        started = 0
        for context_id in sorted(self._by_device.get(address, ())):
            session = self._sessions.get(context_id)
            if session is None or context_id in self._preparing:
                continue
            app = self._state.view.apps.get((session.namespace, session.app))
            if (
                app is None
                or app.spec.mobility.context_transfer is not ContextTransfer.MEC_ASSISTED
            ):
                continue
            verdict = self._state.engine.assess(
                session.user_key,
                access_point,
                self._rules(app, own_host=session.host),
                self._monotonic(),
                mobility_policy(app),
            )
            target = self.serving_instances(session.namespace, session.app).get(
                verdict.target or ""
            )
            if not verdict.move or target is None or target.host == session.host:
                continue
            task = asyncio.create_task(
                self._prepare_ahead(session, target, verdict.reason.value),
                name=f"prepare handover of {context_id}",
            )
            self._preparing[context_id] = task
            started += 1
        return started

    async def _prepare_ahead(
        self, session: DeviceSession, target: ServingInstance, reason: str
    ) -> PreparedHandover | None:
        async with self._lock(session.context_id):
            if self._sessions.get(session.context_id) != session:
                return None  # it moved or left meanwhile
            made = await self._prepare(session, target, reason, precopy=True)
            return made if isinstance(made, PreparedHandover) else None

    async def device_handover_failed(self, address: str, why: str) -> None:
        """The radio handover was cancelled or rejected: undo what was prepared ahead of it."""
        for context_id in sorted(self._by_device.get(address, ())):
            task = self._preparing.pop(context_id, None)
            prepared = await task if task is not None else None
            if prepared is None:
                continue
            async with self._lock(context_id):
                session = self._sessions.get(context_id)
                if session is not None:
                    await self._give_up(session, prepared, why)

    def _failed(
        self,
        session: DeviceSession,
        target: ServingInstance,
        handover_id: str,
        error: str,
    ) -> MoveResult:
        """A move that did not happen: the user stays where it is served."""
        self._state.engine.relocate(session.user_key, session.host, self._monotonic())
        self._sessions[session.context_id] = session
        self._tell_handover(
            self._handover_event(
                HandoverEventKind.FAILED, handover_id, session, target, reason=error
            )
        )
        metrics.USER_MOVES.labels(MoveOutcome.FAILED.value).inc()
        metrics.HANDOVERS.labels("failed").inc()
        log.warning("user %s stays on %s: %s", session.context_id, session.host, error)
        return MoveResult(session.context_id, MoveOutcome.FAILED, session.host, target.host, error)

    def _source_side(self, session: DeviceSession) -> HandoverSide | None:
        """The instance serving the user now, as a handover needs it (None: not reported)."""
        for instance in self._state.reported_instances(session.host).get(session.host, ()):
            if instance.app_instance_id == session.app_instance_id:
                return HandoverSide(
                    namespace=session.namespace,
                    edge_app=session.app,
                    host=session.host,
                    deployment=session.app_instance_id.split(".", 1)[-1],
                    app_instance_id=instance.app_instance_id,
                    user_context_endpoint=instance.user_context_endpoint or "",
                    endpoint=instance.endpoint or session.reference_uri,
                )
        return None

    async def _handover(
        self,
        session: DeviceSession,
        target: ServingInstance,
        reason: str,
        prepared: PreparedHandover | None = None,
    ) -> MoveResult:
        """Move a user with its context (MecAssisted): prepare, transfer, commit; or abort.

        The target's commit is the point of no return: before it, any failure aborts both sides
        (the source serves the user again); after it, the user is the target's, and the source
        is committed too (its agent finds the target committed if this call does not reach it).
        prepared: the handover the radio's IN_PREPARATION started (already pre-copied), used if
        it goes to the same target; else it is undone and a new one made.
        """
        if prepared is not None and prepared.target.host != target.host:
            await self._give_up(session, prepared, f"the user went to {target.host} instead")
            prepared = None
        if prepared is None:
            made = await self._prepare(session, target, reason)
            if isinstance(made, MoveResult):
                return made
            prepared = made
        handover_id, source_agent = prepared.handover_id, prepared.source_agent
        phase = self._monotonic()
        moved = session.served_by(target.host, target.app_instance_id, target.reference_uri)
        try:
            transferred = await self._agents.transfer(source_agent, handover_id)
            metrics.HANDOVER_PHASE_SECONDS.labels("transfer").observe(self._monotonic() - phase)
            phase = self._monotonic()
            await self._agents.commit(target.agent_endpoint, handover_id, transferred.version)
        except AgentCommandError as error:
            if not await self._undo(handover_id, target.agent_endpoint, source_agent, str(error)):
                # The fence may have sent the device to the target: point it back at the source.
                self._notify(session, context_update(session))
                return self._failed(session, target, handover_id, str(error))
            transferred = None  # the target had committed after all
        started = prepared.started
        # Committed at the target: the user is served there.
        self._forget(session)
        self._remember(moved)
        self._notify(moved, context_update(moved))
        try:
            await self._agents.commit(source_agent, handover_id)
        except AgentCommandError as error:  # the source agent finds the target committed
            log.warning("handover %s: the source's commit waits: %s", handover_id, error)
        metrics.HANDOVER_PHASE_SECONDS.labels("commit").observe(self._monotonic() - phase)
        metrics.HANDOVERS.labels("completed").inc()
        metrics.USER_MOVES.labels(MoveOutcome.MOVED.value).inc()
        details: dict[str, Any] = {}
        if transferred is not None:
            metrics.HANDOVER_CONTEXT_BYTES.observe(transferred.context_bytes)
            metrics.HANDOVER_INTERRUPTION.observe(transferred.fenced_s)
            details = {
                "context_bytes": transferred.context_bytes,
                "interruption_s": transferred.fenced_s,
            }
        self._tell_handover(
            self._handover_event(
                HandoverEventKind.COMPLETED, handover_id, session, target, **details
            )
        )
        log.info(
            "user %s handed over %s -> %s in %.1f ms (%s)",
            session.context_id,
            session.host,
            target.host,
            (self._monotonic() - started) * 1000,
            ", ".join(f"{k} {v:g}" for k, v in details.items()) or "committed earlier",
        )
        self._state.kick(session.namespace, session.app)
        return MoveResult(session.context_id, MoveOutcome.MOVED, session.host, target.host, reason)

    async def _prepare(
        self,
        session: DeviceSession,
        target: ServingInstance,
        reason: str,
        *,
        precopy: bool = False,
    ) -> PreparedHandover | MoveResult:
        """TRIGGERED, then both agents prepared (and, with precopy, a first copy sent)."""
        handover_id = uuid.uuid4().hex
        started = self._monotonic()
        self._tell_handover(
            self._handover_event(
                HandoverEventKind.TRIGGERED, handover_id, session, target, reason=reason
            )
        )
        source = self._source_side(session)
        source_agent = self._agent_endpoint(session.host)
        if source is None or source_agent is None or not source.user_context_endpoint:
            return self._failed(
                session, target, handover_id, "the source instance's agent or contexts are unknown"
            )
        if not target.user_context_endpoint:
            return self._failed(
                session, target, handover_id, "the target instance serves no UserContextService"
            )
        moved = session.served_by(target.host, target.app_instance_id, target.reference_uri)
        target_side = HandoverSide(
            namespace=session.namespace,
            edge_app=session.app,
            host=target.host,
            deployment=target.deployment,
            app_instance_id=target.app_instance_id,
            user_context_endpoint=target.user_context_endpoint,
            endpoint=target.reference_uri,
        )
        common: dict[str, Any] = {
            "handover_id": handover_id,
            "user_id": session.context_id,
            "source": source,
            "target": target_side,
            "target_agent_endpoint": target.agent_endpoint,
            "mec_assisted": True,
            "timeout_s": self._handover_timeout_s,
        }
        try:
            await self._agents.prepare_handover(
                target.agent_endpoint, source_role=False, session_record=moved.encode(), **common
            )
            await self._agents.prepare_handover(source_agent, source_role=True, **common)
            metrics.HANDOVER_PHASE_SECONDS.labels("prepare").observe(self._monotonic() - started)
            if precopy:
                await self._agents.transfer(source_agent, handover_id, precopy_only=True)
        except AgentCommandError as error:
            await self._undo(handover_id, target.agent_endpoint, source_agent, str(error))
            return self._failed(session, target, handover_id, str(error))
        return PreparedHandover(handover_id, target, source_agent, started)

    async def _give_up(self, session: DeviceSession, prepared: PreparedHandover, why: str) -> None:
        """Undo a handover prepared ahead of the radio that will not happen (FAILED)."""
        committed = await self._undo(
            prepared.handover_id, prepared.target.agent_endpoint, prepared.source_agent, why
        )
        if committed:  # cannot happen before a final transfer; said loudly if it ever does
            log.error("handover %s was committed while only prepared", prepared.handover_id)
        self._failed(session, prepared.target, prepared.handover_id, why)

    async def _undo(self, handover_id: str, target_agent: str, source_agent: str, why: str) -> bool:
        """Abort both sides, the target first; True when the target had committed already."""
        try:
            await self._agents.abort(target_agent, handover_id, why)
        except AgentCommandError as error:
            if "COMMITTED" in error.message:
                return True
            log.warning("handover %s: the target's abort failed: %s", handover_id, error)
        try:
            await self._agents.abort(source_agent, handover_id, why)
        except AgentCommandError as error:
            if "COMMITTED" in error.message:
                return True
            # The source stays fenced until its agent learns the target aborted (its timeout).
            log.warning("handover %s: the source's abort failed: %s", handover_id, error)
        return False

    async def _self_controlled(
        self, session: DeviceSession, target: ServingInstance, reason: str
    ) -> MoveResult:
        """AppSelfControlled: tell (MEC 021), wait for the app's transfer report, then switch."""
        handover_id = uuid.uuid4().hex
        self._tell_handover(
            self._handover_event(
                HandoverEventKind.TRIGGERED, handover_id, session, target, reason=reason
            )
        )
        key = (target.app_instance_id, session.context_id)
        reported = self._transfer_reports.setdefault(key, asyncio.Event())
        try:
            await asyncio.wait_for(reported.wait(), self._handover_timeout_s)
        except TimeoutError:
            return self._failed(
                session,
                target,
                handover_id,
                f"the app did not report USER_CONTEXT_TRANSFER_COMPLETED within "
                f"{self._handover_timeout_s:g} s",
            )
        finally:
            self._transfer_reports.pop(key, None)
        return await self._move(session, target, reason, handover_id=handover_id)
