"""The data types every ETSI API of this orchestrator shares, defined once.

GS MEC 010-2 and GS MEC 013 each define a TimeStamp, a LinkType and the links of a subscription
list with the same shape; the three routers (`app_pkgm`, `app_lcm`, `location`) use these, so
an answer spells a time or a link the same way in every API. `EtsiModel` and `EtsiRequest` are
the base classes of every ETSI body: ETSI attribute names, unknown attributes refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from mec_orchestrator.decisions.location import timestamp


class EtsiModel(BaseModel):
    """An ETSI data type: attributes by their ETSI names, unknown ones refused."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)

    def etsi(self) -> dict[str, Any]:
        """The JSON body: ETSI names, absent attributes left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class EtsiRequest(EtsiModel):
    """A request body, also accepted inside the generator's `{"<Type>": {...}}` wrapper."""

    WRAPPER: ClassVar[str] = ""

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        wrapper = cls.WRAPPER or cls.__name__
        if isinstance(data, dict) and set(data) == {wrapper} and isinstance(data[wrapper], dict):
            return data[wrapper]
        return data


class TimeStamp(EtsiModel):
    """TimeStamp (6.5.2): Unix seconds and nanoseconds (`nanoseconds` accepted too)."""

    # MEC 013 6.5.2 and MEC 010-2 6.2.5.4 define the same type; the docstring above is the
    # schema's description in the OpenAPI document (kept as MEC 013's requests show it).

    seconds: Annotated[int, Field(ge=0, le=2**32 - 1)]
    nano_seconds: Annotated[int, Field(ge=0, le=999_999_999)] = Field(
        validation_alias=AliasChoices("nanoSeconds", "nanoseconds"),
        serialization_alias="nanoSeconds",
    )

    @classmethod
    def of(cls, when: datetime) -> TimeStamp:
        """The TimeStamp of an aware datetime."""
        return cls.model_validate(timestamp(when))


class LinkType(EtsiModel):
    href: str


class SubscriptionLink(EtsiModel):
    """One subscription in a list of them: its URI and subscriptionType."""

    href: str
    subscription_type: str = Field(alias="subscriptionType")


class SubscriptionLinks(EtsiModel):
    """_links of a MEC 010-2 subscription list: the list itself, and the subscriptions."""

    self_: LinkType = Field(alias="self")
    subscriptions: list[SubscriptionLink] | None = None
