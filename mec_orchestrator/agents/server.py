"""The orchestrator's gRPC server for edge-host agents, to run in the orchestrator's event loop.

It serves registration, heartbeats and latency reports over mutual TLS (plaintext only when
`insecure` is set explicitly), with gRPC health checking and reflection, an explicit maximum
message size (larger messages are refused with RESOURCE_EXHAUSTED), and a watchdog that declares
silent agents lost. Samples go into the latency sink (the operator's `PlacementEngine`, or a
bare matrix); the registry and its events are what the operator reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, Self

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from mec.agent.v1 import latency_pb2, latency_pb2_grpc, registry_pb2, registry_pb2_grpc
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mec_orchestrator.agents.identity import HostAuthority
from mec_orchestrator.agents.ingest import LatencySink, MatrixSink
from mec_orchestrator.agents.metrics import AgentMetrics, default_metrics
from mec_orchestrator.agents.registry import AgentRegistry
from mec_orchestrator.agents.services import LatencyReportService, RegistryService
from mec_orchestrator.agents.status import edge_host_status, host_latencies
from mec_orchestrator.model.conditions import Condition
from mec_orchestrator.placement import AccessPointId, HostName
from mec_orchestrator.tls import TlsFiles

MIB = 1024 * 1024

SERVICE_NAMES = (
    registry_pb2.DESCRIPTOR.services_by_name["AgentRegistryService"].full_name,
    latency_pb2.DESCRIPTOR.services_by_name["LatencyReportService"].full_name,
)


class AgentServerSettings(BaseModel):
    """Where and how the agent server listens, and how long agents may stay silent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    listen: str = Field("0.0.0.0:50051", description="host:port to listen on (port 0: any)")
    ca_cert: Path | None = Field(None, description="CA that signs agents' client certificates")
    cert: Path | None = Field(None, description="the orchestrator's serving certificate")
    key: Path | None = Field(None, description="the serving certificate's private key")
    insecure: bool = Field(False, description="serve plaintext, trusting host names as sent")
    heartbeat_interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    lost_after_s: Annotated[float, Field(gt=0, le=600)] = 5.0
    max_report_message_bytes: Annotated[int, Field(ge=4096, le=64 * MIB)] = MIB
    shutdown_grace_s: Annotated[float, Field(ge=0, le=60)] = 2.0

    @model_validator(mode="after")
    def _tls_or_insecure(self) -> Self:
        given = [f for f in ("ca_cert", "cert", "key") if getattr(self, f) is not None]
        if self.insecure and given:
            raise ValueError(f"insecure serves plaintext; do not also set {', '.join(given)}")
        if not self.insecure and len(given) != 3:
            raise ValueError("mutual TLS needs ca_cert, cert and key (or insecure, explicitly)")
        if self.lost_after_s <= self.heartbeat_interval_s:
            raise ValueError("lost_after_s must be longer than heartbeat_interval_s")
        return self

    def tls_files(self) -> TlsFiles | None:
        if self.ca_cert is None or self.cert is None or self.key is None:
            return None
        return TlsFiles(self.ca_cert, self.cert, self.key)


def server_credentials(files: TlsFiles) -> Any:
    """Server credentials that require a client certificate signed by the CA."""
    ca, chain, key = files.read()
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=ca, require_client_auth=True
    )


class AgentServer:
    """gRPC server for agents: registry + latency reports + health + reflection + watchdog."""

    def __init__(
        self,
        settings: AgentServerSettings,
        sink: LatencySink | None = None,
        *,
        registry: AgentRegistry | None = None,
        metrics: AgentMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        access_point_known: Callable[[AccessPointId], bool] | None = None,
        accepting: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        """Samples go to sink (default: a new bare matrix), timed by clock (the sink's clock).

        accepting says whether registrations are taken now (an operator replica takes them only
        while it is the active one); None: always.
        """
        self.settings = settings
        self.sink: LatencySink = sink if sink is not None else MatrixSink()
        self.registry = registry or AgentRegistry(
            settings.heartbeat_interval_s, settings.lost_after_s, clock=clock
        )
        self.metrics = metrics or default_metrics()
        self.metrics.count_connected_with(self.registry.connected_count)
        self._clock = clock
        self._access_point_known = access_point_known
        self._accepting = accepting
        self._server: grpc.aio.Server | None = None
        self._health: Any = None
        self._watchdog: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self) -> int:
        """Listen and serve; returns the bound port."""
        settings = self.settings
        limit = settings.max_report_message_bytes
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
                ("grpc.so_reuseport", 0),
                ("grpc.keepalive_time_ms", 10_000),
                ("grpc.keepalive_timeout_ms", 5_000),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
            ]
        )
        files = settings.tls_files()
        authority = HostAuthority(require_certificate=files is not None)
        registry_pb2_grpc.add_AgentRegistryServiceServicer_to_server(
            RegistryService(
                self.registry,
                authority,
                self.metrics,
                limit,
                access_point_known=self._access_point_known,
                accepting=self._accepting,
            ),
            server,
        )
        latency_pb2_grpc.add_LatencyReportServiceServicer_to_server(
            LatencyReportService(self.registry, authority, self.metrics, self.sink, self._clock),
            server,
        )
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        if files is None:
            self.port = server.add_insecure_port(settings.listen)
        else:
            self.port = server.add_secure_port(settings.listen, server_credentials(files))
        if self.port == 0:
            raise OSError(f"cannot listen on {settings.listen}")
        await server.start()
        for name in (*SERVICE_NAMES, health.OVERALL_HEALTH):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        self._watchdog = asyncio.create_task(self._watch(), name="agent-watchdog")
        return self.port

    async def _watch(self) -> None:
        period = min(1.0, self.settings.lost_after_s / 5)
        while True:
            await asyncio.sleep(period)
            lost = self.registry.expire()
            if lost:
                self.metrics.agents_lost.inc(len(lost))

    async def stop(self, grace: float | None = None) -> None:
        """Stop serving; calls in flight get grace seconds (default: the settings')."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        if self._server is not None:
            await self._health.enter_graceful_shutdown()
            await self._server.stop(self.settings.shutdown_grace_s if grace is None else grace)
            self._server = None

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def edge_host_status(
        self, host: HostName, conditions: Sequence[Condition] = ()
    ) -> dict[str, Any]:
        """The agent-reported part of host's EdgeHost status, now (see `edge_host_status`)."""
        latencies = host_latencies(self.sink.matrix, host, self._clock())
        return edge_host_status(self.registry.get(host), latencies, datetime.now(UTC), conditions)
