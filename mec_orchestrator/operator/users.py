"""The users: devices attached to app instances (MEC 016), moved when their cell changes.

`UserDirectory` is the one owner of the orchestrator's view of users: which device
application contexts exist, which instance serves each, which cell each device is in. It
decides with the placement engine the operator state holds (nearest instance by measured
latency, within the app's budget and the instance's capacity), and acts through the agents
(`SessionService`: the session lives on the agent of the host that serves the user) and the
devices' callbacks (MEC 016 notifications).

After a restart, or on a new leader, the directory is empty and fills from the agents'
reports (`sessions_reported`): every session an agent holds carries the record this
directory gave it.

A cell change (RNIS) asks the app's mobility policy. An app that keeps no user context
(`contextTransfer: None`) is moved at once: admitted on the target, released at the source
with a redirect to the target, and the device told its new referenceURI. Apps whose context
moves are handed over (`operator/handovers.py`, the directory's handover steps).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType

from mec_orchestrator.adapters.agent_link import ReportedInstance
from mec_orchestrator.adapters.agent_link.commands import (
    AgentCommandError,
    AgentSessions,
)
from mec_orchestrator.adapters.callbacks import CallbackDelivery
from mec_orchestrator.decisions.handover import HandoverEventKind
from mec_orchestrator.decisions.users import PlacementRules
from mec_orchestrator.decisions.users.notifications import context_delete, context_update
from mec_orchestrator.decisions.users.sessions import DeviceSession, RecordError
from mec_orchestrator.model import EdgeApp
from mec_orchestrator.model.edgeapp import (
    ContextTransfer,
    InstantiationState,
    OperationalState,
)
from mec_orchestrator.operator import metrics
from mec_orchestrator.operator.handovers import HandoverObserver, HandoverSteps
from mec_orchestrator.operator.state import OperatorState
from mec_orchestrator.operator.user_types import (
    AttachRequest,
    MoveOutcome,
    MoveResult,
    PreparedHandover,
    ServingInstance,
    UserError,
    UserErrorKind,
    app_matches,
    instance_id_of,
    mobility_policy,
)

__all__ = [
    "AttachRequest",
    "CellLocator",
    "HandoverObserver",
    "MoveOutcome",
    "MoveResult",
    "PositionObserver",
    "PreparedHandover",
    "ServingInstance",
    "UserDirectory",
    "UserError",
    "UserErrorKind",
    "app_matches",
    "instance_id_of",
    "mobility_policy",
]

log = logging.getLogger(__name__)

ADMISSION_GRACE_S = 10.0
"""A report may have left the agent before it admitted a user: absence counts only after this."""

NOTIFICATION_API = "dev_app"

PositionObserver = Callable[[str, str | None, str | None], None]
"""Told (device address, access point before, access point after) when a user's position
changes: None is nowhere (no application context)."""

CellLocator = Callable[[str], Awaitable[str | None]]
"""Asks the RNIS which cell a device (by IPv4 address) is in; None when it does not know."""


class UserDirectory(HandoverSteps):
    """The one owner of users: contexts, their instances, devices' cells (module docstring)."""

    def __init__(
        self,
        state: OperatorState,
        agents: AgentSessions,
        agent_endpoint: Callable[[str], str | None],
        notifier: CallbackDelivery | None,
        *,
        locate: CellLocator | None = None,
        handover_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._state = state
        self._agents = agents
        self._agent_endpoint = agent_endpoint
        self._notifier = notifier
        self._locate = locate
        self._handover_timeout_s = handover_timeout_s
        self._clock = clock
        self._monotonic = monotonic
        self._sessions: dict[str, DeviceSession] = {}
        self._by_device: dict[str, set[str]] = {}
        self._device_cells: dict[str, str] = {}  # device address -> access point
        self._admitted_at: dict[str, float] = {}
        self._counts_of: dict[tuple[str, str], dict[str, int]] = {}  # (ns, app) -> host -> users
        # (ns, app) -> (versions it was computed at, serving instances by host, their hosts)
        self._serving_cache: dict[
            tuple[str, str],
            tuple[tuple[int, int], Mapping[str, ServingInstance], frozenset[str]],
        ] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._position_observers: list[PositionObserver] = []
        self._handover_observers: list[HandoverObserver] = []
        self._moving: dict[tuple[str, str], int] = {}  # (ns, app) -> users in a move
        # (target instance, user) -> set when an AppSelfControlled app reports the transfer
        self._transfer_reports: dict[tuple[str, str], asyncio.Event] = {}
        # user -> a handover being prepared ahead of the radio (IN_PREPARATION)
        self._preparing: dict[str, asyncio.Task[PreparedHandover | None]] = {}

    # -- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._sessions)

    def sessions(self, namespace: str | None = None) -> list[DeviceSession]:
        return [s for s in self._sessions.values() if namespace is None or s.namespace == namespace]

    def get(self, context_id: str, owner: str | None = None) -> DeviceSession:
        """The context (owned by owner, when given); UNKNOWN_CONTEXT otherwise."""
        session = self._sessions.get(context_id)
        if session is None or (owner is not None and session.owner != owner):
            raise UserError(UserErrorKind.UNKNOWN_CONTEXT, f"no application context {context_id}")
        return session

    def users_on(self, namespace: str, app: str) -> dict[str, int]:
        """Users of the app per host."""
        return {h: n for h, n in self._counts_of.get((namespace, app), {}).items() if n > 0}

    def users_at(self, namespace: str, app: str) -> dict[str, int]:
        """Users of the app per access point (where their devices are now)."""
        counts: dict[str, int] = {}
        for session in self._sessions.values():
            if (session.namespace, session.app) != (namespace, app):
                continue
            where = (
                self._device_cells.get(session.device_address)
                if session.device_address is not None
                else None
            ) or session.access_point
            if where is not None:
                counts[where] = counts.get(where, 0) + 1
        return counts

    def device_access_point(self, address: str) -> str | None:
        return self._device_cells.get(address)

    def apps(self, namespace: str) -> list[EdgeApp]:
        """The namespace's EdgeApps devices may ask for (instantiated and started)."""
        return [
            app
            for (ns, _), app in sorted(self._state.view.apps.items())
            if ns == namespace
            and app.spec.lifecycle is InstantiationState.INSTANTIATED
            and app.spec.operational_state is OperationalState.STARTED
        ]

    def serving_instances(self, namespace: str, app: str) -> Mapping[str, ServingInstance]:
        """The app's instances that can take users now, by host (read-only).

        Computed again only when an instance Deployment or an agent's report changed: an attach
        or a cell change costs the same with ten hosts or thousands.
        """
        return self._serving(namespace, app)[0]

    def _serving(
        self, namespace: str, app: str
    ) -> tuple[Mapping[str, ServingInstance], frozenset[str]]:
        """The serving instances and their hosts as one shared set (the users' allow-list)."""
        version = (self._state.view.instance_changes, self._state.agent_changes)
        cached = self._serving_cache.get((namespace, app))
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        view = self._state.view
        serving: dict[str, ServingInstance] = {}
        for seen in view.observed_instances(namespace, app):
            if not seen.instance.ready:
                continue
            host = seen.instance.host
            endpoint = self._agent_endpoint(host)
            reported = self._state.reported_instances(host).get(host)
            if endpoint is None or reported is None:
                continue
            wanted = instance_id_of(namespace, seen.instance.deployment)
            for instance in reported:
                if instance.app_instance_id == wanted and instance.ready and instance.endpoint:
                    serving[host] = ServingInstance(
                        host,
                        instance.app_instance_id,
                        instance.endpoint,
                        endpoint,
                        instance.user_context_endpoint or "",
                        seen.instance.deployment,
                    )
        frozen = MappingProxyType(serving)
        hosts = frozenset(serving)
        self._serving_cache[(namespace, app)] = (version, frozen, hosts)
        return frozen, hosts

    def instance_owner(self, app_instance_id: str) -> tuple[str, str, str] | None:
        """(namespace, EdgeApp, host) of an instance by its Mp1 appInstanceId, if known."""
        view = self._state.view
        for ns, app, host in view.instances.values():
            for seen in view.observed_instances(ns, app):
                if seen.instance.host == host and instance_id_of(ns, seen.instance.deployment) == (
                    app_instance_id
                ):
                    return ns, app, host
        return None

    def sessions_of_device(self, address: str) -> list[DeviceSession]:
        """The application contexts of the device at IPv4 address."""
        return [self._sessions[c] for c in sorted(self._by_device.get(address, ()))]

    def _rules(self, app: EdgeApp, own_host: str | None = None) -> PlacementRules:
        """Where a user of app may go: a serving host, not one whose instance is full.

        The allow-list is the one shared set of the app's serving hosts (users keep a
        reference to it); full instances are excluded apart from it.
        """
        namespace, name = app.metadata.namespace or "", app.metadata.name or ""
        _, hosts = self._serving(namespace, name)
        limit = app.spec.placement.max_users_per_instance
        excluded: frozenset[str] = frozenset()
        if limit is not None:
            counts = self._counts_of.get((namespace, name), {})
            excluded = frozenset(
                host for host, users in counts.items() if users >= limit and host != own_host
            )
        budget = app.spec.latency.max_ms
        return PlacementRules(
            latency_budget_ms=2.0 * budget, allowed_hosts=hosts, excluded_hosts=excluded
        )

    # -- devices' positions ------------------------------------------------------------------

    def on_position(self, observer: PositionObserver) -> Callable[[], None]:
        """Call observer(address, before, after) when a user's access point changes; the undo.

        Observers run on the event loop inside the directory's operations: they must be quick
        (schedule work as a task). This is how MEC 013 location notifications hear of users.
        """
        self._position_observers.append(observer)

        def remove() -> None:
            if observer in self._position_observers:
                self._position_observers.remove(observer)

        return remove

    def position(self, address: str) -> str | None:
        """The access point of a device that has an application context (else None)."""
        return self._device_cells.get(address) if address in self._by_device else None

    def _tell_position(self, address: str | None, before: str | None) -> None:
        if address is None:
            return
        after = self.position(address)
        if after == before:
            return
        for observer in list(self._position_observers):
            try:
                observer(address, before, after)
            except Exception:  # an observer's bug must not fail a user's operation
                log.exception("position observer %r failed for %s", observer, address)

    # -- devices' cells ---------------------------------------------------------------------

    def access_point_of_cell(self, cell_id: str) -> str | None:
        return self._state.view.cells.get(cell_id.lower())

    async def _access_point(self, address: str | None) -> str | None:
        if address is None:
            return None
        known = self._device_cells.get(address)
        if known is not None or self._locate is None:
            return known
        try:
            cell = await self._locate(address)
        except Exception:  # the RNIS being down must not fail more than this lookup
            log.exception("could not ask the RNIS where device %s is", address)
            return None
        access_point = None if cell is None else self.access_point_of_cell(cell)
        if access_point is not None:
            self._device_cells[address] = access_point
        return access_point

    # -- attach, update, leave --------------------------------------------------------------

    def _lock(self, context_id: str) -> asyncio.Lock:
        return self._locks.setdefault(context_id, asyncio.Lock())

    def _find_app(self, request: AttachRequest) -> EdgeApp:
        candidates = [a for a in self.apps(request.namespace) if app_matches(a, request)]
        if not candidates:
            named = request.app_d_id or f"{request.app_name} by {request.app_provider or 'any'}"
            raise UserError(
                UserErrorKind.UNKNOWN_APP,
                f"no instantiated, started app {named} in namespace {request.namespace}",
            )
        return candidates[0]

    async def attach(self, request: AttachRequest) -> DeviceSession:
        """Serve the device from the instance nearest its cell; the session as admitted."""
        started = self._monotonic()
        try:
            session = await self._attach(request)
        except UserError as error:
            metrics.USER_ATTACH_REFUSED.labels(error.kind.value).inc()
            raise
        metrics.USER_ATTACH_SECONDS.observe(self._monotonic() - started)
        return session

    async def _attach(self, request: AttachRequest) -> DeviceSession:
        app = self._find_app(request)
        namespace, name = request.namespace, app.metadata.name or ""
        access_point = await self._access_point(request.device_address)
        if access_point is None:
            raise UserError(
                UserErrorKind.NO_LOCATION,
                f"the cell of device {request.device_address or '(no address)'} is not known: "
                "the RNIS has not reported it in a cell that a Zone's access point names",
            )
        serving = self.serving_instances(namespace, name)
        rules = self._rules(app)
        context_id = uuid.uuid4().hex
        user_key = f"{namespace}/{name}/{context_id}"
        decision = self._state.engine.place(user_key, access_point, rules, self._monotonic())
        host = decision.host
        if host is None:
            self._state.engine.release(user_key)
            full = len(rules.excluded_hosts & set(serving))
            raise UserError(
                UserErrorKind.NO_INSTANCE,
                f"no instance of {name} can take a user from access point {access_point}: "
                f"{len(serving)} ready, {full} full, none reachable with a free slot",
            )
        instance = serving[host]
        session = DeviceSession(
            context_id=context_id,
            namespace=namespace,
            app=name,
            associate_dev_app_id=request.associate_dev_app_id,
            owner=request.owner,
            callback_reference=request.callback_reference,
            app_location_updates=request.app_location_updates,
            device_address=request.device_address,
            access_point=access_point,
            host=host,
            app_instance_id=instance.app_instance_id,
            reference_uri=instance.reference_uri,
            created_s=self._clock(),
        )
        try:
            await self._agents.admit(
                instance.agent_endpoint, instance.app_instance_id, context_id, session.encode()
            )
        except AgentCommandError as error:
            self._state.engine.release(user_key)
            raise UserError(
                UserErrorKind.AGENT_FAILED, f"the agent of {host} did not admit the user: {error}"
            ) from None
        before = None if request.device_address is None else self.position(request.device_address)
        self._remember(session)
        self._tell_position(request.device_address, before)
        log.info(
            "user %s of %s/%s attached at %s: served on %s (%s)",
            context_id,
            namespace,
            name,
            access_point,
            host,
            decision.outcome.value,
        )
        self._state.kick(namespace, name)
        return session

    async def update(
        self, context_id: str, owner: str, callback_reference: str | None
    ) -> DeviceSession:
        """The device changed its callback (the only field MEC 016 lets it change)."""
        async with self._lock(context_id):
            session = self.get(context_id, owner)
            changed = dataclasses.replace(session, callback_reference=callback_reference)
            endpoint = self._agent_endpoint(session.host)
            if endpoint is not None:
                try:
                    await self._agents.admit(
                        endpoint, session.app_instance_id, context_id, changed.encode()
                    )
                except AgentCommandError as error:
                    raise UserError(
                        UserErrorKind.AGENT_FAILED,
                        f"the agent of {session.host} did not keep the change: {error}",
                    ) from None
            self._sessions[context_id] = changed
            return changed

    async def leave(self, context_id: str, owner: str) -> None:
        """The device application ends its context: the instance stops serving the user."""
        async with self._lock(context_id):
            session = self.get(context_id, owner)
            endpoint = self._agent_endpoint(session.host)
            if endpoint is not None:
                try:
                    await self._agents.release(endpoint, session.app_instance_id, context_id, None)
                except AgentCommandError as error:
                    # The host is unreachable: its session ends with the instance; the user
                    # leaves here anyway (nothing serves them any more).
                    log.warning("releasing %s on %s failed: %s", context_id, session.host, error)
            before = (
                None if session.device_address is None else self.position(session.device_address)
            )
            self._state.engine.release(session.user_key)
            self._forget(session)
            self._tell_position(session.device_address, before)
        self._locks.pop(context_id, None)
        self._state.kick(session.namespace, session.app)

    # -- cells and moves --------------------------------------------------------------------

    async def device_moved(self, address: str, access_point: str) -> list[MoveResult]:
        """The RNIS says the device is now in access_point's cell: decide each of its users."""
        before = self.position(address)
        self._device_cells[address] = access_point
        self._tell_position(address, before)
        results = []
        for context_id in sorted(self._by_device.get(address, ())):
            task = self._preparing.pop(context_id, None)
            prepared = await task if task is not None else None
            async with self._lock(context_id):
                session = self._sessions.get(context_id)
                if session is None:
                    continue
                results.append(await self._decide_move(session, access_point, prepared))
        return results

    async def _decide_move(
        self,
        session: DeviceSession,
        access_point: str,
        prepared: PreparedHandover | None = None,
    ) -> MoveResult:
        engine = self._state.engine
        app = self._state.view.apps.get((session.namespace, session.app))
        if app is None:
            engine.note_access_point(session.user_key, access_point)
            self._sessions[session.context_id] = session.at(access_point)
            return MoveResult(
                session.context_id, MoveOutcome.STAYED, session.host, None, "AppUnknown"
            )
        serving = self.serving_instances(session.namespace, session.app)
        rules = self._rules(app, own_host=session.host)
        policy = mobility_policy(app)
        now = self._monotonic()
        result = engine.update_user(session.user_key, access_point, rules, now, policy)
        target = result.decision.host
        if not result.moved or target is None:
            if prepared is not None:
                await self._give_up(session, prepared, "the user stays where it is served")
            self._sessions[session.context_id] = session.at(access_point)
            if result.decision.host is None:
                log.warning("user %s has no host after its move", session.context_id)
            metrics.USER_MOVES.labels(MoveOutcome.STAYED.value).inc()
            return MoveResult(
                session.context_id,
                MoveOutcome.STAYED,
                session.host,
                None,
                result.verdict.reason.value,
            )
        at = session.at(access_point)
        reason = result.verdict.reason.value
        mode = app.spec.mobility.context_transfer
        if mode is ContextTransfer.MEC_ASSISTED:
            return await self._handover(at, serving[target], reason, prepared)
        if mode is ContextTransfer.APP_SELF_CONTROLLED:
            return await self._self_controlled(at, serving[target], reason)
        return await self._move(at, serving[target], reason)

    async def _move(
        self,
        session: DeviceSession,
        target: ServingInstance,
        reason: str,
        handover_id: str | None = None,
    ) -> MoveResult:
        """Switch a user of an app without context: admit at target, release at source, notify.

        handover_id: a move already told as TRIGGERED (AppSelfControlled) goes on under its id.
        """
        moved = session.served_by(target.host, target.app_instance_id, target.reference_uri)
        if handover_id is None:
            handover_id = uuid.uuid4().hex
            self._tell_handover(
                self._handover_event(
                    HandoverEventKind.TRIGGERED, handover_id, session, target, reason=str(reason)
                )
            )
        try:
            await self._agents.admit(
                target.agent_endpoint, target.app_instance_id, session.context_id, moved.encode()
            )
        except AgentCommandError as error:
            self._state.engine.relocate(session.user_key, session.host, self._monotonic())
            self._sessions[session.context_id] = session
            self._tell_handover(
                self._handover_event(
                    HandoverEventKind.FAILED, handover_id, session, target, reason=str(error)
                )
            )
            metrics.USER_MOVES.labels(MoveOutcome.FAILED.value).inc()
            log.warning("user %s stays on %s: %s", session.context_id, session.host, error)
            return MoveResult(
                session.context_id, MoveOutcome.FAILED, session.host, target.host, str(error)
            )
        source_endpoint = self._agent_endpoint(session.host)
        if source_endpoint is not None:
            try:
                await self._agents.release(
                    source_endpoint,
                    session.app_instance_id,
                    session.context_id,
                    target.reference_uri,
                )
            except AgentCommandError as error:  # the device is told where to go anyway
                log.warning(
                    "the source %s kept user %s: %s", session.host, session.context_id, error
                )
        self._forget(session)
        self._remember(moved)
        self._notify(moved, context_update(moved))
        self._tell_handover(
            self._handover_event(HandoverEventKind.COMPLETED, handover_id, session, target)
        )
        metrics.USER_MOVES.labels(MoveOutcome.MOVED.value).inc()
        log.info(
            "user %s moved %s -> %s (%s)", session.context_id, session.host, target.host, reason
        )
        self._state.kick(session.namespace, session.app)
        return MoveResult(
            session.context_id, MoveOutcome.MOVED, session.host, target.host, str(reason)
        )

    def _notify(self, session: DeviceSession, body: dict[str, object]) -> None:
        if self._notifier is None or not session.callback_reference:
            return
        try:
            self._notifier.submit(
                session.callback_reference,
                body,
                notification_id=uuid.uuid4().hex,
                subscription_id=session.context_id,
                api=NOTIFICATION_API,
            )
        except (ValueError, RuntimeError) as error:
            log.warning("could not notify device of %s: %s", session.context_id, error)

    # -- what the agents hold ---------------------------------------------------------------

    def sessions_reported(self, host: str, instances: tuple[ReportedInstance, ...]) -> None:
        """An agent's full report: adopt the sessions it holds, drop those it lost."""
        now = self._monotonic()
        held: set[str] = set()
        for instance in instances:
            for user_id, record in instance.users:
                held.add(user_id)
                if user_id in self._sessions:
                    continue
                try:
                    session = DeviceSession.decode(record)
                except RecordError as error:
                    log.warning(
                        "host %s reports user %s with a bad record: %s", host, user_id, error
                    )
                    continue
                if session.context_id != user_id:
                    log.warning("host %s reports user %s with another's record", host, user_id)
                    continue
                adopted = session.served_by(host, instance.app_instance_id, session.reference_uri)
                self._state.engine.adopt(adopted.user_key, host, adopted.access_point, now)
                address = adopted.device_address
                before = None if address is None else self.position(address)
                self._remember(adopted)
                self._tell_position(address, before)
                metrics.USERS_ADOPTED.inc()
                log.info("user %s learned from the agent of %s", user_id, host)
        for session in [s for s in self._sessions.values() if s.host == host]:
            if session.context_id in held:
                continue
            if now - self._admitted_at.get(session.context_id, -1e18) < ADMISSION_GRACE_S:
                continue
            log.warning(
                "the agent of %s no longer serves user %s: its context ends",
                host,
                session.context_id,
            )
            task = asyncio.create_task(self._serve_elsewhere(session), name="place a user again")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def host_lost(self, host: str) -> None:
        """The host's agent is lost: its users move to the nearest other instance (or end)."""
        lost = [s for s in self._sessions.values() if s.host == host]
        if not lost:
            return
        task = asyncio.create_task(self._evacuate(lost), name=f"evacuate users of {host}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _evacuate(self, lost: list[DeviceSession]) -> None:
        for session in lost:
            await self._serve_elsewhere(session)

    async def _serve_elsewhere(self, session: DeviceSession) -> None:
        """The user's instance is gone: forget it there, place it again, tell who watches."""
        async with self._lock(session.context_id):
            if self._sessions.get(session.context_id) != session:
                return  # moved, gone or placed again meanwhile
            await self._serve_elsewhere_now(session)

    async def _serve_elsewhere_now(self, session: DeviceSession) -> None:
        address = session.device_address
        before = None if address is None else self.position(address)
        self._state.engine.release(session.user_key)
        self._forget(session)
        held = self._held_elsewhere(session)
        if held is not None:  # a handover moved it (the source released after the commit)
            self._state.engine.adopt(held.user_key, held.host, held.access_point, self._monotonic())
            self._remember(held)
            self._notify(held, context_update(held))
            log.info("user %s is served on %s (its agent says so)", held.context_id, held.host)
        else:
            await self._place_again(session)
        self._tell_position(address, before)

    def _held_elsewhere(self, session: DeviceSession) -> DeviceSession | None:
        """The session as another host's agent reports it holding the user, if one does."""
        for host, instances in self._state.reported_instances().items():
            if host == session.host:
                continue
            for instance in instances:
                for user_id, record in instance.users:
                    if user_id != session.context_id:
                        continue
                    try:
                        held = DeviceSession.decode(record)
                    except RecordError:
                        continue
                    return held.served_by(host, instance.app_instance_id, held.reference_uri)
        return None

    async def _place_again(self, session: DeviceSession) -> None:
        """Serve a user whose instance is gone from the best other one; else end its context."""
        app = self._state.view.apps.get((session.namespace, session.app))
        serving = {
            host: instance
            for host, instance in (
                {} if app is None else self.serving_instances(session.namespace, session.app)
            ).items()
            if host != session.host
        }
        target = None
        if app is not None and session.access_point is not None and serving:
            decision = self._state.engine.place(
                session.user_key,
                session.access_point,
                dataclasses.replace(self._rules(app), allowed_hosts=frozenset(serving)),
                self._monotonic(),
            )
            target = None if decision.host is None else serving[decision.host]
        if target is None:
            self._state.engine.release(session.user_key)
            log.warning("user %s lost its instance and no other can serve it", session.context_id)
            self._notify(session, context_delete(session))
            return
        moved = session.served_by(target.host, target.app_instance_id, target.reference_uri)
        try:
            await self._agents.admit(
                target.agent_endpoint, target.app_instance_id, session.context_id, moved.encode()
            )
        except AgentCommandError as error:
            self._state.engine.release(session.user_key)
            log.warning("user %s could not be served again: %s", session.context_id, error)
            self._notify(session, context_delete(session))
            return
        self._remember(moved)
        self._notify(moved, context_update(moved))
        metrics.USER_MOVES.labels(MoveOutcome.MOVED.value).inc()
        log.info("user %s lost %s: served on %s now", session.context_id, session.host, target.host)

    # -- bookkeeping ------------------------------------------------------------------------

    def _remember(self, session: DeviceSession) -> None:
        self._sessions[session.context_id] = session
        if session.device_address is not None:
            self._by_device.setdefault(session.device_address, set()).add(session.context_id)
            if session.access_point is not None:
                self._device_cells.setdefault(session.device_address, session.access_point)
        counts = self._counts_of.setdefault((session.namespace, session.app), {})
        counts[session.host] = counts.get(session.host, 0) + 1
        self._admitted_at[session.context_id] = self._monotonic()
        metrics.USERS.set(len(self._sessions))

    def _forget(self, session: DeviceSession) -> None:
        """Drop the session from the directory (the engine's placement is the caller's)."""
        known = self._sessions.pop(session.context_id, None)
        if known is None:
            return
        if known.device_address is not None:
            contexts = self._by_device.get(known.device_address)
            if contexts is not None:
                contexts.discard(known.context_id)
                if not contexts:
                    del self._by_device[known.device_address]
        counts = self._counts_of.get((known.namespace, known.app), {})
        counts[known.host] = counts.get(known.host, 1) - 1
        if counts[known.host] <= 0:
            del counts[known.host]
        self._admitted_at.pop(known.context_id, None)
        metrics.USERS.set(len(self._sessions))
