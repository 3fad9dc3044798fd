"""The operator on the real control plane: EdgeApps run on the nearest kwok edge hosts, follow
latency changes, leave failed and cordoned hosts alone, scale and clean up, and say why.

Topology (see conftest): one access point with RTT edge-a 30 ms, edge-b 2 ms, edge-c 12 ms.
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from mec_orchestrator.adapters.kube.status import merge_patch
from tests.helpers import eventually
from tests.operator.apps import (
    condition,
    create_app,
    deployments,
    edge_app,
    event_reasons,
    get_app,
    patch_spec,
    running_pod_hosts,
)
from tests.operator.conftest import OperatorProcess, Topology

BASELINE = {"edge-a": 30.0, "edge-b": 2.0, "edge-c": 12.0}


async def test_an_edgeapp_runs_on_the_nearest_host_with_status_and_events(
    api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    await create_app(api, namespace, edge_app("ar"))

    async def running_on_edge_b() -> bool:
        return await running_pod_hosts(api, namespace, "ar") == ["edge-b"]

    await eventually(running_on_edge_b)
    instances = await deployments(api, namespace, "ar")
    assert list(instances) == ["edge-b"]
    deployment = instances["edge-b"]
    assert deployment.metadata.name == "ar-edge-b"
    assert deployment.spec.template.spec.node_selector == {"mec.dev/edge-host": "edge-b"}
    assert deployment.metadata.owner_references[0].kind == "EdgeApp"
    service = await client.CoreV1Api(api).read_namespaced_service("ar-edge-b", namespace)
    assert service.spec.ports[0].port == 8080

    async def ready() -> dict[str, Any] | None:
        app = await get_app(api, namespace, "ar")
        return app if condition(app, "Ready").get("status") == "True" else None

    app = await eventually(ready)
    status = app["status"]
    assert status["hostsSummary"] == "edge-b"
    assert status["readySummary"] == "1/1"
    assert status["instances"][0]["endpoint"] == f"ar-edge-b.{namespace}.svc:8080"
    assert condition(app, "Placed")["status"] == "True"
    assert "1/" in condition(app, "Placed")["message"]
    assert condition(app, "LatencySLOMet")["status"] in {"True", "False"}  # other zones may exist
    assert condition(app, "Degraded")["status"] == "False"
    assert all(
        c["observedGeneration"] == app["metadata"]["generation"] for c in status["conditions"]
    )
    assert operator.metric('mec_instances{host="edge-b"}') >= 1
    assert operator.reconciles() >= 1
    reasons = await event_reasons(api, namespace, "ar")
    assert ("Placed", reasons[0][1]) == reasons[0]
    assert "added edge-b" in reasons[0][1]


async def test_a_latency_change_moves_the_instance(
    api: client.ApiClient, namespace: str, operator: OperatorProcess, topology: Topology
) -> None:
    await create_app(api, namespace, edge_app("follow"))

    async def on(hosts: list[str]) -> bool:
        return sorted(await deployments(api, namespace, "follow")) == hosts

    await eventually(lambda: on(["edge-b"]))
    try:
        topology.set_rtts({"edge-b": 40.0, "edge-c": 4.0})
        await eventually(lambda: on(["edge-b", "edge-c"]))  # the new one first; the old idles
        await eventually(lambda: on(["edge-c"]), within=20)  # retired after idleSeconds (2 s)
        await eventually(
            lambda: _equals(lambda: running_pod_hosts(api, namespace, "follow"), ["edge-c"])
        )

        async def moves_told() -> list[str]:
            return [m for r, m in await event_reasons(api, namespace, "follow") if r == "Placed"]

        told = await eventually(lambda: _at_least(moves_told, 3))
        assert "added edge-c" in told[1], told
        assert "retired edge-b" in told[2]
    finally:
        topology.set_rtts(BASELINE)


async def test_a_failed_node_is_evacuated_to_the_next_best_host(
    api: client.ApiClient, namespace: str, operator: OperatorProcess, topology: Topology
) -> None:
    topology.set_rtts({"edge-a": 8.0})  # second best, within a 5 ms one-way budget
    try:
        await create_app(api, namespace, edge_app("evac"))

        async def hosts() -> list[str]:
            return sorted(await deployments(api, namespace, "evac"))

        await eventually(lambda: _equals(hosts, ["edge-b"]))
        topology.fail_node("edge-b")
        await eventually(lambda: _equals(hosts, ["edge-a"]), within=30)

        async def evacuation_told() -> list[str]:
            return [m for r, m in await event_reasons(api, namespace, "evac") if r == "Evacuated"]

        told = await eventually(evacuation_told)
        assert "edge-b" in told[0]
        await eventually(
            lambda: _equals(lambda: running_pod_hosts(api, namespace, "evac"), ["edge-a"])
        )
    finally:
        topology.restore_node("edge-b")
        topology.set_rtts(BASELINE)


async def test_a_cordoned_host_gets_no_new_instance_but_keeps_its_own(
    api: client.ApiClient, namespace: str, operator: OperatorProcess, topology: Topology
) -> None:
    await create_app(api, namespace, edge_app("before", max_ms=10))
    await eventually(lambda: _equals(lambda: _sorted_hosts(api, namespace, "before"), ["edge-b"]))
    topology.cordon("edge-b")
    try:
        await create_app(api, namespace, edge_app("after", max_ms=10))
        await eventually(
            lambda: _equals(lambda: _sorted_hosts(api, namespace, "after"), ["edge-c"])
        )
        assert await _sorted_hosts(api, namespace, "before") == ["edge-b"]
    finally:
        topology.cordon("edge-b", cordoned=False)


async def test_a_host_whose_agent_was_recorded_lost_gets_no_instance(
    api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    # What an operator that restarts finds: a previous replica recorded edge-b's agent as lost.
    path = "/apis/mec.dev/v1alpha1/edgehosts/edge-b/status"

    def agent(status: str, reason: str) -> dict[str, Any]:
        condition = {
            "type": "AgentConnected",
            "status": status,
            "reason": reason,
            "message": "test",
            "lastTransitionTime": "2026-11-21T08:00:00Z",
        }
        return {"status": {"conditions": [condition]}}

    await merge_patch(api, path, agent("False", "HeartbeatTimeout"))
    try:
        await create_app(api, namespace, edge_app("shun", max_ms=10))
        await eventually(lambda: _equals(lambda: _sorted_hosts(api, namespace, "shun"), ["edge-c"]))
    finally:
        await merge_patch(api, path, agent("True", "Heartbeating"))
    await eventually(lambda: _equals(lambda: _sorted_hosts(api, namespace, "shun"), ["edge-b"]))


async def test_stopped_scales_to_zero_and_not_instantiated_removes_instances(
    api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    await create_app(api, namespace, edge_app("life"))
    await eventually(lambda: _equals(lambda: _sorted_hosts(api, namespace, "life"), ["edge-b"]))

    await patch_spec(api, namespace, "life", {"operationalState": "Stopped"})

    async def scaled_to_zero() -> bool:
        found = await deployments(api, namespace, "life")
        return "edge-b" in found and found["edge-b"].spec.replicas == 0

    await eventually(scaled_to_zero)
    app = await eventually(lambda: _when_ready_reason(api, namespace, "life", "Stopped"))
    assert app["status"]["operationalState"] == "Stopped"

    await patch_spec(api, namespace, "life", {"lifecycle": "NotInstantiated"})
    await eventually(lambda: _equals(lambda: _sorted_hosts(api, namespace, "life"), []))
    app = await eventually(lambda: _when_ready_reason(api, namespace, "life", "NotInstantiated"))
    assert app["status"]["instantiationState"] == "NotInstantiated"

    await patch_spec(
        api, namespace, "life", {"lifecycle": "Instantiated", "operationalState": "Started"}
    )
    await eventually(lambda: _equals(lambda: _sorted_hosts(api, namespace, "life"), ["edge-b"]))


async def test_deleting_the_edgeapp_removes_every_instance(
    api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    await create_app(
        api, namespace, edge_app("gone", max_ms=10, placement={"warmStandby": 1, "maxInstances": 3})
    )
    await eventually(
        lambda: _equals(lambda: _sorted_hosts(api, namespace, "gone"), ["edge-b", "edge-c"])
    )
    await client.CustomObjectsApi(api).delete_namespaced_custom_object(
        "mec.dev", "v1alpha1", namespace, "edgeapps", "gone"
    )

    async def all_gone() -> bool:
        services = await client.CoreV1Api(api).list_namespaced_service(
            namespace, label_selector="mec.dev/app=gone"
        )
        return (
            await get_app(api, namespace, "gone") is None
            and not await deployments(api, namespace, "gone")
            and not services.items
        )

    await eventually(all_gone)


async def _at_least(get: Any, count: int) -> list[str] | None:
    found: list[str] = await get()
    return found if len(found) >= count else None


async def _sorted_hosts(api: client.ApiClient, namespace: str, app: str) -> list[str]:
    return sorted(await deployments(api, namespace, app))


async def _equals(get: Any, expected: list[str]) -> bool:
    return bool(await get() == expected)


async def _when_ready_reason(
    api: client.ApiClient, namespace: str, name: str, reason: str
) -> dict[str, Any] | None:
    app = await get_app(api, namespace, name)
    return app if condition(app, "Ready").get("reason") == reason else None
