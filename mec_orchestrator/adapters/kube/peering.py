"""Reads kopf's peering object, whose status lists the live replicas and their priorities.

kopf decides by itself which replica handles events, but does not tell code running beside its
handlers; `operator.leadership` applies kopf's rule to what this returns.
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mec_common.rbac import PolicyRule

REQUIRED_RULES: tuple[PolicyRule, ...] = (
    PolicyRule(
        ("kopf.dev",),
        ("clusterkopfpeerings",),
        ("get", "list", "watch", "patch"),
        scope="cluster",
    ),
)
"""The replicas' peering object: read to tell who leads, patched by kopf's peering."""


async def read_peers(api: client.ApiClient, name: str) -> dict[str, dict[str, Any]] | None:
    """The ClusterKopfPeering's status: identity -> {priority, lifetime, lastseen}.

    None when the object (or its CRD) does not exist: kopf then pauses, so nobody is active.
    """
    try:
        body = await client.CustomObjectsApi(api).get_cluster_custom_object(
            "kopf.dev", "v1", "clusterkopfpeerings", name
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    status = body.get("status") or {}
    return {str(k): dict(v) for k, v in status.items() if isinstance(v, dict)}
