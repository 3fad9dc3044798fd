"""The Zone resource: a GS MEC 013 zone, the access points (radio cells) it groups.

Access points are where users attach and what latency is measured to: each has a probe reflector
that the edge-host agents send probes to. The Location API (`/location/v2/queries/zones`) is
served from these objects.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from mec_orchestrator.model.base import ApiModel, HostPort, Identifier, ObjectMeta, duplicates
from mec_orchestrator.model.common import Location
from mec_orchestrator.model.conditions import Conditions


class ConnectionType(StrEnum):
    """MEC 013 access point connection type."""

    LTE = "LTE"
    WIFI = "Wifi"
    WIMAX = "Wimax"
    NR_5G = "5G NR"
    UNKNOWN = "UNKNOWN"


class OperationStatus(StrEnum):
    """MEC 013 access point operation status."""

    SERVICEABLE = "Serviceable"
    UNSERVICEABLE = "Unserviceable"
    UNKNOWN = "Unknown"


CELL_ID = r"^[0-9A-Fa-f]{7}$"
"""An E-UTRAN cell identity (28 bits) as 7 hexadecimal digits, as RNIS notifications carry it."""


class AccessPoint(ApiModel):
    """A radio access point (MEC 013 AccessPointInfo essentials) and its probe reflector."""

    id: Identifier
    name: Annotated[str, Field(max_length=256)] | None = None
    location: Location
    connection_type: ConnectionType = ConnectionType.UNKNOWN
    cell_id: Annotated[str, Field(pattern=CELL_ID)] | None = None
    probe_reflector: HostPort


class ZoneSpec(ApiModel):
    """The access points of the zone."""

    description: Annotated[str, Field(max_length=1024)] | None = None
    access_points: Annotated[list[AccessPoint], Field(min_length=1, max_length=256)]

    @field_validator("access_points")
    @classmethod
    def _unique_ids(cls, value: list[AccessPoint]) -> list[AccessPoint]:
        repeated = duplicates(a.id for a in value)
        if repeated:
            raise ValueError(f"access point ids must be unique, repeated: {', '.join(repeated)}")
        return value


class AccessPointStatus(ApiModel):
    """What is observed of one access point."""

    id: Identifier
    operation_status: OperationStatus = OperationStatus.UNKNOWN
    number_of_users: Annotated[int, Field(ge=0)] = 0


class ZoneStatus(ApiModel):
    """MEC 013 ZoneInfo counters and per-access-point status."""

    number_of_access_points: Annotated[int, Field(ge=0)] | None = None
    number_of_unserviceable_access_points: Annotated[int, Field(ge=0)] | None = None
    number_of_users: Annotated[int, Field(ge=0)] | None = None
    access_points: Annotated[list[AccessPointStatus], Field(max_length=256)] | None = None
    conditions: Conditions | None = None
    observed_generation: Annotated[int, Field(ge=0)] | None = None

    @field_validator("access_points")
    @classmethod
    def _unique_ids(cls, value: list[AccessPointStatus] | None) -> list[AccessPointStatus] | None:
        repeated = duplicates(a.id for a in value or [])
        if repeated:
            raise ValueError(f"access point ids must be unique, repeated: {', '.join(repeated)}")
        return value


class Zone(ApiModel):
    """A MEC 013 zone (kind Zone, cluster-scoped)."""

    KIND: ClassVar[str] = "Zone"
    PLURAL: ClassVar[str] = "zones"
    NAMESPACED: ClassVar[bool] = False

    api_version: Literal["mec.dev/v1alpha1"] = "mec.dev/v1alpha1"
    kind: Literal["Zone"] = "Zone"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ZoneSpec
    status: ZoneStatus | None = None
