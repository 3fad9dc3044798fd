"""The custom objects of the mec.dev group: listed in pages, read or None, created, deleted.

And the server-side apply of any object (`apply`, field manager `mec-orchestrator`), which
instances (Deployments, Services) and package content (ConfigMaps) are written with.

Every adapter here that reads or writes our resources (EdgeApps, AppPackages, AppLcmOpOccs,
MecSubscriptions, Zones) does so through these few calls, so each is written once: lists are
read in pages of 500 (a namespace may hold thousands; one unbounded list would hold the API
server's memory and ours), a read of an object that is not there is None rather than an error,
a create validates fields strictly (the API server refuses what the CRD does not know: ApiError
422 naming the field), and a delete of an object that is gone already says so (False).
`namespace=None` means a cluster-scoped resource (Zones) or, for a list, every namespace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mec_orchestrator.model import GROUP, VERSION

PAGE = 500
FIELD_MANAGER = "mec-orchestrator"


async def list_objects(
    api: client.ApiClient,
    plural: str,
    namespace: str | None,
    *,
    label_selector: str = "",
    field_selector: str = "",
) -> list[dict[str, Any]]:
    """The objects of namespace (None: cluster-scoped, or every namespace) as stored, unsorted."""
    custom = client.CustomObjectsApi(api)
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        args: dict[str, Any] = {"limit": PAGE}
        if label_selector:
            args["label_selector"] = label_selector
        if field_selector:
            args["field_selector"] = field_selector
        if token:
            args["_continue"] = token
        if namespace is None:
            page: dict[str, Any] = await custom.list_cluster_custom_object(
                GROUP, VERSION, plural, **args
            )
        else:
            page = await custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, **args
            )
        found.extend(page.get("items", []))
        token = page.get("metadata", {}).get("continue")
        if not token:
            return found


async def get_object(
    api: client.ApiClient, plural: str, namespace: str | None, name: str
) -> dict[str, Any] | None:
    """The object as stored, or None when there is none (namespace None: cluster-scoped)."""
    custom = client.CustomObjectsApi(api)
    try:
        if namespace is None:
            body: dict[str, Any] = await custom.get_cluster_custom_object(
                GROUP, VERSION, plural, name
            )
        else:
            body = await custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name
            )
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return body


async def create_object(
    api: client.ApiClient, plural: str, namespace: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    """Create the object (strict field validation); as stored (a generateName filled in)."""
    created: dict[str, Any] = await client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, plural, dict(body), field_validation="Strict"
    )
    return created


async def delete_object(
    api: client.ApiClient,
    plural: str,
    namespace: str,
    name: str,
    *,
    resource_version: str | None = None,
    background: bool = False,
) -> bool:
    """Delete the object; False when there was none.

    With resource_version, only that version (ApiError 409 when it changed); background: its
    dependents are deleted by the garbage collector after it.
    """
    custom = client.CustomObjectsApi(api)
    try:
        if resource_version is None and not background:
            await custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        else:
            options = client.V1DeleteOptions(
                preconditions=client.V1Preconditions(resource_version=resource_version)
                if resource_version is not None
                else None,
                propagation_policy="Background" if background else None,
            )
            await custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, body=options
            )
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


async def apply(api: client.ApiClient, path: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Server-side apply of the object at path (forced: this manager owns its fields); as stored."""
    stored: dict[str, Any] = await api.call_api(
        path,
        "PATCH",
        query_params=[("fieldManager", FIELD_MANAGER), ("force", "true")],
        header_params={
            "Content-Type": "application/apply-patch+yaml",
            "Accept": "application/json",
        },
        body=dict(manifest),
        auth_settings=["BearerToken"],
        response_types_map={200: "object", 201: "object"},
        _return_http_data_only=True,
    )
    return stored
