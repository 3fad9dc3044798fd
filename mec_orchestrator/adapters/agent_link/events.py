"""What the agent registry tells its subscribers: agents connected, lost, released; reports.

Released: sent on to the active replica. Reports: a gap summary, or the full set of the app
instances on the agent's host (InstancesReported).

The operator consumes these to keep EdgeHost status and host availability current (a lost host is
evacuated); they are plain frozen values so they can be queued, logged and compared in tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mec_orchestrator.decisions.names import AccessPointId, HostName


@dataclass(frozen=True, slots=True)
class AccessPointGap:
    """What an agent measured to one access point while it could not report."""

    access_point_id: AccessPointId
    sample_count: int
    lost_probe_count: int
    min_rtt_ms: float
    p50_rtt_ms: float
    p95_rtt_ms: float
    max_rtt_ms: float
    percentiles_estimated: bool


@dataclass(frozen=True, slots=True)
class GapReport:
    """An agent's summary of a period in which the orchestrator was unreachable."""

    started_at: datetime
    ended_at: datetime
    access_points: tuple[AccessPointGap, ...]

    @property
    def duration_s(self) -> float:
        return (self.ended_at - self.started_at).total_seconds()

    def of(self, access_point: AccessPointId) -> AccessPointGap | None:
        return next((g for g in self.access_points if g.access_point_id == access_point), None)


@dataclass(frozen=True, slots=True)
class AgentConnected:
    """A host's agent registered (first time, after a restart, or after it was lost)."""

    host: HostName
    session_id: str
    at: datetime
    replaced_session_id: str | None = None


@dataclass(frozen=True, slots=True)
class AgentLost:
    """A host's agent sent no heartbeat for longer than the timeout; its session is over."""

    host: HostName
    session_id: str
    last_heartbeat: datetime
    at: datetime


@dataclass(frozen=True, slots=True)
class GapSummaryReceived:
    """A host's agent, back after a disconnection, summarised what it measured meanwhile."""

    host: HostName
    session_id: str
    gap: GapReport


@dataclass(frozen=True, slots=True)
class AgentReleased:
    """A replica that is not (or no longer) the active one ended a host's session.

    The agent registers again, with the active replica. Not a loss: the host stays available.
    """

    host: HostName
    session_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ReportedInstance:
    """One app instance an agent says is registered with it over Mp1 (MEC 011)."""

    app_instance_id: str
    app_name: str
    endpoint: str | None
    """The URI devices reach the instance at; None when the app registered none."""
    user_context_endpoint: str | None
    """host:port of the instance's UserContextService; None when it keeps no per-user state."""
    ready: bool
    users: tuple[tuple[str, bytes], ...] = ()
    """(user id, the orchestrator's record of the session) for every user the instance serves."""


@dataclass(frozen=True, slots=True)
class InstancesReported:
    """A host's agent reported the full set of app instances on its host (it replaces the last)."""

    host: HostName
    session_id: str
    generation: int
    instances: tuple[ReportedInstance, ...]


AgentEvent = AgentConnected | AgentLost | GapSummaryReceived | AgentReleased | InstancesReported
