"""Kubernetes Events that tell the story of an EdgeApp (placements, retirements, evacuations)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mec_common.rbac import PolicyRule

REQUIRED_RULES: tuple[PolicyRule, ...] = (
    PolicyRule(("",), ("events",), ("create", "patch"), scope="cluster"),
    PolicyRule(("events.k8s.io",), ("events",), ("create", "patch"), scope="cluster"),
)
"""Events on the objects of every namespace (kopf posts its own through events.k8s.io too)."""


COMPONENT = "mec-orchestrator"


async def emit(
    api: client.ApiClient,
    *,
    involved: dict[str, str],
    reason: str,
    message: str,
    warning: bool = False,
) -> None:
    """Post one Event about `involved` (apiVersion, kind, name, namespace, uid)."""
    now = datetime.now(UTC)
    namespace = involved.get("namespace") or "default"
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(
            name=f"{involved['name']}.{uuid.uuid4().hex[:12]}", namespace=namespace
        ),
        involved_object=client.V1ObjectReference(
            api_version=involved.get("apiVersion"),
            kind=involved.get("kind"),
            name=involved["name"],
            namespace=involved.get("namespace"),
            uid=involved.get("uid"),
        ),
        reason=reason,
        message=message[:1024],
        type="Warning" if warning else "Normal",
        source=client.V1EventSource(component=COMPONENT),
        reporting_component=COMPONENT,
        reporting_instance=COMPONENT,
        first_timestamp=now,
        last_timestamp=now,
        count=1,
    )
    try:
        await client.CoreV1Api(api).create_namespaced_event(namespace, event)
    except ApiException:  # an Event lost is not worth failing a reconcile for
        return
