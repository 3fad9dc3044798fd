"""Edge-host agents drive placement through the real operator, end to end.

Real processes only: the session's control plane (kwok nodes edge-a, edge-b, edge-c), the
operator (`python -m mec_orchestrator run`) with its agent server listening in the root network
namespace on the emulated network's gateway, one `edge-host-agent reflector` in the access
point's namespace and one `edge-host-agent run` per edge host in its own namespace, all joined by
the delay-line switch, with mutual TLS. The one-way delays from the access point ap1 start as
edge-a 10 ms, edge-b 2 ms, edge-c 20 ms; the hosts' locations are chosen so that an estimate
from distance would pick edge-a, so landing on edge-b shows the measurement was used.

The story: an EdgeApp with a 5 ms one-way budget lands on edge-b; the delays change so that
edge-c is best and the instance moves there; edge-c's agent is killed (SIGKILL) and, once the
operator declares it lost, the app is evacuated to the next best host within budget (edge-b)
with an `Evacuated` Event. Along the way the operator writes each agent's summary into its
EdgeHost's status, whose p50 must match the delay line within 1.5 ms.

The test creates its Kubernetes namespace, EdgeHosts, Zone and peering object and removes them
(restoring EdgeHosts and Zones that existed before), and its network namespaces are removed by
the network fixture.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mec_common.tls import AgentPki, write_agent_pki
from mec_devtools.devcluster import ClusterInfo
from mec_devtools.devcluster.cluster import free_port
from mec_devtools.sim.network import Network, Node
from mec_orchestrator.adapters.kube.status import write_edgehost_status
from tests.conftest import EDGE_HOSTS
from tests.e2e.conftest import wait_for
from tests.operator.apps import condition, create_app, deployments, edge_app, event_reasons
from tests.operator.conftest import OperatorProcess

pytestmark = pytest.mark.cluster

T = TypeVar("T")

GROUP, VERSION = "mec.dev", "v1alpha1"
ACCESS_POINT = "ap1"
REFLECTOR_PORT = 8620
AP_LOCATION = {"latitude": 2.0, "longitude": 2.0}  # far from every example Zone
# Distance estimates would rank edge-a first (0 km), then edge-b (~55 km), then edge-c (~111 km).
HOST_LOCATIONS = {
    "edge-a": AP_LOCATION,
    "edge-b": {"latitude": 2.5, "longitude": 2.0},
    "edge-c": {"latitude": 3.0, "longitude": 2.0},
}
FIRST_DELAYS = {"edge-a": 10.0, "edge-b": 2.0, "edge-c": 20.0}  # one way, ms
SECOND_DELAYS = {"edge-a": 10.0, "edge-b": 4.0, "edge-c": 1.0}
BUDGET_MS = 5.0  # one way: edge-a never fits
LOST_AFTER_S = 3.0
RTT_TOLERANCE_MS = 1.5
WAIT_S = 90.0  # generous: a shared 2-core machine runs the control plane and all of this


@dataclass
class Scene:
    """Everything the story needs: the network, its processes, the operator, the API client."""

    net: Network
    api: client.ApiClient
    operator: OperatorProcess
    namespace: str
    ap: Node
    hosts: dict[str, Node]
    agents: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: Path = Path()

    def set_delays(self, delays: dict[str, float]) -> None:
        for host, one_way in delays.items():
            self.net.set_delay(self.ap, self.hosts[host], one_way)

    def diagnostics(self) -> str:
        parts = [f"--- operator log ---\n{self.operator.log.read_text(errors='replace')[-4000:]}"]
        for path in sorted(self.logs.glob("*.log")):
            parts.append(f"--- {path.name} ---\n{path.read_text(errors='replace')[-1500:]}")
        return "\n".join(parts)

    async def wait(
        self, what: str, check: Callable[[], Awaitable[T | None]], within: float = WAIT_S
    ) -> T:
        return await wait_for(what, check, within, self.diagnostics)

    async def edge_host(self, host: str) -> dict[str, Any]:
        body: dict[str, Any] = await client.CustomObjectsApi(self.api).get_cluster_custom_object(
            GROUP, VERSION, "edgehosts", host
        )
        return body

    async def placed_on(self, hosts: list[str]) -> bool:
        return sorted(await deployments(self.api, self.namespace, "ar")) == hosts


def _rtt_entry(status: dict[str, Any]) -> dict[str, Any] | None:
    for entry in status.get("accessPointRtt") or []:
        if entry["accessPointId"] == ACCESS_POINT:
            return dict(entry)
    return None


def _rtt_close(body: dict[str, Any], one_way_ms: float) -> dict[str, Any] | None:
    """The EdgeHost's status if its agent is connected and ap1's p50 matches the delay line."""
    status = body.get("status") or {}
    entry = _rtt_entry(status)
    if status.get("agentConnected") is not True or entry is None:
        return None
    return status if abs(entry["p50Ms"] - 2 * one_way_ms) <= RTT_TOLERANCE_MS else None


def _edge_host_body(host: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EdgeHost",
        "metadata": {"name": host},
        "spec": {
            "nodeSelector": {"mec.dev/edge-host": host},
            "location": HOST_LOCATIONS[host],
            "agentEndpoint": f"{host}.agents.local:50061",
        },
    }


def _zone_body(name: str, reflector: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Zone",
        "metadata": {"name": name},
        "spec": {
            "accessPoints": [
                {"id": ACCESS_POINT, "location": AP_LOCATION, "probeReflector": reflector}
            ]
        },
    }


def _kept(body: dict[str, Any]) -> dict[str, Any]:
    """What is needed to create an object again: metadata (name, labels, annotations), spec."""
    meta = body["metadata"]
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "metadata": {
            k: meta[k] for k in ("name", "labels", "annotations") if meta.get(k) is not None
        },
        "spec": body["spec"],
        "status": body.get("status"),
    }


async def _delete_and_wait(api: client.ApiClient, plural: str, name: str) -> None:
    objects = client.CustomObjectsApi(api)
    try:
        await objects.delete_cluster_custom_object(GROUP, VERSION, plural, name)
    except ApiException as error:
        if error.status != 404:
            raise
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            await objects.get_cluster_custom_object(GROUP, VERSION, plural, name)
        except ApiException as error:
            if error.status == 404:
                return
            raise
        await asyncio.sleep(0.2)
    raise AssertionError(f"{plural}/{name} was not deleted")


@pytest.fixture
async def cluster_objects(
    api: client.ApiClient, crds_installed: ClusterInfo
) -> AsyncIterator[list[dict[str, Any]]]:
    """Sets aside the EdgeHosts edge-a/b/c and every Zone that exist, and puts them back after.

    The test's own EdgeHosts and Zone must be the only ones: another Zone's access points would
    enter the plan. Yields the list the test appends its own objects' (plural, name) to.
    """
    objects = client.CustomObjectsApi(api)
    stashed: list[tuple[str, dict[str, Any]]] = []
    for host in EDGE_HOSTS:
        try:
            body = await objects.get_cluster_custom_object(GROUP, VERSION, "edgehosts", host)
        except ApiException as error:
            if error.status != 404:
                raise
            continue
        stashed.append(("edgehosts", _kept(body)))
    zones = await objects.list_cluster_custom_object(GROUP, VERSION, "zones")
    stashed += [("zones", _kept(zone)) for zone in zones["items"]]
    for plural, body in stashed:
        await _delete_and_wait(api, plural, body["metadata"]["name"])
    created: list[dict[str, Any]] = []
    try:
        yield created
    finally:
        for entry in created:
            await _delete_and_wait(api, entry["plural"], entry["name"])
        for plural, body in stashed:
            status = body.pop("status", None)
            await objects.create_cluster_custom_object(GROUP, VERSION, plural, body)
            if status and plural == "edgehosts":
                await write_edgehost_status(api, body["metadata"]["name"], status)


@pytest.fixture
def pki(tmp_path: Path, network: Network) -> AgentPki:
    """A CA, the orchestrator's certificate for the gateway address, one per edge host."""
    return write_agent_pki(
        tmp_path / "pki", EDGE_HOSTS, orchestrator_ips=("127.0.0.1", network.gateway)
    )


