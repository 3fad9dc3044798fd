"""Two operator replicas never both act; kill -9 of the active one hands over to the other; a
replica killed in the middle of a reconciliation is replaced and the result converges with no
duplicate instance."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from kubernetes_asyncio import client

from mec_orchestrator.devcluster import ClusterInfo
from tests.helpers import eventually
from tests.operator.apps import condition, create_app, deployments, edge_app, get_app
from tests.operator.conftest import OperatorProcess, Topology


async def test_only_the_highest_priority_replica_acts_and_the_other_takes_over(
    api: client.ApiClient,
    namespace: str,
    crds_installed: ClusterInfo,
    topology: Topology,
    operator_logs: Path,
) -> None:
    active = OperatorProcess(crds_installed, operator_logs, priority=200).start()
    standby = OperatorProcess(crds_installed, operator_logs, priority=150).start()
    try:
        await create_app(api, namespace, edge_app("one"))
        await eventually(lambda: _hosts_are(api, namespace, "one", ["edge-b"]))
        await asyncio.sleep(2)  # give the standby every chance to (wrongly) act too
        assert active.reconciles() > 0
        assert standby.reconciles() == 0

        active.kill(signal.SIGKILL)
        await create_app(api, namespace, edge_app("two"))
        await eventually(lambda: _hosts_are(api, namespace, "two", ["edge-b"]), within=45)
        assert standby.reconciles() > 0
        assert "Resuming operations after the pause" in standby.log.read_text()
    finally:
        active.kill(signal.SIGKILL)
        standby.stop()


async def test_a_replica_killed_mid_reconcile_converges_without_duplicates(
    api: client.ApiClient,
    namespace: str,
    crds_installed: ClusterInfo,
    topology: Topology,
    operator_logs: Path,
) -> None:
    first = OperatorProcess(crds_installed, operator_logs, priority=300).start()
    app = edge_app("crash", max_ms=10, placement={"warmStandby": 1, "maxInstances": 3})
    await create_app(api, namespace, app)

    async def some_instance() -> bool:
        return bool(await deployments(api, namespace, "crash"))

    await eventually(some_instance)
    first.kill(signal.SIGKILL)  # in the middle: instances applied, status maybe not yet
    second = OperatorProcess(crds_installed, operator_logs, priority=300).start()
    try:

        async def converged() -> dict[str, object] | None:
            found = await get_app(api, namespace, "crash")
            ready = condition(found, "Ready").get("status") == "True"
            hosts = sorted(await deployments(api, namespace, "crash"))
            return found if ready and hosts == ["edge-b", "edge-c"] else None

        found = await eventually(converged, within=60)
        assert found is not None
        listed = await client.AppsV1Api(api).list_namespaced_deployment(namespace)
        assert sorted(d.metadata.name for d in listed.items) == ["crash-edge-b", "crash-edge-c"]
        assert second.reconciles() > 0
    finally:
        second.stop()


async def _hosts_are(api: client.ApiClient, namespace: str, app: str, hosts: list[str]) -> bool:
    return sorted(await deployments(api, namespace, app)) == hosts
