"""EdgeApp manifests and cluster queries shared by the operator tests."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mec_orchestrator.adapters.kube.status import merge_patch

GROUP, VERSION = "mec.dev", "v1alpha1"


def edge_app(name: str, *, max_ms: float = 5, idle_seconds: int = 2, **spec: Any) -> dict[str, Any]:
    placement = {"warmStandby": 0, "idleSeconds": idle_seconds, "maxInstances": 3}
    placement.update(spec.pop("placement", {}))
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EdgeApp",
        "metadata": {"name": name},
        "spec": {
            "appDId": f"{name}-d",
            "appName": name,
            "appProvider": "tests",
            "appSoftVersion": "1.0",
            "latency": {"maxMs": max_ms},
            "placement": placement,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.local/app:1",
                            "ports": [{"name": "api", "containerPort": 8080}],
                        }
                    ]
                }
            },
            **spec,
        },
    }


async def create_app(api: client.ApiClient, namespace: str, body: dict[str, Any]) -> None:
    await client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, "edgeapps", body
    )


async def patch_spec(
    api: client.ApiClient, namespace: str, name: str, spec: dict[str, Any]
) -> None:
    await merge_patch(
        api, f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/edgeapps/{name}", {"spec": spec}
    )


async def get_app(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = await client.CustomObjectsApi(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, "edgeapps", name
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return found


async def deployments(api: client.ApiClient, namespace: str, app: str) -> dict[str, Any]:
    """The app's instance Deployments by edge host."""
    listed = await client.AppsV1Api(api).list_namespaced_deployment(
        namespace, label_selector=f"mec.dev/app={app}"
    )
    return {d.metadata.labels["mec.dev/edge-host"]: d for d in listed.items}


async def running_pod_hosts(api: client.ApiClient, namespace: str, app: str) -> list[str]:
    pods = await client.CoreV1Api(api).list_namespaced_pod(
        namespace, label_selector=f"mec.dev/app={app}"
    )
    return sorted(
        p.spec.node_name
        for p in pods.items
        if p.status.phase == "Running" and not p.metadata.deletion_timestamp
    )


def condition(app: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for entry in ((app or {}).get("status") or {}).get("conditions") or []:
        if entry["type"] == type_:
            return dict(entry)
    return {}


async def event_reasons(api: client.ApiClient, namespace: str, name: str) -> list[tuple[str, str]]:
    listed = await client.CoreV1Api(api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name},involvedObject.kind=EdgeApp"
    )
    # In the order they were written: creationTimestamp has whole seconds only, and a move can
    # follow the first placement within the same second; resourceVersions are etcd revisions.
    return [
        (e.reason, e.message)
        for e in sorted(listed.items, key=lambda e: int(e.metadata.resource_version))
    ]
