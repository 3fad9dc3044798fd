"""Reading AppPackages: the pod template an EdgeApp that names a package runs."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mec_orchestrator.model import GROUP, VERSION


async def read_app_package(
    api: client.ApiClient, namespace: str, name: str
) -> dict[str, Any] | None:
    """The AppPackage namespace/name as stored, or None when there is none."""
    try:
        body: dict[str, Any] = await client.CustomObjectsApi(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, "apppackages", name
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return body
