"""`EmulatedRuntime`: the kubelet of the emulated hosts, for pods of the project's images.

It lists and watches every pod, keeps those bound to a node it was given whose containers use a
project image, and runs one `PodWorker` per pod: an extra address on the host namespace's eth0
is the pod's IP, each container's command runs as a real process in that namespace, and the
worker writes the pod's status (merge patch of pods/status) whenever what it knows changes.
When the pod is deleted the worker ends its processes (SIGTERM, grace, SIGKILL), removes the
address and deletes the pod object with grace period 0, as the kubelet does. The watch is
re-listed when it ends or expires, so missed events are made up for.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

import mec_devtools
from mec_devtools.runtime import service_account
from mec_devtools.runtime.api_forward import ApiForwarder
from mec_devtools.runtime.cluster_names import ClusterNames
from mec_devtools.runtime.containers import ContainerRunner, PodContext
from mec_devtools.runtime.images import containers_of, is_project_pod
from mec_devtools.runtime.pod_status import pod_status, timestamp
from mec_devtools.runtime.sandbox import SandboxError, SandboxPlan, plan_container
from mec_devtools.sim.network import Network, Node

log = logging.getLogger(__name__)

DEFAULT_MAX_GRACE_S = 10.0
DEFAULT_MAX_BACKOFF_S = 5.0
WATCH_TIMEOUT_S = 60
RETRY_S = 1.0
STOP_GRACE_S = 2.0

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _uid(pod: Mapping[str, Any]) -> str | None:
    uid = (pod.get("metadata") or {}).get("uid")
    return uid if isinstance(uid, str) and uid else None


def _prepare_dirs(
    pod_dir: Path, volumes: list[str], files: Mapping[str, Mapping[str, str]], targets: list[str]
) -> None:
    """The pod's volume directories (with a configMap's files) and the mount points."""
    for name in volumes:
        directory = pod_dir / "volumes" / name
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o777)  # as the kubelet makes an emptyDir
        for key, value in files.get(name, {}).items():
            (directory / key).write_text(value)
    for target in targets:
        if not Path(target).exists():
            Path(target).mkdir(parents=True, exist_ok=True)


def project_paths() -> tuple[str, ...]:
    """What a sandboxed pod of the project's image runs, outermost paths only.

    The interpreter's environment and the project's source tree (an editable install).
    """
    candidates = sorted(
        {
            str(Path(sys.prefix).resolve()),
            str(Path(sys.base_prefix).resolve()),
            str(Path(mec_devtools.__file__).resolve().parents[1]),
        }
    )
    kept: list[str] = []
    for path in candidates:
        if not any(Path(path).is_relative_to(outer) for outer in kept):
            kept.append(path)
    return tuple(kept)


def _read_bytes(path: str | None) -> bytes:
    return Path(path).read_bytes() if path else b""


class PodWorker:
    """Runs one pod on one emulated host until it is deleted or the runtime stops."""

    def __init__(self, runtime: EmulatedRuntime, pod: Mapping[str, Any], node: Node) -> None:
        self.runtime = runtime
        self.pod: Mapping[str, Any] = pod
        self.node = node
        metadata = pod.get("metadata") or {}
        self.namespace = str(metadata.get("namespace", ""))
        self.name = str(metadata.get("name", ""))
        self.uid = str(metadata.get("uid", ""))
        self.address: ipaddress.IPv4Address | None = None  # the extra address it added
        self.runners: list[ContainerRunner] = []
        self.gone = False  # the object is no longer in the API server
        self._wake = asyncio.Event()
        self._dirty = False
        status = pod.get("status") or {}
        # A pod taken over from an earlier runtime keeps its start time and transition times.
        self._conditions: list[dict[str, Any]] = [
            c for c in status.get("conditions") or [] if isinstance(c, dict)
        ]
        started = status.get("startTime")
        self._start_time = started if isinstance(started, str) and started else timestamp()
        self.task: asyncio.Task[None] | None = None

    # -- inputs -------------------------------------------------------------------------
    def update(self, pod: Mapping[str, Any]) -> None:
        self.pod = pod
        self._wake.set()

    def deleted(self) -> None:
        self.gone = True
        self._wake.set()

    def _changed(self) -> None:
        self._dirty = True
        self._wake.set()

    @property
    def terminating(self) -> bool:
        return self.gone or bool((self.pod.get("metadata") or {}).get("deletionTimestamp"))

    # -- the pod's life -----------------------------------------------------------------
    async def run(self) -> None:
        runner_tasks: list[asyncio.Task[None]] = []
        try:
            if not self.terminating:
                spec = self.pod.get("spec") or {}
                if spec.get("hostNetwork") is True:
                    pod_ip = self.node.ip  # the host's own address, nothing to add
                else:
                    adding = asyncio.ensure_future(
                        asyncio.to_thread(self.runtime.network.add_address, self.node)
                    )
                    try:
                        self.address = await asyncio.shield(adding)
                    except asyncio.CancelledError:
                        with contextlib.suppress(Exception):
                            self.address = await adding  # added anyway: `_end` removes it
                        raise
                    pod_ip = str(self.address)
                sandboxes = await self._sandboxes()
                context = PodContext(
                    network=self.runtime.network,
                    node=self.node,
                    pod=self.pod,
                    pod_ip=pod_ip,
                    log_path=self.runtime.log_path(self.namespace, self.name),
                    restart_policy=str(spec.get("restartPolicy") or "Always"),
                    max_backoff_s=self.runtime.max_backoff_s,
                    sandbox_env=self.runtime.sandbox_env if sandboxes else None,
                )
                self.runners = [
                    ContainerRunner(
                        c, context, self._changed, sandbox=sandboxes[i] if sandboxes else None
                    )
                    for i, c in enumerate(containers_of(self.pod))
                ]
                self._dirty = True
                runner_tasks = [asyncio.create_task(r.run()) for r in self.runners]
                await self._follow()
            for task in runner_tasks:
                task.cancel()
            await asyncio.gather(*runner_tasks, return_exceptions=True)
            await self._end(self._grace_s())
            if not self.gone:
                await self.runtime.delete_pod(self.namespace, self.name, self.uid)
        except asyncio.CancelledError:
            for task in runner_tasks:
                task.cancel()
            await asyncio.gather(*runner_tasks, return_exceptions=True)
            await self._end(STOP_GRACE_S)
            raise
        except Exception:
            log.exception("pod %s/%s: the emulated runtime failed", self.namespace, self.name)
            for task in runner_tasks:
                task.cancel()
            await asyncio.gather(*runner_tasks, return_exceptions=True)
            await self._end(STOP_GRACE_S)

    async def _sandboxes(self) -> list[SandboxPlan | SandboxError] | None:
        """Each container's sandbox (volumes, identity, names made ready), None without."""
        runtime = self.runtime
        if not runtime.sandbox:
            return None
        pod_dir = runtime.log_dir / "pods" / f"{_UNSAFE.sub('_', self.namespace)}_{self.uid}"
        account_dir = pod_dir / "serviceaccount"
        plans: list[SandboxPlan | SandboxError] = []
        try:
            if service_account.wants_token(self.pod):
                await service_account.project(runtime.api, self.pod, account_dir, runtime.ca_pem)
            for container in containers_of(self.pod):
                plans.append(
                    plan_container(
                        self.pod,
                        container,
                        pod_dir=str(pod_dir),
                        service_account_dir=(
                            str(account_dir) if service_account.wants_token(self.pod) else None
                        ),
                        hosts_file=str(runtime.hosts_file),
                        keep=project_paths(),
                    )
                )
            await self._make_volumes(pod_dir, plans)
        except SandboxError as error:
            return [error for _ in containers_of(self.pod)]
        except ApiException as error:
            problem = SandboxError(f"cannot prepare the pod: HTTP {error.status} {error.reason}")
            return [problem for _ in containers_of(self.pod)]
        return plans

    async def _make_volumes(self, pod_dir: Path, plans: list[SandboxPlan | SandboxError]) -> None:
        """EmptyDir volumes as world-writable directories, configMap volumes as files."""
        spec = self.pod.get("spec") or {}
        files: dict[str, dict[str, str]] = {}
        for volume in spec.get("volumes") or []:
            source = volume.get("configMap")
            if isinstance(source, Mapping):
                files[str(volume["name"])] = await self.runtime.config_map(
                    self.namespace, str(source.get("name"))
                )
        names = [str(volume["name"]) for volume in spec.get("volumes") or []]
        targets = [t for p in plans if isinstance(p, SandboxPlan) for t in p.mount_targets]
        _prepare_dirs(pod_dir, names, files, targets)

    async def _follow(self) -> None:
        """Write status as it changes until the pod is deleted."""
        while not self.terminating:
            if self._dirty:
                self._dirty = False
                await self._write_status()
                if self._all_finished():
                    await self._release_address()  # the kubelet tears a finished pod's sandbox down
            self._wake.clear()
            if not self._dirty and not self.terminating:
                await self._wake.wait()

    def _all_finished(self) -> bool:
        return bool(self.runners) and all(r.finished for r in self.runners)

    def _grace_s(self) -> float:
        metadata = self.pod.get("metadata") or {}
        spec = self.pod.get("spec") or {}
        grace = metadata.get("deletionGracePeriodSeconds")
        if not isinstance(grace, int | float):
            grace = spec.get("terminationGracePeriodSeconds")
        if not isinstance(grace, int | float):
            grace = 30
        return float(min(max(grace, 0), self.runtime.max_grace_s))

    async def _end(self, grace_s: float) -> None:
        await asyncio.gather(*(r.stop(grace_s) for r in self.runners), return_exceptions=True)
        await self._release_address()

    async def _release_address(self) -> None:
        address, self.address = self.address, None
        if address is not None:
            try:
                await asyncio.to_thread(self.runtime.network.remove_address, self.node, address)
            except Exception as error:
                log.warning("cannot remove %s from %s: %s", address, self.node.name, error)

    async def _write_status(self) -> None:
        status = pod_status(
            [r.view for r in self.runners],
            restart_policy=self.runners[0].context.restart_policy if self.runners else "Always",
            pod_ip=self.pod_ip(),
            host_ip=self.node.ip,
            start_time=self._start_time,
            previous_conditions=self._conditions,
        )
        self._conditions = status["conditions"]
        try:
            await self.runtime.patch_status(self.namespace, self.name, self.uid, status)
        except ApiException as error:
            if error.status in (404, 409):
                return  # gone, or a namesake: the watch tells the worker
            log.warning("status of %s/%s: %s", self.namespace, self.name, error.reason)
            self._dirty = True
            await asyncio.sleep(RETRY_S)
        except Exception as error:  # the API server is unreachable for a moment
            log.warning("status of %s/%s: %s", self.namespace, self.name, error)
            self._dirty = True
            await asyncio.sleep(RETRY_S)

    def pod_ip(self) -> str | None:
        """The pod's address (still reported after a finished pod's address is released)."""
        ips = [r.context.pod_ip for r in self.runners]
        return ips[0] if ips else None


