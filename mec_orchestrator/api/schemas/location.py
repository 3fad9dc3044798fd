"""GS MEC 013 v3.1.1 location data types (the file's schemas) as pydantic models.

MEC 013 bodies have a lower-camel root element (`{"zoneList": {...}}`,
`{"zoneStatusSubscription": {...}}`): that is the GS's shape, not a generator's wrapper, so
answers carry it and requests must. Requests refuse unknown attributes and name the field that
is wrong (`body.zoneStatusSubscription.zoneId: Field required`). Responses are dumped with
`etsi()`: ETSI names, absent attributes left out.

Subscriptions need a `callbackReference`: Websocket delivery (`websockNotifConfig`) is not
offered, and when both are sent the callback is the alternative chosen (GS MEC 009 6.12a).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AfterValidator,
    Field,
    field_validator,
    model_validator,
)

from mec_orchestrator.api.schemas.common import EtsiModel, LinkType, SubscriptionLink, TimeStamp
from mec_orchestrator.model.subscription import CALLBACK_MAX_LENGTH, check_callback_reference
from mec_orchestrator.model.zone import ConnectionType, OperationStatus

MAX_LIST = 256
MAX_TEXT = 1024
PERIODIC_LIMIT_SECONDS = 8_639_999
"""reportingAmount x reportingInterval must not exceed this (99 days, 23:59:59)."""


# -- shared ------------------------------------------------------------------------------------


class Links(EtsiModel):
    self_: LinkType = Field(alias="self")


def _address(value: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise ValueError("an address is a URI without white space (e.g. acr:10.0.0.1)")
    return value


Address = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(_address)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
ZoneId = Annotated[str, Field(min_length=1, max_length=253)]
AccessPointId = Annotated[str, Field(min_length=1, max_length=128)]
Count = Annotated[int, Field(ge=0, le=2**32 - 1)]


# -- queries -----------------------------------------------------------------------------------


class LocationInfo(EtsiModel):
    """LocationInfo (6.5.3): an ellipsoid point (shape 2) where the access point stands."""

    latitude: list[float]
    longitude: list[float]
    shape: int = 2


class AccessPointInfo(EtsiModel):
    access_point_id: str = Field(alias="accessPointId")
    connection_type: ConnectionType = Field(alias="connectionType")
    operation_status: OperationStatus = Field(alias="operationStatus")
    number_of_users: int = Field(alias="numberOfUsers")
    resource_url: str = Field(alias="resourceURL")
    location_info: LocationInfo | None = Field(default=None, alias="locationInfo")
    interest_realm: str | None = Field(default=None, alias="interestRealm")
    timezone: str | None = None


class AccessPointList(EtsiModel):
    zone_id: str = Field(alias="zoneId")
    access_point: list[AccessPointInfo] = Field(alias="accessPoint")
    resource_url: str = Field(alias="resourceURL")


class ZoneInfo(EtsiModel):
    zone_id: str = Field(alias="zoneId")
    number_of_access_points: int = Field(alias="numberOfAccessPoints")
    number_of_unserviceable_access_points: int = Field(alias="numberOfUnserviceableAccessPoints")
    number_of_users: int = Field(alias="numberOfUsers")
    resource_url: str = Field(alias="resourceURL")


class ZoneList(EtsiModel):
    zone: list[ZoneInfo]
    resource_url: str = Field(alias="resourceURL")


class UserInfo(EtsiModel):
    address: str
    access_point_id: str = Field(alias="accessPointId")
    zone_id: str = Field(alias="zoneId")
    resource_url: str = Field(alias="resourceURL")
    timestamp: TimeStamp
    location_info: LocationInfo | None = Field(default=None, alias="locationInfo")


class UserList(EtsiModel):
    user: list[UserInfo]
    resource_url: str = Field(alias="resourceURL")


class TerminalDistance(EtsiModel):
    distance: int
    accuracy: int | None = None
    timestamp: TimeStamp | None = None


class NotificationSubscriptionList(EtsiModel):
    subscription: list[SubscriptionLink]
    resource_url: LinkType = Field(alias="resourceURL")


# -- subscriptions -----------------------------------------------------------------------------


class LocationEventType(StrEnum):
    ENTERING_AREA_EVENT = "ENTERING_AREA_EVENT"
    LEAVING_AREA_EVENT = "LEAVING_AREA_EVENT"


class OccurrenceInfo(StrEnum):
    ONE_TIME_EVENT = "ONE_TIME_EVENT"
    MULTIPLE_TIME_EVENT = "MULTIPLE_TIME_EVENT"


class DistanceCriteria(StrEnum):
    ALL_WITHIN_DISTANCE = "AllWithinDistance"
    ANY_WITHIN_DISTANCE = "AnyWithinDistance"
    ALL_BEYOND_DISTANCE = "AllBeyondDistance"
    ANY_BEYOND_DISTANCE = "AnyBeyondDistance"


class WebsockNotifConfig(EtsiModel):
    request_websocket_uri: bool | None = Field(default=None, alias="requestWebsocketUri")
    websocket_uri: str | None = Field(default=None, alias="websocketUri", max_length=2048)


class ReportingCtrl(EtsiModel):
    maximum_count: Count | None = Field(default=None, alias="maximumCount")
    maximum_frequency: Count | None = Field(default=None, alias="maximumFrequency")
    minimum_interval: Count | None = Field(default=None, alias="minimumInterval")


def _callback(value: str) -> str:
    return check_callback_reference(value)


CallbackUri = Annotated[
    str, Field(min_length=1, max_length=CALLBACK_MAX_LENGTH), AfterValidator(_callback)
]


class SubscriptionBase(EtsiModel):
    """What every MEC 013 subscription type has (6.3.4 to 6.3.9)."""

    TYPE: ClassVar[str] = ""
    """The subscriptionType value (and the ETSI data type name)."""
    QUERY_TYPE: ClassVar[str | None] = None
    """The `subscription_type` query value that selects the type in listings."""

    subscription_type: str = Field(alias="subscriptionType", max_length=64)
    callback_reference: CallbackUri = Field(alias="callbackReference")
    client_correlator: Text | None = Field(default=None, alias="clientCorrelator")
    expiry_deadline: TimeStamp | None = Field(default=None, alias="expiryDeadline")
    request_test_notification: bool | None = Field(default=None, alias="requestTestNotification")
    websock_notif_config: WebsockNotifConfig | None = Field(
        default=None, alias="websockNotifConfig"
    )
    links: Links | None = Field(default=None, alias="_links")

    @field_validator("subscription_type")
    @classmethod
    def _named_type(cls, value: str) -> str:
        # The file's own example writes `userAreaSubscription`: the first letter may be lower.
        if value[:1].upper() + value[1:] != cls.TYPE:
            raise ValueError(f"must be {cls.TYPE!r} for this subscription")
        return cls.TYPE

    @classmethod
    def root(cls) -> str:
        """The body's root element for this type, e.g. zoneStatusSubscription."""
        return cls.TYPE[:1].lower() + cls.TYPE[1:]

    def matched_on(self) -> dict[str, Any]:
        """What notifications are matched on (MecSubscription spec.filter): the type's fields."""
        common = set(SubscriptionBase.model_fields)
        dumped = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        names = {
            (info.alias or name)
            for name, info in type(self).model_fields.items()
            if name not in common
        }
        return {k: v for k, v in dumped.items() if k in names}


