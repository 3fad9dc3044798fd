"""Value types that more than one resource uses: locations, latency budgets, pod templates.

Kept apart so that an EdgeHost's location and a Zone access point's location, or an EdgeApp's and
an AppPackage's pod template, are one type validated one way, as in the CRDs.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, field_validator

from mec_orchestrator.model.base import ApiModel, DnsLabel, Quantity, duplicates


class Location(ApiModel):
    """A WGS 84 position in decimal degrees."""

    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]


class LatencyBudget(ApiModel):
    """The one-way latency an app tolerates (MEC 010-2 AppD `appLatency`), in milliseconds."""

    max_ms: Annotated[float, Field(gt=0, le=10000)]


class Resources(ApiModel):
    """Amounts of what an edge host offers: instances, users, CPU and memory."""

    instances: Annotated[int, Field(ge=0, le=100000)] | None = None
    users: Annotated[int, Field(ge=0, le=10000000)] | None = None
    cpu: Quantity | None = None
    memory: Quantity | None = None

    @field_validator("cpu", "memory")
    @classmethod
    def _not_negative(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value < 0:
            raise ValueError("must not be negative")
        return value


class PodTemplateMetadata(ApiModel):
    """Labels and annotations given to every pod of every instance."""

    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class Container(ApiModel):
    """A core/v1 Container: name and image are checked here, the rest is kept as written."""

    model_config = ConfigDict(extra="allow")

    name: DnsLabel
    image: Annotated[str, Field(min_length=1, max_length=1024)]


class PodSpec(ApiModel):
    """A core/v1 PodSpec: containers are checked here, the rest is kept as written."""

    model_config = ConfigDict(extra="allow")

    containers: Annotated[list[Container], Field(min_length=1, max_length=32)]

    @field_validator("containers")
    @classmethod
    def _unique_names(cls, value: list[Container]) -> list[Container]:
        repeated = duplicates(c.name for c in value)
        if repeated:
            raise ValueError(f"container names must be unique, repeated: {', '.join(repeated)}")
        return value


class PodTemplate(ApiModel):
    """A core/v1 PodTemplateSpec: what each instance of the app runs."""

    metadata: PodTemplateMetadata | None = None
    spec: PodSpec
