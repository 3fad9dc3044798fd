"""The in-process world of the users' benchmark: an operator state fed as the watches would
feed it, a users' directory over it, and the agents (a real gRPC agent or a stand-in).

The state holds the topology's hosts (node, EdgeHost, a ready instance Deployment and the
agent's report of one registered instance each), Zones naming every access point with a
cell id, one EdgeApp without user context, and the topology's RTTs as samples in the
placement engine. Nodes and EdgeHosts are written into the cluster view directly and the
engine synchronised once: fed one event at a time through `OperatorState.node_seen`, every
event recomputes the view of all hosts, which makes a 3,233-host start cubic (the benchmark
measures one such event separately, `host_event_ms`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.placement_topology import Topology
from edge_host_agent.mp1.models import AppInfo
from edge_host_agent.mp1.registry import AppInstanceRegistry
from edge_host_agent.server import AgentGrpcServer
from edge_host_agent.sessions import HostInstances, SessionTable
from edge_host_agent.settings import AgentSettings
from mec_devtools.sim.topology import melbourne_sites
from mec_orchestrator.adapters.agent_link import ReportedInstance
from mec_orchestrator.adapters.agent_link.commands import AgentSessions
from mec_orchestrator.adapters.callbacks import CallbackDelivery
from mec_orchestrator.adapters.kube.connection import Connection
from mec_orchestrator.model import EdgeHost
from mec_orchestrator.operator.cluster_view import node_facts
from mec_orchestrator.operator.settings import OperatorSettings
from mec_orchestrator.operator.state import OperatorState
from mec_orchestrator.operator.users import AttachRequest, UserDirectory, instance_id_of

NAMESPACE = "city"
APP = "ar"
ZONE_SIZE = 256  # access points per Zone (the CRD's limit)
T0 = 1_000.0
"""The directory's monotonic clock, frozen: the RTT samples (taken at T0) stay trusted for the
whole run, as agents that keep probing would keep them."""
MELBOURNE = (-37.8136, 144.9631)
KM_PER_DEG = 111.0


@dataclass
class RecordingAgents:
    """SessionService as an agent applies it, in memory: no RPC (the orchestrator's own cost)."""

    keep: bool = True
    """False: count the calls only (the memory figure is the orchestrator's, not the agents')."""
    sessions: dict[tuple[str, str], dict[str, bytes]] = field(default_factory=dict)
    admits: int = 0
    releases: int = 0

    async def admit(self, endpoint: str, instance: str, user: str, record: bytes) -> int:
        self.admits += 1
        if not self.keep:
            return 1
        users = self.sessions.setdefault((endpoint, instance), {})
        users[user] = record
        return len(users)

    async def release(self, endpoint: str, instance: str, user: str, redirect: str | None) -> bool:
        self.releases += 1
        return self.sessions.get((endpoint, instance), {}).pop(user, None) is not None

    async def close(self) -> None:
        return None


def cell_of(index: int) -> str:
    """The 28-bit cell id (7 hex digits) of the access point with this index."""
    return f"{0x1A00000 + index:07x}"


def reference_uri(host: str) -> str:
    return f"http://{host}.pods:8080"


def edge_app(hysteresis_ms: float, budget_ms: float) -> dict[str, Any]:
    return {
        "apiVersion": "mec.dev/v1alpha1",
        "kind": "EdgeApp",
        "metadata": {"name": APP, "namespace": NAMESPACE, "uid": "u-ar", "generation": 1},
        "spec": {
            "appDId": "ar-d",
            "appName": APP,
            "appProvider": NAMESPACE,
            "appSoftVersion": "1.0",
            "latency": {"maxMs": budget_ms},
            "mobility": {
                "contextTransfer": "None",
                "hysteresisMs": hysteresis_ms,
                "minDwellSeconds": 0,
            },
            "template": {"spec": {"containers": [{"name": APP, "image": "ar:1"}]}},
        },
    }


def node(host: str) -> dict[str, Any]:
    return {
        "metadata": {"name": host, "labels": {"mec.dev/edge-host": host}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def edge_host(host: str, lat: float, lon: float) -> dict[str, Any]:
    return {
        "apiVersion": "mec.dev/v1alpha1",
        "kind": "EdgeHost",
        "metadata": {"name": host},
        "spec": {
            "nodeSelector": {"mec.dev/edge-host": host},
            "location": {"latitude": lat, "longitude": lon},
            "agentEndpoint": f"{host}.agents:50061",
        },
    }


def deployment(host: str) -> dict[str, Any]:
    return {
        "metadata": {
            "uid": f"d-{host}",
            "name": f"{APP}-{host}",
            "namespace": NAMESPACE,
            "resourceVersion": "10",
            "generation": 1,
            "labels": {"mec.dev/app": APP, "mec.dev/edge-host": host},
        },
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1,
        },
    }


def reported(host: str) -> ReportedInstance:
    return ReportedInstance(
        app_instance_id=instance_id_of(NAMESPACE, f"{APP}-{host}"),
        app_name=APP,
        endpoint=reference_uri(host),
        user_context_endpoint=None,
        ready=True,
    )


def site_locations(topology: Topology, seed: int) -> dict[str, tuple[float, float]]:
    """Latitude and longitude of every access point (and host: every host is a site).

    The synthetic city's sites are redrawn exactly as `synthetic_city` draws them (same seed,
    same order of draws), in km on 60 x 60, and laid around Melbourne; Melbourne's are real.
    Placement here uses the measured RTTs only: the locations are what the EdgeHosts and
    Zones must carry, and what `app_list` would show.
    """
    if topology.name.startswith("melbourne"):
        return {f"site-{s.site_id}": (s.latitude, s.longitude) for s in melbourne_sites()}
    sites = len(topology.access_points)
    rng = np.random.default_rng(seed)
    clusters = 40
    centres = rng.uniform(5.0, 55.0, (clusters, 2))
    spread = rng.uniform(0.5, 3.0, clusters)
    clustered = int(sites * 0.85)
    which = rng.integers(0, clusters, clustered)
    points = np.concatenate(
        [
            centres[which] + rng.normal(0.0, 1.0, (clustered, 2)) * spread[which, None],
            rng.uniform(0.0, 60.0, (sites - clustered, 2)),
        ]
    )
    lat0, lon0 = MELBOURNE
    per_deg_lon = KM_PER_DEG * math.cos(math.radians(lat0))
    return {
        name: (lat0 + (float(y) - 30.0) / KM_PER_DEG, lon0 + (float(x) - 30.0) / per_deg_lon)
        for name, (x, y) in zip(topology.access_points, points, strict=True)
    }


@dataclass
class World:
    """The state, the directory and what the benchmark needs to drive them."""

    topology: Topology
    state: OperatorState
    directory: UserDirectory
    hosts: list[str]
    cells: dict[str, str]  # access point -> cell id
    best: dict[str, str]  # access point -> its nearest host (true RTT)
    build_s: float
    host_event_ms: float

    def rtt(self, access_point: str, host: str) -> float | None:
        return self.topology.latency[access_point].get(host)

    def request(self, address: str, callback: str | None) -> AttachRequest:
        return AttachRequest(
            namespace=NAMESPACE,
            owner="anonymous",
            associate_dev_app_id="dev-app-1",
            callback_reference=callback,
            app_location_updates=False,
            device_address=address,
            app_d_id=None,
            app_name=APP,
            app_provider=NAMESPACE,
            app_soft_version=None,
        )


def device_address(index: int) -> str:
    """A distinct IPv4 address in the mobile network for each device (10.64.0.0/10)."""
    return f"10.{64 + (index >> 16)}.{(index >> 8) & 255}.{index & 255}"


def build_world(
    topology: Topology,
    agents: AgentSessions | RecordingAgents,
    agent_endpoint: Callable[[str], str | None],
    notifier: CallbackDelivery | None,
    seed: int,
    *,
    hysteresis_ms: float,
    budget_ms: float,
) -> World:
    """The operator's state over the topology, and its users' directory (see module)."""
    started = time.perf_counter()
    state = OperatorState(
        OperatorSettings(standalone=True), Connection(server="https://127.0.0.1:1", ca_path=None)
    )
    hosts = sorted(topology.capacity)
    where = site_locations(topology, seed)
    view = state.view
    for host in hosts:
        facts = node_facts(node(host))
        assert facts is not None
        view.nodes[host] = facts
        view.edge_hosts[host] = EdgeHost.model_validate(edge_host(host, *where[host]))
    state.sync_engine_hosts()
    cells = {ap: cell_of(i) for i, ap in enumerate(topology.access_points)}
    for start in range(0, len(topology.access_points), ZONE_SIZE):
        chunk = topology.access_points[start : start + ZONE_SIZE]
        name = f"zone-{start // ZONE_SIZE:02}"
        zone = {
            "metadata": {"name": name},
            "spec": {
                "accessPoints": [
                    {
                        "id": ap,
                        "cellId": cells[ap],
                        "location": {"latitude": where[ap][0], "longitude": where[ap][1]},
                        "probeReflector": f"{ap}.reflectors:8620",
                    }
                    for ap in chunk
                ]
            },
        }
        state.zone_seen(name, zone)
    state.app_seen((NAMESPACE, APP), edge_app(hysteresis_ms, budget_ms))
    engine = state.engine
    for ap, row in topology.latency.items():
        for host, rtt in row.items():
            engine.record_latency(ap, host, rtt, T0)
    directory = UserDirectory(
        state,
        agents,  # type: ignore[arg-type]  # the stand-in has AgentSessions' two calls
        agent_endpoint,
        notifier,
        monotonic=lambda: T0,
    )
    state.users = directory
    for host in hosts:
        view.update_instance(f"d-{host}", deployment(host))
        state.instances_reported(host, (reported(host),))
    build_s = time.perf_counter() - started
    # One EdgeHost event as the watch delivers it (a status write of one agent): its cost.
    t0 = time.perf_counter()
    state.edge_host_seen(hosts[0], edge_host(hosts[0], *where[hosts[0]]))
    host_event_ms = (time.perf_counter() - t0) * 1e3
    best = {ap: min(row, key=row.__getitem__) for ap, row in topology.latency.items()}
    return World(topology, state, directory, hosts, cells, best, build_s, host_event_ms)


class RealAgent:
    """One real agent gRPC server (plaintext, 127.0.0.1) holding one instance per host."""

    def __init__(self, hosts: list[str]) -> None:
        registry = AppInstanceRegistry()
        for host in hosts:
            info = AppInfo.model_validate(
                {
                    "appName": APP,
                    "appInstanceId": instance_id_of(NAMESPACE, f"{APP}-{host}"),
                    "endpoint": {"uris": [reference_uri(host)]},
                }
            )
            registry.register(info)
            registry.confirm_ready(info.app_instance_id or "")
        self.sessions = SessionTable()
        self.host = HostInstances(registry, self.sessions)
        settings = AgentSettings(host_name="bench-agent", listen="127.0.0.1:0", insecure=True)
        self.server = AgentGrpcServer(settings, self.host)
        self.endpoint = ""

    async def start(self) -> str:
        port = await self.server.start()
        self.endpoint = f"127.0.0.1:{port}"
        return self.endpoint

    async def stop(self) -> None:
        await self.server.stop(0)
