"""Which AppLcm subscriptions an app instance event concerns, and the notification each gets.

Events and the subscription type that receives each (GS MEC 010-2 v3.1.1, 6.2.2.10-6.2.2.30):

- an app instance is created (POST app_instances) -> AppIdentifierCreationSubscription gets an
  AppInstanceIdentifierCreationNotification;
- it is deleted -> AppIdentifierDeletionSubscription, AppInstanceIdentifierDeletionNotification;
- an operation occurrence enters a state (PROCESSING when it starts, then COMPLETED, FAILED_TEMP,
  FAILED) -> AppLcmOpOccStateChangeSubscription, AppLcmOpOccNotification;
- an operation COMPLETED changes the instance's state (instantiate: STARTED, operate: the target,
  terminate: NOT_INSTANTIATED) -> AppInstanceStateChangeSubscription, AppInstNotification.

A subscription's appInstanceSubscriptionFilter selects instances by `appInstSelectorType`:
0 (void) every one; 1 APP_IDENTITY, 2 APP_NAME, 3 APP_D_ID: the instance's id, appInstanceName,
appDId listed in `appInstances`; 4 APP_FROM_PROVIDER: `appsFromProviders` (a provider, then
optionally products by appName, then optionally versions by appSoftVersion and appDVersion). The
file types `appInstanceState`, `operationTypes` and `operationStates` as one string each, their
descriptions speak of several: a string or a list of strings is taken. Facts in, JSON out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from mec_orchestrator.model import AppPackage, EdgeApp


class SubscriptionType(StrEnum):
    """AppInstanceSubscriptionType: the four AppLcm subscription types."""

    INSTANCE_STATE = "AppInstanceStateChangeSubscription"
    OP_OCC_STATE = "AppLcmOpOccStateChangeSubscription"
    CREATION = "AppIdentifierCreationSubscription"
    DELETION = "AppIdentifierDeletionSubscription"


class SelectorType(IntEnum):
    """appInstSelectorType values."""

    VOID = 0
    APP_IDENTITY = 1
    APP_NAME = 2
    APP_D_ID = 3
    APP_FROM_PROVIDER = 4


@dataclass(frozen=True)
class InstanceFacts:
    """What filters match an app instance on (the AppInstanceInfo attributes they name)."""

    id: str
    app_d_id: str
    app_provider: str
    app_name: str
    app_soft_version: str
    app_d_version: str
    app_pkg_id: str
    app_instance_name: str | None = None


INSTANCE_NAME_ANNOTATION = "mec.dev/app-instance-name"
"""Where an EdgeApp keeps the appInstanceName it was created with (MEC 010-2)."""


def instance_facts(app: EdgeApp, package: AppPackage | None) -> InstanceFacts:
    """The facts filters match an EdgeApp on (its package gives the appDVersion)."""
    ref = app.spec.app_package_ref
    return InstanceFacts(
        id=app.metadata.name or "",
        app_d_id=app.spec.app_d_id,
        app_provider=app.spec.app_provider,
        app_name=app.spec.app_name,
        app_soft_version=app.spec.app_soft_version,
        app_d_version=(package.spec.app_d_version or "") if package is not None else "",
        app_pkg_id=ref.name if ref is not None else "",
        app_instance_name=(app.metadata.annotations or {}).get(INSTANCE_NAME_ANNOTATION),
    )


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _provider_matches(entry: Mapping[str, Any], instance: InstanceFacts) -> bool:
    if entry.get("appProvider") != instance.app_provider:
        return False
    products = entry.get("appProducts") or []
    if not products:
        return True
    for product in products:
        if not isinstance(product, Mapping) or product.get("appName") != instance.app_name:
            continue
        versions = product.get("versions") or []
        if not versions:
            return True
        for version in versions:
            if not isinstance(version, Mapping):
                continue
            if version.get("appSoftVersion") != instance.app_soft_version:
                continue
            d_versions = _strings(version.get("appDVersion"))
            if not d_versions or instance.app_d_version in d_versions:
                return True
    return False


def instance_matches(criteria: Mapping[str, Any] | None, instance: InstanceFacts) -> bool:
    """Whether the appInstanceSubscriptionFilter (None: absent) selects the instance."""
    if not criteria:
        return True
    selector = criteria.get("appInstSelectorType", SelectorType.VOID)
    listed = _strings(criteria.get("appInstances"))
    match selector:
        case SelectorType.APP_IDENTITY:
            return instance.id in listed
        case SelectorType.APP_NAME:
            return instance.app_instance_name is not None and instance.app_instance_name in listed
        case SelectorType.APP_D_ID:
            return instance.app_d_id in listed
        case SelectorType.APP_FROM_PROVIDER:
            providers = criteria.get("appsFromProviders") or []
            return any(isinstance(p, Mapping) and _provider_matches(p, instance) for p in providers)
    return True


@dataclass(frozen=True)
class Event:
    """Something that happened to an app instance, for the subscriptions to be matched with.

    `kind` is the subscription type that receives it; `state` the instance's new state
    (INSTANCE_STATE: NOT_INSTANTIATED, STARTED, STOPPED) or the occurrence's (OP_OCC_STATE:
    PROCESSING, COMPLETED, FAILED_TEMP, FAILED); `operation` and `op_occ_id` for OP_OCC_STATE.
    """

    kind: SubscriptionType
    instance: InstanceFacts
    state: str | None = None
    operation: str | None = None
    op_occ_id: str | None = None


def _op_occ_wanted(criteria: Mapping[str, Any], event: Event) -> bool:
    op_filter = criteria.get("appLcmOpOccSubscriptionFilter") or {}
    if not isinstance(op_filter, Mapping):
        return False
    types = _strings(op_filter.get("operationTypes"))
    states = _strings(op_filter.get("operationStates"))
    notification_types = _strings(op_filter.get("notificationTypes"))
    return (
        (not notification_types or "AppLcmOpOccNotification" in notification_types)
        and (not types or event.operation in types)
        and (not states or event.state in states)
        and instance_matches(op_filter.get("appInstanceSubscriptionFilter"), event.instance)
    )


def wants(subscription_type: str, criteria: Mapping[str, Any] | None, event: Event) -> bool:
    """Whether a subscription of that type, with those criteria, wants the event.

    criteria holds the attributes of the subscription request that select: appInstanceState,
    appInstanceSubscriptionFilter, appLcmOpOccSubscriptionFilter.
    """
    if subscription_type != event.kind.value:
        return False
    criteria = criteria or {}
    if event.kind is SubscriptionType.OP_OCC_STATE:
        return _op_occ_wanted(criteria, event)
    if event.kind is SubscriptionType.INSTANCE_STATE:
        states = _strings(criteria.get("appInstanceState"))
        if states and event.state not in states:
            return False
    return instance_matches(criteria.get("appInstanceSubscriptionFilter"), event.instance)


def time_stamp(at: datetime) -> dict[str, int]:
    return {"seconds": int(at.timestamp()), "nanoSeconds": at.microsecond * 1000}


def notification(
    event: Event,
    *,
    notification_id: str,
    subscription_id: str,
    subscription_href: str,
    instance_href: str,
    op_occ_href: str | None,
    at: datetime,
) -> dict[str, Any]:
    """The notification body the event gives one subscription (the file's required attributes)."""
    base: dict[str, Any] = {
        "id": notification_id,
        "notificationType": event.kind.value,
        "subscriptionId": subscription_id,
        "timeStamp": time_stamp(at),
        "appInstanceId": event.instance.id,
    }
    subscription = {"href": subscription_href}
    instance = {"href": instance_href}
    match event.kind:
        case SubscriptionType.INSTANCE_STATE:
            return base | {
                "appInstanceState": event.state,
                "appPkgId": event.instance.app_pkg_id,
                "appDId": event.instance.app_d_id,
                "_links": {"subscription": subscription},
            }
        case SubscriptionType.OP_OCC_STATE:
            return base | {
                "operationType": event.operation,
                "operationState": event.state,
                "appLcmOpOccId": event.op_occ_id,
                "_links": {
                    "appInstance": instance,
                    "subscription": subscription,
                    "appLcmOpOcc": {"href": op_occ_href or ""},
                },
            }
    return base | {"_links": {"subscription": subscription, "appInstance": instance}}


def instance_state_after(operation: str, change_state_to: str | None) -> str:
    """The app instance state an operation that COMPLETED leaves (ETSI names)."""
    if operation == "TERMINATE":
        return "NOT_INSTANTIATED"
    if operation == "OPERATE" and change_state_to is not None:
        return change_state_to
    return "STARTED"


def selected_subscriptions(
    subscriptions: Sequence[tuple[str, str, Mapping[str, Any] | None]], event: Event
) -> list[str]:
    """The ids of the (id, subscription type, criteria) that want the event, in order."""
    return [sid for sid, kind, criteria in subscriptions if wants(kind, criteria, event)]