class ZoneLocationEventSubscription(SubscriptionBase):
    TYPE: ClassVar[str] = "ZoneLocationEventSubscription"
    QUERY_TYPE: ClassVar[str | None] = "event"

    zone_id: ZoneId = Field(alias="zoneId")
    address_list: Annotated[list[Address], Field(max_length=MAX_LIST)] | None = Field(
        default=None, alias="addressList"
    )
    location_event_criteria: Annotated[list[LocationEventType], Field(max_length=2)] | None = Field(
        default=None, alias="locationEventCriteria"
    )
    reporting_ctrl: ReportingCtrl | None = Field(default=None, alias="reportingCtrl")


class ZoneStatusSubscription(SubscriptionBase):
    TYPE: ClassVar[str] = "ZoneStatusSubscription"
    QUERY_TYPE: ClassVar[str | None] = "status"

    zone_id: ZoneId = Field(alias="zoneId")
    operation_status: Annotated[list[OperationStatus], Field(max_length=3)] | None = Field(
        default=None, alias="operationStatus"
    )
    upper_number_of_users_zone_threshold: Count | None = Field(
        default=None, alias="upperNumberOfUsersZoneThreshold"
    )
    lower_number_of_users_zone_threshold: Count | None = Field(
        default=None, alias="lowerNumberOfUsersZoneThreshold"
    )
    upper_number_of_users_ap_threshold: Count | None = Field(
        default=None, alias="upperNumberOfUsersAPThreshold"
    )
    lower_number_of_users_ap_threshold: Count | None = Field(
        default=None, alias="lowerNumberOfUsersAPThreshold"
    )
    reporting_ctrl: ReportingCtrl | None = Field(default=None, alias="reportingCtrl")


