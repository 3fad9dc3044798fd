"""Two operator replicas never both act; kill -9 of the active one hands over to the other; a
replica killed in the middle of a reconciliation is replaced and the result converges with no
duplicate instance; agents register with the active replica and follow a takeover."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes_asyncio import client

from mec_devtools.devcluster import ClusterInfo
from mec_devtools.devcluster.cluster import free_port
from tests.helpers import eventually
from tests.operator.apps import condition, create_app, deployments, edge_app, get_app
from tests.operator.conftest import ACCESS_POINT, OperatorProcess, Topology


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

        async def second_reconciled() -> bool:  # the first may have finished before its death
            return second.reconciles() > 0

        await eventually(second_reconciled, within=60)
        listed = await client.AppsV1Api(api).list_namespaced_deployment(namespace)
        assert sorted(d.metadata.name for d in listed.items) == ["crash-edge-b", "crash-edge-c"]
        assert await converged() is not None  # the new replica's reconcile changed nothing
    finally:
        second.stop()


async def _hosts_are(api: client.ApiClient, namespace: str, app: str, hosts: list[str]) -> bool:
    return sorted(await deployments(api, namespace, app)) == hosts


@pytest.fixture
def reflector() -> Iterator[str]:
    """A probe reflector process on 127.0.0.1; its host:port."""
    process = subprocess.Popen(
        [sys.executable, "-m", "edge_host_agent", "reflector", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        (address,) = json.loads(process.stdout.readline())["listening"]
        yield str(address)
    finally:
        process.kill()
        process.wait(timeout=10)


async def test_agents_register_with_the_active_replica_and_follow_a_takeover(
    crds_installed: ClusterInfo, topology: Topology, operator_logs: Path, reflector: str
) -> None:
    ports = {200: free_port(), 150: free_port()}

    def replica(priority: int) -> OperatorProcess:
        agents = {
            "MEC_OPERATOR_AGENTS_LISTEN": f"127.0.0.1:{ports[priority]}",
            "MEC_OPERATOR_AGENTS_INSECURE": "true",
        }
        return OperatorProcess(crds_installed, operator_logs, priority=priority, env=agents)

    active, standby = replica(200).start(), replica(150).start()
    # the standby first: it must send the agent on
    agent = start_agent(operator_logs, [ports[150], ports[200]], reflector)
    refused = 'mec_agent_requests_refused_total{code="UNAVAILABLE",method="Register"}'
    try:
        await eventually(lambda: _is(active.metric("mec_agents_connected"), 1.0))
        assert standby.metric("mec_agents_connected") == 0
        assert standby.metric(refused) >= 1
        await eventually(lambda: _is(active.metric("mec_agent_latency_samples_ingested_total") > 0))

        active.kill(signal.SIGKILL)
        await eventually(lambda: _is(standby.metric("mec_agents_connected"), 1.0), within=45)
        assert standby.metric("mec_agents_lost_total") == 0
    finally:
        agent.kill()
        agent.wait(timeout=10)
        active.kill(signal.SIGKILL)
        standby.stop()


def start_agent(logs: Path, ports: list[int], reflector: str) -> subprocess.Popen[bytes]:
    """An agent for edge-b given every replica's address, probing the reflector."""
    with (logs / "agent-edge-b.log").open("wb") as sink:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edge_host_agent",
                "run",
                "--host",
                "edge-b",
                "--orchestrator",
                ",".join(f"127.0.0.1:{port}" for port in ports),
                "--insecure",
                "--listen",
                "127.0.0.1:0",
                "--access-point",
                f"{ACCESS_POINT}={reflector}",
                "--backoff-initial",
                "0.1",
                "--backoff-max",
                "0.5",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


async def _is(value: object, expected: object = True) -> bool:
    return value == expected
