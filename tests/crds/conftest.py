"""Cluster fixtures for the CRD tests: the CRDs applied once and Established, and helpers.

`crds_installed` applies every file in crds/ to the session's control plane and waits until the
API server has established them (and published them for `kubectl explain`); `custom` is a
CustomObjectsApi that talks to it.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

import pytest
from kubernetes_asyncio import client

from mec_orchestrator.devcluster import ClusterInfo
from tests.model.catalogue import CRDS_DIR, crds


def run_kubectl(info: ClusterInfo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(info.binaries["kubectl"]), "--kubeconfig", str(info.kubeconfig), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def wait_until(what: str, probe: Any, timeout: float = 60.0) -> None:
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
    applied = run_kubectl(control_plane, "apply", "--server-side", "-f", str(CRDS_DIR))
    assert applied.returncode == 0, applied.stderr
    names = [f"crd/{crd['metadata']['name']}" for crd in crds().values()]
    established = run_kubectl(
        control_plane, "wait", "--for=condition=Established", "--timeout=60s", *names
    )
    assert established.returncode == 0, established.stderr
    # Discovery and the OpenAPI document (kubectl explain) follow Established by a moment.
    for crd in crds().values():
        kind = crd["spec"]["names"]["singular"]
        wait_until(f"{kind} in discovery", lambda k=kind: run_kubectl(control_plane, "get", k))
        wait_until(
            f"{kind} in OpenAPI", lambda k=kind: run_kubectl(control_plane, "explain", f"{k}.spec")
        )
    return control_plane


@pytest.fixture
def custom(crds_installed: ClusterInfo, api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)
