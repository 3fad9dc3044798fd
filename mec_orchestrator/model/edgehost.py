"""The EdgeHost resource: a MEC host (a group of labelled nodes) and what its agent reports.

The spec says where the host is and how to reach its agent; the status carries the agent's
heartbeat and a low-rate summary of the latency it measures to each access point (the full-rate
matrix stays in the orchestrator's memory, see the design's "what lives where").
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from mec_common.patterns import DNS_LABEL
from mec_orchestrator.model.base import (
    ApiModel,
    DnsLabel,
    HostPort,
    Identifier,
    ObjectMeta,
    Time,
    duplicates,
)
from mec_orchestrator.model.common import Location, Resources
from mec_orchestrator.model.conditions import Conditions

EDGE_HOST_LABEL = "mec.dev/edge-host"
"""The node label that marks a node as (part of) the edge host named by its value."""

Milliseconds = Annotated[float, Field(ge=0, le=60000)]


class EdgeHostSpec(ApiModel):
    """Where the host is, which nodes it is, and how to reach its agent."""

    node_selector: Annotated[dict[str, str], Field(min_length=1, max_length=16)]
    location: Location
    zone: DnsLabel | None = None
    capacity: Resources | None = None
    agent_endpoint: HostPort


class AccessPointRtt(ApiModel):
    """Round-trip time from this host to one access point's probe reflector."""

    access_point_id: Identifier
    p50_ms: Milliseconds
    p95_ms: Milliseconds
    last_seen: Time

    @field_validator("p95_ms")
    @classmethod
    def _ordered(cls, value: float, info: ValidationInfo) -> float:
        p50 = info.data.get("p50_ms")
        if p50 is not None and value < p50:
            raise ValueError("must not be less than p50Ms")
        return value


class EdgeHostStatus(ApiModel):
    """What the agent reports."""

    agent_connected: bool | None = None
    last_heartbeat_time: Time | None = None
    agent_version: Annotated[str, Field(max_length=64)] | None = None
    allocatable: Resources | None = None
    access_point_rtt: Annotated[list[AccessPointRtt], Field(max_length=1024)] | None = None
    conditions: Conditions | None = None
    observed_generation: Annotated[int, Field(ge=0)] | None = None

    @field_validator("access_point_rtt")
    @classmethod
    def _one_per_access_point(
        cls, value: list[AccessPointRtt] | None
    ) -> list[AccessPointRtt] | None:
        repeated = duplicates(r.access_point_id for r in value or [])
        if repeated:
            raise ValueError(f"accessPointId must be unique, repeated: {', '.join(repeated)}")
        return value


class EdgeHost(ApiModel):
    """A MEC host (kind EdgeHost, cluster-scoped, short name `eh`)."""

    KIND: ClassVar[str] = "EdgeHost"
    PLURAL: ClassVar[str] = "edgehosts"
    NAMESPACED: ClassVar[bool] = False

    api_version: Literal["mec.dev/v1alpha1"] = "mec.dev/v1alpha1"
    kind: Literal["EdgeHost"] = "EdgeHost"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: EdgeHostSpec
    status: EdgeHostStatus | None = None

    @field_validator("metadata")
    @classmethod
    def _name_is_a_label_value(cls, value: ObjectMeta) -> ObjectMeta:
        name = value.name
        if name is not None and (len(name) > 63 or not re.match(DNS_LABEL, name)):
            raise ValueError(
                "metadata.name of an EdgeHost must be a DNS label (at most 63 characters): "
                f"it is the value of the {EDGE_HOST_LABEL} node label"
            )
        return value
