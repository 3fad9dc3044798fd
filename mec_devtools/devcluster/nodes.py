"""Edge-host nodes: kwok-managed Node objects labelled mec.dev/edge-host=<host>.

kwok keeps them Ready (leases, status) and runs the pods bound to them, so a Deployment with a
node selector gets Running pods on "edge hosts" without any container runtime.
"""

from __future__ import annotations

from typing import Any

import httpx

EDGE_HOST_LABEL = "mec.dev/edge-host"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"


def default_names(count: int) -> list[str]:
    return [f"edge-{index:02d}" for index in range(1, count + 1)]


def node_manifest(
    host: str, *, cpu: str = "32", memory: str = "128Gi", pods: str = "110"
) -> dict[str, Any]:
    """A Node that stands for the edge host `host` (one node per host in the devcluster)."""
    # Real nodes report ephemeral storage too; without it a pod that requests some (as the
    # chart's do, for their emptyDirs) could never be scheduled.
    resources = {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "200Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": host,
            "labels": {
                EDGE_HOST_LABEL: host,
                "kubernetes.io/hostname": host,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/edge": "",
                "type": "kwok",
            },
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {},
        "status": {"allocatable": resources, "capacity": resources},
    }


def create_edge_host_nodes(client: httpx.Client, hosts: list[str]) -> None:
    for host in hosts:
        answer = client.post("/api/v1/nodes", json=node_manifest(host))
        if answer.status_code not in (201, 409):
            answer.raise_for_status()


def _ready(node: dict[str, Any]) -> bool:
    conditions = node.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def all_ready(client: httpx.Client, hosts: list[str]) -> bool:
    answer = client.get("/api/v1/nodes", params={"labelSelector": EDGE_HOST_LABEL})
    answer.raise_for_status()
    ready = {n["metadata"]["name"] for n in answer.json()["items"] if _ready(n)}
    return set(hosts) <= ready


def default_service_account_exists(client: httpx.Client) -> bool:
    return client.get("/api/v1/namespaces/default/serviceaccounts/default").status_code == 200
