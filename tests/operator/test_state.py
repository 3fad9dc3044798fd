"""The operator state: the one owner of runtime state, and the engine it keeps in step."""

from __future__ import annotations

import time
from typing import Any

from mec_orchestrator.adapters.kube.connection import Connection
from mec_orchestrator.decisions.users import PlacementRules
from mec_orchestrator.operator.settings import OperatorSettings
from mec_orchestrator.operator.state import UNLIMITED_USERS, OperatorState, user_key


def _state() -> OperatorState:
    return OperatorState(
        OperatorSettings(standalone=True), Connection(server="https://127.0.0.1:1", ca_path=None)
    )


def _node(host: str, ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": host, "labels": {"mec.dev/edge-host": host}},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def _edge_host(host: str, users: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "nodeSelector": {"mec.dev/edge-host": host},
        "location": {"latitude": 1.0, "longitude": 1.0},
        "agentEndpoint": f"{host}.local:7070",
    }
    if users is not None:
        spec["capacity"] = {"users": users}
    return {"apiVersion": "mec.dev/v1alpha1", "kind": "EdgeHost", "metadata": {"name": host},
            "spec": spec}  # fmt: skip


def _deployment(app: str, host: str, ready: int) -> dict[str, Any]:
    return {
        "metadata": {
            "uid": f"{app}-{host}",
            "name": f"{app}-{host}",
            "namespace": "ns",
            "resourceVersion": "1",
            "generation": 1,
            "labels": {"mec.dev/app": app, "mec.dev/edge-host": host},
        },
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                   "readyReplicas": ready},
    }  # fmt: skip


def test_the_engine_gets_every_available_host_with_its_user_slots() -> None:
    state = _state()
    state.edge_host_seen("edge-a", _edge_host("edge-a", 50))
    for host in ("edge-a", "edge-b"):
        state.node_seen(host, _node(host))
    index = state.engine.index
    assert index.hosts() == ["edge-a", "edge-b"]
    assert index.capacity("edge-a") == 50
    assert index.capacity("edge-b") == UNLIMITED_USERS
    state.edge_host_seen("edge-a", _edge_host("edge-a", 80))
    assert index.capacity("edge-a") == 80


def test_a_host_that_becomes_unavailable_leaves_the_engine_and_its_users_are_returned() -> None:
    state = _state()
    for host in ("edge-a", "edge-b"):
        state.node_seen(host, _node(host))
    user = user_key("ns", "ar", "ue-1")
    now = time.monotonic()
    state.engine.record_latency("ap1", "edge-b", 2.0, now)
    rules = PlacementRules(latency_budget_ms=10.0, allowed_hosts=frozenset({"edge-b"}))
    assert state.engine.place(user, "ap1", rules, now).host == "edge-b"
    assert state.users_by_host("ns", "ar") == {"edge-b": 1}
    state.agent_lost("edge-b")
    assert state.engine.index.hosts() == ["edge-a"]
    assert state.engine.host_of(user) is None
    assert state.users_by_host("ns", "ar") == {}
    state.agent_connected("edge-b")
    assert state.engine.index.hosts() == ["edge-a", "edge-b"]


def test_users_are_counted_per_app() -> None:
    state = _state()
    for host in ("edge-a", "edge-b"):
        state.node_seen(host, _node(host))
    state.engine.index.assign(user_key("ns", "ar", "u1"), "edge-a")
    state.engine.index.assign(user_key("ns", "ar", "u2"), "edge-a")
    state.engine.index.assign(user_key("ns", "ar2", "u1"), "edge-b")
    state.engine.index.assign(user_key("other", "ar", "u1"), "edge-b")
    assert state.users_by_host("ns", "ar") == {"edge-a": 2}
    assert state.users_by_host("ns", "ar2") == {"edge-b": 1}
