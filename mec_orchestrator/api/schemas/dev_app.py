"""GS MEC 016 v2.2.1 device application interface data types (UEAppInterfaceApi) as pydantic.

Requests are accepted bare (as the GS text shows them) or in the generator's wrapper
(`{"AppContext": {...}}`); answers are bare. The GS caps several strings at 32 characters
(associateDevAppId, contextId, appName, appProvider, appSoftVersion); those limits are enforced
on what a device sends, so a wrong value is refused naming its field.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import AfterValidator, Field

from mec_orchestrator.api.schemas.common import EtsiModel, EtsiRequest
from mec_orchestrator.model.subscription import check_callback_reference

Short = Annotated[str, Field(min_length=1, max_length=32)]
Text = Annotated[str, Field(max_length=128)]
Callback = Annotated[str, AfterValidator(check_callback_reference)]


class Polygon(EtsiModel):
    coordinates: Annotated[list[list[list[float]]], Field(min_length=1, max_length=16)]


class CivicAddressElement(EtsiModel):
    ca_type: int = Field(alias="caType")
    ca_value: Annotated[str, Field(max_length=256)] = Field(alias="caValue")


class LocationConstraints(EtsiModel):
    """LocationConstraints (6.5.2): a country, civic address elements or an area."""

    country_code: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = Field(
        default=None, alias="countryCode"
    )
    civic_address_element: Annotated[list[CivicAddressElement], Field(max_length=32)] | None = (
        Field(default=None, alias="civicAddressElement")
    )
    area: Polygon | None = None


class AppCharcs(EtsiModel):
    """AppCharcs: what the app consumes and the round trip it is meant to have."""

    memory: int | None = None
    storage: int | None = None
    latency: int | None = None
    bandwidth: int | None = None
    service_cont: int | None = Field(default=None, alias="serviceCont")


class UserAppInstanceInfo(EtsiModel):
    """UserAppInstanceInfo: in a request only appLocation may be given; answers fill the rest."""

    app_instance_id: Text | None = Field(default=None, alias="appInstanceId")
    reference_uri: Annotated[str, Field(max_length=2048)] | None = Field(
        default=None, alias="referenceURI"
    )
    app_location: LocationConstraints | None = Field(default=None, alias="appLocation")


class AppContextAppInfo(EtsiModel):
    """AppContext.appInfo (AppInfo1): the app the device asks for."""

    app_d_id: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        default=None, alias="appDId"
    )
    app_name: Short = Field(alias="appName")
    app_provider: Short = Field(alias="appProvider")
    app_soft_version: Short | None = Field(default=None, alias="appSoftVersion")
    app_d_version: Short = Field(alias="appDVersion")
    app_description: Text | None = Field(default=None, alias="appDescription")
    user_app_instance_info: Annotated[list[UserAppInstanceInfo], Field(max_length=16)] = Field(
        alias="userAppInstanceInfo"
    )
    app_package_source: Annotated[str, Field(max_length=2048)] | None = Field(
        default=None, alias="appPackageSource"
    )


class AppContext(EtsiRequest):
    """AppContext (6.2.3): a device application's context, as created and as answered."""

    WRAPPER: ClassVar[str] = "AppContext"

    context_id: Short | None = Field(default=None, alias="contextId")
    associate_dev_app_id: Short = Field(alias="associateDevAppId")
    callback_reference: Callback | None = Field(default=None, alias="callbackReference")
    app_location_updates: bool | None = Field(default=None, alias="appLocationUpdates")
    app_auto_instantiation: bool | None = Field(default=None, alias="appAutoInstantiation")
    app_info: AppContextAppInfo = Field(alias="appInfo")


class AppListAppInfo(EtsiModel):
    """ApplicationList.appList[].appInfo (AppInfo)."""

    app_d_id: str = Field(alias="appDId")
    app_name: str = Field(alias="appName")
    app_provider: str = Field(alias="appProvider")
    app_soft_version: str = Field(alias="appSoftVersion")
    app_d_version: str = Field(alias="appDVersion")
    app_description: str = Field(alias="appDescription")
    app_location: list[LocationConstraints] | None = Field(default=None, alias="appLocation")
    app_charcs: AppCharcs | None = Field(default=None, alias="appCharcs")


class AppListEntry(EtsiModel):
    app_info: AppListAppInfo = Field(alias="appInfo")


class ApplicationList(EtsiModel):
    app_list: list[AppListEntry] = Field(alias="appList")


class AvailabilityAppInfo(EtsiModel):
    """ApplicationLocationAvailability.appInfo (AppInfo2)."""

    app_name: Short = Field(alias="appName")
    app_provider: Short = Field(alias="appProvider")
    app_soft_version: Short | None = Field(default=None, alias="appSoftVersion")
    app_d_version: Short = Field(alias="appDVersion")
    app_description: Text | None = Field(default=None, alias="appDescription")
    available_locations: list[AvailableLocation] | None = Field(
        default=None, alias="availableLocations"
    )
    app_package_source: Annotated[str, Field(max_length=2048)] | None = Field(
        default=None, alias="appPackageSource"
    )


class AvailableLocation(EtsiModel):
    app_location: LocationConstraints | None = Field(default=None, alias="appLocation")


class ApplicationLocationAvailability(EtsiRequest):
    """ApplicationLocationAvailability (6.2.4): where an app could serve the device."""

    WRAPPER: ClassVar[str] = "ApplicationLocationAvailability"

    associate_dev_app_id: Short = Field(alias="associateDevAppId")
    app_info: AvailabilityAppInfo = Field(alias="appInfo")


AvailabilityAppInfo.model_rebuild()
