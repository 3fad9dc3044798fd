"""The live view's feed: the operator's state, read when it changes, into the live board.

The state stays the one owner: the feed only subscribes (`OperatorState.on_change`, and the
users' directory's `on_handover` and `on_position`) and reads. A change only marks the feed
dirty; a task reads the state at most once per `min_interval_s` (and at least every `poll_s`,
for facts no hook tells), so a burst of changes costs one reading and one batch. Handover
steps go into the board as they are told, so a move that starts and ends between two readings
is still drawn (as ended).

Clients (the SSE streams of `api/routers/live.py`) subscribe with a bounded buffer of deltas:
one that does not keep up is dropped (its stream ends; the browser reconnects with its
Last-Event-ID and gets the batches it missed, or a fresh snapshot), never buffered without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Callable

from mec_orchestrator.decisions.handover import HandoverEvent
from mec_orchestrator.decisions.liveview import (
    Batch,
    Device,
    Host,
    Instance,
    LiveBoard,
    LiveFacts,
    Site,
)
from mec_orchestrator.decisions.liveview.board import AppFacts
from mec_orchestrator.model import ConditionStatus
from mec_orchestrator.model.conditions import EdgeAppConditionType, find_condition
from mec_orchestrator.operator.state import OperatorState

log = logging.getLogger(__name__)


class TooManyClientsError(Exception):
    """The feed serves at most max_clients streams at once."""


class LiveSubscription:
    """One client's bounded buffer of batches (at most max_deltas deltas waiting)."""

    def __init__(self, max_deltas: int) -> None:
        self.max_deltas = max_deltas
        self._pending: deque[Batch] = deque()
        self._waiting = 0
        self._wake = asyncio.Event()
        self.dropped = False

    def offer(self, batch: Batch) -> bool:
        """Queue batch; False (and dropped) when the client is too far behind."""
        if self.dropped:
            return False
        if self._waiting + len(batch.deltas) > self.max_deltas:
            self.close()
            return False
        self._pending.append(batch)
        self._waiting += len(batch.deltas)
        self._wake.set()
        return True

    def close(self) -> None:
        """End the subscription: its stream ends at once."""
        self.dropped = True
        self._pending.clear()
        self._waiting = 0
        self._wake.set()

    async def next(self) -> Batch | None:
        """The next batch; None once the subscription is dropped."""
        while not self._pending:
            if self.dropped:
                return None
            self._wake.clear()
            await self._wake.wait()
        batch = self._pending.popleft()
        self._waiting -= len(batch.deltas)
        return batch


def read_facts(state: OperatorState) -> LiveFacts:
    """What the live view shows, as the operator's state knows it now."""
    view = state.view
    sites = [
        Site(ap.id, ap.zone, *(ap.location if ap.location else (None, None)))
        for ap in view.access_points()
    ]
    hosts = []
    for h in view.host_views(exclude_app=None):
        lat, lon = h.location if h.location else (None, None)
        hosts.append(Host(h.name, lat, lon, h.available, h.cordoned))
    instances = [
        Instance(namespace, app, host, view.observed[uid].instance.ready)
        for uid, (namespace, app, host) in view.instances.items()
        if uid in view.observed
    ]
    apps = []
    moving: dict[tuple[str, str], int] = {}
    for (namespace, name), app in view.apps.items():
        conditions = (app.status.conditions if app.status else None) or []
        slo = find_condition(conditions, EdgeAppConditionType.LATENCY_SLO_MET)
        apps.append(
            AppFacts(
                namespace,
                name,
                float(app.spec.latency.max_ms),
                None if slo is None else slo.status is ConditionStatus.TRUE,
            )
        )
        moving[(namespace, name)] = state.handovers_in_progress(namespace, name)
    users = state.users
    devices = []
    if users is not None:
        for session in users.sessions():
            address = session.device_address
            where = users.device_access_point(address) if address is not None else None
            devices.append(
                Device(
                    session.context_id,
                    session.namespace,
                    session.app,
                    session.host,
                    where or session.access_point,
                )
            )
    return LiveFacts(sites, hosts, instances, devices, apps, moving)


class LiveFeed:
    """The operator's state -> the live board -> the subscribed clients (see the module)."""

    def __init__(
        self,
        state: OperatorState,
        *,
        min_interval_s: float = 0.1,
        poll_s: float = 2.0,
        max_clients: int = 32,
        max_client_deltas: int = 20_000,
        board: LiveBoard | None = None,
        read: Callable[[OperatorState], LiveFacts] = read_facts,
    ) -> None:
        self.state = state
        self.board = board or LiveBoard(secrets.token_hex(4))
        self.min_interval_s = min_interval_s
        self.poll_s = poll_s
        self.max_clients = max_clients
        self.max_client_deltas = max_client_deltas
        self._read = read
        self._dirty = asyncio.Event()
        self._clients: set[LiveSubscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._undo: list[Callable[[], None]] = []
        self.dropped_clients = 0

    @property
    def clients(self) -> int:
        return len(self._clients)

    def changed(self) -> None:
        """Something may have changed: read the state at the next turn."""
        self._dirty.set()

    def handover_step(self, event: HandoverEvent) -> None:
        self.board.handover_step(event)
        self._dirty.set()

    def _hear(self) -> None:
        self._undo.append(self.state.on_change(self.changed))
        users = self.state.users
        if users is not None:
            self._undo.append(users.on_handover(self.handover_step))
            self._undo.append(users.on_position(lambda *_: self.changed()))

    async def start(self) -> None:
        """Subscribe to the state (its users' directory, if any, must exist by now) and run."""
        if self._task is not None:
            return
        self._hear()
        self.publish()
        self._task = asyncio.create_task(self._run(), name="live-view feed")

    async def stop(self) -> None:
        for undo in self._undo:
            undo()
        self._undo.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.close_streams()

    def close_streams(self) -> None:
        """End every client's stream now (browsers reconnect and resume from their last id)."""
        for client in self._clients:
            client.close()
        self._clients.clear()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), self.poll_s)
            self._dirty.clear()
            try:
                self.publish()
            except Exception:  # a reading that fails must not end the feed
                log.exception("the live view could not read the operator's state")
            await asyncio.sleep(self.min_interval_s)

    def publish(self) -> Batch | None:
        """Read the state now and send the batch (if anything changed) to every client."""
        batch = self.board.publish(self._read(self.state))
        if batch is None:
            return None
        for client in list(self._clients):
            if not client.offer(batch):
                self._clients.discard(client)
                self.dropped_clients += 1
                log.info("a live-view client fell %d deltas behind: dropped", client.max_deltas)
        return batch

    def subscribe(self) -> LiveSubscription:
        """A new client's subscription (batches from the next one on); TooManyClientsError."""
        if len(self._clients) >= self.max_clients:
            raise TooManyClientsError(f"the live view serves at most {self.max_clients} streams")
        client = LiveSubscription(self.max_client_deltas)
        self._clients.add(client)
        return client

    def unsubscribe(self, client: LiveSubscription) -> None:
        self._clients.discard(client)
