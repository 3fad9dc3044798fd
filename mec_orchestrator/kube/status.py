"""The single writer of EdgeApp status: a merge patch of the status subresource."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from mec_orchestrator.model import GROUP, VERSION


async def write_edgeapp_status(
    api: client.ApiClient, namespace: str, name: str, status: dict[str, Any]
) -> None:
    await api.call_api(
        f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/edgeapps/{name}/status",
        "PATCH",
        header_params={
            "Content-Type": "application/merge-patch+json",
            "Accept": "application/json",
        },
        body={"status": status},
        auth_settings=["BearerToken"],
        response_types_map={200: "object"},
        _return_http_data_only=True,
    )