class UserEventPara(EtsiModel):
    access_point_list: Annotated[list[AccessPointId], Field(max_length=MAX_LIST)] | None = Field(
        default=None, alias="accessPointList"
    )
    occurrence_info: OccurrenceInfo | None = Field(default=None, alias="occurrenceInfo")
    reporting_location_req: bool | None = Field(default=None, alias="reportingLocationReq")
    zone_id: ZoneId | None = Field(default=None, alias="zoneId")

    @model_validator(mode="after")
    def _one_area(self) -> Self:
        if self.access_point_list and self.zone_id is not None:
            raise ValueError("only one of accessPointList and zoneId may be present")
        return self


class UserLocationEventSubscription(SubscriptionBase):
    TYPE: ClassVar[str] = "UserLocationEventSubscription"
    QUERY_TYPE: ClassVar[str | None] = "event"

    address: Address
    location_event_criteria: Annotated[list[LocationEventType], Field(max_length=2)] | None = Field(
        default=None, alias="locationEventCriteria"
    )
    user_event_para: UserEventPara | None = Field(default=None, alias="userEventPara")


class PeriodicEventInfo(EtsiModel):
    reporting_amount: float = Field(alias="reportingAmount", gt=0)
    reporting_interval: float = Field(alias="reportingInterval", gt=0)

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if self.reporting_amount * self.reporting_interval > PERIODIC_LIMIT_SECONDS:
            raise ValueError(
                f"reportingAmount x reportingInterval must not exceed {PERIODIC_LIMIT_SECONDS}"
            )
        return self


class UserLocationPeriodicSubscription(SubscriptionBase):
    TYPE: ClassVar[str] = "UserLocationPeriodicSubscription"
    QUERY_TYPE: ClassVar[str | None] = "periodic"

    address: Address
    periodic_event_info: PeriodicEventInfo = Field(alias="periodicEventInfo")


class Point(EtsiModel):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class AreaInfo(EtsiModel):
    """AreaInfo (6.5.7): a circle (shape 1: one point and a radius) or a polygon (2: 3-15)."""

    shape: int
    points: Annotated[list[Point], Field(min_length=1, max_length=15)]
    radius: Count | None = None

    @field_validator("shape")
    @classmethod
    def _known_shape(cls, value: int) -> int:
        if value not in (1, 2):
            raise ValueError("must be 1 (CIRCLE) or 2 (POLYGON)")
        return value

    @model_validator(mode="after")
    def _shaped(self) -> Self:
        if self.shape == 1 and (len(self.points) != 1 or self.radius is None):
            raise ValueError("a CIRCLE (shape 1) has exactly one point and a radius")
        if self.shape == 2 and not 3 <= len(self.points) <= 15:
            raise ValueError("a POLYGON (shape 2) has 3 to 15 points")
        return self


class UserAreaSubscription(SubscriptionBase):
    TYPE: ClassVar[str] = "UserAreaSubscription"
    QUERY_TYPE: ClassVar[str | None] = "event"

    address_list: Annotated[list[Address], Field(min_length=1, max_length=MAX_LIST)] = Field(
        alias="addressList"
    )
    area_define: AreaInfo = Field(alias="areaDefine")
    tracking_accuracy: float = Field(alias="trackingAccuracy", ge=0)
    location_event_criteria: Annotated[list[LocationEventType], Field(max_length=2)] | None = Field(
        default=None, alias="locationEventCriteria"
    )
    reporting_ctrl: ReportingCtrl | None = Field(default=None, alias="reportingCtrl")
    reporting_location_req: bool | None = Field(default=None, alias="reportingLocationReq")


