"""Fixtures for the emulated runtime's cluster tests: a network whose nodes stand for edge-a and
edge-b (edge-c is left to kwok), and a running `EmulatedRuntime` for them.

They need root (network namespaces); without it they fail with a message rather than skip.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mec_devtools.devcluster import ClusterInfo
from mec_devtools.runtime import EmulatedRuntime
from mec_devtools.sim.network import Network, Node, cleanup_leftovers, leftover_names
from mec_devtools.sim.network.netns import missing_capabilities

RUNTIME_PREFIX = "rt"
MANAGED = ("edge-a", "edge-b")


@dataclass
class Emulated:
    runtime: EmulatedRuntime
    network: Network
    nodes: dict[str, Node]  # Kubernetes node name -> emulated host


@pytest.fixture(scope="session")
def netns_ok() -> None:
    problems = missing_capabilities()
    if problems:
        pytest.fail("emulated runtime tests cannot run: " + "; ".join(problems))
    cleanup_leftovers(RUNTIME_PREFIX)  # earlier crashed sessions, never live runs


@pytest.fixture
def network(netns_ok: None) -> Iterator[Network]:
    net = Network(name_prefix=RUNTIME_PREFIX, seed=7)
    with net:
        yield net
    assert leftover_names(net.tag) == []


@contextlib.asynccontextmanager
async def running_runtime(
    control_plane: ClusterInfo,
    api: client.ApiClient,
    namespace: str,
    network: Network,
    tmp_path: Path,
    *,
    sandbox: bool = False,
) -> AsyncIterator[Emulated]:
    """A runtime for edge-a and edge-b; what the test left in namespace is cleared after."""
    nodes = {name: network.add_node(name.replace("-", "_")) for name in MANAGED}
    runtime = EmulatedRuntime(
        kubeconfig=control_plane.kubeconfig,
        network=network,
        nodes=nodes,
        log_dir=tmp_path / "pod-logs",
        sandbox=sandbox,
    )
    async with runtime:
        try:
            yield Emulated(runtime, network, nodes)
        finally:
            await _clear_namespace(api, namespace)


@pytest.fixture
async def emulated(
    control_plane: ClusterInfo,
    api: client.ApiClient,
    namespace: str,
    network: Network,
    tmp_path: Path,
) -> AsyncIterator[Emulated]:
    async with running_runtime(control_plane, api, namespace, network, tmp_path) as world:
        yield world


async def _clear_namespace(api: client.ApiClient, namespace: str) -> None:
    """Remove what a test left, so no pod of the namespace outlives the runtime that ran it."""
    apps = client.AppsV1Api(api)
    core = client.CoreV1Api(api)
    await apps.delete_collection_namespaced_deployment(namespace)
    await core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)


async def get_pod(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        body: dict[str, Any] = await api.call_api(
            f"/api/v1/namespaces/{namespace}/pods/{name}",
            "GET",
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            response_types_map={200: "object"},
            _return_http_data_only=True,
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return body


async def list_pods(api: client.ApiClient, namespace: str, selector: str) -> list[dict[str, Any]]:
    body: dict[str, Any] = await api.call_api(
        f"/api/v1/namespaces/{namespace}/pods",
        "GET",
        query_params=[("labelSelector", selector)],
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
        response_types_map={200: "object"},
        _return_http_data_only=True,
    )
    return list(body.get("items") or [])


def condition(pod: dict[str, Any], kind: str) -> str | None:
    for item in (pod.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return str(item.get("status"))
    return None
