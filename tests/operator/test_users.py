"""The users' directory (operator/users.py): attach to the nearest instance, refuse clearly,
move users of apps without context, defer the others, and rebuild from the agents' reports.

The operator state is real (its view fed as the watch would feed it, its placement engine fed
RTT samples); the agents are a recording stand-in that keeps sessions as an agent does, so
every test can check that the agents hold exactly the sessions the directory believes in.
The real agents and instances are exercised in tests/e2e/test_users_move.py.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mec_orchestrator.adapters.agent_link import ReportedInstance
from mec_orchestrator.adapters.agent_link.commands import (
    AgentCommandError,
    HandoverSide,
    Transferred,
)
from mec_orchestrator.adapters.kube.connection import Connection
from mec_orchestrator.decisions.handover import HandoverEvent, HandoverEventKind
from mec_orchestrator.decisions.users.cell_changes import CellChange, HoStatus
from mec_orchestrator.decisions.users.sessions import DeviceSession
from mec_orchestrator.operator.cell_changes import CellChangeIntake
from mec_orchestrator.operator.settings import OperatorSettings
from mec_orchestrator.operator.state import OperatorState
from mec_orchestrator.operator.users import (
    AttachRequest,
    MoveOutcome,
    UserDirectory,
    UserError,
    UserErrorKind,
    instance_id_of,
)

HOSTS = ("edge-a", "edge-b", "edge-c")
CELLS = {"ap1": "00000a1", "ap2": "00000a2"}
# RTT (ms) from each access point: ap1 is nearest edge-a, ap2 nearest edge-c.
RTT = {
    ("ap1", "edge-a"): 2.0,
    ("ap1", "edge-b"): 4.0,
    ("ap1", "edge-c"): 12.0,
    ("ap2", "edge-a"): 12.0,
    ("ap2", "edge-b"): 5.0,
    ("ap2", "edge-c"): 2.0,
}
DEVICE = "10.45.0.7"


@dataclass
class FakeAgents:
    """SessionService as the agents apply it: (host endpoint, instance) -> {user: record}."""

    sessions: dict[tuple[str, str], dict[str, bytes]] = field(default_factory=dict)
    released: list[tuple[str, str, str | None]] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)

    async def admit(self, endpoint: str, instance: str, user: str, record: bytes) -> int:
        if endpoint in self.failing:
            raise AgentCommandError(endpoint, grpc.StatusCode.UNAVAILABLE, "down")
        users = self.sessions.setdefault((endpoint, instance), {})
        users[user] = record
        return len(users)

    async def release(self, endpoint: str, instance: str, user: str, redirect: str | None) -> bool:
        if endpoint in self.failing:
            raise AgentCommandError(endpoint, grpc.StatusCode.UNAVAILABLE, "down")
        self.released.append((endpoint, user, redirect))
        return self.sessions.get((endpoint, instance), {}).pop(user, None) is not None

    # HandoverService, as two agents apply it: the session moves at the commits.
    handovers: dict[str, dict[str, tuple[str, str, str, bytes]]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    failing_transfer: bool = False

    async def prepare_handover(
        self,
        endpoint: str,
        *,
        handover_id: str,
        source_role: bool,
        user_id: str,
        source: HandoverSide,
        target: HandoverSide,
        target_agent_endpoint: str,
        mec_assisted: bool,
        timeout_s: float,
        session_record: bytes = b"",
    ) -> None:
        side = source if source_role else target
        role = "source" if source_role else "target"
        self.calls.append((f"prepare-{role}", endpoint))
        self.handovers.setdefault(handover_id, {})[role] = (
            endpoint,
            side.app_instance_id,
            user_id,
            session_record,
        )

    async def transfer(
        self, endpoint: str, handover_id: str, *, precopy_only: bool = False
    ) -> Transferred:
        self.calls.append(("precopy" if precopy_only else "transfer", endpoint))
        if self.failing_transfer:
            raise AgentCommandError(endpoint, grpc.StatusCode.UNAVAILABLE, "target unreachable")
        return Transferred(
            context_bytes=70000, precopy_rounds=2, fenced_bytes=300, fenced_s=0.002, version=9
        )

    async def commit(self, endpoint: str, handover_id: str, version: int = 0) -> None:
        sides = self.handovers[handover_id]
        role = "target" if sides["target"][0] == endpoint else "source"
        self.calls.append((f"commit-{role}", endpoint))
        agent_at, instance, user, record = sides[role]
        if role == "target":
            self.sessions.setdefault((agent_at, instance), {})[user] = record
        else:
            self.sessions.get((agent_at, instance), {}).pop(user, None)

    async def abort(self, endpoint: str, handover_id: str, reason: str) -> None:
        sides = self.handovers.get(handover_id, {})
        role = "target" if sides.get("target", ("",))[0] == endpoint else "source"
        self.calls.append((f"abort-{role}", endpoint))

    def holders(self, user: str) -> list[str]:
        return [endpoint for (endpoint, _), users in self.sessions.items() if user in users]


@dataclass
class FakeNotifier:
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def submit(self, uri: str, body: dict[str, Any], **_: Any) -> bool:
        self.sent.append((uri, body))
        return True


def agent(host: str) -> str:
    return f"{host}.agents:50061"


def edge_app(
    *, transfer: str = "None", per_instance: int | None = None, hysteresis: float = 1.0
) -> dict[str, Any]:
    placement: dict[str, Any] = {}
    if per_instance is not None:
        placement["maxUsersPerInstance"] = per_instance
    return {
        "apiVersion": "mec.dev/v1alpha1",
        "kind": "EdgeApp",
        "metadata": {"name": "ar", "namespace": "city", "uid": "u-ar", "generation": 1},
        "spec": {
            "appDId": "ar-d",
            "appName": "ar",
            "appProvider": "city",
            "appSoftVersion": "1.0",
            "latency": {"maxMs": 5},
            "mobility": {
                "contextTransfer": transfer,
                "hysteresisMs": hysteresis,
                "minDwellSeconds": 0,
            },
            "placement": placement,
            "template": {"spec": {"containers": [{"name": "ar", "image": "ar:1"}]}},
        },
    }


def deployment(host: str, ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {
            "uid": f"d-{host}",
            "name": f"ar-{host}",
            "namespace": "city",
            "resourceVersion": "10",
            "generation": 1,
            "labels": {"mec.dev/app": "ar", "mec.dev/edge-host": host},
        },
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1 if ready else 0,
        },
    }


def node(host: str) -> dict[str, Any]:
    return {
        "metadata": {"name": host, "labels": {"mec.dev/edge-host": host}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def edge_host(host: str, index: int) -> dict[str, Any]:
    return {
        "apiVersion": "mec.dev/v1alpha1",
        "kind": "EdgeHost",
        "metadata": {"name": host},
        "spec": {
            "nodeSelector": {"mec.dev/edge-host": host},
            "location": {"latitude": -37.81, "longitude": 144.95 + index / 100},
            "agentEndpoint": agent(host),
        },
    }


def zone() -> dict[str, Any]:
    return {
        "metadata": {"name": "cbd"},
        "spec": {
            "accessPoints": [
                {
                    "id": ap,
                    "cellId": cell,
                    "location": {"latitude": -37.8, "longitude": 144.9},
                    "probeReflector": f"{ap}.example:8620",
                }
                for ap, cell in CELLS.items()
            ]
        },
    }


def reported(host: str, users: tuple[tuple[str, bytes], ...] = ()) -> ReportedInstance:
    return ReportedInstance(
        app_instance_id=instance_id_of("city", f"ar-{host}"),
        app_name="ar",
        endpoint=f"http://{host}.pods:8080",
        user_context_endpoint=f"{host}.pods:9090",
        ready=True,
        users=users,
    )


@dataclass
class Scene:
    state: OperatorState
    agents: FakeAgents
    notifier: FakeNotifier
    users: UserDirectory

    def request(self, address: str | None = DEVICE, **app: str) -> AttachRequest:
        return AttachRequest(
            namespace="city",
            owner="dev",
            associate_dev_app_id="dev-app-1",
            callback_reference=f"http://{address}:9000/notify",
            app_location_updates=True,
            device_address=address,
            app_d_id=app.get("app_d_id"),
            app_name=app.get("app_name", "ar"),
            app_provider=app.get("app_provider", "city"),
            app_soft_version=None,
        )

    def consistent(self) -> None:
        """Agents hold exactly what the directory believes; engine and counts agree with it."""
        for session in self.users.sessions():
            assert self.agents.holders(session.context_id) == [agent(session.host)]
            assert self.state.engine.host_of(session.user_key) == session.host
        counts: dict[str, int] = {}
        for session in self.users.sessions():
            counts[session.host] = counts.get(session.host, 0) + 1
        assert self.users.users_on("city", "ar") == counts


def scene(
    app: dict[str, Any] | None = None,
    hosts: tuple[str, ...] = HOSTS,
    agents: FakeAgents | None = None,
    state: OperatorState | None = None,
) -> Scene:
    """The world of these tests (a state over no API server unless one is given)."""
    state = state or OperatorState(
        OperatorSettings(standalone=True), Connection(server="https://127.0.0.1:1", ca_path=None)
    )
    for index, host in enumerate(HOSTS):
        state.node_seen(host, node(host))
        state.edge_host_seen(host, edge_host(host, index))
    state.zone_seen("cbd", zone())
    state.app_seen(("city", "ar"), app or edge_app())
    now = time.monotonic()
    for (ap, host), rtt in RTT.items():
        state.engine.record_latency(ap, host, rtt, now)
    for host in hosts:
        state.view.update_instance(f"d-{host}", deployment(host))
        state.instances_reported(host, (reported(host),))
    fake = agents or FakeAgents()
    notifier = FakeNotifier()
    users = UserDirectory(state, fake, agent, notifier)  # type: ignore[arg-type]
    state.users = users
    return Scene(state, fake, notifier, users)


async def attached_at(s: Scene, access_point: str, address: str = DEVICE) -> DeviceSession:
    await s.users.device_moved(address, access_point)  # the RNIS told where the device is
    return await s.users.attach(s.request(address))


async def test_a_device_is_served_by_the_instance_nearest_its_cell() -> None:
    s = scene()
    session = await attached_at(s, "ap2")
    assert (session.host, session.reference_uri) == ("edge-c", "http://edge-c.pods:8080")
    assert session.app_instance_id == "city.ar-edge-c"
    (record,) = s.agents.sessions[(agent("edge-c"), session.app_instance_id)].values()
    assert DeviceSession.decode(record) == session  # what the agent keeps says it all
    s.consistent()


async def test_users_go_only_to_ready_instances_within_the_round_trip_budget() -> None:
    s = scene()
    s.state.view.update_instance("d-edge-c", deployment("edge-c", ready=False))
    session = await attached_at(s, "ap2")
    assert session.host == "edge-b"  # edge-c is nearer from ap2, but its instance is not Ready
    (app,) = s.users.apps("city")
    rules = s.users._rules(app)
    assert rules.allowed_hosts == frozenset({"edge-a", "edge-b"})
    assert rules.latency_budget_ms == 10.0  # the one-way maxMs as the engine's round trip
    s.consistent()


async def test_a_full_instance_refuses_and_the_next_nearest_takes_the_user() -> None:
    s = scene(edge_app(per_instance=1))
    first = await attached_at(s, "ap1", "10.45.0.1")
    second = await attached_at(s, "ap1", "10.45.0.2")
    assert (first.host, second.host) == ("edge-a", "edge-b")
    s.consistent()


async def test_refusals_say_what_is_wrong_and_hold_no_slot() -> None:
    s = scene()
    with pytest.raises(UserError) as unknown:
        await s.users.attach(s.request(app_name="nope"))
    assert unknown.value.kind is UserErrorKind.UNKNOWN_APP
    assert "nope" in unknown.value.message
    with pytest.raises(UserError) as nowhere:
        await s.users.attach(s.request())  # no cell known for the device
    assert nowhere.value.kind is UserErrorKind.NO_LOCATION
    empty = scene(hosts=())
    await empty.users.device_moved(DEVICE, "ap1")
    with pytest.raises(UserError) as no_instance:
        await empty.users.attach(empty.request())
    assert no_instance.value.kind is UserErrorKind.NO_INSTANCE
    assert empty.state.engine.user_count() == 0
    assert empty.state.engine.waiting_users() == []


async def test_an_agent_that_refuses_leaves_no_user_behind() -> None:
    s = scene(agents=FakeAgents(failing={agent("edge-a")}))
    await s.users.device_moved(DEVICE, "ap1")
    with pytest.raises(UserError) as failed:
        await s.users.attach(s.request())
    assert failed.value.kind is UserErrorKind.AGENT_FAILED
    assert len(s.users) == 0
    assert s.state.engine.user_count() == 0


async def test_a_user_of_an_app_without_context_follows_its_cell() -> None:
    s = scene()
    events: list[HandoverEvent] = []
    s.users.on_handover(events.append)
    session = await attached_at(s, "ap1")
    assert session.host == "edge-a"
    (result,) = await s.users.device_moved(DEVICE, "ap2")
    assert (result.outcome, result.source, result.target) == (MoveOutcome.MOVED, "edge-a", "edge-c")
    moved = s.users.get(session.context_id)
    assert (moved.host, moved.access_point) == ("edge-c", "ap2")
    # The source redirects the device; the device is told its new instance.
    assert s.agents.released == [(agent("edge-a"), session.context_id, "http://edge-c.pods:8080")]
    ((uri, body),) = s.notifier.sent
    assert uri == session.callback_reference
    assert body["notificationType"] == "ApplicationContextUpdateNotification"
    assert body["userAppInstanceInfo"][0]["referenceURI"] == "http://edge-c.pods:8080"
    s.consistent()
    # MEC 021 listeners see the move start, then complete, with one handover id.
    assert [e.kind for e in events] == [HandoverEventKind.TRIGGERED, HandoverEventKind.COMPLETED]
    assert len({e.handover_id for e in events}) == 1
    assert (events[0].source.host, events[0].target.host) == ("edge-a", "edge-c")
    assert events[0].app_d_id == "ar-d"


async def test_a_move_the_target_refuses_fails_and_the_user_stays() -> None:
    s = scene(agents=FakeAgents(failing={agent("edge-c")}))
    events: list[HandoverEvent] = []
    s.users.on_handover(events.append)
    session = await attached_at(s, "ap1")
    (result,) = await s.users.device_moved(DEVICE, "ap2")
    assert result.outcome is MoveOutcome.FAILED
    assert s.users.get(session.context_id).host == "edge-a"
    assert [e.kind for e in events] == [HandoverEventKind.TRIGGERED, HandoverEventKind.FAILED]
    assert "down" in events[1].reason
    s.consistent()


async def test_a_small_gain_within_the_hysteresis_moves_nobody() -> None:
    s = scene(edge_app(hysteresis=5.0))  # 10 ms as a round trip: ap2 gains 10 ms, not more
    await attached_at(s, "ap1")
    (result,) = await s.users.device_moved(DEVICE, "ap2")
    assert result.outcome is MoveOutcome.STAYED
    assert s.agents.released == []
    assert s.notifier.sent == []
    s.consistent()


async def test_a_user_with_context_is_handed_over_make_before_break() -> None:
    s = scene(edge_app(transfer="MecAssisted"))
    events: list[HandoverEvent] = []
    s.users.on_handover(events.append)
    session = await attached_at(s, "ap1")
    (result,) = await s.users.device_moved(DEVICE, "ap2")
    assert (result.outcome, result.target) == (MoveOutcome.MOVED, "edge-c")
    # Both sides prepared, the source transfers, the target commits first, then the source.
    assert s.agents.calls == [
        ("prepare-target", agent("edge-c")),
        ("prepare-source", agent("edge-a")),
        ("transfer", agent("edge-a")),
        ("commit-target", agent("edge-c")),
        ("commit-source", agent("edge-a")),
    ]
    assert s.users.get(session.context_id).host == "edge-c"
    (sides,) = s.agents.handovers.values()
    kept = DeviceSession.decode(sides["target"][3])  # the target keeps the moved record
    assert (kept.host, kept.reference_uri) == ("edge-c", "http://edge-c.pods:8080")
    assert s.notifier.sent[-1][1]["userAppInstanceInfo"][0]["referenceURI"] == (
        "http://edge-c.pods:8080"
    )
    assert [e.kind for e in events] == [HandoverEventKind.TRIGGERED, HandoverEventKind.COMPLETED]
    assert (events[1].context_bytes, events[1].interruption_s) == (70000, 0.002)
    s.consistent()


async def test_a_handover_that_fails_before_the_commit_is_undone_and_the_user_stays() -> None:
    s = scene(edge_app(transfer="MecAssisted"), agents=FakeAgents(failing_transfer=True))
    events: list[HandoverEvent] = []
    s.users.on_handover(events.append)
    session = await attached_at(s, "ap1")
    (result,) = await s.users.device_moved(DEVICE, "ap2")
    assert result.outcome is MoveOutcome.FAILED
    assert s.agents.calls[-2:] == [
        ("abort-target", agent("edge-c")),  # the target first: it must not commit any more
        ("abort-source", agent("edge-a")),
    ]
    assert s.users.get(session.context_id).host == "edge-a"
    assert [e.kind for e in events] == [HandoverEventKind.TRIGGERED, HandoverEventKind.FAILED]
    assert "target unreachable" in events[1].reason
    # The fence may have sent the device on: it is pointed back at the source.
    ((_, body),) = s.notifier.sent
    assert body["userAppInstanceInfo"][0]["referenceURI"] == "http://edge-a.pods:8080"
    s.consistent()


async def test_the_radio_s_preparation_starts_the_handover_and_its_completion_finishes_it() -> None:
    s = scene(edge_app(transfer="MecAssisted"))
    events: list[HandoverEvent] = []
    s.users.on_handover(events.append)
    intake = CellChangeIntake(s.users)
    session = await attached_at(s, "ap1")
    preparing = CellChange((DEVICE,), CELLS["ap1"], CELLS["ap2"], HoStatus.IN_PREPARATION)
    assert (await intake.apply(preparing)).outcome == "preparing"
    await asyncio.sleep(0.01)  # the pre-copy runs in the background, the RNIS is answered
    assert s.agents.calls == [
        ("prepare-target", agent("edge-c")),
        ("prepare-source", agent("edge-a")),
        ("precopy", agent("edge-a")),
    ]
    assert s.users.get(session.context_id).host == "edge-a"  # still served at the source
    done = CellChange((DEVICE,), CELLS["ap1"], CELLS["ap2"], HoStatus.COMPLETED)
    assert [m.outcome for m in (await intake.apply(done)).moves] == [MoveOutcome.MOVED]
    assert s.agents.calls[3:] == [
        ("transfer", agent("edge-a")),  # only the rest, then the switch
        ("commit-target", agent("edge-c")),
        ("commit-source", agent("edge-a")),
    ]
    assert [e.kind for e in events] == [HandoverEventKind.TRIGGERED, HandoverEventKind.COMPLETED]
    s.consistent()


async def test_a_cancelled_radio_handover_undoes_what_was_prepared() -> None:
    s = scene(edge_app(transfer="MecAssisted"))
    events: list[HandoverEvent] = []
    s.users.on_handover(events.append)
    intake = CellChangeIntake(s.users)
    session = await attached_at(s, "ap1")
    await intake.apply(CellChange((DEVICE,), CELLS["ap1"], CELLS["ap2"], HoStatus.IN_PREPARATION))
    await intake.apply(CellChange((DEVICE,), CELLS["ap1"], CELLS["ap2"], HoStatus.CANCELLED))
    assert s.agents.calls[-2:] == [
        ("abort-target", agent("edge-c")),
        ("abort-source", agent("edge-a")),
    ]
    assert [e.kind for e in events] == [HandoverEventKind.TRIGGERED, HandoverEventKind.FAILED]
    assert "cancelled" in events[1].reason
    assert s.users.get(session.context_id).host == "edge-a"
    s.consistent()


async def test_an_app_that_moves_its_own_context_is_switched_once_it_says_so() -> None:
    s = scene(edge_app(transfer="AppSelfControlled"))
    session = await attached_at(s, "ap1")
    moving = asyncio.create_task(s.users.device_moved(DEVICE, "ap2"))
    await asyncio.sleep(0.05)
    assert not moving.done()  # waiting for the app's USER_CONTEXT_TRANSFER_COMPLETED
    assert s.users.context_transfer_reported("city.ar-edge-c", session.context_id) is True
    (result,) = await asyncio.wait_for(moving, 5)
    assert (result.outcome, result.target) == (MoveOutcome.MOVED, "edge-c")
    s.consistent()
    assert s.users.context_transfer_reported("city.ar-edge-c", session.context_id) is False


async def test_an_app_that_never_reports_its_transfer_stays_after_the_timeout() -> None:
    s = scene(edge_app(transfer="AppSelfControlled"))
    s.users._handover_timeout_s = 0.1
    session = await attached_at(s, "ap1")
    (result,) = await s.users.device_moved(DEVICE, "ap2")
    assert result.outcome is MoveOutcome.FAILED
    assert "USER_CONTEXT_TRANSFER_COMPLETED" in result.reason
    assert s.users.get(session.context_id).host == "edge-a"
    s.consistent()


async def test_a_new_leader_learns_every_user_from_the_agents() -> None:
    s = scene()
    sessions = [await attached_at(s, ap, f"10.45.0.{i}") for i, ap in enumerate(("ap1", "ap2"))]
    # A new process: empty directory; the agents report what they hold.
    fresh = scene(hosts=())
    for host in HOSTS:
        held = tuple(
            (user, record)
            for (endpoint, _), users in s.agents.sessions.items()
            if endpoint == agent(host)
            for user, record in users.items()
        )
        fresh.state.view.update_instance(f"d-{host}", deployment(host))
        fresh.state.instances_reported(host, (reported(host, held),))
    assert {x.context_id: x.host for x in fresh.users.sessions()} == {
        x.context_id: x.host for x in sessions
    }
    assert fresh.users.users_on("city", "ar") == {"edge-a": 1, "edge-c": 1}
    assert fresh.state.engine.host_of(sessions[1].user_key) == "edge-c"
    # ... and can move them.
    (result,) = await fresh.users.device_moved("10.45.0.0", "ap2")
    assert result.outcome is MoveOutcome.MOVED


async def test_a_user_its_old_host_no_longer_holds_is_found_where_an_agent_holds_it() -> None:
    s = scene()
    session = await attached_at(s, "ap1")
    held = session.served_by("edge-c", "city.ar-edge-c", "http://edge-c.pods:8080")
    s.users._admitted_at[session.context_id] = -1e9
    # A handover committed while this orchestrator was away: edge-c holds it, edge-a released.
    s.state.instances_reported("edge-c", (reported("edge-c", ((held.context_id, held.encode()),)),))
    s.state.instances_reported("edge-a", (reported("edge-a"),))
    for _ in range(50):
        await asyncio.sleep(0.01)
        if s.users.get(session.context_id).host == "edge-c":
            break
    assert s.users.get(session.context_id).host == "edge-c"
    assert (agent("edge-c"), "city.ar-edge-c") not in s.agents.sessions  # not admitted again
    assert s.notifier.sent[-1][1]["userAppInstanceInfo"][0]["referenceURI"] == (
        "http://edge-c.pods:8080"
    )


async def test_cell_changes_in_progress_or_unknown_change_nothing() -> None:
    s = scene()
    session = await attached_at(s, "ap1")
    intake = CellChangeIntake(s.users)

    def change(status: HoStatus, cell: str | None, *addresses: str) -> CellChange:
        return CellChange(addresses, CELLS["ap1"], cell, status)

    assert (await intake.apply(change(HoStatus.IN_PREPARATION, CELLS["ap2"], DEVICE))).outcome == (
        "preparing"
    )
    assert (await intake.apply(change(HoStatus.CANCELLED, CELLS["ap2"], DEVICE))).outcome == (
        "cancelled"
    )
    assert (await intake.apply(change(HoStatus.COMPLETED, "fffffff", DEVICE))).outcome == (
        "UnknownCell"
    )
    assert (await intake.apply(change(HoStatus.COMPLETED, CELLS["ap2"]))).outcome == "NoDevice"
    assert s.users.get(session.context_id).host == "edge-a"
    done = await intake.apply(change(HoStatus.COMPLETED, CELLS["ap2"].upper(), DEVICE))
    assert done.outcome == "applied"
    assert [m.outcome for m in done.moves] == [MoveOutcome.MOVED]
    # A device nobody attached: refused as NoUser, its cell remembered for when it attaches.
    nobody = await intake.apply(change(HoStatus.COMPLETED, CELLS["ap2"], "10.45.9.9"))
    assert nobody.outcome == "NoUser"
    assert s.users.device_access_point("10.45.9.9") == "ap2"


async def test_a_lost_host_s_users_are_served_elsewhere() -> None:
    s = scene()
    session = await attached_at(s, "ap1")
    s.state.agent_lost("edge-a")
    for _ in range(50):
        if s.users.get(session.context_id).host != "edge-a":
            break
        await asyncio.sleep(0.01)
    assert s.users.get(session.context_id).host == "edge-b"
    assert s.notifier.sent[-1][1]["userAppInstanceInfo"][0]["referenceURI"] == (
        "http://edge-b.pods:8080"
    )


operations = st.lists(
    st.tuples(
        st.sampled_from(["attach", "leave", "move"]),
        st.integers(min_value=0, max_value=5),
        st.sampled_from(["ap1", "ap2"]),
    ),
    max_size=30,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations, st.sampled_from(["None", "MecAssisted"]), st.sampled_from([None, 1, 2]))
def test_any_sequence_keeps_agents_engine_and_directory_in_agreement(
    steps: list[tuple[str, int, str]], transfer: str, per_instance: int | None
) -> None:
    async def run() -> None:
        s = scene(edge_app(transfer=transfer, per_instance=per_instance))
        contexts: dict[int, str] = {}
        for op, device, ap in steps:
            address = f"10.45.1.{device}"
            if op == "attach" and device not in contexts:
                await s.users.device_moved(address, ap)
                try:
                    contexts[device] = (await s.users.attach(s.request(address))).context_id
                except UserError as error:
                    refused = error.kind
                    assert refused is UserErrorKind.NO_INSTANCE
            elif op == "leave" and device in contexts:
                await s.users.leave(contexts.pop(device), "dev")
            elif op == "move":
                await s.users.device_moved(address, ap)
            s.consistent()
            if per_instance is not None:
                assert all(n <= per_instance for n in s.users.users_on("city", "ar").values())
        assert len(s.users) == len(contexts)

    asyncio.run(run())
