"""The pieces that connect agents to placement, without a cluster: the latency ranking that
wakes apps, the trust horizon on the view's clock, the agent events' effect on the view, the
leadership rule and the agent settings of the operator.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from mec_orchestrator.adapters.agent_link import (
    AgentConnected,
    AgentLost,
    AgentReleased,
    HostCapacity,
    InstancesReported,
    Registration,
    ReportedInstance,
)
from mec_orchestrator.adapters.kube import status as kube_status
from mec_orchestrator.adapters.kube.connection import Connection
from mec_orchestrator.decisions.latency.estimate import Latency
from mec_orchestrator.operator import agent_wiring
from mec_orchestrator.operator.agent_wiring import AgentWiring
from mec_orchestrator.operator.cluster_view import ClusterView
from mec_orchestrator.operator.leadership import is_active
from mec_orchestrator.operator.settings import OperatorSettings
from mec_orchestrator.operator.state import OperatorState

HOSTS = ("edge-a", "edge-b", "edge-c")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _node(host: str) -> dict[str, Any]:
    return {
        "metadata": {"name": host, "labels": {"mec.dev/edge-host": host}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def _zone(*aps: str) -> dict[str, Any]:
    return {
        "apiVersion": "mec.dev/v1alpha1",
        "kind": "Zone",
        "metadata": {"name": "z"},
        "spec": {
            "accessPoints": [
                {
                    "id": ap,
                    "location": {"latitude": 1.0, "longitude": 1.0},
                    "probeReflector": f"{ap}.local:8620",
                }
                for ap in aps
            ]
        },
    }


def _edge_host(host: str, rtts: dict[str, float] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "mec.dev/v1alpha1",
        "kind": "EdgeHost",
        "metadata": {"name": host},
        "spec": {
            "nodeSelector": {"mec.dev/edge-host": host},
            "location": {"latitude": 1.0, "longitude": 1.0},
            "agentEndpoint": f"{host}.local:7070",
        },
    }
    if rtts:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        body["status"] = {
            "accessPointRtt": [
                {"accessPointId": ap, "p50Ms": v, "p95Ms": v, "lastSeen": now}
                for ap, v in rtts.items()
            ]
        }
    return body


def _view(clock: Clock, *aps: str) -> ClusterView:
    view = ClusterView(clock=clock)
    for host in HOSTS:
        view.update_node(host, _node(host))
        view.update_edge_host(host, _edge_host(host))
    view.update_zone("z", _zone(*aps))
    return view


def _order(view: ClusterView, ap: str) -> list[str]:
    ranking = dict(view.latency_ranking())
    return [host for host, _, _ in ranking[ap]]


def test_the_ranking_follows_the_order_of_hosts_not_every_sample() -> None:
    clock = Clock()
    view = _view(clock, "ap1")
    for host, rtt in (("edge-a", 20.0), ("edge-b", 4.0), ("edge-c", 40.0)):
        view.latency.record("ap1", host, rtt, clock.now)
    first = view.latency_ranking()
    assert _order(view, "ap1") == ["edge-b", "edge-a", "edge-c"]
    view.latency.record("ap1", "edge-b", 4.4, clock.now)  # jitter: same order, same ranking
    assert view.latency_ranking() == first
    for _ in range(20):
        view.latency.record("ap1", "edge-c", 2.0, clock.now)
    assert view.latency_ranking() != first
    assert _order(view, "ap1") == ["edge-c", "edge-b", "edge-a"]


def test_crossing_an_apps_budget_changes_the_ranking_without_reordering() -> None:
    clock = Clock()
    view = _view(clock, "ap1")
    view.update_app("ns", "ar", {"spec": {"latency": {"maxMs": 5}}})
    view.latency.record("ap1", "edge-b", 8.0, clock.now)  # 4 ms one way: within
    for host in ("edge-a", "edge-c"):
        view.latency.record("ap1", host, 50.0, clock.now)
    before = view.latency_ranking()
    for _ in range(20):
        view.latency.record("ap1", "edge-b", 12.0, clock.now)  # 6 ms one way: missed
    assert _order(view, "ap1") == ["edge-b", "edge-a", "edge-c"]
    assert view.latency_ranking() != before
    view.update_app("ns", "ar", None)
    assert dict(view.latency_ranking())["ap1"][0] == ("edge-b", True, 0)


def test_measured_samples_win_over_summaries_until_they_go_stale_on_the_views_clock() -> None:
    clock = Clock()
    view = _view(clock, "ap1")
    view.update_edge_host("edge-a", _edge_host("edge-a", {"ap1": 3.0}))
    view.latency.record("ap1", "edge-a", 9.0, clock.now)
    lookup = view.lookup_latency(view.host_views(exclude_app=None))
    assert lookup("ap1", "edge-a") == Latency(9.0, measured=True)
    assert lookup("ap1", "edge-b") == Latency(1.0, measured=False)  # same place: radio floor
    clock.now += view.latency.settings.stale_after_s + 1
    lookup = view.lookup_latency(view.host_views(exclude_app=None))
    assert lookup("ap1", "edge-a") == Latency(3.0, measured=True)  # the summary again
    assert ("edge-b", False, 0) in dict(view.latency_ranking())["ap1"]


def test_leadership_follows_kopfs_rule() -> None:
    now = datetime.now(UTC)
    fresh = (now - timedelta(seconds=1)).isoformat()
    old = (now - timedelta(seconds=100)).isoformat()
    me = {"priority": 100, "lifetime": 30, "lastseen": fresh}
    assert is_active({}, "me", 100, now)
    assert is_active({"me": me}, "me", 100, now)
    assert is_active({"me": me, "low": {**me, "priority": 50}}, "me", 100, now)
    assert not is_active({"me": me, "high": {**me, "priority": 200}}, "me", 100, now)
    assert not is_active({"me": me, "twin": me}, "me", 100, now)  # kopf pauses both
    assert is_active({"me": me, "dead": {**me, "priority": 200, "lastseen": old}}, "me", 100, now)


def test_agent_settings_need_tls_or_insecure_and_carry_the_timeouts() -> None:
    assert OperatorSettings().agent_server() is None
    with pytest.raises(ValidationError, match="mutual TLS"):
        OperatorSettings(agents_listen="0.0.0.0:50051")
    settings = OperatorSettings(
        agents_listen="127.0.0.1:0",
        agents_insecure=True,
        agents_heartbeat_seconds=0.5,
        agent_lost_after_seconds=2,
    )
    server = settings.agent_server()
    assert server is not None
    assert (server.listen, server.insecure) == ("127.0.0.1:0", True)
    assert (server.heartbeat_interval_s, server.lost_after_s) == (0.5, 2.0)
    with pytest.raises(ValidationError, match="lost_after_s"):
        OperatorSettings(agents_listen=":0", agents_insecure=True, agent_lost_after_seconds=0.5)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEC_OPERATOR_AGENTS_LISTEN", "198.18.0.1:50051")
    monkeypatch.setenv("MEC_OPERATOR_AGENTS_INSECURE", "true")
    monkeypatch.setenv("MEC_OPERATOR_AGENT_LOST_AFTER_SECONDS", "3")
    monkeypatch.setenv("MEC_OPERATOR_AGENTS_STATUS_SECONDS", "2")
    settings = OperatorSettings()
    assert settings.agents_listen == "198.18.0.1:50051"
    assert settings.agent_lost_after_seconds == 3.0
    assert settings.agents_status_seconds == 2.0


async def test_lost_and_returning_agents_change_availability_and_wake_every_app() -> None:
    settings = OperatorSettings(agents_listen="127.0.0.1:0", agents_insecure=True, standalone=True)
    state = OperatorState(settings, Connection(server="https://127.0.0.1:1", ca_path=None))
    view = state.view
    for host in HOSTS:
        view.update_node(host, _node(host))
    server_settings = settings.agent_server()
    assert server_settings is not None
    link = AgentWiring(state, server_settings)
    assert link.server.sink is state.engine  # samples feed the engine the plan reads
    apps = [("ns", "one"), ("ns", "two")]
    for app in apps:
        state.kick(*app)
        state.wakeup(app).clear()
    now = datetime.now(UTC)

    link.apply(AgentLost("edge-b", "s1", now, now))
    assert view.lost_agents == {"edge-b"}
    assert not {h.name: h for h in view.host_views(None)}["edge-b"].available
    assert all(state.wakeup(app).is_set() for app in apps)

    for app in apps:
        state.wakeup(app).clear()
    link.apply(AgentConnected("edge-b", "s2", now))
    assert view.lost_agents == set()
    assert {h.name: h for h in view.host_views(None)}["edge-b"].available
    assert all(state.wakeup(app).is_set() for app in apps)
    await asyncio.sleep(0)


def _agent_condition(status: str, reason: str) -> dict[str, Any]:
    return {
        "conditions": [
            {
                "type": "AgentConnected",
                "status": status,
                "reason": reason,
                "message": "",
                "lastTransitionTime": "2026-11-21T08:00:00Z",
            }
        ]
    }


async def test_a_loss_recorded_in_status_outlives_a_restart_until_the_agent_is_back() -> None:
    settings = OperatorSettings(agents_listen="127.0.0.1:0", agents_insecure=True, standalone=True)
    state = OperatorState(settings, Connection(server="https://127.0.0.1:1", ca_path=None))
    view = state.view  # a fresh operator: nothing lost in its memory
    for host in HOSTS:
        view.update_node(host, _node(host))
        view.update_edge_host(host, _edge_host(host))
    server_settings = settings.agent_server()
    assert server_settings is not None
    link = AgentWiring(state, server_settings)

    def available() -> dict[str, bool]:
        return {h.name: h.available for h in view.host_views(None)}

    lost = {**_edge_host("edge-b"), "status": _agent_condition("False", "HeartbeatTimeout")}
    assert view.update_edge_host("edge-b", lost)  # the previous operator wrote this
    never = {**_edge_host("edge-c"), "status": _agent_condition("False", "NeverRegistered")}
    view.update_edge_host("edge-c", never)
    assert available() == {"edge-a": True, "edge-b": False, "edge-c": True}

    now = datetime.now(UTC)
    link.apply(AgentConnected("edge-b", "s1", now))  # back, before its status is rewritten
    assert available()["edge-b"]
    view.update_edge_host(
        "edge-b", {**_edge_host("edge-b"), "status": _agent_condition("True", "Heartbeating")}
    )
    link.apply(AgentLost("edge-b", "s1", now, now))
    assert not available()["edge-b"]
    await asyncio.sleep(0)


async def test_a_released_agent_is_neither_connected_here_nor_lost_and_wakes_nobody() -> None:
    settings = OperatorSettings(agents_listen="127.0.0.1:0", agents_insecure=True)
    state = OperatorState(settings, Connection(server="https://127.0.0.1:1", ca_path=None))
    server_settings = settings.agent_server()
    assert server_settings is not None
    link = AgentWiring(state, server_settings)
    assert not await link.accepting()  # a replica not yet running kopf takes no agents
    now = datetime.now(UTC)
    link.apply(AgentConnected("edge-b", "s1", now))
    state.kick("ns", "app")
    state.wakeup(("ns", "app")).clear()
    link.apply(AgentReleased("edge-b", "s1", now))
    assert state.view.connected_agents == set()
    assert state.view.lost_agents == set()
    assert not state.wakeup(("ns", "app")).is_set()
    await asyncio.sleep(0)


async def test_reported_instances_are_who_is_where_until_the_agent_is_lost_or_released() -> None:
    settings = OperatorSettings(agents_listen="127.0.0.1:0", agents_insecure=True, standalone=True)
    state = OperatorState(settings, Connection(server="https://127.0.0.1:1", ca_path=None))
    for host in HOSTS:
        state.view.update_node(host, _node(host))
    server_settings = settings.agent_server()
    assert server_settings is not None
    link = AgentWiring(state, server_settings)
    now = datetime.now(UTC)
    link.apply(AgentConnected("edge-a", "s1", now))
    link.apply(AgentConnected("edge-b", "s2", now))
    state.kick("ns", "app")
    state.wakeup(("ns", "app")).clear()
    anchors = ReportedInstance("anchors-a", "ref", "http://h:1", "h:2", True)
    other = ReportedInstance("other-b", "ref", None, None, False)
    assert state.reported_instances() == {}

    link.apply(InstancesReported("edge-a", "s1", 1, (anchors,)))
    link.apply(InstancesReported("edge-b", "s2", 5, (other,)))
    assert state.reported_instances() == {"edge-a": (anchors,), "edge-b": (other,)}
    assert state.reported_instances("edge-a") == {"edge-a": (anchors,)}
    assert state.reported_instances("edge-c") == {}
    assert not state.wakeup(("ns", "app")).is_set()  # who-is-where re-plans nothing

    link.apply(InstancesReported("edge-a", "s1", 2, ()))  # the app left: a full, empty set
    assert state.reported_instances("edge-a") == {"edge-a": ()}
    link.apply(AgentLost("edge-a", "s1", now, now))
    link.apply(AgentReleased("edge-b", "s2", now))
    assert state.reported_instances() == {}
    await asyncio.sleep(0)


async def test_only_the_active_replica_writes_summaries_of_hosts_that_have_an_edgehost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = OperatorSettings(agents_listen="127.0.0.1:0", agents_insecure=True, priority=100)
    state = OperatorState(settings, Connection(server="https://127.0.0.1:1", ca_path=None))
    state.started(object())  # type: ignore[arg-type]  # never used: the writer is replaced
    state.view.update_edge_host("edge-a", _edge_host("edge-a"))
    server_settings = settings.agent_server()
    assert server_settings is not None
    link = AgentWiring(state, server_settings)
    for host in ("edge-a", "edge-b"):  # edge-b has no EdgeHost object
        link.server.registry.register(
            Registration(host, (), HostCapacity(), None, "test", None, {"ap1": "10.0.0.1:8620"})
        )
    link.server.sink.record_latency("ap1", "edge-a", 4.0, state.view.clock())
    written: list[tuple[str, dict[str, Any]]] = []
    peers: dict[str, dict[str, Any]] = {}

    async def write(api: object, name: str, status: dict[str, Any]) -> bool:
        written.append((name, status))
        return True

    async def read(api: object, name: str) -> dict[str, dict[str, Any]]:
        assert name == settings.peering_name
        return peers

    monkeypatch.setattr(kube_status, "write_edgehost_status", write)
    monkeypatch.setattr(agent_wiring, "read_peers", read)

    assert await link.write_statuses() == 1
    assert [name for name, _ in written] == ["edge-a"]
    status = written[0][1]
    assert status["agentConnected"] is True
    assert status["accessPointRtt"][0]["accessPointId"] == "ap1"
    assert status["accessPointRtt"][0]["p50Ms"] == 4.0

    fresh = datetime.now(UTC).isoformat()
    peers["other"] = {"priority": 200, "lifetime": 30, "lastseen": fresh}
    written.clear()
    assert await link.write_statuses() == 0  # a higher-priority replica is alive: standby
    assert written == []