class UserDistanceSubscription(SubscriptionBase):
    TYPE: ClassVar[str] = "UserDistanceSubscription"

    monitored_address: Annotated[list[Address], Field(min_length=1, max_length=MAX_LIST)] = Field(
        alias="monitoredAddress"
    )
    reference_address: Annotated[list[Address], Field(max_length=MAX_LIST)] | None = Field(
        default=None, alias="referenceAddress"
    )
    distance: float = Field(ge=0)
    tracking_accuracy: float = Field(alias="trackingAccuracy", ge=0)
    criteria: DistanceCriteria
    check_immediate: bool = Field(alias="checkImmediate")
    reporting_ctrl: ReportingCtrl | None = Field(default=None, alias="reportingCtrl")

    @model_validator(mode="after")
    def _pairs(self) -> Self:
        if not self.reference_address and len(self.monitored_address) < 2:
            raise ValueError("without referenceAddress, monitoredAddress needs two addresses")
        return self


# -- the request bodies of each subscriptions resource -------------------------------------------


class SubscriptionRequest(EtsiModel):
    """A subscriptions resource's request body: exactly one root element of its types."""

    def chosen(self) -> SubscriptionBase:
        present = [v for v in self.__dict__.values() if isinstance(v, SubscriptionBase)]
        return present[0]

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        present = [v for v in self.__dict__.values() if v is not None]
        if len(present) != 1:
            names = ", ".join(info.alias or n for n, info in type(self).model_fields.items())
            raise ValueError(f"exactly one of {names} is required, not {len(present)}")
        return self


class AreaSubscriptionRequest(SubscriptionRequest):
    user_area_subscription: UserAreaSubscription | None = Field(
        default=None, alias="userAreaSubscription"
    )


class DistanceSubscriptionRequest(SubscriptionRequest):
    user_distance_subscription: UserDistanceSubscription | None = Field(
        default=None, alias="userDistanceSubscription"
    )


class UserSubscriptionRequest(SubscriptionRequest):
    user_location_event_subscription: UserLocationEventSubscription | None = Field(
        default=None, alias="userLocationEventSubscription"
    )
    user_location_periodic_subscription: UserLocationPeriodicSubscription | None = Field(
        default=None, alias="userLocationPeriodicSubscription"
    )


class ZoneSubscriptionRequest(SubscriptionRequest):
    zone_location_event_subscription: ZoneLocationEventSubscription | None = Field(
        default=None, alias="zoneLocationEventSubscription"
    )
    zone_status_subscription: ZoneStatusSubscription | None = Field(
        default=None, alias="zoneStatusSubscription"
    )


@dataclass(frozen=True)
class SubscriptionKind:
    """One subscriptions resource of the API: its path and the types it holds."""

    path: str  # area, distance, users, zones
    request: type[SubscriptionRequest]
    types: tuple[type[SubscriptionBase], ...]

    def by_type(self, subscription_type: str) -> type[SubscriptionBase] | None:
        return next((t for t in self.types if subscription_type == t.TYPE), None)

    def by_query(self, value: str) -> list[type[SubscriptionBase]]:
        return [t for t in self.types if value == t.QUERY_TYPE]

    @property
    def query_values(self) -> list[str]:
        return sorted({t.QUERY_TYPE for t in self.types if t.QUERY_TYPE is not None})


SUBSCRIPTION_KINDS: tuple[SubscriptionKind, ...] = (
    SubscriptionKind("area", AreaSubscriptionRequest, (UserAreaSubscription,)),
    SubscriptionKind("distance", DistanceSubscriptionRequest, (UserDistanceSubscription,)),
    SubscriptionKind(
        "users",
        UserSubscriptionRequest,
        (UserLocationEventSubscription, UserLocationPeriodicSubscription),
    ),
    SubscriptionKind(
        "zones", ZoneSubscriptionRequest, (ZoneLocationEventSubscription, ZoneStatusSubscription)
    ),
)

SUBSCRIPTION_TYPES: dict[str, type[SubscriptionBase]] = {
    t.TYPE: t for kind in SUBSCRIPTION_KINDS for t in kind.types
}
