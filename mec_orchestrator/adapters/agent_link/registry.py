"""Which edge-host agents are registered, when each last heartbeated, and who is lost.

The gRPC services write into it; the operator reads it (and subscribes to its events) to keep
EdgeHost status and host availability current. One session per host: a new registration replaces
the previous one, and a host silent for longer than `lost_after_s` is declared lost, which ends
its session (its agent must register again). The app instances each agent reported last are
kept per host (who-is-where, as the agents say) until the agent is lost or released. Time comes
from injected clocks (monotonic for timeouts, wall for what is shown to people), so tests can
drive it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from types import TracebackType

from mec_orchestrator.adapters.agent_link.events import (
    AgentConnected,
    AgentEvent,
    AgentLost,
    AgentReleased,
    GapReport,
    GapSummaryReceived,
    InstancesReported,
    ReportedInstance,
)
from mec_orchestrator.decisions.names import AccessPointId, HostName


def utc_now() -> datetime:
    return datetime.now(UTC)


class AgentState(StrEnum):
    """Whether a host's agent is heard from."""

    CONNECTED = "Connected"
    LOST = "Lost"


@dataclass(frozen=True, slots=True)
class HostCapacity:
    """What a host declared it can hold; None is not limited."""

    instances: int | None = None
    users: int | None = None
    cpu: str | None = None
    memory: str | None = None


@dataclass(frozen=True, slots=True)
class Registration:
    """What an agent declared when it registered."""

    host: HostName
    node_names: tuple[str, ...]
    capacity: HostCapacity
    location: tuple[float, float] | None
    agent_version: str
    agent_endpoint: str | None
    reflectors: Mapping[AccessPointId, str]
    """Access point id -> reflector address, for every access point the agent probes."""


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """The registry's knowledge of one host's agent."""

    registration: Registration
    session_id: str
    state: AgentState
    registered_at: datetime
    last_heartbeat: datetime
    last_heartbeat_s: float
    """last_heartbeat on the registry's monotonic clock."""
    lost_at: datetime | None = None
    samples_ingested: int = 0
    last_gap: GapReport | None = None

    @property
    def host(self) -> HostName:
        return self.registration.host

    @property
    def connected(self) -> bool:
        return self.state is AgentState.CONNECTED