@pytest.fixture
def reflector(network: Network, tmp_path: Path) -> tuple[Node, str]:
    """The access point's namespace with a reflector; yields it and the reflector's address."""
    ap = network.add_node("ap1")
    with (tmp_path / "reflector.log").open("wb") as log:
        process = network.popen(
            ap,
            [
                sys.executable,
                "-m",
                "edge_host_agent",
                "reflector",
                "--listen",
                f"0.0.0.0:{REFLECTOR_PORT}",
            ],
            stdout=subprocess.PIPE,
            stderr=log,
        )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 60)
    assert ready, "the reflector did not start within 60 s"
    listening = json.loads(process.stdout.readline())["listening"]
    assert listening == [f"0.0.0.0:{REFLECTOR_PORT}"]
    return ap, f"{ap.ip}:{REFLECTOR_PORT}"


def _start_agent(scene: Scene, host: str, pki: AgentPki, orchestrator: str, reflector: str) -> None:
    files = pki.edge_host(host)
    args = ["run", "--host", host, "--orchestrator", orchestrator]
    args += ["--ca-cert", str(files.ca_cert), "--cert", str(files.cert), "--key", str(files.key)]
    args += ["--listen", "0.0.0.0:50061", "--access-point", f"{ACCESS_POINT}={reflector}"]
    args += ["--probe-rate", "20", "--backoff-initial", "0.2", "--backoff-max", "2"]
    with (scene.logs / f"agent-{host}.log").open("wb") as log:
        scene.agents[host] = scene.net.popen(
            scene.hosts[host],
            [sys.executable, "-m", "edge_host_agent", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "GRPC_VERBOSITY": "ERROR"},
        )


