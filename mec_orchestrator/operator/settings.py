"""Operator configuration from the environment (prefix MEC_OPERATOR_) or the command line."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_identity() -> str:
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


class OperatorSettings(BaseSettings):
    """How the operator connects, coordinates with its replicas and serves its probes."""

    model_config = SettingsConfigDict(env_prefix="MEC_OPERATOR_", frozen=True)

    kubeconfig: Path | None = Field(
        default=None, description="Kubeconfig file; else $KUBECONFIG, else in-cluster."
    )
    peering_name: str = Field(
        default="mec-orchestrator",
        description="kopf peering object shared by the replicas; only the highest priority acts.",
    )
    priority: int = Field(
        default=100, description="This replica's peering priority (unique per replica)."
    )
    peering_lifetime_seconds: int = Field(
        default=30, ge=2, description="How long a silent replica's peering record lives."
    )
    standalone: bool = Field(default=False, description="No peering (a single replica).")
    http_host: str = "0.0.0.0"  # noqa: S104 - probes and metrics must be reachable in a pod
    http_port: int = Field(default=8080, ge=0, le=65535, description="/metrics, /healthz, /readyz")
    resync_seconds: float = Field(
        default=30.0, gt=0, description="Reconcile every EdgeApp at least this often."
    )
    identity: str = Field(default_factory=_default_identity)
