"""The MEC 012 (RNIS v2) shapes the emulator reads and writes, as pydantic models.

Only the part a MEC orchestrator consumes: cell-change subscriptions and notifications, RAB
information queries, subscription link lists and ProblemDetails. Field names are the GS's
(`_links` is spelt `links` in Python, with its alias); bodies are written without the
generator's one-property wrapper of the OpenAPI file (`{"CellChangeSubscription": {...}}`),
as the GS text shows them, and read either way.
"""

from __future__ import annotations

import enum
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class HoStatus(enum.IntEnum):
    """CellChangeNotification.hoStatus (GS MEC 012 6.4.2)."""

    IN_PREPARATION = 1
    IN_EXECUTION = 2
    COMPLETED = 3
    REJECTED = 4
    CANCELLED = 5


class AssociateIdType(enum.IntEnum):
    """AssociateId.type (GS MEC 012 6.5.4)."""

    RESERVED = 0
    UE_IPV4_ADDRESS = 1
    UE_IPV6_ADDRESS = 2
    NATED_IP_ADDRESS = 3
    GTP_TEID = 4


class _Shape(BaseModel):
    """Strict on input (unknown attributes are refused), by alias on output."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def body(self) -> dict[str, Any]:
        """The JSON object as the GS spells it (aliases, absent attributes left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Plmn(_Shape):
    mcc: str = Field(min_length=3, max_length=3, pattern=r"^[0-9]{3}$")
    mnc: str = Field(min_length=2, max_length=3, pattern=r"^[0-9]{2,3}$")


class Ecgi(_Shape):
    """A cell: the PLMN and the E-UTRAN cell identity (opaque here; 28 bits in the GS)."""

    plmn: Plmn
    cell_id: str = Field(alias="cellId", min_length=1, max_length=64)


class AssociateId(_Shape):
    type: AssociateIdType
    value: str = Field(min_length=1)


class TimeStamp(_Shape):
    seconds: int = Field(ge=0, le=2**32 - 1)
    nano_seconds: int = Field(alias="nanoSeconds", ge=0, le=999_999_999)

    @classmethod
    def from_ns(cls, t_ns: int) -> TimeStamp:
        return cls(seconds=t_ns // 1_000_000_000, nano_seconds=t_ns % 1_000_000_000)

    @classmethod
    def now(cls) -> TimeStamp:
        return cls.from_ns(time.time_ns())

    def as_ns(self) -> int:
        return self.seconds * 1_000_000_000 + self.nano_seconds


class LinkType(_Shape):
    href: str = Field(min_length=1)


class SelfLink(_Shape):
    self_: LinkType = Field(alias="self")


class TempUeId(_Shape):
    mmec: str
    mtmsi: str


class FilterCriteriaAssocHo(_Shape):
    app_instance_id: str | None = Field(default=None, alias="appInstanceId")
    associate_id: list[AssociateId] | None = Field(default=None, alias="associateId")
    ecgi: list[Ecgi] | None = None
    ho_status: list[HoStatus] | None = Field(default=None, alias="hoStatus")


class WebsockNotifConfig(_Shape):
    websocket_uri: str | None = Field(default=None, alias="websocketUri")
    request_websocket_uri: bool | None = Field(default=None, alias="requestWebsocketUri")


class CellChangeSubscription(_Shape):
    subscription_type: Literal["CellChangeSubscription"] = Field(alias="subscriptionType")
    callback_reference: str | None = Field(default=None, alias="callbackReference")
    request_test_notification: bool | None = Field(default=None, alias="requestTestNotification")
    websock_notif_config: WebsockNotifConfig | None = Field(
        default=None, alias="websockNotifConfig"
    )
    links: SelfLink | None = Field(default=None, alias="_links")
    filter_criteria_assoc_ho: FilterCriteriaAssocHo = Field(
        default_factory=FilterCriteriaAssocHo, alias="filterCriteriaAssocHo"
    )
    expiry_deadline: TimeStamp | None = Field(default=None, alias="expiryDeadline")

    @field_validator("callback_reference")
    @classmethod
    def _http_callback(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("callbackReference is an http(s) URI")
        return value


class SubscriptionNotificationLinks(_Shape):
    """CellChangeNotification._links as the GS defines it: the subscription's URI."""

    subscription: LinkType


class CellChangeNotification(_Shape):
    """GS MEC 012 6.4.2. `subscription` repeats `_links.subscription` as the file requires."""

    notification_type: Literal["CellChangeNotification"] = Field(
        default="CellChangeNotification", alias="notificationType"
    )
    time_stamp: TimeStamp | None = Field(default=None, alias="timeStamp")
    associate_id: list[AssociateId] = Field(default_factory=list, alias="associateId")
    src_ecgi: Ecgi = Field(alias="srcEcgi")
    trg_ecgi: list[Ecgi] = Field(alias="trgEcgi", min_length=1)
    ho_status: HoStatus = Field(alias="hoStatus")
    temp_ue_id: TempUeId | None = Field(default=None, alias="tempUeId")
    links: SubscriptionNotificationLinks = Field(alias="_links")
    subscription: list[LinkType] = Field(default_factory=list)


class ErabQosParameters(_Shape):
    qci: int


class ErabInfo(_Shape):
    erab_id: int = Field(alias="erabId")
    erab_qos_parameters: ErabQosParameters | None = Field(default=None, alias="erabQosParameters")


class UeInfo(_Shape):
    associate_id: list[AssociateId] = Field(default_factory=list, alias="associateId")
    erab_info: list[ErabInfo] = Field(alias="erabInfo")


class CellUserInfo(_Shape):
    ecgi: Ecgi
    ue_info: list[UeInfo] = Field(alias="ueInfo")


class RabInfo(_Shape):
    time_stamp: TimeStamp | None = Field(default=None, alias="timeStamp")
    app_instance_id: str = Field(alias="appInstanceId")
    request_id: str = Field(alias="requestId")
    cell_user_info: list[CellUserInfo] = Field(default_factory=list, alias="cellUserInfo")


class SubscriptionLink(_Shape):
    href: str
    subscription_type: str = Field(alias="subscriptionType")


class SubscriptionLinkListLinks(_Shape):
    self_: LinkType = Field(alias="self")
    subscription: list[SubscriptionLink] = Field(default_factory=list)


class SubscriptionLinkList(_Shape):
    links: SubscriptionLinkListLinks = Field(alias="_links")


class ProblemDetails(_Shape):
    type: str | None = None
    title: str | None = None
    status: int
    detail: str
    instance: str | None = None


def unwrap(body: Any, root: str) -> Any:
    """The body inside the OpenAPI file's one-property wrapper `{root: {...}}`, or body."""
    if isinstance(body, dict) and len(body) == 1 and root in body:
        return body[root]
    return body