@pytest.fixture
async def scene(  # noqa: PLR0917 - the fixture wires every real process together
    api: client.ApiClient,
    crds_installed: ClusterInfo,
    network: Network,
    pki: AgentPki,
    reflector: tuple[Node, str],
    cluster_objects: list[dict[str, Any]],
    tmp_path: Path,
) -> AsyncIterator[Scene]:
    ap, reflector_address = reflector
    hosts = {host: network.add_node(host.replace("-", "")) for host in EDGE_HOSTS}
    objects = client.CustomObjectsApi(api)
    for host in EDGE_HOSTS:
        await objects.create_cluster_custom_object(
            GROUP, VERSION, "edgehosts", _edge_host_body(host)
        )
        cluster_objects.append({"plural": "edgehosts", "name": host})
    zone = f"e2e-{uuid.uuid4().hex[:8]}"
    await objects.create_cluster_custom_object(
        GROUP, VERSION, "zones", _zone_body(zone, reflector_address)
    )
    cluster_objects.append({"plural": "zones", "name": zone})

    orchestrator = f"{network.gateway}:{free_port()}"
    peering = f"e2e-{uuid.uuid4().hex[:8]}"
    operator = OperatorProcess(
        crds_installed,
        tmp_path,
        env={
            "MEC_OPERATOR_PEERING_NAME": peering,
            "MEC_OPERATOR_AGENTS_LISTEN": orchestrator,
            "MEC_OPERATOR_AGENTS_CA_CERT": str(pki.orchestrator.ca_cert),
            "MEC_OPERATOR_AGENTS_CERT": str(pki.orchestrator.cert),
            "MEC_OPERATOR_AGENTS_KEY": str(pki.orchestrator.key),
            "MEC_OPERATOR_AGENTS_HEARTBEAT_SECONDS": "0.5",
            "MEC_OPERATOR_AGENT_LOST_AFTER_SECONDS": str(LOST_AFTER_S),
            "MEC_OPERATOR_AGENTS_STATUS_SECONDS": "2",
            "MEC_OPERATOR_RESYNC_SECONDS": "30",  # placement must not wait for a resync
        },
    )
    namespace = f"e2e-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api)
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    scene = Scene(network, api, operator, namespace, ap, hosts, logs=tmp_path)
    scene.set_delays(FIRST_DELAYS)
    try:
        operator.start()
        for host in EDGE_HOSTS:
            _start_agent(scene, host, pki, orchestrator, reflector_address)
        yield scene
    finally:
        try:
            await remove_namespace(scene)
        finally:
            operator.stop()
            try:
                await objects.delete_cluster_custom_object(
                    "kopf.dev", "v1", "clusterkopfpeerings", peering
                )
            except ApiException as error:
                if error.status != 404:
                    raise


class SceneLike(Protocol):
    """What removing a test's namespace needs of a scene (this module's or another e2e test's)."""

    api: client.ApiClient
    namespace: str

    async def wait(
        self, what: str, check: Callable[[], Awaitable[T | None]], within: float = ...
    ) -> T: ...


