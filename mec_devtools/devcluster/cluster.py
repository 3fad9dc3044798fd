"""A real Kubernetes control plane on 127.0.0.1, from cached upstream binaries.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok are started with fresh
certificates.

`up` is idempotent (a healthy running cluster is left as it is), `down` stops every process it
started and verifies that none is left, `status` says what runs and whether it is healthy.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from pathlib import Path

import httpx

from mec_devtools.devcluster import binaries, nodes, pki, processes
from mec_devtools.devcluster.errors import DevClusterError
from mec_devtools.devcluster.settings import DevClusterSettings
from mec_devtools.devcluster.versions import etcd_tool, helm_tool, kubernetes_tool, kwok_tool

Progress = Callable[[str], None]

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def _quiet(_: str) -> None:
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Ports:
    """Loopback ports of one cluster, chosen free at `up` time."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int

    @classmethod
    def pick(cls) -> Ports:
        """Six distinct free ports: the probes stay open until all are chosen.

        Picked one after another, a port just closed can be handed out again, and two
        components then race for it (seen: etcd and the scheduler on one port).
        """
        with contextlib.ExitStack() as probes:
            ports: list[int] = []
            for _ in range(6):
                probe = probes.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                probe.bind(("127.0.0.1", 0))
                ports.append(probe.getsockname()[1])
        return cls(*ports)


@dataclass(frozen=True)
class ClusterInfo:
    """What `up` wrote down: enough for another process to use, check or stop the cluster."""

    state_dir: Path
    ports: Ports
    binaries: dict[str, Path]
    processes: tuple[processes.ProcessRecord, ...]
    edge_host_nodes: tuple[str, ...]
    started_in_seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def pki(self) -> pki.Pki:
        return pki.Pki(self.state_dir / "pki")

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.etcd_client}"

    def env(self) -> dict[str, str]:
        """Environment for kubectl/helm against this cluster (binaries first on PATH)."""
        bin_dirs = sorted({str(p.parent) for p in self.binaries.values()})
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "MEC_DEVCLUSTER_PATH": ":".join(bin_dirs),
        }

    def to_json(self) -> dict[str, object]:
        return {
            "state_dir": str(self.state_dir),
            "ports": self.ports.__dict__,
            "binaries": {k: str(v) for k, v in self.binaries.items()},
            "processes": [p.to_json() for p in self.processes],
            "edge_host_nodes": list(self.edge_host_nodes),
            "started_in_seconds": self.started_in_seconds,
            "timings": self.timings,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ClusterInfo:
        ports = data["ports"]
        bins = data["binaries"]
        procs = data["processes"]
        hosts = data["edge_host_nodes"]
        timings = data.get("timings", {})
        if not (isinstance(ports, dict) and isinstance(bins, dict) and isinstance(timings, dict)):
            raise TypeError("malformed devcluster state: ports, binaries, timings")
        if not (isinstance(procs, list) and isinstance(hosts, list)):
            raise TypeError("malformed devcluster state: processes, edge_host_nodes")
        return cls(
            state_dir=Path(str(data["state_dir"])),
            ports=Ports(**{k: int(v) for k, v in ports.items()}),
            binaries={str(k): Path(str(v)) for k, v in bins.items()},
            processes=tuple(processes.ProcessRecord.from_json(p) for p in procs),
            edge_host_nodes=tuple(str(h) for h in hosts),
            started_in_seconds=float(str(data["started_in_seconds"])),
            timings={str(k): float(v) for k, v in timings.items()},
        )


def admin_ssl_context(info: ClusterInfo) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(info.pki.ca_cert))
    context.load_cert_chain(
        str(info.pki.client_cert(pki.ADMIN)), str(info.pki.client_key(pki.ADMIN))
    )
    return context


def admin_client(info: ClusterInfo, timeout: float = 10.0) -> httpx.Client:
    """An HTTP client authenticated as cluster admin (for the devcluster's own few calls)."""
    return httpx.Client(base_url=info.server, verify=admin_ssl_context(info), timeout=timeout)


