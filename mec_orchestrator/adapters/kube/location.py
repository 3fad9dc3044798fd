"""What the MEC 013 location API reads and writes in the API server: Zones and its subscriptions.

Zones are cluster-scoped and read as stored (the REST API answers what `kubectl get zones`
shows). Location subscriptions are MecSubscriptions (see `subscriptions.py`); here they are
created under a name the caller chose (the REST API puts the subscription's own URI into the
stored body, so it must know the name before the object exists) and replaced whole on PUT,
with the resourceVersion read, so a concurrent change is a conflict, never lost.
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mec_orchestrator.model import GROUP, VERSION, ObjectMeta, Zone
from mec_orchestrator.model.subscription import API_LABEL, MecSubscription, MecSubscriptionSpec

ZONES = Zone.PLURAL
SUBSCRIPTIONS = MecSubscription.PLURAL


async def list_zones(api: client.ApiClient) -> list[Zone]:
    """Every Zone, sorted by name (read in pages of 500)."""
    custom = client.CustomObjectsApi(api)
    found: list[Zone] = []
    token: str | None = None
    while True:
        page_args: dict[str, Any] = {"limit": 500}
        if token:
            page_args["_continue"] = token
        page: dict[str, Any] = await custom.list_cluster_custom_object(
            GROUP, VERSION, ZONES, **page_args
        )
        found.extend(Zone.model_validate(item) for item in page.get("items", []))
        token = page.get("metadata", {}).get("continue")
        if not token:
            break
    return sorted(found, key=lambda z: z.metadata.name or "")


async def get_zone(api: client.ApiClient, name: str) -> Zone | None:
    """The Zone name as stored, or None when there is none."""
    try:
        body: dict[str, Any] = await client.CustomObjectsApi(api).get_cluster_custom_object(
            GROUP, VERSION, ZONES, name
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return Zone.model_validate(body)


async def create_named_subscription(
    api: client.ApiClient, namespace: str, name: str, spec: MecSubscriptionSpec
) -> MecSubscription:
    """Create the MecSubscription namespace/name (label mec.dev/api = spec.api); as stored.

    ApiError 409 when the name is taken; 422 naming the field the API server refuses.
    """
    body = MecSubscription(
        metadata=ObjectMeta(name=name, labels={API_LABEL: spec.api.value}), spec=spec
    ).to_dict()
    created: dict[str, Any] = await client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, SUBSCRIPTIONS, body, field_validation="Strict"
    )
    return MecSubscription.model_validate(created)


async def replace_subscription_spec(
    api: client.ApiClient, current: MecSubscription, spec: MecSubscriptionSpec
) -> MecSubscription:
    """Replace the spec of the MecSubscription read as current; as stored.

    The write carries current's resourceVersion: ApiError 409 if it changed since it was read,
    404 if it is gone, 422 if the API server refuses the spec (e.g. another subscriptionType).
    """
    namespace, name = current.metadata.namespace or "", current.metadata.name or ""
    body = current.model_copy(update={"spec": spec}).to_dict()
    body.pop("status", None)
    replaced: dict[str, Any] = await client.CustomObjectsApi(api).replace_namespaced_custom_object(
        GROUP, VERSION, namespace, SUBSCRIPTIONS, name, body, field_validation="Strict"
    )
    return MecSubscription.model_validate(replaced)
