"""The Mp1 request bodies the agent reads, as MEC 011 v3.1.1 defines them (unwrapped).

Field names are the ETSI ones (camelCase aliases). Only what the agent relies on is checked
strictly; the rest of an `AppInfo` (categories, service and feature dependencies, ...) is kept as
the app sent it and served back unchanged.

The user-context endpoint: an app that keeps per-user state names the gRPC endpoint of its
`UserContextService` (host:port) as `appProfile.userContextEndpoint`. MEC 011 leaves
`appProfile` open ("can be mapped to an EAS profile", whose service-continuity support this
is), while `endpoint` is the app's user-facing endpoint and `appServiceRequired` lists services
the app consumes, not ones it offers.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mec_common.patterns import HOST_PORT, IDENTIFIER

InstanceId = Annotated[str, Field(min_length=1, max_length=128, pattern=IDENTIFIER)]


class _Etsi(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    def etsi(self) -> dict[str, Any]:
        """The body as served: ETSI names, absent fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Address(_Etsi):
    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)]


class EndPointInfo(_Etsi):
    """Where the app's server is reached: exactly one of uris, fqdn, addresses, alternative."""

    uris: list[str] | None = None
    fqdn: list[str] | None = None
    addresses: list[Address] | None = None
    alternative: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        kinds = ("uris", "fqdn", "addresses", "alternative")
        given = [name for name in kinds if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(
                f"exactly one of {', '.join(kinds)} is required (got {given or 'none'})"
            )
        return self


class AppProfile(_Etsi):
    """Open in MEC 011; the agent reads `userContextEndpoint` (host:port) from it."""

    user_context_endpoint: Annotated[str, Field(pattern=HOST_PORT)] | None = Field(
        None, alias="userContextEndpoint"
    )


class AppInfo(_Etsi):
    """MEC 011 7.1.2.6: what an app instance registers (`appName` is required)."""

    app_name: Annotated[str, Field(min_length=1, max_length=256)] = Field(alias="appName")
    app_provider: str | None = Field(None, alias="appProvider")
    app_d_id: InstanceId | None = Field(None, alias="appDId")
    app_instance_id: InstanceId | None = Field(None, alias="appInstanceId")
    endpoint: EndPointInfo | None = None
    app_category: dict[str, Any] | None = Field(None, alias="appCategory")
    app_service_required: list[dict[str, Any]] | None = Field(None, alias="appServiceRequired")
    app_service_optional: list[dict[str, Any]] | None = Field(None, alias="appServiceOptional")
    app_feature_required: list[dict[str, Any]] | None = Field(None, alias="appFeatureRequired")
    app_feature_optional: list[dict[str, Any]] | None = Field(None, alias="appFeatureOptional")
    is_ins_by_mec: bool | None = Field(None, alias="isInsByMec")
    app_profile: AppProfile | None = Field(None, alias="appProfile")

    @property
    def user_context_endpoint(self) -> str | None:
        return None if self.app_profile is None else self.app_profile.user_context_endpoint


class AppReadyConfirmation(_Etsi):
    indication: Literal["READY"]


class AppTerminationConfirmation(_Etsi):
    operation_action: Literal["TERMINATING", "STOPPING"] = Field(alias="operationAction")


def check_callback(value: str) -> str:
    """An absolute http(s) URI with a host, as given (not normalised)."""
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError) as error:
        raise ValueError(f"not a URI: {error}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an absolute http or https URI")
    return value


class AppTerminationSubscriptionRequest(_Etsi):
    """MEC 011 7.1.3.2, as the app POSTs it (without `_links`)."""

    subscription_type: Literal["AppTerminationNotificationSubscription"] = Field(
        alias="subscriptionType"
    )
    callback_reference: Annotated[str, Field(max_length=2048)] = Field(alias="callbackReference")
    app_instance_id: InstanceId = Field(alias="appInstanceId")

    @field_validator("callback_reference")
    @classmethod
    def _callback(cls, value: str) -> str:
        return check_callback(value)