class AgentEvents:
    """One subscription to a registry's events: those published after it was made, in order.

    Iterate it (`async for event in subscription`) or `await get()`; `close()` (or leaving a
    `with` block) ends it. Events are rare (connects, losses, gaps), so the queue is unbounded.
    """

    def __init__(self, unsubscribe: Callable[[AgentEvents], None]) -> None:
        self._queue: asyncio.Queue[AgentEvent] = asyncio.Queue()
        self._unsubscribe = unsubscribe

    def publish(self, event: AgentEvent) -> None:
        self._queue.put_nowait(event)

    async def get(self) -> AgentEvent:
        return await self._queue.get()

    def pending(self) -> list[AgentEvent]:
        """Every event already queued, without waiting."""
        events: list[AgentEvent] = []
        while not self._queue.empty():
            events.append(self._queue.get_nowait())
        return events

    def close(self) -> None:
        self._unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[AgentEvent]:
        return self

    async def __anext__(self) -> AgentEvent:
        return await self.get()

    def __enter__(self) -> AgentEvents:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AgentRegistry:
    """Registered agents by host, their sessions and liveness, and the events they cause."""

    def __init__(
        self,
        heartbeat_interval_s: float = 1.0,
        lost_after_s: float = 5.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if not 0 < heartbeat_interval_s < lost_after_s:
            raise ValueError(
                "need 0 < heartbeat_interval_s < lost_after_s, got "
                f"{heartbeat_interval_s} and {lost_after_s}"
            )
        self.heartbeat_interval_s = heartbeat_interval_s
        self.lost_after_s = lost_after_s
        self._clock = clock
        self._wall_clock = wall_clock
        self._records: dict[HostName, AgentRecord] = {}
        self._instances: dict[HostName, InstancesReported] = {}
        self._subscribers: list[AgentEvents] = []

    # Events

    def subscribe(self) -> AgentEvents:
        subscription = AgentEvents(self._subscribers.remove)
        self._subscribers.append(subscription)
        return subscription

    def _publish(self, event: AgentEvent) -> None:
        for subscriber in self._subscribers:
            subscriber.publish(event)

    # Agents' calls

    def register(self, registration: Registration) -> AgentRecord:
        """Start a new session for the host, replacing any previous one."""
        previous = self._records.get(registration.host)
        now, now_s = self._wall_clock(), self._clock()
        record = AgentRecord(
            registration=registration,
            session_id=uuid.uuid4().hex,
            state=AgentState.CONNECTED,
            registered_at=now,
            last_heartbeat=now,
            last_heartbeat_s=now_s,
        )
        self._records[registration.host] = record
        replaced = previous.session_id if previous is not None and previous.connected else None
        self._publish(AgentConnected(registration.host, record.session_id, now, replaced))
        return record

    def session(self, host: HostName, session_id: str) -> AgentRecord | None:
        """The host's record if session_id is its current, live session."""
        record = self._records.get(host)
        if record is None or record.session_id != session_id or not record.connected:
            return None
        return record

    def heartbeat(self, host: HostName, session_id: str) -> bool:
        """Note a heartbeat; False when the session is unknown, superseded or lost."""
        record = self.session(host, session_id)
        if record is None:
            return False
        self._records[host] = replace(
            record, last_heartbeat=self._wall_clock(), last_heartbeat_s=self._clock()
        )
        return True

    def count_samples(self, host: HostName, count: int) -> None:
        record = self._records[host]
        self._records[host] = replace(record, samples_ingested=record.samples_ingested + count)

    def record_gap(self, host: HostName, session_id: str, gap: GapReport) -> None:
        self._records[host] = replace(self._records[host], last_gap=gap)
        self._publish(GapSummaryReceived(host, session_id, gap))

    def report_instances(
        self,
        host: HostName,
        session_id: str,
        generation: int,
        instances: tuple[ReportedInstance, ...],
    ) -> int:
        """Keep the host's instances as its live session reported them; the generation held.

        The caller has checked that session_id is the host's live session. Within a session a
        report replaces the one held only if its generation is higher (a repeat or a stale
        report changes nothing and tells no one); a new session's first report always does.
        """
        held = self._instances.get(host)
        if held is not None and held.session_id == session_id and generation <= held.generation:
            return held.generation
        event = InstancesReported(host, session_id, generation, instances)
        self._instances[host] = event
        self._publish(event)
        return generation

    # Liveness

    def expire(self) -> list[AgentLost]:
        """Declare lost every connected host silent for longer than lost_after_s."""
        now_s = self._clock()
        lost: list[AgentLost] = []
        for host, record in self._records.items():
            if record.connected and now_s - record.last_heartbeat_s > self.lost_after_s:
                now = self._wall_clock()
                self._records[host] = replace(record, state=AgentState.LOST, lost_at=now)
                lost.append(AgentLost(host, record.session_id, record.last_heartbeat, now))
        for event in lost:
            self._instances.pop(event.host, None)
        for event in lost:
            self._publish(event)
        return lost

    def release_all(self) -> list[AgentReleased]:
        """End every connected session without declaring anyone lost (a standby's hand-off).

        The hosts' next heartbeat is answered `reregister` and their report streams are refused,
        so their agents register again, with whichever replica is active.
        """
        now = self._wall_clock()
        released = [
            AgentReleased(host, record.session_id, now)
            for host, record in self._records.items()
            if record.connected
        ]
        for event in released:
            del self._records[event.host]
            self._instances.pop(event.host, None)
        for event in released:
            self._publish(event)
        return released

    # Views

    def get(self, host: HostName) -> AgentRecord | None:
        return self._records.get(host)

    def instances(self, host: HostName) -> tuple[ReportedInstance, ...] | None:
        """The app instances host's agent reported last; None if none was reported (or kept)."""
        held = self._instances.get(host)
        return None if held is None else held.instances

    def records(self) -> list[AgentRecord]:
        return [self._records[host] for host in sorted(self._records)]

    def connected_count(self) -> int:
        return sum(1 for record in self._records.values() if record.connected)

    def __len__(self) -> int:
        return len(self._records)