async def remove_namespace(scene: SceneLike) -> None:
    """Delete the apps while the operator runs (their finalizer), then the namespace; wait."""
    objects = client.CustomObjectsApi(scene.api)
    core = client.CoreV1Api(scene.api)
    listed = await objects.list_namespaced_custom_object(
        GROUP, VERSION, scene.namespace, "edgeapps"
    )
    for app in listed["items"]:
        await objects.delete_namespaced_custom_object(
            GROUP, VERSION, scene.namespace, "edgeapps", app["metadata"]["name"]
        )
    await core.delete_namespace(scene.namespace)

    async def gone() -> bool:
        try:
            await core.read_namespace(scene.namespace)
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    await scene.wait(f"namespace {scene.namespace} deleted", gone, within=180)


async def test_agents_drive_placement(scene: Scene) -> None:
    api, namespace = scene.api, scene.namespace

    # 1. Every agent registers and measures; the operator writes its summary into the EdgeHost.
    for host, one_way in FIRST_DELAYS.items():

        async def summarised(host: str = host, one_way: float = one_way) -> dict[str, Any] | None:
            return _rtt_close(await scene.edge_host(host), one_way)

        status = await scene.wait(f"{host}'s status with the measured RTT", summarised)
        kinds = {c["type"]: c for c in status["conditions"]}
        assert kinds["AgentConnected"]["status"] == "True"
    assert scene.operator.metric("mec_agents_connected") == 3
    assert scene.operator.metric("mec_active_replica") == 1

    # 2. The app lands on the host the measurements favour, not the one distance would.
    await create_app(api, namespace, edge_app("ar", max_ms=BUDGET_MS, idle_seconds=2))
    await scene.wait("instance on edge-b", lambda: scene.placed_on(["edge-b"]))

    async def placed() -> dict[str, Any] | None:
        app = await client.CustomObjectsApi(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, "edgeapps", "ar"
        )
        return app if condition(app, "Placed").get("status") == "True" else None

    app = await scene.wait("Placed condition", placed)
    message = condition(app, "Placed")["message"]
    assert "1/1 access points within 5 ms" in message, message
    assert "estimated" not in message, message

    # 3. The delay line changes: edge-c becomes best, and the instance follows.
    scene.set_delays(SECOND_DELAYS)
    changed = time.monotonic()
    await scene.wait("instance moved to edge-c", lambda: scene.placed_on(["edge-c"]))
    moved_after = time.monotonic() - changed
    placements = [m for r, m in await event_reasons(api, namespace, "ar") if r == "Placed"]
    assert any("added edge-c" in m for m in placements), placements

    # 4. The agent of the serving host dies; once lost, the app is evacuated to edge-b.
    victim = scene.agents["edge-c"]
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    killed = time.monotonic()
    await scene.wait("instance evacuated to edge-b", lambda: scene.placed_on(["edge-b"]))
    evacuated_after = time.monotonic() - killed
    assert evacuated_after >= LOST_AFTER_S - 0.5, "evacuated before the agent could be lost"

    async def evacuation_told() -> list[str]:
        return [m for r, m in await event_reasons(api, namespace, "ar") if r == "Evacuated"]

    told = await scene.wait("Evacuated event", evacuation_told)
    assert "edge-c" in told[0], told

    async def lost_in_status() -> dict[str, Any] | None:
        status = (await scene.edge_host("edge-c")).get("status") or {}
        return status if status.get("agentConnected") is False else None

    lost = await scene.wait("edge-c's agent shown as lost", lost_in_status)
    kinds = {c["type"]: c for c in lost["conditions"]}
    assert (kinds["AgentConnected"]["status"], kinds["AgentConnected"]["reason"]) == (
        "False",
        "HeartbeatTimeout",
    )
    assert scene.operator.metric("mec_agents_lost_total") == 1

    # 5. A live host's status follows the new delay.
    async def edge_b_summary() -> dict[str, Any] | None:
        return _rtt_close(await scene.edge_host("edge-b"), SECOND_DELAYS["edge-b"])

    status = await scene.wait("edge-b's status with the new RTT", edge_b_summary)
    assert status["agentConnected"] is True
    print(  # the timings are worth seeing with -s
        f"moved {moved_after:.1f} s after the delay change, "
        f"evacuated {evacuated_after:.1f} s after the kill"
    )
