"""REST API configuration from the environment (prefix MEC_API_).

The API is served on the operator's HTTP port (`--http-port`, with /healthz, /readyz, /metrics).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mec_common.patterns import DNS_LABEL

MIB = 1024 * 1024


class AuthMode(StrEnum):
    KUBERNETES = "kubernetes"  # TokenReview + SubjectAccessReview (the default)
    NONE = "none"  # every caller may do anything: local development only


class ApiSettings(BaseSettings):
    """How the REST API authenticates, which namespace bare paths mean, what it accepts."""

    model_config = SettingsConfigDict(env_prefix="MEC_API_", frozen=True)

    enabled: bool = Field(default=True, description="Serve the ETSI REST API.")
    default_namespace: str = Field(
        default="default",
        pattern=DNS_LABEL,
        max_length=63,
        description="The namespace of paths without /namespaces/{namespace} (plain ETSI clients).",
    )
    auth: AuthMode = Field(
        default=AuthMode.KUBERNETES,
        description="kubernetes: bearer tokens checked with TokenReview, calls authorised with "
        "SubjectAccessReview; none: no checks (development only).",
    )
    tls_cert: Path | None = Field(default=None, description="Serve HTTPS with this certificate.")
    tls_key: Path | None = Field(default=None, description="The certificate's private key.")
    max_body_bytes: int = Field(
        default=MIB, ge=1024, le=1024 * MIB, description="Larger JSON bodies are refused (413)."
    )
    max_package_bytes: int = Field(
        default=8 * MIB,
        ge=1024,
        le=1024 * MIB,
        description="Larger application packages (PUT package_content) are refused (413). "
        "The bytes are kept in etcd (ConfigMaps of at most 768 KiB owned by the AppPackage), "
        "whose whole database is 2 GiB by default (8 GiB at most), so packages are meant to "
        "carry descriptors and small artifacts; container images stay in a registry.",
    )
    public_uri: str = Field(
        default="",
        description="The API's address as clients reach it (for links and Location headers); "
        "empty: taken from each request.",
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> Self:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self
