"""The live view's accumulator: facts and handover steps in, numbered batches of deltas out.

The feed (operator/live_feed.py) gives the board the facts it read from the operator's state
(`publish`) and every handover step as it happens (`handover_step`); the board builds the next
snapshot, diffs it with the last one it published and keeps the batch. Whatever happened
between two publications becomes one batch: the feed decides how often it publishes, so the
rate of batches is bounded however fast the cluster changes.

Memory is bounded: the handover table keeps the `max_handovers` newest moves (older ones are
dropped from the picture, but still counted per app), the log the `max_batches` newest
batches (a client that reconnects after more than that gets a fresh snapshot), and at most
`max_devices` devices are drawn (the apps' user counts stay exact).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mec_orchestrator.decisions.handover.events import HandoverEvent, HandoverEventKind
from mec_orchestrator.decisions.liveview.items import (
    App,
    Device,
    Handover,
    HandoverState,
    Host,
    Instance,
    Site,
)
from mec_orchestrator.decisions.liveview.snapshot import Batch, Snapshot, Table, diff

AppKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class AppFacts:
    """What the cluster says of an EdgeApp (the board adds the counts)."""

    namespace: str
    name: str
    slo_ms: float
    slo_met: bool | None = None


@dataclass(frozen=True)
class LiveFacts:
    """One reading of the operator's state."""

    sites: Sequence[Site] = ()
    hosts: Sequence[Host] = ()
    instances: Sequence[Instance] = ()
    devices: Sequence[Device] = ()
    apps: Sequence[AppFacts] = ()
    moving: Mapping[AppKey, int] = field(default_factory=dict)
    """Users in a move that has not ended, per app."""


_ENDED = {
    HandoverEventKind.COMPLETED: HandoverState.COMPLETED,
    HandoverEventKind.FAILED: HandoverState.FAILED,
}


class LiveBoard:
    """Facts and handover steps -> snapshots and batches (see the module)."""

    def __init__(
        self,
        epoch: str,
        *,
        max_handovers: int = 64,
        max_batches: int = 256,
        max_devices: int = 2000,
    ) -> None:
        if min(max_handovers, max_batches, max_devices) < 1:
            raise ValueError("the board's bounds must be at least 1")
        self.epoch = epoch
        self.max_handovers = max_handovers
        self.max_devices = max_devices
        self._snapshot = Snapshot()
        self._log: deque[Batch] = deque(maxlen=max_batches)
        self._handovers: OrderedDict[str, Handover] = OrderedDict()
        self._completed: dict[AppKey, int] = {}
        self._failed: dict[AppKey, int] = {}

    @property
    def snapshot(self) -> Snapshot:
        """The last snapshot published."""
        return self._snapshot

    @property
    def log(self) -> tuple[Batch, ...]:
        return tuple(self._log)

    def handover_step(self, event: HandoverEvent) -> None:
        """A step of a move (TRIGGERED, COMPLETED or FAILED): shown at the next publication."""
        key = (event.namespace, event.app)
        known = self._handovers.get(event.handover_id)
        if event.kind is HandoverEventKind.TRIGGERED:
            if known is not None:
                return
            mark = Handover(
                id=event.handover_id,
                namespace=event.namespace,
                app=event.app,
                user=event.context_id,
                source=event.source.host,
                target=event.target.host,
                state=HandoverState.STARTED,
                started_s=event.at_s,
                ended_s=None,
                interruption_ms=None,
                reason=event.reason,
            )
        else:
            state = _ENDED[event.kind]
            counters = self._completed if state is HandoverState.COMPLETED else self._failed
            if known is None or known.state is HandoverState.STARTED:
                counters[key] = counters.get(key, 0) + 1
            interruption = event.interruption_s
            mark = Handover(
                id=event.handover_id,
                namespace=event.namespace,
                app=event.app,
                user=event.context_id,
                source=event.source.host,
                target=event.target.host,
                state=state,
                started_s=event.at_s if known is None else known.started_s,
                ended_s=event.at_s,
                interruption_ms=None if interruption is None else round(interruption * 1000, 3),
                reason=event.reason or (known.reason if known is not None else ""),
            )
        self._handovers[event.handover_id] = mark
        while len(self._handovers) > self.max_handovers:
            self._handovers.popitem(last=False)

    def picture(self, facts: LiveFacts, seq: int) -> Snapshot:
        """The snapshot facts and the handovers seen make, numbered seq."""
        apps = {(a.namespace, a.name): a for a in facts.apps}
        for counters in (self._completed, self._failed):  # an app that is gone is forgotten
            for gone in [k for k in counters if k not in apps]:
                del counters[gone]
        users: dict[AppKey, int] = {}
        for device in facts.devices:
            key = (device.namespace, device.app)
            users[key] = users.get(key, 0) + 1
        instances: dict[AppKey, int] = {}
        ready: dict[AppKey, int] = {}
        for instance in facts.instances:
            key = (instance.namespace, instance.app)
            instances[key] = instances.get(key, 0) + 1
            ready[key] = ready.get(key, 0) + (1 if instance.ready else 0)
        shown_apps = [
            App(
                namespace=a.namespace,
                name=a.name,
                slo_ms=a.slo_ms,
                slo_met=a.slo_met,
                users=users.get(k, 0),
                instances=instances.get(k, 0),
                ready_instances=ready.get(k, 0),
                handovers=self._completed.get(k, 0),
                failures=self._failed.get(k, 0),
                moving=facts.moving.get(k, 0),
            )
            for k, a in apps.items()
        ]
        devices = sorted(facts.devices, key=lambda d: d.context_id)[: self.max_devices]
        return Snapshot.of(
            seq,
            {
                Table.SITES: facts.sites,
                Table.HOSTS: facts.hosts,
                Table.INSTANCES: facts.instances,
                Table.DEVICES: devices,
                Table.APPS: shown_apps,
                Table.HANDOVERS: self._handovers.values(),
            },
        )

    def publish(self, facts: LiveFacts) -> Batch | None:
        """The batch from the last snapshot to the one facts make now; None when nothing changed."""
        seq = self._snapshot.seq + 1
        after = self.picture(facts, seq)
        deltas = diff(self._snapshot, after)
        if not deltas:
            return None
        batch = Batch(seq, deltas)
        self._snapshot = after
        self._log.append(batch)
        return batch

    def since(self, seq: int) -> tuple[Batch, ...] | None:
        """The batches after snapshot seq, or None when the log no longer (or never) had them."""
        current = self._snapshot.seq
        if seq == current:
            return ()
        if seq > current or not self._log or seq < self._log[0].seq - 1:
            return None
        return tuple(b for b in self._log if b.seq > seq)

    def event_id(self, seq: int) -> str:
        """The SSE id of snapshot seq: the board's epoch and the number."""
        return f"{self.epoch}.{seq}"

    def seq_of(self, event_id: str) -> int | None:
        """The snapshot number an id of this board names; None for another board's id."""
        epoch, _, number = event_id.rpartition(".")
        if epoch != self.epoch or not number.isdigit():
            return None
        return int(number)
