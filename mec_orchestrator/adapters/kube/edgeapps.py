"""EdgeApps as the MEC 010-2 lifecycle API reads and writes them, and the packages it checks.

An app instance of the REST API is an EdgeApp: created (NotInstantiated) from an onboarded
AppPackage, changed by instantiate, operate and terminate with merge patches of its spec, deleted
by DELETE. Changes made after a read carry the resourceVersion read, so the API server refuses
them (409) when someone changed the EdgeApp in between, and the caller answers from the new state
instead of overwriting it. Packages are found by appDId with the CRD's selectable field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes_asyncio import client

from mec_common.rbac import PolicyRule
from mec_orchestrator.adapters.kube import objects
from mec_orchestrator.adapters.kube.status import merge_patch
from mec_orchestrator.model import GROUP, VERSION

REQUIRED_RULES: tuple[PolicyRule, ...] = (
    PolicyRule(
        (GROUP,),
        ("edgeapps",),
        ("get", "list", "watch", "create", "update", "patch", "delete"),
        scope="cluster",
    ),
    PolicyRule((GROUP,), ("edgeapps/status",), ("get", "patch", "update"), scope="cluster"),
)
"""EdgeApps in every namespace: MEC 010-2 app instances are EdgeApps; their status is ours."""


EDGEAPPS = "edgeapps"
APPPACKAGES = "apppackages"


def edgeapp_path(namespace: str, name: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{EDGEAPPS}/{name}"


async def create_edgeapp(
    api: client.ApiClient, namespace: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    """Create the EdgeApp (strict field validation); the object as stored, name generated."""
    return await objects.create_object(api, EDGEAPPS, namespace, body)


async def get_edgeapp(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    """The EdgeApp namespace/name as stored, or None when there is none."""
    return await objects.get_object(api, EDGEAPPS, namespace, name)


async def _list(
    api: client.ApiClient, namespace: str, plural: str, field_selector: str = ""
) -> list[dict[str, Any]]:
    found = await objects.list_objects(api, plural, namespace, field_selector=field_selector)
    return sorted(found, key=lambda item: item.get("metadata", {}).get("name", ""))


async def list_edgeapps(api: client.ApiClient, namespace: str) -> list[dict[str, Any]]:
    """Every EdgeApp of the namespace, by name."""
    return await _list(api, namespace, EDGEAPPS)


async def patch_edgeapp(
    api: client.ApiClient,
    namespace: str,
    name: str,
    patch: Mapping[str, Any],
    resource_version: str | None,
) -> dict[str, Any]:
    """Merge patch the EdgeApp; with resource_version, only if it is still that version (409)."""
    body = dict(patch)
    if resource_version is not None:
        body["metadata"] = {**body.get("metadata", {}), "resourceVersion": resource_version}
    return await merge_patch(api, edgeapp_path(namespace, name), body)


async def delete_edgeapp(
    api: client.ApiClient, namespace: str, name: str, resource_version: str | None
) -> bool:
    """Delete the EdgeApp (only if still at resource_version, else 409); False if there was none."""
    return await objects.delete_object(
        api, EDGEAPPS, namespace, name, resource_version=resource_version, background=True
    )


async def find_app_packages(
    api: client.ApiClient, namespace: str, app_d_id: str
) -> list[dict[str, Any]]:
    """The AppPackages of the namespace whose spec.appDId is app_d_id, by name."""
    return await _list(api, namespace, APPPACKAGES, f"spec.appDId={app_d_id}")


async def list_app_packages(api: client.ApiClient, namespace: str) -> list[dict[str, Any]]:
    """Every AppPackage of the namespace, by name."""
    return await _list(api, namespace, APPPACKAGES)
