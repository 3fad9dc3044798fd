"""The things the live map draws, each a small frozen record with a key and a JSON form.

Coordinates are latitude/longitude as the resources carry them (None: not known, the page
leaves the thing off the map but lists it). Keys are strings unique within their table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class HandoverState(StrEnum):
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Site:
    """A radio access point (from a Zone): where devices attach."""

    id: str
    zone: str
    lat: float | None
    lon: float | None

    @property
    def key(self) -> str:
        return self.id


@dataclass(frozen=True, slots=True)
class Host:
    """An edge host (its EdgeHost's location; available: Ready nodes and a live agent)."""

    name: str
    lat: float | None
    lon: float | None
    available: bool
    cordoned: bool

    @property
    def key(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Instance:
    """An instance of an EdgeApp on a host (its Deployment), ready once rolled out."""

    namespace: str
    app: str
    host: str
    ready: bool

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.app}@{self.host}"


@dataclass(frozen=True, slots=True)
class Device:
    """A user (a MEC 016 context): the access point its device is in, the host serving it."""

    context_id: str
    namespace: str
    app: str
    host: str
    access_point: str | None

    @property
    def key(self) -> str:
        return self.context_id


@dataclass(frozen=True, slots=True)
class App:
    """An EdgeApp's service level and counters (handovers and failures since the view began)."""

    namespace: str
    name: str
    slo_ms: float
    """The one-way latency budget (`latency.maxMs`)."""
    slo_met: bool | None
    """The LatencySLOMet condition (None: not reported yet)."""
    users: int
    instances: int
    ready_instances: int
    handovers: int
    failures: int
    moving: int
    """Users in a move that has not ended."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Handover:
    """One move of one user between two hosts, as far as it went."""

    id: str
    namespace: str
    app: str
    user: str
    source: str
    target: str
    state: HandoverState
    started_s: float
    """When it started (Unix seconds)."""
    ended_s: float | None
    interruption_ms: float | None
    """How long the user was fenced (completed, when measured)."""
    reason: str

    @property
    def key(self) -> str:
        return self.id


Item = Site | Host | Instance | Device | App | Handover


def item_json(item: Item) -> dict[str, Any]:
    """The item as JSON (its fields, enums as their values)."""
    body = asdict(item)
    if isinstance(item, Handover):
        body["state"] = item.state.value
    return body
