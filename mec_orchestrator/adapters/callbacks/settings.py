"""Callback delivery configuration from the environment (prefix MEC_CALLBACKS_).

The defaults suit subscribers on the operator's network: a subscriber that is down for a few
minutes (a restart, a rollout) still gets what was sent meanwhile, and one that is gone for good
costs a bounded queue and a worker retrying about once a minute until its notifications are ten
minutes old.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DeliverySettings(BaseSettings):
    """How notifications are POSTed to subscribers' callbacks, retried and queued."""

    model_config = SettingsConfigDict(env_prefix="MEC_CALLBACKS_", frozen=True, extra="forbid")

    timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Bound of one attempt: connecting, sending the notification and reading the "
        "answer's status line and headers. A timed-out attempt is retried.",
    )
    max_attempts: int = Field(
        default=8, ge=1, le=100, description="Attempts per notification before giving up."
    )
    max_age_seconds: float = Field(
        default=600.0,
        gt=0,
        le=86400,
        description="No attempt starts later than this after the notification was submitted; "
        "a notification that would need one is given up.",
    )
    backoff_base_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="Wait after the first failed attempt; doubled after each further failure.",
    )
    backoff_max_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="The wait between attempts never exceeds this."
    )
    jitter: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Up to this fraction of each wait is taken away at random, so subscribers "
        "that failed together are not retried together.",
    )
    retry_after_max_seconds: float = Field(
        default=300.0,
        ge=0,
        le=3600,
        description="A subscriber's Retry-After (on 429, 503, ...) is honoured up to this.",
    )
    queue_size: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Notifications waiting per callback URI (besides the one being sent); when "
        "full, the oldest waiting one is dropped.",
    )
    max_subscribers: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Callback URIs with notifications pending at once; a notification for one "
        "more is refused (dropped and counted).",
    )
    stop_grace_seconds: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="On stop, pending notifications get this long to be delivered; the rest are "
        "given up (they are in memory only).",
    )
    use_env_proxy: bool = Field(
        default=True,
        description="Honour HTTP_PROXY, HTTPS_PROXY, NO_PROXY and SSL_CERT_FILE from the "
        "environment.",
    )

    @model_validator(mode="after")
    def _cap_above_base(self) -> Self:
        if self.backoff_max_seconds < self.backoff_base_seconds:
            raise ValueError("backoff_max_seconds must be at least backoff_base_seconds")
        return self
