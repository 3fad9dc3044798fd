"""The demo's emulated world: every real process of the story, joined by the delay line.

Why it exists: the full demo and its building-block test need the same world the end-to-end
tests build (edge hosts and access points as network namespaces, a probe reflector per access
point, real edge-host agents with mTLS certificates, the emulated RNIS, the emulated runtime
running the app's pods, the orchestrator with its agents' server and live view, devices in
namespaces of their own) without importing test code. `DemoWorld` owns all of it and removes
all of it on exit.

Delays are one way, per (access point, host) pair, set on the delay line; a device attached
behind an access point takes that access point's delays plus the radio hop
(`mec_devtools.sim.ue_attach`). A host's degradation adds to its links and every device is
attached again so it takes the new delays at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from kubernetes_asyncio import client, config

from mec_common.tls import AgentPki, write_agent_pki
from mec_devtools.devcluster.cluster import ClusterInfo, free_port
from mec_devtools.launch import operator_command, wait_until_ready
from mec_devtools.runtime import EmulatedRuntime
from mec_devtools.sim.network import Network, Node
from mec_devtools.sim.ue_attach import attach

REFLECTOR_PORT = 8620
AGENT_PORT = 50061
MP1_PORT = 8090
CALLBACK_PORT = 9000
GROUP, VERSION = "mec.dev", "v1alpha1"


class WorldError(RuntimeError):
    """A process of the world did not start, or the world was asked something it cannot do."""


@dataclass(frozen=True)
class Site:
    """A place of the world: an edge host or an access point (with its radio cell)."""

    name: str
    latitude: float
    longitude: float
    cell_id: str = ""


@dataclass(frozen=True)
class WorldSettings:
    """How the world is sized: chosen so that two cores keep up (docs/demo.md)."""

    namespace: str = "default"
    probe_rate_hz: float = 1.0
    radio_one_way_ms: float = 1.0
    device_rate_hz: float = 5.0
    agent_lost_after_s: float = 5.0
    heartbeat_s: float = 1.0
    network_prefix: str = "demo"
    seed: int = 2026


@dataclass
class Device:
    """One emulated device: its namespace, its process, where it is attached, its records."""

    name: str
    node: Node
    records: Path
    access_point: str
    process: subprocess.Popen[bytes] | None = None
    reference_uri: str = ""


@dataclass
class DemoWorld:
    """The world of one demo run (an async context manager; see the module docstring)."""

    info: ClusterInfo
    hosts: Mapping[str, Site]
    access_points: Mapping[str, Site]
    one_way_ms: Callable[[Site, Site], float]
    workdir: Path
    settings: WorldSettings = field(default_factory=WorldSettings)
    net: Network = field(init=False)
    api: client.ApiClient = field(init=False)
    host_nodes: dict[str, Node] = field(default_factory=dict)
    ap_nodes: dict[str, Node] = field(default_factory=dict)
    reflectors: dict[str, str] = field(default_factory=dict)
    devices: dict[str, Device] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    extra_ms: dict[str, float] = field(default_factory=dict)
    rnis: str = ""
    http_port: int = 0
    agents_at: str = ""
    operator: subprocess.Popen[bytes] | None = None
    runtime: EmulatedRuntime | None = None
    pki: AgentPki | None = None

    def __post_init__(self) -> None:
        if not self.hosts:
            raise WorldError("the world needs at least one edge host")
        if not self.access_points:
            raise WorldError("the world needs at least one access point")
        for ap in self.access_points.values():
            if not ap.cell_id:
                raise WorldError(f"access point {ap.name} has no cell id")
        self.logs = self.workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    # -- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> DemoWorld:
        self.net = Network(name_prefix=self.settings.network_prefix, seed=self.settings.seed)
        self.net.start()
        configuration = client.Configuration()
        await config.load_kube_config(
            config_file=str(self.info.kubeconfig), client_configuration=configuration
        )
        self.api = client.ApiClient(configuration)
        try:
            self._build_network()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop every process of the world (devices first), then remove the network."""
        for device in self.devices.values():
            _stop(device.process)
        if self.runtime is not None:
            with contextlib.suppress(Exception):
                await self.runtime.stop()
        for process in self.procs.values():
            _stop(process)
        _stop(self.operator)
        with contextlib.suppress(Exception):
            await self.api.close()
        self.net.close(raise_errors=False)

    def _build_network(self) -> None:
        for i, host in enumerate(sorted(self.hosts)):
            self.host_nodes[host] = self.net.add_node(f"h{i}")
        for i, ap in enumerate(sorted(self.access_points)):
            node = self.net.add_node(f"ap{i}")
            self.ap_nodes[ap] = node
            self.net.set_delay(node, self.net.root, 0.0)
        self._set_ap_delays()

    def _set_ap_delays(self) -> None:
        for ap, node in self.ap_nodes.items():
            for host, host_node in self.host_nodes.items():
                self.net.set_delay(node, host_node, self.delay_ms(ap, host))

    def delay_ms(self, ap: str, host: str) -> float:
        """The one-way delay the delay line gives (access point, host) now."""
        base = self.one_way_ms(self.access_points[ap], self.hosts[host])
        return round(base + self.extra_ms.get(host, 0.0), 3)

    # -- processes -----------------------------------------------------------------------
    def _start(self, name: str, node: Node | None, argv: list[str]) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "GRPC_VERBOSITY": "ERROR"}
        with (self.logs / f"{name}.log").open("wb") as log:
            if node is None:
                process = subprocess.Popen(
                    argv, stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True
                )
            else:
                process = self.net.popen(node, argv, stdout=subprocess.PIPE, stderr=log, env=env)
        self.procs[name] = process
        return process

    def start_reflectors(self) -> None:
        """One TWAMP-light reflector per access point, in the access point's namespace."""
        started = {}
        for ap, node in self.ap_nodes.items():
            argv = [sys.executable, "-m", "edge_host_agent", "reflector"]
            argv += ["--listen", f"0.0.0.0:{REFLECTOR_PORT}"]
            started[ap] = self._start(f"reflector-{node.name}", node, argv)
        for ap, process in started.items():
            _json_line(process, f"the reflector of {ap}")
            self.reflectors[ap] = f"{self.ap_nodes[ap].ip}:{REFLECTOR_PORT}"

    def start_rnis(self) -> None:
        argv = [sys.executable, "-m", "mec_devtools.rnis", "--listen", "127.0.0.1:0"]
        process = self._start("rnis", None, argv)
        self.rnis = f"http://{_json_line(process, 'the RNIS')['listening']}"

    def start_operator(self, *, live_view: bool = True) -> int:
        """The orchestrator with its agents' server, REST API, RNIS link and live view."""
        self.pki = write_agent_pki(
            self.workdir / "pki",
            tuple(sorted(self.hosts)),
            orchestrator_ips=("127.0.0.1", self.net.gateway),
        )
        self.http_port = free_port()
        self.agents_at = f"{self.net.gateway}:{free_port()}"
        env = {
            **os.environ,
            "MEC_OPERATOR_AGENTS_LISTEN": self.agents_at,
            "MEC_OPERATOR_AGENTS_CA_CERT": str(self.pki.orchestrator.ca_cert),
            "MEC_OPERATOR_AGENTS_CERT": str(self.pki.orchestrator.cert),
            "MEC_OPERATOR_AGENTS_KEY": str(self.pki.orchestrator.key),
            "MEC_OPERATOR_AGENTS_SERVER_NAME": "localhost",
            "MEC_OPERATOR_AGENTS_HEARTBEAT_SECONDS": str(self.settings.heartbeat_s),
            "MEC_OPERATOR_AGENT_LOST_AFTER_SECONDS": str(self.settings.agent_lost_after_s),
            "MEC_OPERATOR_MP1_PORT": str(MP1_PORT),
            "MEC_OPERATOR_RNIS_URL": f"{self.rnis}/rni/v2",
            "MEC_OPERATOR_RNIS_CALLBACK_URI": f"http://127.0.0.1:{self.http_port}",
            "MEC_OPERATOR_RNIS_CHECK_SECONDS": "2",
            "MEC_OPERATOR_RESYNC_SECONDS": "30",
            "MEC_OPERATOR_LIVE_VIEW": "true" if live_view else "false",
            "MEC_API_AUTH": "none",
            "MEC_API_DEFAULT_NAMESPACE": self.settings.namespace,
        }
        log = self.logs / "operator.log"
        argv = operator_command(self.info.kubeconfig, self.http_port, standalone=True)
        with log.open("ab") as sink:
            self.operator = subprocess.Popen(
                argv, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        if not wait_until_ready(self.http_port, timeout=60, process=self.operator):
            raise WorldError(f"the orchestrator did not start; see {log}")
        return self.http_port

    def start_agent(self, host: str) -> None:
        """The host's agent in the host's namespace, probing every access point's reflector."""
        if self.pki is None:
            raise WorldError("start the orchestrator (and its PKI) before the agents")
        files = self.pki.edge_host(host)
        node = self.host_nodes[host]
        argv = [sys.executable, "-m", "edge_host_agent", "run", "--host", host]
        argv += ["--orchestrator", self.agents_at, "--orchestrator-server-name", "localhost"]
        argv += ["--ca-cert", str(files.ca_cert), "--cert", str(files.cert)]
        argv += ["--key", str(files.key), "--listen", f"0.0.0.0:{AGENT_PORT}"]
        argv += ["--advertise", f"{node.ip}:{AGENT_PORT}", "--mp1-listen", f"0.0.0.0:{MP1_PORT}"]
        argv += ["--probe-rate", str(self.settings.probe_rate_hz)]
        argv += ["--state-dir", str(self.workdir / f"state-{host}")]
        argv += ["--peer-server-name", "localhost", "--backoff-initial", "0.2"]
        argv += ["--backoff-max", "1"]
        for ap, reflector in sorted(self.reflectors.items()):
            argv += ["--access-point", f"{ap}={reflector}"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "GRPC_VERBOSITY": "ERROR"}
        with (self.logs / f"agent-{host}.log").open("ab") as log:
            self.procs[f"agent-{host}"] = self.net.popen(
                node, argv, stdout=log, stderr=subprocess.STDOUT, env=env
            )

    def kill_agent(self, host: str) -> None:
        """`kill -9` of the host's agent (its instances keep running, unsupervised)."""
        process = self.procs.get(f"agent-{host}")
        if process is None or process.poll() is not None:
            raise WorldError(f"no agent of {host} is running")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    async def start_runtime(self) -> None:
        self.runtime = EmulatedRuntime(
            network=self.net, nodes=self.host_nodes, log_dir=self.logs / "pods", api=self.api
        )
        await self.runtime.start()

    # -- the network's state -------------------------------------------------------------
    def degrade(self, host: str, extra_one_way_ms: float) -> None:
        """Add to every link of the host's backhaul (0 restores it); devices follow at once."""
        if host not in self.hosts:
            raise WorldError(f"no host {host}")
        self.extra_ms[host] = extra_one_way_ms
        for ap, node in self.ap_nodes.items():
            self.net.set_delay(node, self.host_nodes[host], self.delay_ms(ap, host))
        for device in self.devices.values():
            self._attach(device, device.access_point)

    def _attach(self, device: Device, ap: str) -> None:
        attach(
            self.net,
            device.node,
            self.ap_nodes[ap],
            self.host_nodes.values(),
            radio_one_way_ms=self.settings.radio_one_way_ms,
        )
        device.access_point = ap

    # -- devices -------------------------------------------------------------------------
    def add_device(self, name: str, ap: str) -> Device:
        if ap not in self.ap_nodes:
            raise WorldError(f"device {name}: no access point {ap} in the world")
        node = self.net.add_node(name)
        device = Device(name, node, self.logs / f"{name}.jsonl", ap)
        self.net.set_delay(node, self.net.root, 0.0)
        self._attach(device, ap)
        self.devices[name] = device
        return device

    async def rnis_place(self, device: Device) -> None:
        """Tell the RNIS which cell serves the device (before it attaches over MEC 016)."""
        cell = self.access_points[device.access_point].cell_id
        async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
            answer = await http.put(
                f"{self.rnis}/control/ues/{device.node.ip}", json={"cell": cell}
            )
        if answer.status_code not in (200, 201):
            raise WorldError(f"RNIS refused {device.name}: {answer.text}")

    def start_device(self, device: Device, app: Mapping[str, str]) -> subprocess.Popen[bytes]:
        """The device's MEC 016 client in its namespace (read its start with `device_started`)."""
        orchestrator = f"http://{self.net.gateway}:{self.http_port}"
        argv = [sys.executable, "-m", "mec_devtools.ue", "--orchestrator", orchestrator]
        argv += ["--app-name", app["appName"], "--app-provider", app["appProvider"]]
        argv += ["--app-d-id", app["appDId"], "--app-soft-version", app["appSoftVersion"]]
        argv += ["--device-id", device.name, "--rate", str(self.settings.device_rate_hz)]
        argv += ["--records", str(device.records)]
        argv += ["--callback-listen", f"0.0.0.0:{CALLBACK_PORT}", "--callback-host"]
        argv += [device.node.ip, "--create-timeout", "90"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with (self.logs / f"{device.name}.log").open("wb") as log:
            device.process = self.net.popen(
                device.node, argv, stdout=subprocess.PIPE, stderr=log, env=env
            )
        return device.process

    def device_started(self, device: Device, within: float = 100.0) -> str:
        if device.process is None:
            raise WorldError(f"{device.name} was not started")
        started = _json_line(device.process, device.name, within=within)
        if started.get("event") != "started":
            raise WorldError(f"{device.name}: {started}")
        device.reference_uri = str(started["referenceURI"])
        return device.reference_uri

    async def move(self, device: Device, ap: str) -> dict[str, Any]:
        """The device crosses into ap's cell: its paths change, the RNIS tells the handover."""
        self._attach(device, ap)
        cell = self.access_points[ap].cell_id
        async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
            answer = await http.post(
                f"{self.rnis}/control/ues/{device.node.ip}/handover",
                json={"targetCell": cell, "radioHandoverMs": 20, "outcome": "COMPLETED"},
            )
        if answer.status_code != 200:
            raise WorldError(f"RNIS handover of {device.name} refused: {answer.text}")
        body: dict[str, Any] = answer.json()
        return body

    def stop_devices(self) -> None:
        """SIGTERM: each device deletes its app context and closes its records."""
        for device in self.devices.values():
            if device.process is not None and device.process.poll() is None:
                device.process.send_signal(signal.SIGTERM)
        for device in self.devices.values():
            if device.process is not None:
                try:
                    device.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    _stop(device.process)

    # -- the cluster's objects -----------------------------------------------------------
    def edge_host(self, host: str, capacity_users: int = 500) -> dict[str, Any]:
        site = self.hosts[host]
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "EdgeHost",
            "metadata": {"name": host},
            "spec": {
                "nodeSelector": {"mec.dev/edge-host": host},
                "location": {"latitude": site.latitude, "longitude": site.longitude},
                "capacity": {"instances": 20, "users": capacity_users},
                "agentEndpoint": f"{self.host_nodes[host].ip}:{AGENT_PORT}",
            },
        }

    def zone(self, name: str) -> dict[str, Any]:
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Zone",
            "metadata": {"name": name},
            "spec": {
                "description": "the demo's access points (EUA Melbourne CBD sites)",
                "accessPoints": [
                    {
                        "id": ap,
                        "cellId": site.cell_id,
                        "location": {"latitude": site.latitude, "longitude": site.longitude},
                        "connectionType": "LTE",
                        "probeReflector": self.reflectors[ap],
                    }
                    for ap, site in sorted(self.access_points.items())
                ],
            },
        }

    async def pod_hosts(self) -> dict[str, str]:
        """Pod IP -> edge host of every pod the runtime runs (to name a device's instance)."""
        if self.runtime is None:
            return {}
        core = client.CoreV1Api(self.api)
        pods = await core.list_namespaced_pod(self.settings.namespace)
        found = {}
        for pod in pods.items:
            if pod.status and pod.status.pod_ip and pod.spec and pod.spec.node_name:
                found[pod.status.pod_ip] = pod.spec.node_name
        return found


def _json_line(process: subprocess.Popen[bytes], what: str, within: float = 60.0) -> Any:
    if process.stdout is None:
        raise WorldError(f"{what}: no stdout to read")
    ready, _, _ = select.select([process.stdout], [], [], within)
    if not ready:
        raise WorldError(f"{what} did not start within {within:.0f} s")
    line = process.stdout.readline()
    if not line:
        raise WorldError(f"{what} exited before it started")
    return json.loads(line)


async def json_line(process: subprocess.Popen[bytes], what: str, within: float = 60.0) -> Any:
    """The process's first stdout line as JSON, without blocking the event loop."""
    return await asyncio.to_thread(_json_line, process, what, within)


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
