"""The reference app's settings: environment (`MEC_APP_*`) and flags (flags win).

`listen` is the devices' HTTP port, `context_listen` the UserContextService the agent calls
(plaintext unless the three TLS files are set: the agent is on the same host). Port 0 picks a
free port; the process prints the ports it bound as one JSON line on stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mec_app_sdk.contexts.transfer import DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES
from mec_common.tls import TlsFiles

ENV_PREFIX = "MEC_APP_"


class ReferenceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    listen: str = "0.0.0.0:8080"
    context_listen: str = "0.0.0.0:9090"
    state_bytes: int = Field(default=4096, ge=0, le=16 * 1024 * 1024)
    chunk_bytes: int = Field(default=DEFAULT_CHUNK_BYTES, ge=1, le=MAX_CHUNK_BYTES)
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    log_level: str = "INFO"
    mp1_url: str = Field(
        default="",
        description="The local agent's Mp1 (MEC 011), e.g. http://127.0.0.1:8090: register there, "
        "confirm ready, deregister on the way out. Empty: run without an agent.",
    )
    instance_id: str | None = Field(
        default=None,
        description="This instance's id at the agent (the agent assigns one if unset).",
    )
    advertise_host: str = Field(
        default="",
        description="The address the agent and devices reach this instance at (default: the listen "
        "host, or 127.0.0.1 when listening on every address).",
    )

    @model_validator(mode="after")
    def _tls_all_or_none(self) -> Self:
        given = [p is not None for p in (self.tls_ca, self.tls_cert, self.tls_key)]
        if any(given) and not all(given):
            raise ValueError("set all of tls_ca, tls_cert and tls_key, or none")
        return self

    def tls_files(self) -> TlsFiles | None:
        if self.tls_ca is None or self.tls_cert is None or self.tls_key is None:
            return None
        return TlsFiles(self.tls_ca, self.tls_cert, self.tls_key)


def split_listen(listen: str) -> tuple[str, int]:
    """("host", port) from "host:port" (an IPv6 host in brackets)."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"listen on host:port, not {listen!r}")
    return host.strip("[]"), int(port)
