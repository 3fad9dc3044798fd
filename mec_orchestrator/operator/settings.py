"""Operator configuration from the environment (prefix MEC_OPERATOR_) or the command line."""

from __future__ import annotations

import functools
import os
import socket
import tempfile
from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mec_common.tls import TlsFiles
from mec_orchestrator.adapters.agent_link import AgentServerSettings


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
    pod_index: int | None = Field(
        default=None,
        ge=0,
        le=99,
        description="The replica's StatefulSet ordinal (the pod-index label): without an explicit "
        "priority, the priority is 100 - pod_index, so replica 0 leads.",
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
    latency_check_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often the ranking of hosts per access point is compared with the last "
        "one; a change wakes every EdgeApp.",
    )

    # The edge-host agents' gRPC server (docs/agents.md), run inside the operator process.
    agents_listen: str = Field(
        default="",
        description='host:port of the agent server (e.g. "0.0.0.0:50051"); empty: no server.',
    )
    agents_ca_cert: Path | None = Field(default=None, description="CA of agents' certificates.")
    agents_cert: Path | None = Field(default=None, description="The agent server's certificate.")
    agents_key: Path | None = Field(default=None, description="Its private key.")
    agents_insecure: bool = Field(
        default=False, description="Serve agents in plaintext (development only)."
    )
    agents_heartbeat_seconds: float = Field(
        default=1.0, gt=0, le=60, description="Heartbeat interval the server asks agents for."
    )
    agent_lost_after_seconds: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="An agent silent this long is lost: its host's instances are evacuated.",
    )
    agents_status_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="How often each agent's summary is written to its EdgeHost's status.",
    )

    agents_server_name: str = Field(
        default="",
        description="The name agents' certificates are checked against when the orchestrator "
        "calls them (empty: the host of each agent's registered endpoint).",
    )
    mp1_port: int = Field(
        default=8090,
        ge=1,
        le=65535,
        description="The port agents serve Mp1 (MEC 011) on, on every edge host: instances get "
        "http://<host IP>:<port> in MEC_APP_MP1_URL.",
    )

    handover_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="How long a handover may take: the agents end one nobody finished by then "
        "(and an AppSelfControlled app has this long to report its transfer).",
    )

    live_view: bool = Field(
        default=False,
        description="Serve the live view (a map of hosts, instances, devices and handovers) "
        "under /live/ on the HTTP port, without authentication (docs/live-view.md).",
    )

    # The RNIS (MEC 012) whose cell changes move users (docs/users.md).
    rnis_url: str = Field(
        default="",
        description="Root of the RNIS API (e.g. http://rnis:8080/rni/v2); empty: no cell changes.",
    )
    rnis_callback_uri: str = Field(
        default="",
        description="This orchestrator's API as the RNIS reaches it (e.g. http://10.0.0.1:8080): "
        "the cell-change subscription's callback is under it.",
    )
    rnis_check_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How often the RNIS subscription is checked (and made again if it is gone).",
    )

    # Certificates that bootstrap themselves (docs/certificates.md).
    certificates_bootstrap: bool = Field(
        default=False,
        description="Keep a CA in a Secret, serve agents with a certificate from it and sign "
        "agents' CertificateSigningRequests (signer mec.dev/edge-agent); replaces agents_ca_cert, "
        "agents_cert and agents_key.",
    )
    namespace: str = Field(
        default="",
        description="The orchestrator's namespace (CA Secret and ConfigMap); empty: "
        "$POD_NAMESPACE, else the in-cluster service account's, else the kubeconfig's context's.",
    )
    ca_secret: str = Field(
        default="mec-orchestrator-ca", description="Secret (kubernetes.io/tls) holding the CA."
    )
    ca_configmap: str = Field(
        default="mec-agents-ca", description="ConfigMap where the CA certificate is published."
    )
    ca_validity_days: int = Field(
        default=3650, ge=1, le=36500, description="Validity of a CA made at first start."
    )
    serving_dns_names: str = Field(
        default="localhost",
        description="Comma-separated DNS names of the agent server's certificate (the Service's).",
    )
    serving_ip_addresses: str = Field(
        default="127.0.0.1",
        description="Comma-separated IP addresses of the agent server's certificate.",
    )
    serving_validity_days: int = Field(
        default=365,
        ge=1,
        le=3650,
        description="Validity of the serving certificate, reissued at every start.",
    )
    certificates_dir: Path | None = Field(
        default=None,
        description="Where the serving certificate is written for the gRPC server (empty: a "
        "private temporary directory).",
    )
    agent_service_account: str = Field(
        default="edge-host-agent",
        description="The ServiceAccount agents run as: only its requests are approved.",
    )
    agent_namespace: str = Field(
        default="", description="Namespace of that ServiceAccount (empty: the orchestrator's)."
    )
    agent_certificate_max_seconds: int = Field(
        default=30 * 86400,
        ge=600,
        le=10 * 365 * 86400,
        description="Longest validity of an agent's certificate (spec.expirationSeconds is "
        "honoured up to it).",
    )

    @model_validator(mode="after")
    def _bootstrap_replaces_files(self) -> Self:
        given = [f for f in ("agents_ca_cert", "agents_cert", "agents_key") if getattr(self, f)]
        if self.certificates_bootstrap and (given or self.agents_insecure):
            also = ", ".join(given) or "agents_insecure"
            raise ValueError(f"certificates_bootstrap makes the agent server's TLS; unset {also}")
        return self

    @model_validator(mode="before")
    @classmethod
    def _priority_from_pod_index(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("priority") is None:
            index = data.get("pod_index")
            # A bad index is left to pod_index's own validation, which names it.
            if isinstance(index, int) or (isinstance(index, str) and index.strip().isdigit()):
                data = {**data, "priority": 100 - int(index)}
        return data

    @model_validator(mode="after")
    def _rnis_needs_a_callback(self) -> Self:
        if self.rnis_url and not self.rnis_callback_uri:
            raise ValueError("rnis_callback_uri is required with rnis_url (where the RNIS posts)")
        if self.rnis_url and not self.agents_listen:
            raise ValueError("rnis_url needs agents_listen: users are served through the agents")
        return self

    @model_validator(mode="after")
    def _agent_server_valid(self) -> Self:
        self.agent_server()  # fail at start-up, not when the server starts
        return self

    def agent_server(self) -> AgentServerSettings | None:
        """The agent server's settings, or None when agents_listen is empty."""
        if not self.agents_listen:
            return None
        files = self.serving_files()
        return AgentServerSettings(
            listen=self.agents_listen,
            ca_cert=self.agents_ca_cert if files is None else files.ca_cert,
            cert=self.agents_cert if files is None else files.cert,
            key=self.agents_key if files is None else files.key,
            insecure=self.agents_insecure,
            heartbeat_interval_s=self.agents_heartbeat_seconds,
            lost_after_s=self.agent_lost_after_seconds,
        )

    def serving_files(self) -> TlsFiles | None:
        """Where the bootstrapped CA and serving certificate are written (None: no bootstrap)."""
        if not self.certificates_bootstrap:
            return None
        directory = self.certificates_dir or _private_directory()
        return TlsFiles(directory / "ca.crt", directory / "tls.crt", directory / "tls.key")


@functools.cache
def _private_directory() -> Path:
    return Path(tempfile.mkdtemp(prefix="mec-orchestrator-tls-"))
