"""The MecSubscription resource: a durable ETSI MEC subscription to notifications.

Clients of the REST API subscribe (MEC 010-2 AppPkgm and AppLcm, MEC 013 Location, MEC 021
AppMobility) by POSTing a subscription with a `callbackReference`; the orchestrator keeps each one
as a MecSubscription, so subscriptions survive restarts and fail-over, and POSTs notifications to
the callback. The spec keeps the subscription as the client sent it (`body`, returned on GET) and
the fields the orchestrator matches on; the status counts deliveries.

The callback check is shared with the delivery adapter (`check_callback_reference`), so a
callback the CRD accepts is one the delivery accepts, and the other way round.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from mec_orchestrator.model.base import ApiModel, ObjectMeta, Time
from mec_orchestrator.model.conditions import Conditions

API_LABEL = "mec.dev/api"
"""Label carrying spec.api on every MecSubscription, for listing one API's subscriptions."""

CALLBACK_MAX_LENGTH = 2048
CALLBACK_PATTERN = r"^https?://\S+$"
"""A callback is an absolute http:// or https:// URI without white space (lower-case scheme)."""

SUBSCRIPTION_TYPE_PATTERN = r"^[A-Za-z][A-Za-z0-9]*$"
"""An ETSI data type name, e.g. AppInstanceStateChangeSubscription."""

FAILURE_MAX_LENGTH = 1024

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


class SubscriptionApi(StrEnum):
    """The ETSI MEC API a subscription belongs to."""

    APP_PKGM = "AppPkgm"  # MEC 010-2 application package management
    APP_LCM = "AppLcm"  # MEC 010-2 application lifecycle management
    LOCATION = "Location"  # MEC 013 location API
    APP_MOBILITY = "AppMobility"  # MEC 021 application mobility service


class MecSubscriptionConditionType(StrEnum):
    """The condition types a MecSubscription reports."""

    DELIVERING = "Delivering"  # the last notification reached the callback (2xx)
    EXPIRED = "Expired"  # spec.expiryDeadline has passed: no more notifications


def check_callback_reference(uri: str) -> str:
    """The URI if it is an absolute http(s) URI with a host, as the CRD requires; else ValueError.

    The same rule as the CRD's pattern and CEL rule (`isURL`, a host): the scheme is `http` or
    `https` in lower case, there is a host, no white space, at most 2048 characters.
    """
    if len(uri) > CALLBACK_MAX_LENGTH:
        raise ValueError(f"a callback URI has at most {CALLBACK_MAX_LENGTH} characters")
    scheme = uri.split(":", 1)[0] if ":" in uri else ""
    if scheme not in ("http", "https"):
        raise ValueError(
            f"a callback URI must start with http:// or https://, not {scheme or 'no'} scheme"
        )
    if not uri.startswith(f"{scheme}://") or any(c.isspace() or not c.isprintable() for c in uri):
        raise ValueError("a callback URI must be absolute (scheme://host/...) without white space")
    if _BAD_ESCAPE.search(uri.split("?", 1)[0]):
        raise ValueError("a callback URI must not contain a % that starts no %XX escape")
    try:
        parts = urlsplit(uri)
        host, _ = parts.hostname, parts.port  # .port checks the port
    except ValueError as error:  # an unbalanced [ in the host, a port that is no number
        raise ValueError(f"a callback URI must be a valid URI: {error}") from None
    if not host:
        raise ValueError("a callback URI must name a host")
    return uri


CallbackReference = Annotated[
    str,
    Field(min_length=1, max_length=CALLBACK_MAX_LENGTH, pattern=CALLBACK_PATTERN),
    AfterValidator(check_callback_reference),
]
SubscriptionType = Annotated[
    str, Field(min_length=1, max_length=64, pattern=SUBSCRIPTION_TYPE_PATTERN)
]


class MecSubscriptionSpec(ApiModel):
    """The subscription as the client sent it and the fields notifications are matched on."""

    api: SubscriptionApi
    subscription_type: SubscriptionType
    callback_reference: CallbackReference
    filter: dict[str, Any] | None = None
    expiry_deadline: Time | None = None
    body: dict[str, Any] | None = None

    def is_expired(self, now: datetime) -> bool:
        """True when the subscription has an expiry deadline and it is not after now."""
        return self.expiry_deadline is not None and self.expiry_deadline <= now


class MecSubscriptionStatus(ApiModel):
    """What the orchestrator observed delivering the subscription's notifications."""

    delivered_count: Annotated[int, Field(ge=0)] | None = None
    failed_count: Annotated[int, Field(ge=0)] | None = None
    last_delivery_time: Time | None = None
    last_failure: Annotated[str, Field(max_length=FAILURE_MAX_LENGTH)] | None = None
    conditions: Conditions | None = None


class MecSubscription(ApiModel):
    """An ETSI MEC subscription (kind MecSubscription, namespaced, short name `msub`)."""

    KIND: ClassVar[str] = "MecSubscription"
    PLURAL: ClassVar[str] = "mecsubscriptions"
    NAMESPACED: ClassVar[bool] = True

    api_version: Literal["mec.dev/v1alpha1"] = "mec.dev/v1alpha1"
    kind: Literal["MecSubscription"] = "MecSubscription"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: MecSubscriptionSpec
    status: MecSubscriptionStatus | None = None
