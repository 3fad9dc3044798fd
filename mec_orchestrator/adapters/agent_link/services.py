"""The orchestrator's gRPC services for agents: registration, heartbeats, reports.

Reports are of the app instances on an agent's host (ReportInstances) and of latency.

Each call is checked in the same order: the host name (INVALID_ARGUMENT), the host against the
peer certificate (PERMISSION_DENIED), the other fields (INVALID_ARGUMENT), the session
(FAILED_PRECONDITION); only then does it touch the registry or the latency matrix. A
registration is accepted only by the active replica (a standby answers UNAVAILABLE), so the
agent's measurements reach the replica that acts on them. Nothing
beyond the host name is looked at in a request for someone else's host. A report stream is
bound to the host of its first message, so the certificate check runs once per stream, not once
per batch.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from google.protobuf.duration_pb2 import Duration
from mec.agent.v1 import latency_pb2, latency_pb2_grpc, registry_pb2, registry_pb2_grpc
from typing_extensions import override

from mec_orchestrator.adapters.agent_link import validation
from mec_orchestrator.adapters.agent_link.identity import HostAuthority
from mec_orchestrator.adapters.agent_link.ingest import LatencySink, ingest
from mec_orchestrator.adapters.agent_link.metrics import AgentMetrics
from mec_orchestrator.adapters.agent_link.refusals import (
    InvalidFieldError,
    RefusedError,
    StandbyError,
    UnknownSessionError,
    abort,
)
from mec_orchestrator.adapters.agent_link.registry import AgentRecord, AgentRegistry
from mec_orchestrator.decisions.names import AccessPointId, HostName


def _duration(seconds: float) -> Duration:
    duration = Duration()
    duration.FromNanoseconds(round(seconds * 1e9))
    return duration


class RegistryService(registry_pb2_grpc.AgentRegistryServiceServicer):
    """AgentRegistryService: Register, Heartbeat and ReportInstances."""

    def __init__(
        self,
        registry: AgentRegistry,
        authority: HostAuthority,
        metrics: AgentMetrics,
        max_report_message_bytes: int,
        *,
        access_point_known: Callable[[AccessPointId], bool] | None = None,
        accepting: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self._registry = registry
        self._authority = authority
        self._metrics = metrics
        self._max_report_message_bytes = max_report_message_bytes
        self._access_point_known = access_point_known
        self._accepting = accepting

    @override
    async def Register(
        self, request: registry_pb2.RegisterRequest, context: Any
    ) -> registry_pb2.RegisterResponse:
        try:
            self._authority.check(context, validation.host_name(request.host_name))
            registration = validation.registration(request, self._access_point_known)
            if self._accepting is not None and not await self._accepting():
                raise StandbyError
        except RefusedError as refusal:
            self._metrics.refused.labels("Register", refusal.code.name).inc()
            await abort(context, refusal)
        record = self._registry.register(registration)
        self._metrics.registrations.inc()
        return registry_pb2.RegisterResponse(
            session_id=record.session_id,
            heartbeat_interval=_duration(self._registry.heartbeat_interval_s),
            lost_after=_duration(self._registry.lost_after_s),
            max_report_message_bytes=self._max_report_message_bytes,
        )

    @override
    async def Heartbeat(
        self, request: registry_pb2.HeartbeatRequest, context: Any
    ) -> registry_pb2.HeartbeatResponse:
        try:
            host = validation.host_name(request.host_name)
            self._authority.check(context, host)
            session_id = validation.session_id(request.session_id)
        except RefusedError as refusal:
            self._metrics.refused.labels("Heartbeat", refusal.code.name).inc()
            await abort(context, refusal)
        alive = self._registry.heartbeat(host, session_id)
        if alive:
            self._metrics.heartbeats.inc()
        return registry_pb2.HeartbeatResponse(reregister=not alive)

    @override
    async def ReportInstances(
        self, request: registry_pb2.ReportInstancesRequest, context: Any
    ) -> registry_pb2.ReportInstancesResponse:
        try:
            host = validation.host_name(request.host_name)
            self._authority.check(context, host)
            session_id = validation.session_id(request.session_id)
            instances = validation.instances(request)
            if self._registry.session(host, session_id) is None:
                raise UnknownSessionError(host)
        except RefusedError as refusal:
            self._metrics.refused.labels("ReportInstances", refusal.code.name).inc()
            await abort(context, refusal)
        held = self._registry.report_instances(host, session_id, request.generation, instances)
        self._metrics.instance_reports.inc()
        return registry_pb2.ReportInstancesResponse(generation=held)


class LatencyReportService(latency_pb2_grpc.LatencyReportServiceServicer):
    """LatencyReportService: batches into the latency matrix, gap summaries into the registry."""

    def __init__(
        self,
        registry: AgentRegistry,
        authority: HostAuthority,
        metrics: AgentMetrics,
        sink: LatencySink,
        clock: Callable[[], float],
    ) -> None:
        self._registry = registry
        self._authority = authority
        self._metrics = metrics
        self._sink = sink
        self._clock = clock

    @override
    async def ReportLatency(
        self, request_iterator: AsyncIterator[latency_pb2.ReportLatencyRequest], context: Any
    ) -> latency_pb2.ReportLatencyResponse:
        response = latency_pb2.ReportLatencyResponse()
        self._metrics.report_streams.inc()
        try:
            stream_host: HostName | None = None
            async for request in request_iterator:
                if stream_host is None:
                    stream_host = validation.host_name(request.host_name)
                    self._authority.check(context, stream_host)
                elif request.host_name != stream_host:
                    raise InvalidFieldError("host_name", "a report stream speaks for one host")
                record = self._registry.session(stream_host, request.session_id)
                if record is None:
                    raise UnknownSessionError(stream_host)
                kind = request.WhichOneof("report")
                if kind == "batch":
                    response.accepted_sample_count += self._ingest(record, request.batch)
                elif kind == "gap_summary":
                    gap = validation.gap_report(request.gap_summary, record.registration.reflectors)
                    self._registry.record_gap(stream_host, record.session_id, gap)
                    self._metrics.gap_summaries.inc()
                    response.accepted_gap_summary_count += 1
                else:
                    raise InvalidFieldError("report", "must be a batch or a gap_summary")
        except RefusedError as refusal:
            self._metrics.refused.labels("ReportLatency", refusal.code.name).inc()
            await abort(context, refusal)
        finally:
            self._metrics.report_streams.dec()
        return response

    def _ingest(self, record: AgentRecord, batch: latency_pb2.LatencySampleBatch) -> int:
        started = time.perf_counter()
        rows = validation.sample_rows(batch, record.registration.reflectors)
        ingest(self._sink, record.host, rows, batch.sent_unix_nanos, self._clock())
        self._registry.count_samples(record.host, len(rows))
        self._metrics.samples_ingested.inc(len(rows))
        self._metrics.batch_samples.observe(len(rows))
        self._metrics.batch_ingest_seconds.observe(time.perf_counter() - started)
        return len(rows)
