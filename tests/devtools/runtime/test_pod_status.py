"""The pod status the emulated runtime writes: phase, container statuses, conditions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mec_devtools.runtime.pod_status import (
    RUNNING,
    TERMINATED,
    WAITING,
    ContainerView,
    Termination,
    pod_phase,
    pod_status,
)

T0 = "2026-11-30T07:00:00Z"
T1 = "2026-11-30T07:00:05Z"
DONE = Termination(exit_code=0, reason="Completed", started_at=T0, finished_at=T1)
FAILED = Termination(exit_code=137, reason="Error", started_at=T0, finished_at=T1, signal=9)


def running(*, ready: bool = True, restarts: int = 0) -> ContainerView:
    return ContainerView(
        name="app",
        image="img",
        state=RUNNING,
        reason=None,
        started_at=T0,
        ready=ready,
        restart_count=restarts,
    )


def by_type(status: dict[str, object]) -> dict[str, str]:
    conditions = status["conditions"]
    assert isinstance(conditions, list)
    return {c["type"]: c["status"] for c in conditions}


def test_running_and_ready() -> None:
    status = pod_status(
        [running()],
        restart_policy="Always",
        pod_ip="198.18.0.254",
        host_ip="198.18.0.3",
        start_time=T0,
        now=T1,
    )
    assert status["phase"] == "Running"
    assert status["podIP"] == "198.18.0.254"
    assert status["podIPs"] == [{"ip": "198.18.0.254"}]
    assert status["hostIP"] == "198.18.0.3"
    assert status["startTime"] == T0
    assert by_type(status) == {
        "PodScheduled": "True",
        "PodReadyToStartContainers": "True",
        "Initialized": "True",
        "ContainersReady": "True",
        "Ready": "True",
    }
    (container,) = status["containerStatuses"]
    assert container["state"] == {"running": {"startedAt": T0}}
    assert container["ready"] is True
    assert container["started"] is True
    assert container["restartCount"] == 0


def test_not_ready_until_probed_and_transition_times_kept() -> None:
    first = pod_status(
        [running(ready=False)],
        restart_policy="Always",
        pod_ip="a",
        host_ip="h",
        start_time=T0,
        now=T0,
    )
    assert by_type(first)["Ready"] == "False"
    ready = next(c for c in first["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "ContainersNotReady"
    assert "[app]" in ready["message"]
    later = pod_status(
        [running(ready=True)],
        restart_policy="Always",
        pod_ip="a",
        host_ip="h",
        start_time=T0,
        previous_conditions=first["conditions"],
        now=T1,
    )
    times = {c["type"]: c["lastTransitionTime"] for c in later["conditions"]}
    assert times["Ready"] == T1  # changed
    assert times["PodScheduled"] == T0  # unchanged


def test_crash_loop_waiting_keeps_last_state() -> None:
    view = ContainerView(
        name="app",
        image="img",
        state=WAITING,
        reason="CrashLoopBackOff",
        message="back-off",
        last_terminated=FAILED,
        restart_count=0,
    )
    status = pod_status(
        [view], restart_policy="Always", pod_ip="a", host_ip="h", start_time=T0, now=T1
    )
    assert status["phase"] == "Running"
    (container,) = status["containerStatuses"]
    assert container["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}
    assert container["lastState"]["terminated"]["exitCode"] == 137
    assert container["lastState"]["terminated"]["signal"] == 9
    assert container["ready"] is False


def test_never_started_is_pending_without_pod_ip() -> None:
    view = ContainerView(name="app", image="img", reason="NoCommand", message="none")
    status = pod_status(
        [view], restart_policy="Always", pod_ip=None, host_ip="h", start_time=T0, now=T1
    )
    assert status["phase"] == "Pending"
    assert "podIP" not in status
    assert by_type(status)["PodReadyToStartContainers"] == "False"


def test_finished_pods() -> None:
    ok = ContainerView(name="a", image="i", state=TERMINATED, terminated=DONE)
    bad = ContainerView(name="b", image="i", state=TERMINATED, terminated=FAILED)
    assert pod_phase([ok], "Never") == "Succeeded"
    assert pod_phase([ok], "OnFailure") == "Succeeded"
    assert pod_phase([ok, bad], "Never") == "Failed"
    assert pod_phase([ok, bad], "OnFailure") == "Running"
    status = pod_status([ok], restart_policy="Never", pod_ip="a", host_ip="h", start_time=T0)
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] == "PodCompleted"
    assert status["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"


states = st.builds(
    ContainerView,
    name=st.just("c"),
    image=st.just("i"),
    state=st.sampled_from([WAITING, RUNNING, TERMINATED]),
    terminated=st.sampled_from([DONE, FAILED]),
    last_terminated=st.sampled_from([None, DONE, FAILED]),
    ready=st.booleans(),
)


@given(st.lists(states, min_size=1, max_size=4), st.sampled_from(["Always", "OnFailure", "Never"]))
def test_ready_only_when_every_container_runs_ready(
    containers: list[ContainerView], policy: str
) -> None:
    status = pod_status(containers, restart_policy=policy, pod_ip="a", host_ip="h", start_time=T0)
    expected = all(c.state == RUNNING and c.ready for c in containers)
    assert by_type(status)["Ready"] == ("True" if expected else "False")
    assert status["phase"] in {"Pending", "Running", "Succeeded", "Failed"}
    if policy == "Always":
        assert status["phase"] in {"Pending", "Running"}
