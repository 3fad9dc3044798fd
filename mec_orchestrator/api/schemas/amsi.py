"""GS MEC 021 v2.2.1 application mobility service types, as `/amsi/v1` reads and answers them.

Bodies are accepted bare (as the GS shows them) or in the generator's `{"<Type>": {...}}`
wrapper of the OpenAPI file, and answered bare. `AssociateId` is GS MEC 012's structure
(`{"type": 1, "value": "10.45.0.7"}`, type 1 UE_IPv4_ADDRESS), which the GS refers to; the file
types it as a plain string, a defect docs/api.md records. Unknown attributes are refused, so a
misspelt filter is a 400 naming it rather than a subscription that matches everything.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, TypeAdapter, model_validator

from mec_orchestrator.api.schemas.common import EtsiModel, EtsiRequest, LinkType, TimeStamp
from mec_orchestrator.model.subscription import CallbackReference

MAX_ID = 256
MAX_ITEMS = 1000

Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID)]


class AssociateIdType(IntEnum):
    """GS MEC 012 6.5.4 identifier types (0 is reserved)."""

    UE_IPV4_ADDRESS = 1
    UE_IPV6_ADDRESS = 2
    NATED_IP_ADDRESS = 3
    GTP_TEID = 4


class MobilityStatus(IntEnum):
    INTERHOST_MOVEOUT_TRIGGERED = 1
    INTERHOST_MOVEOUT_COMPLETED = 2
    INTERHOST_MOVEOUT_FAILED = 3


class ServiceLevel(IntEnum):
    APP_MOBILITY_NOT_ALLOWED = 1
    APP_MOBILITY_WITH_CONFIRMATION = 2
    APP_MOBILITY_WITHOUT_CONFIRMATION = 3


class ContextTransferState(IntEnum):
    NOT_TRANSFERRED = 0
    USER_CONTEXT_TRANSFER_COMPLETED = 1


class AssociateId(EtsiModel):
    """A device (or flow) identifier: GS MEC 012 AssociateId."""

    type: AssociateIdType
    value: Identifier


class AppMobilityServiceLevel(EtsiModel):
    app_mobility_service_level: ServiceLevel = Field(alias="appMobilityServiceLevel")


class DeviceInformation(EtsiModel):
    """One device the registering instance serves."""

    associate_id: AssociateId = Field(alias="associateId")
    app_mobility_service_level: AppMobilityServiceLevel | None = Field(
        default=None, alias="appMobilityServiceLevel"
    )
    context_transfer_state: ContextTransferState | None = Field(
        default=None, alias="contextTransferState"
    )


class ServiceConsumerId(EtsiModel):
    """Who registers: an application instance or a MEC platform (exactly one of them)."""

    app_instance_id: Identifier | None = Field(default=None, alias="appInstanceId")
    mep_id: Identifier | None = Field(default=None, alias="mepId")

    @model_validator(mode="after")
    def _exactly_one(self) -> ServiceConsumerId:
        if (self.app_instance_id is None) == (self.mep_id is None):
            raise ValueError("give exactly one of appInstanceId and mepId")
        return self


class RegistrationInfo(EtsiRequest):
    """RegistrationInfo (7.2.2): an application mobility service registration."""

    app_mobility_service_id: Identifier | None = Field(default=None, alias="appMobilityServiceId")
    service_consumer_id: ServiceConsumerId = Field(alias="serviceConsumerId")
    device_information: Annotated[list[DeviceInformation], Field(max_length=MAX_ITEMS)] | None = (
        Field(default=None, alias="deviceInformation")
    )
    expiry_time: Annotated[int, Field(ge=0, le=2**32 - 1)] | None = Field(
        default=None, alias="expiryTime"
    )


class CommunicationInterfaceAddress(EtsiModel):
    host: str
    port: int


class CommunicationInterface(EtsiModel):
    ip_addresses: list[CommunicationInterfaceAddress] | None = Field(
        default=None, alias="ipAddresses"
    )


class MecHostInformation(EtsiModel):
    host_name: str | None = Field(default=None, alias="hostName")
    host_id: dict[str, Any] = Field(alias="hostId")


class AdjacentAppInstanceInfo(EtsiModel):
    """AdjacentAppInstanceInfo (7.2.3): another instance of the same application."""

    app_instance_id: str = Field(alias="appInstanceId")
    app_d_id: str = Field(alias="appDId")
    app_instance_comm_link: list[CommunicationInterface] = Field(alias="appInstanceCommLink")
    mec_host_information: MecHostInformation | None = Field(
        default=None, alias="mecHostInformation"
    )
    registered_instance_id: str | None = Field(default=None, alias="registeredInstanceId")


class Links(EtsiModel):
    self_: LinkType = Field(alias="self")


class WebsockNotifConfig(EtsiModel):
    websocket_uri: str | None = Field(default=None, alias="websocketUri")
    request_websocket_uri: bool | None = Field(default=None, alias="requestWebsocketUri")


class MobilityProcedureFilter(EtsiModel):
    """FilterCriteria of a MobilityProcedureSubscription (every list empty or absent: any)."""

    app_instance_id: Identifier | None = Field(default=None, alias="appInstanceId")
    associate_id: Annotated[list[AssociateId], Field(max_length=MAX_ITEMS)] | None = Field(
        default=None, alias="associateId"
    )
    mobility_status: Annotated[list[MobilityStatus], Field(max_length=3)] | None = Field(
        default=None, alias="mobilityStatus"
    )


class AdjacentAppInfoFilter(EtsiModel):
    """FilterCriteria1 of an AdjacentAppInfoSubscription."""

    app_instance_id: Identifier | None = Field(default=None, alias="appInstanceId")


class _Subscription(EtsiModel):
    """What both subscription types share."""

    TYPE: ClassVar[str] = ""

    callback_reference: CallbackReference = Field(alias="callbackReference")
    request_test_notification: bool | None = Field(default=None, alias="requestTestNotification")
    websock_notif_config: WebsockNotifConfig | None = Field(
        default=None, alias="websockNotifConfig"
    )
    links: Links | None = Field(default=None, alias="_links")
    expiry_deadline: TimeStamp | None = Field(default=None, alias="expiryDeadline")


class MobilityProcedureSubscription(_Subscription):
    """MobilityProcedureSubscription (7.3.2): a device's moves between instances."""

    TYPE: ClassVar[str] = "MobilityProcedureSubscription"

    subscription_type: Literal["MobilityProcedureSubscription"] = Field(alias="subscriptionType")
    filter_criteria: MobilityProcedureFilter = Field(alias="filterCriteria")


