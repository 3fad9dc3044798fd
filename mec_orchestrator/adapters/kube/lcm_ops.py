"""AppLcmOpOccs in the API server: create, read, list, the client's requests, the status writer.

The REST API creates an occurrence (owned by its EdgeApp, so it goes with it) without a status:
it is PROCESSING since its creation until the operator, the only writer of the status, writes
one (`write_op_occ_status` replaces the whole status). A client's retry, fail or cancel is a
merge patch of `spec.request`, made only if the occurrence is still at the resourceVersion the
API checked the state of (else 409, and the API checks again).
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mec_common.rbac import PolicyRule
from mec_orchestrator.adapters.kube import objects
from mec_orchestrator.adapters.kube.status import merge_patch
from mec_orchestrator.model import (
    GROUP,
    VERSION,
    AppLcmOpOcc,
    AppLcmOpOccStatus,
    LcmRequest,
)
from mec_orchestrator.model.lcm_op_occ import APP_INSTANCE_LABEL

REQUIRED_RULES: tuple[PolicyRule, ...] = (
    PolicyRule(
        (GROUP,),
        ("applcmopoccs",),
        ("get", "list", "watch", "create", "update", "patch", "delete"),
        scope="cluster",
    ),
    PolicyRule((GROUP,), ("applcmopoccs/status",), ("get", "patch", "update"), scope="cluster"),
)
"""MEC 010-2 lifecycle operation occurrences are objects in the apps' namespaces."""


PLURAL = AppLcmOpOcc.PLURAL


def _path(namespace: str, name: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"


async def create_op_occ(api: client.ApiClient, namespace: str, occ: AppLcmOpOcc) -> AppLcmOpOcc:
    """Create the occurrence (its name generated from metadata.generateName); as stored."""
    return AppLcmOpOcc.model_validate(
        await objects.create_object(api, PLURAL, namespace, occ.to_dict())
    )


async def get_op_occ(api: client.ApiClient, namespace: str, name: str) -> AppLcmOpOcc | None:
    """The occurrence namespace/name as stored, or None when there is none."""
    body = await objects.get_object(api, PLURAL, namespace, name)
    return AppLcmOpOcc.model_validate(body) if body is not None else None


async def list_op_occs(
    api: client.ApiClient, namespace: str, app_instance: str | None = None
) -> list[AppLcmOpOcc]:
    """The occurrences of the namespace (of one app instance if given), oldest first."""
    selector = f"{APP_INSTANCE_LABEL}={app_instance}" if app_instance else ""
    found = [
        AppLcmOpOcc.model_validate(item)
        for item in await objects.list_objects(api, PLURAL, namespace, label_selector=selector)
    ]
    return sorted(
        found,
        key=lambda o: (o.metadata.creation_timestamp is None, o.metadata.creation_timestamp,
                       o.metadata.name or ""),
    )  # fmt: skip


async def delete_op_occ(api: client.ApiClient, namespace: str, name: str) -> None:
    """Delete the occurrence (gone already is fine)."""
    await objects.delete_object(api, PLURAL, namespace, name)


async def write_op_occ_status(
    api: client.ApiClient, namespace: str, name: str, status: AppLcmOpOccStatus
) -> AppLcmOpOcc | None:
    """Replace the occurrence's status with status (fields it leaves unset are removed).

    The occurrence as stored, or None when it is gone.
    """
    cleared: dict[str, Any] = {field.alias or key: None for key, field in _STATUS_FIELDS.items()}
    body = {"status": {**cleared, **status.to_dict()}}
    try:
        stored = await merge_patch(api, f"{_path(namespace, name)}/status", body)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return AppLcmOpOcc.model_validate(stored)


_STATUS_FIELDS = AppLcmOpOccStatus.model_fields


async def request_on_op_occ(
    api: client.ApiClient,
    namespace: str,
    name: str,
    request: LcmRequest,
    resource_version: str,
) -> AppLcmOpOcc:
    """Record a client's request in spec.request, if the occurrence is still at resource_version.

    ApiError 409 when it changed since (the caller reads it again), 404 when it is gone.
    """
    replaced = {field.alias or key: None for key, field in LcmRequest.model_fields.items()}
    body = {
        "metadata": {"resourceVersion": resource_version},
        "spec": {"request": {**replaced, **request.to_dict()}},  # a merge patch keeps the rest
    }
    stored = await merge_patch(api, _path(namespace, name), body)
    return AppLcmOpOcc.model_validate(stored)