class EmulatedRuntime:
    """Run pods of project images bound to the given nodes as processes in their namespaces.

    Use ``async with EmulatedRuntime(...)`` or `start` / `stop`. Give either the path of a
    kubeconfig or an `ApiClient` (which stays the caller's to close).
    """

    def __init__(
        self,
        *,
        network: Network,
        nodes: Mapping[str, Node | str],
        log_dir: Path,
        kubeconfig: Path | str | None = None,
        api: client.ApiClient | None = None,
        max_grace_s: float = DEFAULT_MAX_GRACE_S,
        max_backoff_s: float = DEFAULT_MAX_BACKOFF_S,
        watch_timeout_s: int = WATCH_TIMEOUT_S,
        sandbox: bool = False,
    ) -> None:
        """Set up; nothing runs until `start`.

        sandbox: run each pod in a sandbox (sandbox.py): its volumes, its ServiceAccount
        token, the cluster's names, its securityContext's user, no capabilities, and the API
        server at 127.0.0.1 in its namespace.
        """
        if (kubeconfig is None) == (api is None):
            raise ValueError("give exactly one of kubeconfig and api")
        self.network = network
        self.nodes = {name: network.node(node) for name, node in nodes.items()}
        self.log_dir = Path(log_dir)
        self.max_grace_s = max_grace_s
        self.max_backoff_s = max_backoff_s
        self._watch_timeout_s = watch_timeout_s
        self._kubeconfig = kubeconfig
        self._api = api
        self._own_api: client.ApiClient | None = None
        self._workers: dict[str, PodWorker] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._started = False
        self.sandbox = sandbox
        self.hosts_file = self.log_dir / "cluster-hosts"
        self.ca_pem = b""
        self.sandbox_env: dict[str, str] = {}
        self._forwarder: ApiForwarder | None = None
        self._names: ClusterNames | None = None

    # -- lifecycle ----------------------------------------------------------------------
    async def __aenter__(self) -> EmulatedRuntime:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Connect, list the pods once (the pods already there start now), then watch."""
        if self._started:
            raise RuntimeError("runtime already started")
        self._started = True
        if self._api is None:
            configuration = client.Configuration()
            await config.load_kube_config(
                config_file=str(self._kubeconfig), client_configuration=configuration
            )
            self._own_api = client.ApiClient(configuration)
            self._api = self._own_api
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.sandbox:
                await self._start_sandboxes()
            version = await self._relist()  # errors here are the caller's (wrong kubeconfig)
        except BaseException:
            await self.stop()
            raise
        self._watcher = asyncio.create_task(self._watch_forever(version))

    async def stop(self) -> None:
        """End every process this runtime started and remove every address it added."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        workers = list(self._workers.values())
        self._workers.clear()
        for worker in workers:
            if worker.task is not None:
                worker.task.cancel()
        await asyncio.gather(
            *(w.task for w in workers if w.task is not None), return_exceptions=True
        )
        if self._names is not None:
            await self._names.stop()
            self._names = None
        if self._forwarder is not None:
            await self._forwarder.close()
            self._forwarder = None
        if self._own_api is not None:
            await self._own_api.close()
            self._own_api = None
            self._api = None
        self._started = False

    async def _start_sandboxes(self) -> None:
        """The API server reachable in every node's namespace, the cluster's names, the CA."""
        configuration = self.api.configuration
        server = urlsplit(str(configuration.host))
        if server.hostname is None or server.port is None:
            raise ValueError(f"the API server's address has no host:port: {configuration.host}")
        ca_file = configuration.ssl_ca_cert
        self.ca_pem = _read_bytes(ca_file)
        self._forwarder = ApiForwarder(server.hostname, server.port)
        for node in self.nodes.values():
            await self._forwarder.add(node.namespace)
        self.sandbox_env = {
            "KUBERNETES_SERVICE_HOST": server.hostname,
            "KUBERNETES_SERVICE_PORT": str(server.port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(server.port),
            "HOME": "/",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self._names = ClusterNames(self.api, self.hosts_file)
        await self._names.start()

    async def config_map(self, namespace: str, name: str) -> dict[str, str]:
        """A ConfigMap's data (for a configMap volume)."""
        found = await client.CoreV1Api(self.api).read_namespaced_config_map(name, namespace)
        return dict(found.data or {})

    # -- look-ups for tests and tools ---------------------------------------------------
    def log_path(self, namespace: str, name: str) -> Path:
        """The file a pod's processes write their output to."""
        return self.log_dir / f"{_UNSAFE.sub('_', namespace)}_{_UNSAFE.sub('_', name)}.log"

    def pod_ip(self, namespace: str, name: str) -> str | None:
        worker = self._worker(namespace, name)
        return worker.pod_ip() if worker else None

    def pids(self, namespace: str, name: str) -> dict[str, int]:
        """Container name -> pid of its running process, for a pod this runtime runs."""
        worker = self._worker(namespace, name)
        if worker is None:
            return {}
        return {
            r.view.name: r.process.pid
            for r in worker.runners
            if r.process is not None and r.process.returncode() is None
        }

    def running_pods(self) -> list[tuple[str, str]]:
        """(namespace, name) of every pod this runtime currently runs."""
        return sorted((w.namespace, w.name) for w in self._workers.values())

    def _worker(self, namespace: str, name: str) -> PodWorker | None:
        for worker in self._workers.values():
            if worker.namespace == namespace and worker.name == name:
                return worker
        return None

    # -- API calls ----------------------------------------------------------------------
    @property
    def api(self) -> client.ApiClient:
        if self._api is None:
            raise RuntimeError("runtime not started")
        return self._api

    async def patch_status(
        self, namespace: str, name: str, uid: str, status: dict[str, Any]
    ) -> None:
        """Merge patch of pods/status; the uid makes it fail (409) on a namesake pod."""
        await self.api.call_api(
            f"/api/v1/namespaces/{namespace}/pods/{name}/status",
            "PATCH",
            header_params={
                "Content-Type": "application/merge-patch+json",
                "Accept": "application/json",
            },
            body={"metadata": {"uid": uid}, "status": status},
            auth_settings=["BearerToken"],
            response_types_map={200: "object"},
            _return_http_data_only=True,
        )

    async def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        """Delete the pod object at once (its processes have ended), only if it is this uid."""
        body = client.V1DeleteOptions(
            grace_period_seconds=0, preconditions=client.V1Preconditions(uid=uid)
        )
        try:
            await client.CoreV1Api(self.api).delete_namespaced_pod(
                name, namespace, body=body, grace_period_seconds=0
            )
        except ApiException as error:
            if error.status not in (404, 409):
                log.warning("cannot delete pod %s/%s: %s", namespace, name, error.reason)

    # -- watching -----------------------------------------------------------------------
    async def _watch_forever(self, version: str | None) -> None:
        """Watch from version; when the watch ends or fails, list again and watch on."""
        while True:
            try:
                if version is None:
                    version = await self._relist()
                await self._watch(version)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("pod watch failed, listing again: %s", error)
                await asyncio.sleep(RETRY_S)
            version = None

    async def _get_json(self, path: str, query: list[tuple[str, str]], limit_s: float) -> Any:
        """The raw response of a GET (to read as it streams); fails unless it is 2xx."""
        response = await self.api.call_api(
            path,
            "GET",
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=limit_s,
        )
        if not 200 <= response.status < 300:
            text = (await response.read())[:500]
            response.release()
            raise RuntimeError(f"GET {path}: HTTP {response.status}: {text!r}")
        return response

    async def _relist(self) -> str:
        response = await self._get_json("/api/v1/pods", [], 60.0)
        try:
            listing = json.loads(await response.read())
        finally:
            response.release()
        seen: set[str] = set()
        for pod in listing.get("items") or []:
            if isinstance(pod, dict):
                uid = _uid(pod)
                if uid is not None:
                    seen.add(uid)
                self._observe(pod)
        for uid, worker in list(self._workers.items()):
            if uid not in seen:
                worker.deleted()
        return str((listing.get("metadata") or {}).get("resourceVersion", ""))

    async def _watch(self, version: str) -> None:
        query = [
            ("watch", "true"),
            ("resourceVersion", version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(self._watch_timeout_s)),
        ]
        response = await self._get_json("/api/v1/pods", query, self._watch_timeout_s + 30.0)
        try:
            while True:
                line = await response.content.readline()
                if not line:
                    return  # the server ended the watch: list again
                event = json.loads(line)
                kind = event.get("type")
                body = event.get("object")
                if not isinstance(body, dict):
                    continue
                if kind == "ERROR":
                    log.info("pod watch ended: %s", body.get("message"))
                    return
                if kind == "DELETED":
                    worker = self._workers.get(_uid(body) or "")
                    if worker is not None:
                        worker.deleted()
                elif kind in ("ADDED", "MODIFIED"):
                    self._observe(body)
        finally:
            response.release()

    def _observe(self, pod: dict[str, Any]) -> None:
        """Start a worker for a new pod of ours, or pass a newer body to its worker."""
        uid = _uid(pod)
        if uid is None:
            return
        worker = self._workers.get(uid)
        if worker is not None:
            worker.update(pod)
            return
        node_name = (pod.get("spec") or {}).get("nodeName")
        node = self.nodes.get(node_name) if isinstance(node_name, str) else None
        if node is None or not is_project_pod(pod):
            return
        phase = (pod.get("status") or {}).get("phase")
        deleting = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
        if phase in ("Succeeded", "Failed") and not deleting:
            return  # finished earlier (by another runtime instance): nothing to run
        worker = PodWorker(self, pod, node)
        self._workers[uid] = worker
        worker.task = asyncio.create_task(self._run_worker(worker))

    async def _run_worker(self, worker: PodWorker) -> None:
        try:
            await worker.run()
        finally:
            if self._workers.get(worker.uid) is worker:
                del self._workers[worker.uid]
