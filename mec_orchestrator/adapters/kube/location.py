"""What the MEC 013 location API reads in the API server: the Zones.

Zones are cluster-scoped and read as stored (the REST API answers what `kubectl get zones`
shows). Location subscriptions are MecSubscriptions, written by `subscriptions.py`.
"""

from __future__ import annotations

from kubernetes_asyncio import client

from mec_common.rbac import PolicyRule
from mec_orchestrator.adapters.kube import objects
from mec_orchestrator.model import GROUP, Zone

REQUIRED_RULES: tuple[PolicyRule, ...] = (
    PolicyRule((GROUP,), ("zones",), ("get", "list", "watch"), scope="cluster"),
)
"""MEC 013 reads the Zones (cluster-scoped) and their access points."""


ZONES = Zone.PLURAL


async def list_zones(api: client.ApiClient) -> list[Zone]:
    """Every Zone, sorted by name (read in pages of 500)."""
    found = [Zone.model_validate(item) for item in await objects.list_objects(api, ZONES, None)]
    return sorted(found, key=lambda z: z.metadata.name or "")


async def get_zone(api: client.ApiClient, name: str) -> Zone | None:
    """The Zone name as stored, or None when there is none."""
    body = await objects.get_object(api, ZONES, None, name)
    return Zone.model_validate(body) if body is not None else None
