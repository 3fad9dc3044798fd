"""A real Kubernetes control plane on 127.0.0.1, from cached upstream binaries.

The datastore (etcd, or kine over SQLite: k3s's), kube-apiserver, kube-controller-manager,
kube-scheduler and kwok are started with fresh certificates.

`up` is idempotent (a healthy running cluster is left as it is), `down` stops every process it
started and verifies that none is left, `status` says what runs and whether it is healthy.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from importlib import resources
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mec_devtools.devcluster import binaries, nodes, pki, processes
from mec_devtools.devcluster.errors import DevClusterError
from mec_devtools.devcluster.settings import Datastore, DevClusterSettings
from mec_devtools.devcluster.versions import (
    GoTool,
    etcd_tool,
    helm_tool,
    kine_tool,
    kubernetes_tool,
    kwok_tool,
)

Progress = Callable[[str], None]

CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
COMPONENTS = ("etcd", *CONTROL_PLANE)  # with the default datastore
DATASTORE_VARIABLE = "MEC_DEVCLUSTER_DATASTORE"


def components(datastore: Datastore) -> tuple[str, ...]:
    """The processes of a cluster on that datastore, in start order.

    The datastore's process is named after it: `etcd` or `kine`.
    """
    return (datastore, *CONTROL_PLANE)


def datastore_tool(datastore: Datastore) -> GoTool:
    return kine_tool() if datastore == "kine" else etcd_tool()


# kine's own defaults for SQLite (pkg/drivers/sqlite DefaultParams): what k3s runs with.
KINE_SQLITE_PARAMS = (
    "_journal_mode=WAL&_busy_timeout=30000&_synchronous=NORMAL&_txlock=immediate"
    "&_stmt_cache_size=20&cache=shared"
)


def _quiet(_: str) -> None:
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Ports:
    """Loopback ports of one cluster, chosen free at `up` time.

    `etcd_client` is where the datastore serves the etcd API, etcd's or kine's; `etcd_peer` is
    used by etcd only.
    """

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
    datastore: Datastore = "etcd"

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
        """Where the datastore (etcd or kine) serves the etcd API; kube-apiserver's store."""
        return f"http://127.0.0.1:{self.ports.etcd_client}"

    @property
    def kine_database(self) -> Path:
        """The SQLite file of kine (only when the datastore is kine)."""
        return self.state_dir / "kine" / "state.db"

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
            "datastore": self.datastore,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ClusterInfo:
        ports = data["ports"]
        bins = data["binaries"]
        procs = data["processes"]
        hosts = data["edge_host_nodes"]
        timings = data.get("timings", {})
        datastore = data.get("datastore", "etcd")  # written before kine was a choice: etcd
        if datastore not in ("etcd", "kine"):
            raise TypeError(f"malformed devcluster state: datastore {datastore!r}")
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
            datastore="kine" if datastore == "kine" else "etcd",
        )


def admin_ssl_context(info: ClusterInfo) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(info.pki.ca_cert))
    context.load_cert_chain(
        str(info.pki.client_cert(pki.ADMIN)), str(info.pki.client_key(pki.ADMIN))
    )
    return context


