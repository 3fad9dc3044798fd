"""The orchestrator's gRPC server for edge-host agents, to run in the orchestrator's event loop.

It serves registration, heartbeats and latency reports (served the way `mec_common.grpc_serving`
serves: mutual TLS unless `insecure` is set explicitly, health checking, reflection, an explicit
maximum message size), and runs a watchdog that declares silent agents lost. Samples go into the
latency sink (the operator's `PlacementEngine`, or a bare matrix); the registry and its events
are what the operator reads.
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
from mec.agent.v1 import latency_pb2, latency_pb2_grpc, registry_pb2, registry_pb2_grpc
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mec_common.grpc_serving import MIB, REQUEST_TIMEOUT_S, GrpcServing, ServingOptions
from mec_common.tls import TlsFiles
from mec_orchestrator.adapters.agent_link.identity import HostAuthority
from mec_orchestrator.adapters.agent_link.ingest import LatencySink, MatrixSink
from mec_orchestrator.adapters.agent_link.metrics import AgentMetrics, default_metrics
from mec_orchestrator.adapters.agent_link.registry import AgentRegistry
from mec_orchestrator.adapters.agent_link.services import LatencyReportService, RegistryService
from mec_orchestrator.adapters.agent_link.status import edge_host_status, host_latencies
from mec_orchestrator.decisions.names import AccessPointId, HostName
from mec_orchestrator.model.conditions import Condition

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
    request_timeout_s: Annotated[float, Field(gt=0, le=60)] = Field(
        REQUEST_TIMEOUT_S,
        description=(
            "a Register, Heartbeat or health check must deliver its whole request this soon "
            "(DEADLINE_EXCEEDED otherwise); report streams are not bounded by it"
        ),
    )

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
        self.metrics.watch_hosts(
            lambda: [(record.host, record.connected) for record in self.registry.records()]
        )
        self._clock = clock
        self._access_point_known = access_point_known
        self._accepting = accepting
        self._serving: GrpcServing | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self) -> int:
        """Listen and serve; returns the bound port."""
        settings = self.settings
        limit = settings.max_report_message_bytes
        files = settings.tls_files()
        authority = HostAuthority(require_certificate=files is not None)
        registry_service = RegistryService(
            self.registry,
            authority,
            self.metrics,
            limit,
            access_point_known=self._access_point_known,
            accepting=self._accepting,
        )
        latency_service = LatencyReportService(
            self.registry, authority, self.metrics, self.sink, self._clock
        )

        def add(server: grpc.aio.Server) -> None:
            registry_pb2_grpc.add_AgentRegistryServiceServicer_to_server(registry_service, server)
            latency_pb2_grpc.add_LatencyReportServiceServicer_to_server(latency_service, server)

        options = ServingOptions(
            settings.listen,
            files,
            max_message_bytes=limit,
            request_timeout_s=settings.request_timeout_s,
        )
        self._serving = GrpcServing(options, SERVICE_NAMES, add, on_refused=self._count_refused)
        self.port = await self._serving.start()
        self._watchdog = asyncio.create_task(self._watch(), name="agent-watchdog")
        return self.port

    def _count_refused(self, method: str, code: grpc.StatusCode, reason: str) -> None:
        """Count a request refused before the services read it (unparsable, incomplete)."""
        name = method.rsplit("/", 1)[-1]
        self.metrics.refused.labels(name, code.name).inc()
        self.metrics.unreadable.labels(name, reason).inc()

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
        if self._serving is not None:
            await self._serving.stop(self.settings.shutdown_grace_s if grace is None else grace)
            self._serving = None

    async def wait_for_termination(self) -> None:
        if self._serving is not None:
            await self._serving.wait_for_termination()

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
