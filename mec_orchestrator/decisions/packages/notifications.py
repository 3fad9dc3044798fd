"""Which AppPkgm subscriptions a package event concerns, and the AppPkgNotification each gets.

Events and the subscription type that receives each (GS MEC 010-2 v3.1.1, 6.2.3.6-6.2.3.7):

- AppPackageOnBoarded: the uploaded content is onboarded -> AppPackageOnBoardingSubscription;
- AppPackageEnabled, AppPackageDisabled: PATCH changes the operational state ->
  AppPackageChangeSubscription;
- AppPackageDeleted: DELETE removed the package -> AppPackageDeletionSubscription.

A subscription's `appPkgFilter` is a list of AppPkgFilter: the subscription wants a package when
the list is absent or empty, or when at least one of its filters matches; a filter matches when
every attribute it sets equals the package's (`appPkgInfoId` is the package id, the others have
the AppPkgInfo names). Facts in, JSON bodies out: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any


class NotificationType(StrEnum):
    ONBOARDED = "AppPackageOnBoarded"
    ENABLED = "AppPackageEnabled"
    DISABLED = "AppPackageDisabled"
    DELETED = "AppPackageDeleted"


class SubscriptionType(StrEnum):
    ONBOARDING = "AppPackageOnBoardingSubscription"
    CHANGE = "AppPackageChangeSubscription"
    DELETION = "AppPackageDeletionSubscription"


RECEIVED_BY = {
    NotificationType.ONBOARDED: SubscriptionType.ONBOARDING,
    NotificationType.ENABLED: SubscriptionType.CHANGE,
    NotificationType.DISABLED: SubscriptionType.CHANGE,
    NotificationType.DELETED: SubscriptionType.DELETION,
}
FILTER_ATTRIBUTES = {
    "appPkgInfoId": "id",
    "appDId": "appDId",
    "appProvider": "appProvider",
    "appName": "appName",
    "appSoftwareVersion": "appSoftwareVersion",
    "appDVersion": "appDVersion",
    "operationalState": "operationalState",
    "usageState": "usageState",
}
"""AppPkgFilter attribute -> the AppPkgInfo attribute it is compared with."""


def filter_matches(criteria: Mapping[str, Any], info: Mapping[str, Any]) -> bool:
    """Every attribute the AppPkgFilter sets equals the package's (unknown ones never match)."""
    for name, wanted in criteria.items():
        attribute = FILTER_ATTRIBUTES.get(name)
        if attribute is None or info.get(attribute) != wanted:
            return False
    return True


def wants(
    subscription_type: str,
    filters: Sequence[Mapping[str, Any]] | None,
    notification_type: NotificationType,
    info: Mapping[str, Any],
) -> bool:
    """Whether a subscription of that type and appPkgFilter receives this event of the package."""
    if RECEIVED_BY[notification_type] != subscription_type:
        return False
    return not filters or any(filter_matches(f, info) for f in filters)


def time_stamp(at: datetime) -> dict[str, int]:
    """The ETSI TimeStamp of an aware datetime: Unix seconds and nanoseconds."""
    seconds = int(at.timestamp())
    return {"seconds": seconds, "nanoSeconds": at.microsecond * 1000}


def notification(
    *,
    notification_id: str,
    notification_type: NotificationType,
    subscription_id: str,
    subscription_href: str,
    info: Mapping[str, Any],
    at: datetime,
) -> dict[str, Any]:
    """The AppPkgNotification body for one subscription (the id is the event's, shared)."""
    return {
        "id": notification_id,
        "notificationType": notification_type.value,
        "subscriptionId": subscription_id,
        "timeStamp": time_stamp(at),
        "appPkgId": info["id"],
        "appDId": info["appDId"],
        "operationalState": info["operationalState"],
        "_links": {"subscription": {"href": subscription_href}},
    }