def admin_client(info: ClusterInfo, timeout: float | None = 10.0) -> httpx.Client:
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

    @classmethod
    def preferring(cls, datastore: Datastore, progress: Progress = _quiet) -> DevCluster:
        """The environment's cluster, started on `datastore` unless something says otherwise.

        The environment's MEC_DEVCLUSTER_DATASTORE wins; so does a cluster already running in
        the state directory, which is kept whatever its datastore (as `up` keeps a running
        cluster). The demo prefers kine this way; everything else defaults to etcd.
        """
        settings = DevClusterSettings()
        if any(name.upper() == DATASTORE_VARIABLE for name in os.environ):
            return cls(settings, progress)
        running = cls(settings).info()
        if running is not None and all(processes.is_running(p) for p in running.processes):
            datastore = running.datastore
        return cls(settings.model_copy(update={"datastore": datastore}), progress)

    @property
    def datastore(self) -> Datastore:
        return self.settings.datastore

    def ensure_binaries(self) -> dict[str, Path]:
        tools = (kubernetes_tool(), datastore_tool(self.datastore), kwok_tool(), helm_tool())
        return binaries.ensure(tools, self.settings, self.progress)

    def up(self, edge_hosts: list[str] | None = None) -> ClusterInfo:
        existing = self.info()
        if existing is not None:
            running = all(processes.is_running(p) for p in existing.processes)
            if running and self.healthy(existing):
                if existing.datastore != self.datastore:
                    raise DevClusterError(
                        f"a control plane on {existing.datastore} is already running in "
                        f"{self.state_dir}, not one on {self.datastore}: stop it first "
                        f"(mec-orchestrator devcluster down), or start the {self.datastore} one "
                        "in another state directory (MEC_DEVCLUSTER_STATE_DIR)"
                    )
                self.progress(
                    f"control plane ({existing.datastore}) already running at {existing.server}"
                )
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
        info = ClusterInfo(
            self.state_dir, ports, bins, (), (), 0.0, timings, datastore=self.datastore
        )
        try:
            store = self.datastore
            records.append(self._start(store, self._datastore_argv(bins, ports)))
            self._save(info, records)
            self._wait(partial(self._component_healthy, info, store), store, records[-1])
            timings[store] = time.monotonic() - started
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
            datastore=self.datastore,
        )
        self.state_file.write_text(json.dumps(info.to_json(), indent=2))
        self.progress(
            f"control plane ({self.datastore}) ready at {info.server}"
            f" in {info.started_in_seconds:.1f} s"
        )
        return info

    def _save(self, info: ClusterInfo, records: list[processes.ProcessRecord]) -> None:
        snapshot = replace(info, processes=tuple(records), edge_host_nodes=(), started_in_seconds=0)
        self.state_file.write_text(json.dumps(snapshot.to_json(), indent=2))

    def restart(self, *names: str) -> ClusterInfo:
        """Stop the named components and start them again with the same ports and data.

        They are stopped last named first, started in order with their recorded command lines,
        and each is waited for until healthy.

        E.g. `restart("kine", "kube-apiserver")`: what survives lives in kine's SQLite file.
        """
        info = self.info()
        if info is None:
            raise DevClusterError(f"no control plane is running in {self.state_dir}")
        by_name = {record.name: record for record in info.processes}
        unknown = [name for name in names if name not in by_name]
        if unknown:
            raise DevClusterError(
                f"no component {', '.join(unknown)} in this cluster (it has: {', '.join(by_name)})"
            )
        for name in reversed(names):
            processes.stop(by_name[name])
        for name in names:
            old = by_name[name]
            by_name[name] = self._start(name, list(old.argv))
            info = replace(info, processes=tuple(by_name.values()))
            self.state_file.write_text(json.dumps(info.to_json(), indent=2))
            self._wait(partial(self._component_healthy, info, name), name, by_name[name])
        return info

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
            except (httpx.HTTPError, OSError, ValueError, grpc.RpcError):
                pass
            time.sleep(0.1)
        raise DevClusterError(
            f"{what} was not ready after {self.settings.start_timeout_seconds:.0f} s;"
            f" see {record.log}:\n"
            f"{_tail(record.log)}"
        )

    # -- command lines ----------------------------------------------------------------------

    def _datastore_argv(self, bins: dict[str, Path], ports: Ports) -> list[str]:
        if self.datastore == "kine":
            return self._kine_argv(bins, ports)
        return self._etcd_argv(bins, ports)

    def _kine_argv(self, bins: dict[str, Path], ports: Ports) -> list[str]:
        database = self.state_dir / "kine" / "state.db"
        database.parent.mkdir(parents=True, exist_ok=True)
        return [
            str(bins["kine"]),
            f"--listen-address=127.0.0.1:{ports.etcd_client}",
            f"--endpoint=sqlite://{database}?{KINE_SQLITE_PARAMS}",
            "--metrics-bind-address=0",  # no metrics server (its default is :8080, all hosts)
        ]

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

    def _kine_healthy(self, info: ClusterInfo) -> bool:
        """Whether kine answers SERVING to a gRPC health check on its etcd API port."""
        with grpc.insecure_channel(f"127.0.0.1:{info.ports.etcd_client}") as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=2.0
            )
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

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
        elif name == "kine":
            return self._kine_healthy(info)
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
            except (httpx.HTTPError, OSError, grpc.RpcError):
                ok = False
            report[record.name] = "healthy" if ok else "unhealthy"
        return report

    def healthy(self, info: ClusterInfo) -> bool:
        report = self.component_health(info)
        return set(report) == set(components(info.datastore)) and all(
            v == "healthy" for v in report.values()
        )

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
