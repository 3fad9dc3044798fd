"""Shared fixtures: one real local control plane per test session.

`control_plane` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
(three edge-host nodes: edge-a, edge-b, edge-c) in a temporary directory and stops them at the
end; `kine_control_plane` is the same on kine over SQLite instead of etcd. `api` gives an
authenticated kubernetes_asyncio client, `kubectl` runs the real kubectl.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
from kubernetes_asyncio import client, config

from mec_devtools.devcluster import ClusterInfo, DevCluster, DevClusterSettings
from mec_orchestrator.model import KINDS

EDGE_HOSTS = ("edge-a", "edge-b", "edge-c")

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterInfo]:
    settings = DevClusterSettings(state_dir=tmp_path_factory.mktemp("devcluster"))
    cluster = DevCluster(settings)
    info = cluster.up(list(EDGE_HOSTS))
    try:
        yield info
    finally:
        cluster.down()


@pytest.fixture(scope="session")
def kine_control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterInfo]:
    """A second cluster, on kine over SQLite (k3s's datastore): own state directory and ports."""
    settings = DevClusterSettings(
        state_dir=tmp_path_factory.mktemp("devcluster-kine"), datastore="kine"
    )
    cluster = DevCluster(settings)
    info = cluster.up(list(EDGE_HOSTS))
    try:
        yield info
    finally:
        cluster.down()


@pytest.fixture
async def api(control_plane: ClusterInfo) -> AsyncIterator[client.ApiClient]:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(control_plane.kubeconfig), client_configuration=configuration
    )
    async with client.ApiClient(configuration) as api_client:
        yield api_client


@pytest.fixture
def cluster_env(control_plane: ClusterInfo) -> dict[str, str]:
    """Environment in which kubectl and helm talk to the test control plane."""
    values = control_plane.env()
    path = values.pop("MEC_DEVCLUSTER_PATH")
    return {**os.environ, **values, "PATH": f"{path}:{os.environ.get('PATH', '')}"}


@pytest.fixture
def kubectl(control_plane: ClusterInfo, cluster_env: dict[str, str]) -> Kubectl:
    binary = str(control_plane.binaries["kubectl"])

    def run(
        *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, *args],
            env=cluster_env,
            input=stdin,
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    return run


@pytest.fixture
async def namespace(api: client.ApiClient) -> AsyncIterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(api)
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        await core.delete_namespace(name)


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def run_kubectl(
    info: ClusterInfo, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(info.binaries["kubectl"]), "--kubeconfig", str(info.kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def wait_until(
    what: str, probe: Callable[[], subprocess.CompletedProcess[str]], timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        result = probe()
        if result.returncode == 0:
            return
        last = result.stderr
        time.sleep(0.5)
    raise AssertionError(f"{what} not ready after {timeout} s: {last}")


@pytest.fixture(scope="session")
def crds_installed(control_plane: ClusterInfo) -> ClusterInfo:
    """Every CRD of crds/ (and kopf's peering CRD) applied, Established and published."""
    crd_dir = repo_root() / "crds"
    files = ["-f", str(crd_dir), "-f", str(crd_dir / "peering")]
    applied = run_kubectl(control_plane, "apply", "--server-side", *files)
    assert applied.returncode == 0, applied.stderr
    established = run_kubectl(
        control_plane, "wait", "--for=condition=Established", "--timeout=60s", *files
    )
    assert established.returncode == 0, established.stderr
    # Discovery and the OpenAPI document (kubectl explain) follow Established by a moment.
    for kind in sorted(name.lower() for name in KINDS):  # every kind the models know (crds/)
        wait_until(f"{kind} in discovery", partial(run_kubectl, control_plane, "get", kind))
        wait_until(
            f"{kind} in OpenAPI", partial(run_kubectl, control_plane, "explain", f"{kind}.spec")
        )
    return control_plane
