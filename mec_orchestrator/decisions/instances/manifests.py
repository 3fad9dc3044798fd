"""The Deployment and Service of one instance (EdgeApp x edge host), as plain manifests.

Names are deterministic (`<app>-<host>`, shortened with a hash when too long), so a restarted
operator finds its children instead of duplicating them; owner references make Kubernetes'
garbage collector remove them with the EdgeApp.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from mec_orchestrator.model import EDGE_HOST_LABEL, EdgeApp, OperationalState

APP_LABEL = "mec.dev/app"
MANAGED_BY = "mec-orchestrator"
# When the plan stopped wanting an instance, in Unix seconds. A label, not an annotation: a
# Deployment's annotations count as its spec (a change bumps its generation and is copied to its
# ReplicaSet), so bookkeeping kept there would make the controller manager work for nothing.
UNNEEDED_SINCE_LABEL = "mec.dev/unneeded-since"
_MAX_NAME = 63  # a Service name is a DNS-1035 label


def instance_name(app: str, host: str) -> str:
    """`<app>-<host>`, or a shortened form with a stable hash when longer than 63 characters."""
    name = f"{app}-{host}"
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    head = f"{app[:27].rstrip('-')}-{host[:26].rstrip('-')}"
    return f"{head}-{digest}"


def instance_labels(app: str, host: str) -> dict[str, str]:
    return {APP_LABEL: app, EDGE_HOST_LABEL: host}


def owner_reference(app: EdgeApp) -> dict[str, Any]:
    return {
        "apiVersion": app.api_version,
        "kind": app.kind,
        "name": app.metadata.name,
        "uid": app.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


DEFAULT_MP1_PORT = 8090


def platform_env(instance_id: str, mp1_port: int) -> list[dict[str, Any]]:
    """What the MEC platform tells every instance (the Mp1 bootstrap of ETSI MEC 011).

    The instance's id (it registers under it over Mp1, so the orchestrator knows which instance
    an agent reports), where its host's agent serves Mp1, and the address devices reach it at.
    """
    return [
        {"name": "MEC_APP_INSTANCE_ID", "value": instance_id},
        {"name": "MEC_HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "MEC_APP_MP1_URL", "value": f"http://$(MEC_HOST_IP):{mp1_port}"},
        {"name": "MEC_POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "MEC_APP_ADVERTISE_HOST", "value": "$(MEC_POD_IP)"},
    ]


def _with_platform_env(container: dict[str, Any], injected: list[dict[str, Any]]) -> None:
    """Put the platform's variables first (later ones may refer to them); the app's own win."""
    own = container.get("env") or []
    names = {entry.get("name") for entry in own}
    container["env"] = [e for e in injected if e["name"] not in names] + own


def deployment_manifest(
    app: EdgeApp, host: str, pod_template: dict[str, Any], mp1_port: int = DEFAULT_MP1_PORT
) -> dict[str, Any]:
    """The instance's Deployment: one replica pinned to the host's nodes (zero when Stopped).

    Every container gets the platform's variables (`platform_env`), unless it sets them itself.
    """
    name = app.metadata.name or ""
    labels = instance_labels(name, host)
    template = copy.deepcopy(pod_template)
    metadata = template.setdefault("metadata", {})
    metadata["labels"] = {**metadata.get("labels", {}), **labels}
    pod_spec = template.setdefault("spec", {})
    pod_spec["nodeSelector"] = {**pod_spec.get("nodeSelector", {}), EDGE_HOST_LABEL: host}
    injected = platform_env(f"{app.metadata.namespace}.{instance_name(name, host)}", mp1_port)
    for container in pod_spec.get("containers") or []:
        if isinstance(container, dict):
            _with_platform_env(container, injected)
    replicas = 0 if app.spec.operational_state == OperationalState.STOPPED else 1
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": instance_name(name, host),
            "namespace": app.metadata.namespace,
            "labels": {
                **labels,
                "app.kubernetes.io/name": app.spec.app_name,
                "app.kubernetes.io/version": app.spec.app_soft_version,
                "app.kubernetes.io/managed-by": MANAGED_BY,
            },
            "ownerReferences": [owner_reference(app)],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": template,
        },
    }


def container_ports(pod_template: dict[str, Any]) -> list[dict[str, Any]]:
    ports: list[dict[str, Any]] = []
    for container in pod_template.get("spec", {}).get("containers", []):
        for index, port in enumerate(container.get("ports", []) or []):
            number = port.get("containerPort")
            if not isinstance(number, int):
                continue
            ports.append(
                {
                    "name": port.get("name") or f"{container.get('name', 'c')}-{index}"[:15],
                    "port": number,
                    "targetPort": number,
                    "protocol": port.get("protocol", "TCP"),
                }
            )
    return ports


def service_manifest(
    app: EdgeApp, host: str, pod_template: dict[str, Any]
) -> dict[str, Any] | None:
    """The instance's Service (None when the pods expose no port)."""
    ports = container_ports(pod_template)
    if not ports:
        return None
    name = app.metadata.name or ""
    labels = instance_labels(name, host)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": instance_name(name, host),
            "namespace": app.metadata.namespace,
            "labels": {**labels, "app.kubernetes.io/managed-by": MANAGED_BY},
            "ownerReferences": [owner_reference(app)],
        },
        "spec": {"type": "ClusterIP", "selector": labels, "ports": ports},
    }


def endpoint(app: EdgeApp, host: str, pod_template: dict[str, Any]) -> str | None:
    """Where clients reach the instance inside the cluster (first port), if it has a port."""
    ports = container_ports(pod_template)
    if not ports:
        return None
    name = instance_name(app.metadata.name or "", host)
    return f"{name}.{app.metadata.namespace}.svc:{ports[0]['port']}"
