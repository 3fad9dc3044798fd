"""The shared ground of every resource model, so that all four speak the CRDs' wire format.

One base class fixes the conventions once: camelCase aliases equal to the CRD field names,
construction by Python name or by alias, unknown fields refused (a typo is an error, as it is for
`kubectl apply` with strict field validation), instances immutable (changes are made with pure
functions that return new values). Also here: the API group and version, the timestamp type that
serialises like `metav1.Time`, `ObjectMeta`, the validation patterns the CRDs use too, and
`field_path`, which spells a pydantic error location the way the API server spells a field.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

# The id patterns are shared with the CRD schemas and the agent.
from mec_common.patterns import DNS_LABEL, DNS_SUBDOMAIN, HOST_PORT, IDENTIFIER, QUANTITY

GROUP = "mec.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


class EtsiEnum(StrEnum):
    """An enumeration whose values are CamelCase (Kubernetes) and names the ETSI spelling."""

    @property
    def etsi(self) -> str:
        """The ETSI MEC name of the value, e.g. `NOT_INSTANTIATED` for `NotInstantiated`."""
        return self.name

    @classmethod
    def from_etsi(cls, name: str) -> Self:
        """The value with that ETSI MEC name; KeyError if there is none."""
        return cls[name]


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Time = Annotated[AwareDatetime, PlainSerializer(_rfc3339, return_type=str, when_used="json")]
"""A `metav1.Time`: timezone-aware, written as RFC 3339 in UTC with second precision."""

DnsLabel = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
DnsSubdomain = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=IDENTIFIER)]
"""An ETSI identifier (appDId, accessPointId): letters, digits and `-._:` inside."""
HostPort = Annotated[str, Field(max_length=261, pattern=HOST_PORT)]
Quantity = int | Annotated[str, Field(pattern=QUANTITY)]
"""A Kubernetes resource quantity (`8`, `500m`, `16Gi`), as an integer or a string."""


class ApiModel(BaseModel):
    """Base of every model: camelCase aliases, by-name construction, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """The object as the API server writes it: aliases, no unset optionals, JSON types."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ObjectMeta(ApiModel):
    """The parts of `metav1.ObjectMeta` the orchestrator reads; anything else is kept as is."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: Time | None = None
    deletion_timestamp: Time | None = None
    finalizers: list[str] | None = None


def field_path(loc: Sequence[int | str]) -> str:
    """A pydantic error location spelled like an API server field path: `spec.items[2].name`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def duplicates(values: Iterable[str]) -> list[str]:
    """The values that occur more than once, sorted (empty when all are unique)."""
    seen: set[str] = set()
    repeated: set[str] = set()
    for value in values:
        (repeated if value in seen else seen).add(value)
    return sorted(repeated)