def _insecure_context() -> ssl.SSLContext:
    # The controller manager and scheduler serve /healthz with a self-signed certificate.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class DevCluster:
    """The local control plane kept under settings.state_dir."""

    def __init__(
        self, settings: DevClusterSettings | None = None, progress: Progress = _quiet
    ) -> None:
        self.settings = settings or DevClusterSettings()
        self.state_dir = self.settings.state_dir.resolve()
        self.progress = progress

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    def info(self) -> ClusterInfo | None:
        try:
            return ClusterInfo.from_json(json.loads(self.state_file.read_text()))
        except FileNotFoundError:
            return None

    # -- up ---------------------------------------------------------------------------------

    def ensure_binaries(self) -> dict[str, Path]:
        tools = (kubernetes_tool(), etcd_tool(), kwok_tool(), helm_tool())
        return binaries.ensure(tools, self.settings, self.progress)

    def up(self, edge_hosts: list[str] | None = None) -> ClusterInfo:
        existing = self.info()
        if existing is not None:
            if all(processes.is_running(p) for p in existing.processes) and self.healthy(existing):
                self.progress(f"control plane already running at {existing.server}")
                return existing
            self.progress("found a stopped or unhealthy control plane: replacing it")
            self.down()
        bins = self.ensure_binaries()
        started = time.monotonic()
        timings: dict[str, float] = {}
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir)
        self.state_dir.mkdir(parents=True)
        ports = Ports.pick()
        server = f"https://127.0.0.1:{ports.apiserver}"
        keys = pki.generate(self.state_dir / "pki", server)
        shutil.copyfile(keys.kubeconfig(pki.ADMIN), self.state_dir / "kubeconfig")
        records: list[processes.ProcessRecord] = []
        info = ClusterInfo(self.state_dir, ports, bins, (), (), 0.0, timings)
        try:
            records.append(self._start("etcd", self._etcd_argv(bins, ports)))
            self._save(info, records)
            self._wait(lambda: self._etcd_healthy(info), "etcd", records[-1])
            timings["etcd"] = time.monotonic() - started
            records.append(self._start("kube-apiserver", self._apiserver_argv(bins, ports, keys)))
            self._save(info, records)
            self._wait(lambda: self._apiserver_ready(info), "kube-apiserver", records[-1])
            timings["kube-apiserver"] = time.monotonic() - started
            for name, argv in (
                ("kube-controller-manager", self._controller_manager_argv(bins, ports, keys)),
                ("kube-scheduler", self._scheduler_argv(bins, ports, keys)),
                ("kwok", self._kwok_argv(bins, ports, keys)),
            ):
                records.append(self._start(name, argv))
            self._save(info, records)
            for record in records[2:]:
                self._wait(partial(self._component_healthy, info, record.name), record.name, record)
                timings[record.name] = time.monotonic() - started
            names = (
                edge_hosts
                if edge_hosts is not None
                else nodes.default_names(self.settings.edge_hosts)
            )
            with admin_client(info) as client:
                nodes.create_edge_host_nodes(client, names)
                self._wait(
                    lambda: nodes.all_ready(client, names),
                    "kwok (edge-host nodes Ready)",
                    records[-1],
                )
                timings["nodes-ready"] = time.monotonic() - started
                self._wait(
                    lambda: nodes.default_service_account_exists(client),
                    "kube-controller-manager (default service account)",
                    records[2],
                )
                timings["service-account"] = time.monotonic() - started
        except BaseException:
            self._save(info, records)
            self.down()
            raise
        info = ClusterInfo(
            self.state_dir,
            ports,
            bins,
            tuple(records),
            tuple(names),
            time.monotonic() - started,
            timings,
        )
        self.state_file.write_text(json.dumps(info.to_json(), indent=2))
        self.progress(f"control plane ready at {info.server} in {info.started_in_seconds:.1f} s")
        return info

    def _save(self, info: ClusterInfo, records: list[processes.ProcessRecord]) -> None:
        snapshot = ClusterInfo(
            info.state_dir, info.ports, info.binaries, tuple(records), (), 0.0, info.timings
        )
        self.state_file.write_text(json.dumps(snapshot.to_json(), indent=2))

    def _start(self, name: str, argv: list[str]) -> processes.ProcessRecord:
        self.progress(f"starting {name}")
        return processes.start(name, argv, self.state_dir / "logs" / f"{name}.log")

    def _wait(self, check: Callable[[], bool], what: str, record: processes.ProcessRecord) -> None:
        deadline = time.monotonic() + self.settings.start_timeout_seconds
        while time.monotonic() < deadline:
            if not processes.is_running(record):
                raise DevClusterError(
                    f"{record.name} exited while starting; see {record.log}:\n{_tail(record.log)}"
                )
            try:
                if check():
                    return
            except (httpx.HTTPError, OSError, ValueError):
                pass
            time.sleep(0.1)
        raise DevClusterError(
            f"{what} was not ready after {self.settings.start_timeout_seconds:.0f} s;"
            f" see {record.log}:\n"
            f"{_tail(record.log)}"
        )

    # -- command lines ----------------------------------------------------------------------

    def _etcd_argv(self, bins: dict[str, Path], ports: Ports) -> list[str]:
        client = f"http://127.0.0.1:{ports.etcd_client}"
        peer = f"http://127.0.0.1:{ports.etcd_peer}"
        return [
            str(bins["etcd"]),
            "--name=mec-dev",
            f"--data-dir={self.state_dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=mec-dev={peer}",
            "--unsafe-no-fsync=true",  # a throw-away development store: speed over durability
            "--log-level=warn",
        ]

    def _apiserver_argv(self, bins: dict[str, Path], ports: Ports, keys: pki.Pki) -> list[str]:
        return [
            str(bins["kube-apiserver"]),
            f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports.apiserver}",
            f"--cert-dir={self.state_dir / 'apiserver'}",
            f"--tls-cert-file={keys.serving_cert}",
            f"--tls-private-key-file={keys.serving_key}",
            f"--client-ca-file={keys.ca_cert}",
            f"--service-account-key-file={keys.sa_public}",
            f"--service-account-signing-key-file={keys.sa_private}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=Node,RBAC",
            f"--service-cluster-ip-range={pki.SERVICE_CIDR}",
            "--allow-privileged=true",
            # The "kubernetes" Service cannot point at 127.0.0.1 (loopback is refused); nothing
            # in the devcluster needs in-cluster access to the API server through it.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            "--v=1",
        ]

    def _controller_manager_argv(
        self, bins: dict[str, Path], ports: Ports, keys: pki.Pki
    ) -> list[str]:
        kubeconfig = keys.kubeconfig(pki.CONTROLLER_MANAGER)
        return [
            str(bins["kube-controller-manager"]),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports.controller_manager}",
            f"--cert-dir={self.state_dir / 'controller-manager'}",
            f"--service-account-private-key-file={keys.sa_private}",
            f"--root-ca-file={keys.ca_cert}",
            f"--cluster-signing-cert-file={keys.ca_cert}",
            f"--cluster-signing-key-file={keys.ca_key}",
            f"--service-cluster-ip-range={pki.SERVICE_CIDR}",
            "--use-service-account-credentials=true",
            "--leader-elect=false",
            "--controllers=*",
            "--profiling=false",
            "--v=1",
        ]

    def _scheduler_argv(self, bins: dict[str, Path], ports: Ports, keys: pki.Pki) -> list[str]:
        kubeconfig = keys.kubeconfig(pki.SCHEDULER)
        return [
            str(bins["kube-scheduler"]),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports.scheduler}",
            f"--cert-dir={self.state_dir / 'scheduler'}",
            "--leader-elect=false",
            "--profiling=false",
            "--v=1",
        ]

    def _kwok_argv(self, bins: dict[str, Path], ports: Ports, keys: pki.Pki) -> list[str]:
        return [
            str(bins["kwok"]),
            f"--kubeconfig={keys.kubeconfig(pki.KWOK)}",
            f"--config={resources.files('mec_devtools.devcluster') / 'kwok-stages.yaml'}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={nodes.KWOK_ANNOTATION}=fake",
            "--node-lease-duration-seconds=40",
            "--cidr=10.244.0.0/16",
            "--node-ip=10.96.0.1",
            f"--server-address=127.0.0.1:{ports.kwok}",
        ]

    # -- health -----------------------------------------------------------------------------

    def _etcd_healthy(self, info: ClusterInfo) -> bool:
        answer = httpx.get(f"{info.etcd_url}/health", timeout=2.0)
        return answer.status_code == 200 and answer.json().get("health") == "true"

    def _apiserver_ready(self, info: ClusterInfo) -> bool:
        with admin_client(info, timeout=2.0) as client:
            return client.get("/readyz").status_code == 200

    def _component_healthy(self, info: ClusterInfo, name: str) -> bool:
        if name == "kube-controller-manager":
            url = f"https://127.0.0.1:{info.ports.controller_manager}/healthz"
        elif name == "kube-scheduler":
            url = f"https://127.0.0.1:{info.ports.scheduler}/healthz"
        elif name == "kwok":
            url = f"http://127.0.0.1:{info.ports.kwok}/healthz"
        elif name == "etcd":
            return self._etcd_healthy(info)
        elif name == "kube-apiserver":
            return self._apiserver_ready(info)
        else:
            raise ValueError(name)
        return httpx.get(url, verify=_insecure_context(), timeout=2.0).status_code == 200

    def component_health(self, info: ClusterInfo) -> dict[str, str]:
        """Per component: 'healthy', 'unhealthy' (running, not answering) or 'stopped'."""
        report: dict[str, str] = {}
        for record in info.processes:
            if not processes.is_running(record):
                report[record.name] = "stopped"
                continue
            try:
                ok = self._component_healthy(info, record.name)
            except (httpx.HTTPError, OSError):
                ok = False
            report[record.name] = "healthy" if ok else "unhealthy"
        return report

    def healthy(self, info: ClusterInfo) -> bool:
        report = self.component_health(info)
        return set(report) == set(COMPONENTS) and all(v == "healthy" for v in report.values())

    # -- down -------------------------------------------------------------------------------

    def down(self) -> list[str]:
        """Stop every recorded process (last started first); return the names stopped."""
        info = self.info()
        if info is None:
            return []
        stopped = [r.name for r in reversed(info.processes) if processes.stop(r)]
        left = [r.name for r in info.processes if processes.is_running(r)]
        if left:
            raise DevClusterError(f"could not stop {', '.join(left)}")
        self.state_file.unlink(missing_ok=True)
        return stopped


def _tail(log: str, lines: int = 20) -> str:
    try:
        return "".join(Path(log).read_text(errors="replace").splitlines(keepends=True)[-lines:])
    except FileNotFoundError:
        return "(no log)"
