"""GS MEC 010-2 v3.1.1 application lifecycle management data types (clause 6.2.2, the file's).

Requests refuse unknown attributes and name the field that is wrong; attributes the file defines
that the orchestrator cannot honour are refused by name too (400), rather than ignored, so a
client never believes an override took effect (docs/api.md lists them). The generator's wrapper
(`{"InstantiateAppRequest": {...}}`) is accepted. Responses are built by the router from EdgeApps
and AppLcmOpOccs and dumped with `etsi()`: ETSI names, absent attributes left out.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AliasChoices, Field, field_validator, model_validator

from mec_common.patterns import DNS_LABEL, IDENTIFIER
from mec_orchestrator.api.problems import ProblemDetails
from mec_orchestrator.api.schemas.common import (
    EtsiModel,
    EtsiRequest,
    LinkType,
    SubscriptionLinks,
    TimeStamp,
)
from mec_orchestrator.model.subscription import check_callback_reference

_DNS_LABEL = re.compile(DNS_LABEL)

StopType = Literal["FORCEFUL", "GRACEFUL"]


def _unsupported(why: str) -> Any:
    def refuse(value: Any) -> Any:
        if value is not None:
            raise ValueError(f"not supported: {why}")
        return value

    return refuse


# -- requests ------------------------------------------------------------------------------------


class MepInformation(EtsiModel):
    """MepInformation (6.2.2.22)."""

    mep_name: str | None = Field(None, alias="mepName")
    mep_id: str = Field(alias="mepId")


class CreateAppInstanceRequest(EtsiRequest):
    """CreateAppInstanceRequest (6.2.2.3): the AppD to create an app instance from."""

    app_d_id: Annotated[str, Field(min_length=1, max_length=128, pattern=IDENTIFIER)] = Field(
        alias="appDId"
    )
    app_instance_name: Annotated[str, Field(min_length=1, max_length=256)] | None = Field(
        None, alias="appInstanceName"
    )
    app_instance_description: Annotated[str, Field(max_length=4096)] | None = Field(
        None, alias="appInstanceDescription"
    )
    app_placement_info: MepInformation | None = Field(None, alias="appPlacementInfo")

    _no_placement = field_validator("app_placement_info")(
        _unsupported("appPlacementInfo applies to Mm3* only (placement is the orchestrator's)")
    )


class MecHostInformation(EtsiModel):
    """MECHostInformation (6.2.2.17): hostId names an edge host (an EdgeHost).

    hostId is an object in the file ("deployment-specific"): `{"name": "<edge host>"}`; the
    plain name is accepted too.
    """

    host_name: Annotated[str, Field(max_length=256)] | None = Field(None, alias="hostName")
    host_id: str | dict[str, Any] = Field(alias="hostId")

    @field_validator("host_id")
    @classmethod
    def _edge_host(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        name = value.get("name") if isinstance(value, dict) else value
        if not isinstance(name, str) or len(name) > 63 or not _DNS_LABEL.match(name):
            raise ValueError(
                'must name an edge host: {"name": "<EdgeHost name>"} or the name itself '
                "(a DNS label)"
            )
        return value

    @property
    def edge_host(self) -> str:
        name = self.host_id.get("name") if isinstance(self.host_id, dict) else self.host_id
        return str(name)


class InstantiateAppRequest(EtsiRequest):
    """InstantiateAppRequest (6.2.2.7): where the instance may run (selectedMECHostInfo)."""

    selected_mec_host_info: Annotated[
        list[MecHostInformation], Field(min_length=1, max_length=256)
    ] = Field(alias="selectedMECHostInfo")
    location_constraints: dict[str, Any] | None = Field(None, alias="locationConstraints")
    virtual_compute_descriptor: dict[str, Any] | None = Field(
        None, alias="virtualComputeDescriptor"
    )
    os_container_descriptor: list[Any] | None = Field(None, alias="osContainerDescriptor")
    virtual_storage_descriptor: list[Any] | None = Field(None, alias="virtualStorageDescriptor")
    vim_connection_info: list[Any] | None = Field(None, alias="vimConnectionInfo")
    app_term_cands_for_coord: dict[str, Any] | None = Field(None, alias="appTermCandsForCoord")
    """Accepted and unused: the orchestrator never pre-empts other app instances."""

    _no_location = field_validator("location_constraints")(
        _unsupported(
            "instances are placed by the latency measured to the access points of the Zones, "
            "within selectedMECHostInfo; name the edge hosts of the area there"
        )
    )
    _no_compute = field_validator(
        "virtual_compute_descriptor", "os_container_descriptor", "virtual_storage_descriptor"
    )(_unsupported("the instance runs the onboarded package's pod template as it is"))
    _no_vim = field_validator("vim_connection_info")(
        _unsupported("vimConnectionInfo applies to Mm3 only (the VIM is this Kubernetes)")
    )

    @field_validator("selected_mec_host_info")
    @classmethod
    def _unique_hosts(cls, value: list[MecHostInformation]) -> list[MecHostInformation]:
        names = [host.edge_host for host in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"edge hosts must be unique, repeated: {', '.join(repeated)}")
        return value

    @property
    def edge_hosts(self) -> list[str]:
        return [host.edge_host for host in self.selected_mec_host_info]

    def normalised(self) -> dict[str, Any]:
        """The request as the file types it: every hostId an object (`{"name": ...}`)."""
        hosts = [
            host.model_copy(update={"host_id": {"name": host.edge_host}})
            if isinstance(host.host_id, str)
            else host
            for host in self.selected_mec_host_info
        ]
        return self.model_copy(update={"selected_mec_host_info": hosts}).etsi()


class OperateAppRequest(EtsiRequest):
    """OperateAppRequest (6.2.2.8): start or stop the instance."""

    change_state_to: Literal["STARTED", "STOPPED"] = Field(alias="changeStateTo")
    stop_type: StopType | None = Field(None, alias="stopType")
    graceful_stop_timeout: Annotated[int, Field(ge=0, le=86400)] | None = Field(
        None, alias="gracefulStopTimeout"
    )

    @model_validator(mode="after")
    def _notes(self) -> Self:
        if self.change_state_to == "STARTED" and (
            self.stop_type is not None or self.graceful_stop_timeout is not None
        ):
            raise ValueError("stopType and gracefulStopTimeout must be absent for STARTED")
        if (self.stop_type == "GRACEFUL") != (self.graceful_stop_timeout is not None):
            raise ValueError(
                "gracefulStopTimeout: present exactly when stopType is GRACEFUL (note 2)"
            )
        return self


class TerminateAppRequest(EtsiRequest):
    """TerminateAppRequest (6.2.2.9)."""

    termination_type: StopType = Field(alias="terminationType")
    graceful_termination_timeout: Annotated[int, Field(ge=0, le=86400)] | None = Field(
        None, alias="gracefulTerminationTimeout"
    )

    @model_validator(mode="after")
    def _graceful_only(self) -> Self:
        if self.graceful_termination_timeout is not None and self.termination_type != "GRACEFUL":
            raise ValueError("gracefulTerminationTimeout: only with terminationType GRACEFUL")
        return self


class CancelModeRequest(EtsiRequest):
    """CancelMode (6.2.2.32): `{"CancelMode": "GRACEFUL" | "FORCED"}`.

    FORCEFUL is read as FORCED (the spelling AppLcmOpOcc.cancelMode's description uses).
    """

    WRAPPER: ClassVar[str] = "CancelMode"

    cancel_mode: Literal["GRACEFUL", "FORCED", "FORCEFUL"] = Field(
        alias="CancelMode", validation_alias=AliasChoices("CancelMode", "cancelMode")
    )

    @property
    def forced(self) -> bool:
        return self.cancel_mode != "GRACEFUL"


# -- responses -----------------------------------------------------------------------------------


class AppInstanceLinks(EtsiModel):
    """_links of AppInstanceInfo: self, and the tasks the current state allows."""

    self_: LinkType = Field(alias="self")
    instantiate: LinkType | None = None
    terminate: LinkType | None = None
    operate: LinkType | None = None


class McioInfo(EtsiModel):
    """McioInfo: one instance's Deployment (an MCIO managed by Kubernetes, the CISM)."""

    mcio_id: str = Field(alias="mcioId")
    mcio_name: str = Field(alias="mcioName")
    mcio_namespace: str = Field(alias="mcioNamespace")
    vdu_id: str = Field(alias="vduId")
    cism_id: str = Field(alias="cismId")
    mcio_type: str = Field(alias="mcioType")
    desired_instances: int = Field(alias="desiredInstances")
    available_instances: int = Field(alias="availableInstances")
    additional_info: str | None = Field(None, alias="additionalInfo")


class InstantiatedAppState(EtsiModel):
    operational_state: Literal["STARTED", "STOPPED"] = Field(alias="operationalState")
    mcio_info: list[McioInfo] | None = Field(None, alias="mcioInfo")


class IpAddress(EtsiModel):
    host: str
    port: int


class CommunicationInterface(EtsiModel):
    ip_addresses: list[IpAddress] = Field(alias="ipAddresses")


class AppInstanceInfo(EtsiModel):
    """AppInstanceInfo (6.2.2.4): an app instance (an EdgeApp) as the API shows it."""

    id: str
    app_instance_name: str | None = Field(None, alias="appInstanceName")
    app_instance_description: str | None = Field(None, alias="appInstanceDescription")
    app_d_id: str = Field(alias="appDId")
    app_provider: str = Field(alias="appProvider")
    app_name: str = Field(alias="appName")
    app_soft_version: str = Field(alias="appSoftVersion")
    app_d_version: str = Field(alias="appDVersion")
    app_pkg_id: str = Field(alias="appPkgId")
    instantiation_state: Literal["NOT_INSTANTIATED", "INSTANTIATED"] = Field(
        alias="instantiationState"
    )
    instantiated_app_state: InstantiatedAppState | None = Field(None, alias="instantiatedAppState")
    communication_interface: CommunicationInterface | None = Field(
        None, alias="communicationInterface"
    )
    links: AppInstanceLinks = Field(alias="_links")


APP_INSTANCE_ATTRIBUTES = frozenset(
    field.alias or name for name, field in AppInstanceInfo.model_fields.items()
)
"""The attribute names a filter on AppInstanceInfo may start with."""
APP_INSTANCE_OPTIONAL = frozenset({"instantiatedAppState", "communicationInterface"})
"""Complex attributes of AppInstanceInfo with lower cardinality 0."""
APP_INSTANCE_DEFAULT_EXCLUDED = frozenset({"vimConnectionInfo"})
"""The file's default exclusion set that is an attribute (the `instantiate`, `terminate` and
`operate` it also names are links, kept: `_links` is required)."""


class AppLcmOpOccLinks(EtsiModel):
    self_: LinkType = Field(alias="self")
    app_instance: LinkType = Field(alias="appInstance")


class CancelModeInfo(EtsiModel):
    cancel_mode: Literal["GRACEFUL", "FORCED"] = Field(alias="CancelMode")


class AppLcmOpOccInfo(EtsiModel):
    """AppLcmOpOcc (6.2.2.13), with `error` as NFV-SOL 003's VnfLcmOpOcc has it."""

    id: str
    operation_state: Literal["PROCESSING", "COMPLETED", "FAILED_TEMP", "FAILED"] = Field(
        alias="operationState"
    )
    state_entered_time: TimeStamp = Field(alias="stateEnteredTime")
    start_time: TimeStamp = Field(alias="startTime")
    lcm_operation: Literal["INSTANTIATE", "OPERATE", "TERMINATE"] = Field(alias="lcmOperation")
    operation_params: dict[str, Any] | None = Field(None, alias="operationParams")
    is_cancel_pending: bool = Field(alias="isCancelPending")
    cancel_mode: CancelModeInfo | None = Field(None, alias="cancelMode")
    error: ProblemDetails | None = None
    links: AppLcmOpOccLinks = Field(alias="_links")


APP_LCM_OP_OCC_ATTRIBUTES = frozenset(
    field.alias or name for name, field in AppLcmOpOccInfo.model_fields.items()
)
"""The attribute names a filter on AppLcmOpOcc may start with."""
APP_LCM_OP_OCC_OPTIONAL = frozenset({"operationParams", "cancelMode", "error"})
"""Complex attributes of AppLcmOpOcc with lower cardinality 0."""
APP_LCM_OP_OCC_DEFAULT_EXCLUDED = frozenset({"operationParams"})
"""The file's default exclusion set that can be left out (`_links`, which it also names, is
required by the AppLcmOpOcc schema and kept)."""


# -- subscriptions -------------------------------------------------------------------------------

InstanceStateName = Literal["NOT_INSTANTIATED", "STARTED", "STOPPED"]
OperationName = Literal["INSTANTIATE", "OPERATE", "TERMINATE"]
OperationStateName = Literal["STARTING", "PROCESSING", "COMPLETED", "FAILED", "FAILED_TEMP"]


class Versions(EtsiModel):
    app_soft_version: str = Field(alias="appSoftVersion")
    app_d_version: list[str] | None = Field(None, alias="appDVersion")


class AppProducts(EtsiModel):
    app_name: str = Field(alias="appName")
    versions: list[Versions] | None = None


class AppsFromProviders(EtsiModel):
    app_provider: str = Field(alias="appProvider")
    app_products: list[AppProducts] | None = Field(None, alias="appProducts")


class AppInstanceSubscriptionFilter(EtsiModel):
    """AppInstanceSubscriptionFilter (6.2.2.5), by appInstSelectorType.

    0 void, 1 APP_IDENTITY, 2 APP_NAME, 3 APP_D_ID, 4 APP_FROM_PROVIDER.
    """

    app_inst_selector_type: Literal[0, 1, 2, 3, 4] = Field(alias="appInstSelectorType")
    app_instances: list[str] | None = Field(None, alias="appInstances")
    apps_from_providers: list[AppsFromProviders] | None = Field(None, alias="appsFromProviders")

    @model_validator(mode="after")
    def _by_selector(self) -> Self:
        selector = self.app_inst_selector_type
        if selector == 4 and self.app_instances is not None:
            raise ValueError("appInstances: must be absent with APP_FROM_PROVIDER (4)")
        if selector != 4 and self.apps_from_providers is not None:
            raise ValueError("appsFromProviders: only with APP_FROM_PROVIDER (4)")
        if selector in (1, 2, 3) and not self.app_instances:
            raise ValueError(f"appInstances: needed with appInstSelectorType {selector}")
        return self


class AppLcmOpOccSubscriptionFilter(EtsiModel):
    """AppLcmOpOccSubscriptionFilter (6.2.2.6); each of the three lists may be one string."""

    app_instance_subscription_filter: AppInstanceSubscriptionFilter | None = Field(
        None, alias="appInstanceSubscriptionFilter"
    )
    notification_types: (
        Literal["AppLcmOpOccNotification"] | list[Literal["AppLcmOpOccNotification"]] | None
    ) = Field(None, alias="notificationTypes")
    operation_types: OperationName | list[OperationName] | None = Field(
        None, alias="operationTypes"
    )
    operation_states: OperationStateName | list[OperationStateName] | None = Field(
        None, alias="operationStates"
    )


class LcmSubscriptionRequest(EtsiModel):
    """What the four AppLcm subscription requests share: the type and the callback."""

    TYPE: ClassVar[str] = ""
    CRITERIA: ClassVar[tuple[str, ...]] = ()
    """The attributes (ETSI names) notifications are matched on."""

    subscription_type: str = Field(alias="subscriptionType")
    callback_uri: str = Field(alias="callbackUri")

    @field_validator("subscription_type")
    @classmethod
    def _this_type(cls, value: str) -> str:
        if value != cls.TYPE:
            raise ValueError(f"must be {cls.TYPE}")
        return value

    @field_validator("callback_uri")
    @classmethod
    def _callback(cls, value: str) -> str:
        return check_callback_reference(value)

    def criteria(self) -> dict[str, Any]:
        body = self.etsi()
        return {name: body[name] for name in self.CRITERIA if name in body}


class AppInstSubscriptionRequest(LcmSubscriptionRequest):
    """AppInstSubscriptionRequest (6.2.2.12): instance state changes."""

    TYPE: ClassVar[str] = "AppInstanceStateChangeSubscription"
    CRITERIA: ClassVar[tuple[str, ...]] = ("appInstanceState", "appInstanceSubscriptionFilter")

    app_instance_state: InstanceStateName | list[InstanceStateName] | None = Field(
        None, alias="appInstanceState"
    )
    app_instance_subscription_filter: AppInstanceSubscriptionFilter | None = Field(
        None, alias="appInstanceSubscriptionFilter"
    )


class AppLcmOpOccSubscriptionRequest(LcmSubscriptionRequest):
    """AppLcmOpOccSubscriptionRequest (6.2.2.14): operation occurrence state changes."""

    TYPE: ClassVar[str] = "AppLcmOpOccStateChangeSubscription"
    CRITERIA: ClassVar[tuple[str, ...]] = ("appLcmOpOccSubscriptionFilter",)

    app_lcm_op_occ_subscription_filter: AppLcmOpOccSubscriptionFilter | None = Field(
        None, alias="appLcmOpOccSubscriptionFilter"
    )


class AppInstIdCreationSubscriptionRequest(LcmSubscriptionRequest):
    """AppInstIdCreationSubscriptionRequest (6.2.2.25): app instances created."""

    TYPE: ClassVar[str] = "AppIdentifierCreationSubscription"
    CRITERIA: ClassVar[tuple[str, ...]] = ("appInstanceSubscriptionFilter",)

    app_instance_subscription_filter: AppInstanceSubscriptionFilter | None = Field(
        None, alias="appInstanceSubscriptionFilter"
    )

    @field_validator("app_instance_subscription_filter")
    @classmethod
    def _selector(
        cls, value: AppInstanceSubscriptionFilter | None
    ) -> AppInstanceSubscriptionFilter | None:
        if value is not None and value.app_inst_selector_type in (1, 2):
            raise ValueError("appInstSelectorType: APP_D_ID (3) or APP_FROM_PROVIDER (4) only")
        return value


class AppInstIdDeletionSubscriptionRequest(LcmSubscriptionRequest):
    """AppInstIdDeletionSubscriptionRequest (6.2.2.28): app instances deleted."""

    TYPE: ClassVar[str] = "AppIdentifierDeletionSubscription"
    CRITERIA: ClassVar[tuple[str, ...]] = ("appInstanceSubscriptionFilter",)

    app_instance_subscription_filter: AppInstanceSubscriptionFilter | None = Field(
        None, alias="appInstanceSubscriptionFilter"
    )


SUBSCRIPTION_REQUESTS: dict[str, type[LcmSubscriptionRequest]] = {
    request.TYPE: request
    for request in (
        AppInstSubscriptionRequest,
        AppLcmOpOccSubscriptionRequest,
        AppInstIdCreationSubscriptionRequest,
        AppInstIdDeletionSubscriptionRequest,
    )
}
"""subscriptionType -> the request type (AppInstanceSubscriptionType)."""
WRAPPERS = frozenset(request.__name__ for request in SUBSCRIPTION_REQUESTS.values())


class AppInstanceSubscriptionLinkList(EtsiModel):
    """AppInstanceSubscriptionLinkList (6.2.2.19)."""

    links: SubscriptionLinks = Field(alias="_links")
