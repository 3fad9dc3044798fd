"""MecSubscriptions in the API server: create, read, list, delete, and the status writer.

The REST API keeps every ETSI subscription a client POSTs as a MecSubscription (its id is the
object's name, generated with the prefix `sub-`), so subscriptions outlive the process. Each
object carries the label `mec.dev/api` = spec.api, so one API's subscriptions are listed with a
label selector. The status (delivery counts) is written with a merge patch of the status
subresource: the fields sent replace theirs, the others are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mec_orchestrator.adapters.kube.status import merge_patch
from mec_orchestrator.model import GROUP, VERSION, ObjectMeta
from mec_orchestrator.model.subscription import (
    API_LABEL,
    MecSubscription,
    MecSubscriptionSpec,
    MecSubscriptionStatus,
    SubscriptionApi,
)

GENERATE_NAME = "sub-"
PLURAL = MecSubscription.PLURAL


def _path(namespace: str, name: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"


async def create_subscription(
    api: client.ApiClient,
    namespace: str,
    spec: MecSubscriptionSpec,
    *,
    labels: Mapping[str, str] | None = None,
) -> MecSubscription:
    """Create a MecSubscription named `sub-<random>` in namespace; the object as stored.

    The label `mec.dev/api` is set from spec.api (it overrides a label of that key in labels).
    Fields are validated strictly: the API server refuses what the CRD does not know (ApiError
    422 naming the field).
    """
    body = MecSubscription(
        metadata=ObjectMeta(
            generate_name=GENERATE_NAME, labels={**(labels or {}), API_LABEL: spec.api.value}
        ),
        spec=spec,
    ).to_dict()
    created: dict[str, Any] = await client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body, field_validation="Strict"
    )
    return MecSubscription.model_validate(created)


async def get_subscription(
    api: client.ApiClient, namespace: str, name: str
) -> MecSubscription | None:
    """The MecSubscription namespace/name as stored, or None when there is none."""
    try:
        body: dict[str, Any] = await client.CustomObjectsApi(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return MecSubscription.model_validate(body)


async def list_subscriptions(
    api: client.ApiClient,
    namespace: str | None,
    *,
    subscription_api: SubscriptionApi | None = None,
) -> list[MecSubscription]:
    """The MecSubscriptions of namespace (None: every namespace), of one API if given.

    Sorted by namespace and name, so a listing is stable. Objects are read in pages of 500.
    """
    custom = client.CustomObjectsApi(api)
    selector = f"{API_LABEL}={subscription_api.value}" if subscription_api is not None else ""
    found: list[MecSubscription] = []
    token: str | None = None
    while True:
        page_args: dict[str, Any] = {"label_selector": selector, "limit": 500}
        if token:
            page_args["_continue"] = token
        if namespace is None:
            page: dict[str, Any] = await custom.list_cluster_custom_object(
                GROUP, VERSION, PLURAL, **page_args
            )
        else:
            page = await custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, **page_args
            )
        found.extend(MecSubscription.model_validate(item) for item in page.get("items", []))
        token = page.get("metadata", {}).get("continue")
        if not token:
            break
    return sorted(found, key=lambda s: (s.metadata.namespace or "", s.metadata.name or ""))


async def delete_subscription(api: client.ApiClient, namespace: str, name: str) -> bool:
    """Delete the MecSubscription namespace/name; False when there was none."""
    try:
        await client.CustomObjectsApi(api).delete_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


async def write_subscription_status(
    api: client.ApiClient,
    namespace: str,
    name: str,
    status: MecSubscriptionStatus | Mapping[str, Any],
) -> MecSubscription | None:
    """Merge status into the MecSubscription's status; the object as stored, None if gone.

    A model is sent without its unset fields, so only the fields it sets are replaced; a mapping
    is sent as is (a field set to None is removed, as a merge patch does).
    """
    fields = status.to_dict() if isinstance(status, MecSubscriptionStatus) else dict(status)
    try:
        stored = await merge_patch(api, f"{_path(namespace, name)}/status", {"status": fields})
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return MecSubscription.model_validate(stored)
