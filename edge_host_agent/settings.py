"""The agent's settings: environment (`MEC_AGENT_*`), an access-point file, and flags.

Flags override the environment, which overrides the defaults. Access points come from
`access_points` (a JSON list in `MEC_AGENT_ACCESS_POINTS`, or repeated `--access-point ID=ADDR`
flags) and/or `access_points_file` (YAML or JSON: a list of `{id, reflector}`, the shape of a
Zone's `spec.accessPoints`). In a cluster the TLS files are mounted from a Secret and their paths
set here; plaintext needs `insecure` explicitly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from edge_host_agent.addresses import Address
from mec_common.patterns import DNS_LABEL, IDENTIFIER
from mec_common.tls import TlsFiles

ENV_PREFIX = "MEC_AGENT_"


class AccessPointConfig(BaseModel):
    """One access point to probe: its id and its reflector's host:port."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: Annotated[str, Field(min_length=1, max_length=128, pattern=IDENTIFIER)]
    reflector: str

    @field_validator("reflector")
    @classmethod
    def _host_port(cls, value: str) -> str:
        Address.parse(value)
        return value

    @property
    def reflector_address(self) -> Address:
        return Address.parse(self.reflector)


_ACCESS_POINT_LIST = TypeAdapter(list[AccessPointConfig])


def load_access_points(path: Path) -> list[AccessPointConfig]:
    """Access points from a YAML/JSON file: a list, or a mapping with an `accessPoints` list."""
    data: Any = yaml.safe_load(path.read_text())
    if isinstance(data, dict):
        data = data.get("accessPoints", data.get("access_points"))
    return _ACCESS_POINT_LIST.validate_python(data)


def _read_access_points(path: Path) -> list[AccessPointConfig]:
    try:
        return load_access_points(path)
    except OSError as error:
        raise ValueError(f"access_points_file: {error}") from None


