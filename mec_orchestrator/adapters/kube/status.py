"""The status writers of EdgeApps and EdgeHosts: merge patches of the status subresource.

EdgeApp status has one writer, the app's daemon; EdgeHost status, the agent link's summaries of
what each host's agent reports. A merge patch replaces the lists it names (conditions,
accessPointRtt) and leaves other status fields alone, so each writer owns the fields it sends.
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mec_common.rbac import PolicyRule
from mec_orchestrator.model import GROUP, VERSION

REQUIRED_RULES: tuple[PolicyRule, ...] = (
    PolicyRule(
        (GROUP,), ("edgeapps/status", "edgehosts/status"), ("get", "patch"), scope="cluster"
    ),
)
"""Merge patches of EdgeApp and EdgeHost status."""


async def merge_patch(api: client.ApiClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """JSON merge patch of the object at path (the generated clients would send a JSON patch)."""
    result: dict[str, Any] = await api.call_api(
        path,
        "PATCH",
        header_params={
            "Content-Type": "application/merge-patch+json",
            "Accept": "application/json",
        },
        body=body,
        auth_settings=["BearerToken"],
        response_types_map={200: "object"},
        _return_http_data_only=True,
    )
    return result


async def _merge_status(api: client.ApiClient, path: str, status: dict[str, Any]) -> dict[str, Any]:
    return await merge_patch(api, f"{path}/status", {"status": status})


async def write_edgeapp_status(
    api: client.ApiClient, namespace: str, name: str, status: dict[str, Any]
) -> dict[str, Any]:
    """Merge status into the EdgeApp's status; the EdgeApp as stored."""
    return await _merge_status(
        api, f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/edgeapps/{name}", status
    )


async def write_edgehost_status(api: client.ApiClient, name: str, status: dict[str, Any]) -> bool:
    """Merge status into EdgeHost name's status; False when there is no such EdgeHost."""
    try:
        await _merge_status(api, f"/apis/{GROUP}/{VERSION}/edgehosts/{name}", status)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True
