"""Apply, list and delete the Deployments and Services of EdgeApp instances.

Writes use server-side apply with one field manager, so re-applying an unchanged manifest is a
no-op at the API server, and a manifest hash label lets the operator skip even the call. The
operator's bookkeeping (hashes, when an instance became unneeded) is in labels, not annotations:
changing a Deployment's annotations bumps its generation and rewrites its ReplicaSet, so the
controller manager would have to catch up before the instance counted as rolled out again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mec_common.rbac import PolicyRule
from mec_orchestrator.adapters.kube import objects
from mec_orchestrator.decisions.instances.manifests import APP_LABEL, UNNEEDED_SINCE_LABEL
from mec_orchestrator.decisions.instances.views import ObservedInstance
from mec_orchestrator.model import EDGE_HOST_LABEL

REQUIRED_RULES: tuple[PolicyRule, ...] = (
    PolicyRule(
        ("apps",),
        ("deployments",),
        ("get", "list", "watch", "create", "update", "patch", "delete"),
        scope="cluster",
    ),
    PolicyRule(
        ("",), ("services",), ("get", "create", "update", "patch", "delete"), scope="cluster"
    ),
    PolicyRule(("kopf.dev",), ("clusterkopfpeerings",), ("create",), scope="cluster"),
)
"""Each instance is a Deployment and a Service in its EdgeApp's namespace; the replicas'
peering object is created once."""


HASH_LABEL = "mec.dev/manifest-hash"
SERVICE_HASH_LABEL = "mec.dev/service-hash"


def manifest_hash(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]


def with_hash(manifest: dict[str, Any], service: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Deployment labelled with its own hash and its Service's (to skip unchanged writes)."""
    labels = manifest["metadata"].setdefault("labels", {})
    labels.pop(HASH_LABEL, None)
    labels.pop(SERVICE_HASH_LABEL, None)
    if service is not None:
        labels[SERVICE_HASH_LABEL] = manifest_hash(service)
    labels[HASH_LABEL] = manifest_hash(manifest)
    return manifest


def unneeded_since_label(since: datetime) -> str:
    return str(int(since.timestamp()))


def _unneeded_since(labels: Mapping[str, str]) -> datetime | None:
    text = labels.get(UNNEEDED_SINCE_LABEL, "")
    return datetime.fromtimestamp(int(text), UTC) if text.isdigit() else None


async def apply_deployment(api: client.ApiClient, manifest: dict[str, Any]) -> dict[str, Any]:
    """Apply an instance's Deployment; the Deployment as stored (with its new generation)."""
    meta = manifest["metadata"]
    return await objects.apply(
        api, f"/apis/apps/v1/namespaces/{meta['namespace']}/deployments/{meta['name']}", manifest
    )


async def apply_service(api: client.ApiClient, manifest: dict[str, Any]) -> None:
    meta = manifest["metadata"]
    await objects.apply(
        api, f"/api/v1/namespaces/{meta['namespace']}/services/{meta['name']}", manifest
    )


async def delete_instance(api: client.ApiClient, namespace: str, name: str) -> None:
    """Delete an instance's Deployment and Service (absent ones are fine)."""
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    for call in (apps.delete_namespaced_deployment, core.delete_namespaced_service):
        try:
            await call(name, namespace, propagation_policy="Background")
        except ApiException as error:
            if error.status != 404:
                raise


def observed_instance(deployment: Mapping[str, Any]) -> ObservedInstance | None:
    """What an instance Deployment says about itself (None when it is not one of ours)."""
    meta = deployment.get("metadata", {})
    labels = meta.get("labels") or {}
    host = labels.get(EDGE_HOST_LABEL)
    if not host or APP_LABEL not in labels:
        return None
    status = deployment.get("status") or {}
    return ObservedInstance(
        host=host,
        deployment=meta.get("name", ""),
        desired_replicas=int((deployment.get("spec") or {}).get("replicas", 1) or 0),
        ready_replicas=int(status.get("readyReplicas", 0) or 0),
        unneeded_since=_unneeded_since(labels),
        updated_replicas=int(status.get("updatedReplicas", 0) or 0),
        replicas=int(status.get("replicas", 0) or 0),
        rollout_observed=int(status.get("observedGeneration", 0) or 0)
        >= int(meta.get("generation", 0) or 0),
    )


async def list_instances(
    api: client.ApiClient, namespace: str, app: str
) -> list[tuple[ObservedInstance, str | None]]:
    """The app's instance Deployments with their manifest hash label."""
    answer = await api.call_api(
        f"/apis/apps/v1/namespaces/{namespace}/deployments",
        "GET",
        query_params=[("labelSelector", f"{APP_LABEL}={app}")],
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
        response_types_map={200: "object"},
        _return_http_data_only=True,
    )
    found: list[tuple[ObservedInstance, str | None]] = []
    for item in answer.get("items", []):
        instance = observed_instance(item)
        if instance is not None:
            labels = item["metadata"].get("labels") or {}
            found.append((instance, labels.get(HASH_LABEL)))
    return found


async def ensure_peering(api: client.ApiClient, name: str) -> None:
    """Create the ClusterKopfPeering object the replicas share, if it is not there yet."""
    body = {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": name}}
    try:
        await client.CustomObjectsApi(api).create_cluster_custom_object(
            "kopf.dev", "v1", "clusterkopfpeerings", body
        )
    except ApiException as error:
        if error.status != 409:
            raise