class AdjacentAppInfoSubscription(_Subscription):
    """AdjacentAppInfoSubscription (7.3.3): the instances of an application changing."""

    TYPE: ClassVar[str] = "AdjacentAppInfoSubscription"

    subscription_type: Literal["AdjacentAppInfoSubscription"] = Field(alias="subscriptionType")
    filter_criteria: AdjacentAppInfoFilter = Field(alias="filterCriteria")


AmsSubscription = Annotated[
    MobilityProcedureSubscription | AdjacentAppInfoSubscription,
    Field(discriminator="subscription_type"),
]
SUBSCRIPTION = TypeAdapter(AmsSubscription)
SUBSCRIPTION_TYPES: tuple[type[_Subscription], ...] = (
    MobilityProcedureSubscription,
    AdjacentAppInfoSubscription,
)
QUERY_TYPES = {
    "mobility_proc": MobilityProcedureSubscription.TYPE,
    "adj_app_info": AdjacentAppInfoSubscription.TYPE,
}
"""The `subscriptiontype` query's values (the file's Query.Subscriptiontype) and their types."""


def unwrapped(raw: Any) -> Any:
    """The subscription inside the generator's `{"<Type>": {...}}` wrapper, or raw itself."""
    if isinstance(raw, dict) and len(raw) == 1:
        ((name, inner),) = raw.items()
        if name in {t.TYPE for t in SUBSCRIPTION_TYPES} and isinstance(inner, dict):
            return inner
    return raw