class AgentSettings(BaseSettings):
    """Everything `edge-host-agent run` needs."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    # The host
    host_name: Annotated[str, Field(max_length=63, pattern=f"^$|{DNS_LABEL}")] = Field(
        "", description="The edge host's name (empty: read from host_label of the node)"
    )
    host_label: str = Field(
        "",
        description="With no host_name: the node label whose value is the host's name, read "
        "from the first of node_names at start (in a DaemonSet: mec.dev/edge-host)",
    )
    node_names: list[str] = Field(default_factory=list)
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    capacity_instances: Annotated[int, Field(ge=0, le=100000)] | None = None
    capacity_users: Annotated[int, Field(ge=0, le=10000000)] | None = None
    capacity_cpu: str | None = None
    capacity_memory: str | None = None

    # The orchestrator and security
    orchestrator: str = Field(
        "localhost:50051",
        description=(
            "host:port of the orchestrator's agent server; several, comma-separated, are tried "
            "in turn (one per operator replica: only the active one accepts agents)"
        ),
    )
    orchestrator_server_name: str | None = Field(
        None, description="name to verify in the orchestrator's certificate (default: its host)"
    )
    ca_cert: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    insecure: bool = False

    # Bootstrapping the certificate through the Kubernetes CSR API (docs/certificates.md)
    bootstrap_certificate: bool = Field(
        False,
        description="Get the certificate from the orchestrator (a CertificateSigningRequest) "
        "instead of ca_cert/cert/key; kept in state_dir, renewed at 2/3 of its lifetime",
    )
    kubeconfig: Path | None = Field(
        None, description="API server access for bootstrapping (unset: the pod's ServiceAccount)"
    )
    ca_configmap: str = Field("mec-agents-ca", description="ConfigMap with the orchestrator's CA")
    ca_namespace: str = Field(
        "", description="Its namespace (empty: the pod's, or the kubeconfig context's)"
    )
    certificate_seconds: Annotated[int, Field(ge=600, le=10 * 365 * 86400)] | None = Field(
        None, description="Validity asked for (expirationSeconds; the orchestrator caps it)"
    )
    certificate_timeout_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        300.0, description="How long to wait for the signed certificate before giving up"
    )

    # The agent's own gRPC server (handover commands, context transfers)
    listen: str = "0.0.0.0:50061"
    advertise: str | None = Field(None, description="host:port the orchestrator calls back")
    metrics_listen: str | None = Field(
        None, description="host:port for /metrics, /healthz and /readyz (unset: not served)"
    )
    mp1_listen: str | None = Field(
        None,
        description="host:port of Mp1 (MEC 011 app support) for the host's apps (unset: off)",
    )

    # Probing
    state_dir: Path | None = Field(
        None,
        description="Directory for the handover journal (survives an agent restart); "
        "unset: in memory only.",
    )
    peer_server_name: str | None = Field(
        None, description="Name to verify in other agents' certificates (context transfers)."
    )
    precopy_threshold_bytes: Annotated[int, Field(ge=0, le=1 << 30)] = 65536
    precopy_max_rounds: Annotated[int, Field(ge=0, le=32)] = 4
    access_points: list[AccessPointConfig] = Field(default_factory=list)
    access_points_file: Path | None = None
    probe_rate_hz: Annotated[float, Field(gt=0, le=1000)] = 20.0
    probe_timeout_s: Annotated[float, Field(gt=0, le=60)] = 1.0

    # Reporting
    report_interval_s: Annotated[float, Field(gt=0, le=10)] = 0.1
    max_batch_samples: Annotated[int, Field(ge=1, le=100000)] = 4096
    gap_reservoir_size: Annotated[int, Field(ge=16, le=1_000_000)] = 4096
    connect_timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    backoff_initial_s: Annotated[float, Field(gt=0, le=60)] = 0.2
    backoff_max_s: Annotated[float, Field(gt=0, le=600)] = 10.0
    backoff_multiplier: Annotated[float, Field(ge=1, le=10)] = 2.0
    backoff_jitter: Annotated[float, Field(ge=0, le=1)] = 0.2

    _probed: list[AccessPointConfig] = PrivateAttr(default_factory=list)

    @field_validator("orchestrator", "listen", "advertise", "metrics_listen", "mp1_listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            for address in value.split(","):
                Address.parse(address.strip())
        return value

    def orchestrator_addresses(self) -> list[str]:
        """The orchestrator's addresses, in the order they are tried."""
        return [address.strip() for address in self.orchestrator.split(",") if address.strip()]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.host_name and not (self.host_label and self.node_names):
            raise ValueError("host_name is required (or host_label with node_names to read it)")
        given = [f for f in ("ca_cert", "cert", "key") if getattr(self, f) is not None]
        if self.bootstrap_certificate:
            if given or self.insecure:
                also = ", ".join(given) or "insecure"
                raise ValueError(f"bootstrap_certificate makes the TLS files; do not set {also}")
            if self.state_dir is None:
                raise ValueError("bootstrap_certificate needs state_dir (key and certificate)")
        elif self.insecure and given:
            raise ValueError(f"insecure means plaintext; do not also set {', '.join(given)}")
        elif not self.insecure and len(given) != 3:
            missing = sorted({"ca_cert", "cert", "key"} - set(given))
            raise ValueError(
                f"mutual TLS needs {', '.join(missing)} (or insecure, explicitly, for plaintext)"
            )
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("set both latitude and longitude, or neither")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must not be less than backoff_initial_s")
        path = self.access_points_file
        from_file = [] if path is None else _read_access_points(path)
        self._probed = [*self.access_points, *from_file]
        ids = [ap.id for ap in self._probed]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"access point ids must be unique, repeated: {', '.join(repeated)}")
        return self

    @property
    def probed_access_points(self) -> list[AccessPointConfig]:
        """The access points of the settings followed by those of the file."""
        return list(self._probed)

    def tls_files(self) -> TlsFiles | None:
        if self.ca_cert is None or self.cert is None or self.key is None:
            if self.bootstrap_certificate:  # never plaintext by mistake
                raise RuntimeError("the certificate is bootstrapped: run it through bootstrap")
            return None
        return TlsFiles(self.ca_cert, self.cert, self.key)

    @property
    def probe_period_s(self) -> float:
        return 1.0 / self.probe_rate_hz

    @property
    def location(self) -> tuple[float, float] | None:
        if self.latitude is None or self.longitude is None:
            return None
        return self.latitude, self.longitude
