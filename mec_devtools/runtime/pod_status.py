"""The status the emulated runtime writes for a pod, built from what it knows (pure).

The kubelet's rules, reduced to what the runtime does: the pod phase from the containers'
states and the restart policy (``getPhase``), one containerStatus per container, and the
conditions PodScheduled, PodReadyToStartContainers, Initialized, ContainersReady and Ready,
whose lastTransitionTime changes only when their status does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

WAITING = "waiting"
RUNNING = "running"
TERMINATED = "terminated"

CONDITION_TYPES = (
    "PodScheduled",
    "PodReadyToStartContainers",
    "Initialized",
    "ContainersReady",
    "Ready",
)


def timestamp(moment: datetime | None = None) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes writes times."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Termination:
    exit_code: int
    reason: str  # Completed or Error
    started_at: str | None
    finished_at: str
    signal: int | None = None

    def as_status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "exitCode": self.exit_code,
            "reason": self.reason,
            "finishedAt": self.finished_at,
        }
        if self.started_at is not None:
            body["startedAt"] = self.started_at
        if self.signal is not None:
            body["signal"] = self.signal
        return body


@dataclass(frozen=True)
class ContainerView:
    """What the runtime knows about one container at one moment."""

    name: str
    image: str
    state: str = WAITING  # waiting, running or terminated
    reason: str | None = "ContainerCreating"  # of waiting
    message: str | None = None  # of waiting
    started_at: str | None = None  # of running
    terminated: Termination | None = None  # the current state when terminated
    last_terminated: Termination | None = None  # lastState
    restart_count: int = 0
    ready: bool = False
    container_id: str | None = None

    def as_status(self) -> dict[str, Any]:
        state: dict[str, Any]
        if self.state == RUNNING:
            state = {RUNNING: {"startedAt": self.started_at or timestamp()}}
        elif self.state == TERMINATED and self.terminated is not None:
            state = {TERMINATED: self.terminated.as_status()}
        else:
            waiting: dict[str, Any] = {}
            if self.reason:
                waiting["reason"] = self.reason
            if self.message:
                waiting["message"] = self.message
            state = {WAITING: waiting}
        body: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "ready": self.ready and self.state == RUNNING,
            "started": self.state == RUNNING,
            "restartCount": self.restart_count,
            "state": state,
            "lastState": (
                {TERMINATED: self.last_terminated.as_status()} if self.last_terminated else {}
            ),
        }
        if self.container_id:
            body["containerID"] = self.container_id
        return body


def pod_phase(containers: Sequence[ContainerView], restart_policy: str) -> str:
    """The kubelet's pod phase for regular containers (no init containers)."""
    running = waiting = stopped = succeeded = 0
    for container in containers:
        if container.state == RUNNING:
            running += 1
        elif container.state == TERMINATED and container.terminated is not None:
            stopped += 1
            succeeded += container.terminated.exit_code == 0
        elif container.last_terminated is not None:
            stopped += 1  # waiting to be restarted
        else:
            waiting += 1
    if not containers or waiting > 0:
        return "Pending"
    if running > 0:
        return "Running"
    if restart_policy == "Always":
        return "Running"
    if stopped == succeeded:
        return "Succeeded"
    if restart_policy == "Never":
        return "Failed"
    return "Running"


def _condition(
    kind: str,
    status: bool,
    previous: Mapping[str, Mapping[str, Any]],
    now: str,
    *,
    reason: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    value = "True" if status else "False"
    before = previous.get(kind) or {}
    since = before.get("lastTransitionTime") if before.get("status") == value else None
    body: dict[str, Any] = {
        "type": kind,
        "status": value,
        "lastTransitionTime": since or now,
    }
    if reason:
        body["reason"] = reason
    if message:
        body["message"] = message
    return body


def pod_conditions(
    containers: Sequence[ContainerView],
    phase: str,
    *,
    sandbox_ready: bool,
    previous: Mapping[str, Mapping[str, Any]],
    now: str,
) -> list[dict[str, Any]]:
    """The pod's conditions; `previous` (by type) keeps unchanged transition times."""
    unready = [c.name for c in containers if not (c.ready and c.state == RUNNING)]
    completed = phase in ("Succeeded", "Failed")
    if completed:
        reason: str | None = "PodCompleted"
        message: str | None = None
    elif unready:
        reason = "ContainersNotReady"
        message = f"containers with unready status: [{' '.join(unready)}]"
    else:
        reason = message = None
    all_ready = bool(containers) and not unready and not completed
    return [
        _condition("PodScheduled", True, previous, now),
        _condition("PodReadyToStartContainers", sandbox_ready, previous, now),
        _condition("Initialized", True, previous, now),
        _condition("ContainersReady", all_ready, previous, now, reason=reason, message=message),
        _condition("Ready", all_ready, previous, now, reason=reason, message=message),
    ]


def pod_status(
    containers: Sequence[ContainerView],
    *,
    restart_policy: str,
    pod_ip: str | None,
    host_ip: str,
    start_time: str,
    previous_conditions: Sequence[Mapping[str, Any]] = (),
    now: str | None = None,
) -> dict[str, Any]:
    """The whole status body the runtime writes (a merge patch replaces its lists)."""
    moment = now or timestamp()
    previous = {str(c.get("type")): c for c in previous_conditions if isinstance(c, Mapping)}
    phase = pod_phase(containers, restart_policy)
    status: dict[str, Any] = {
        "phase": phase,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": start_time,
        "conditions": pod_conditions(
            containers, phase, sandbox_ready=pod_ip is not None, previous=previous, now=moment
        ),
        "containerStatuses": [c.as_status() for c in containers],
    }
    if pod_ip is not None:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    return status
