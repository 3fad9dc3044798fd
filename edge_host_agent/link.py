"""The agent's link to the orchestrator: register, heartbeat, stream samples, and never give up.

A session is one channel: Register, then one report stream (batches every report interval) and
heartbeats at the interval the orchestrator asked for. Any failure ends the session; the agent
waits (exponential backoff) and starts a new one. Between sessions samples go into a gap tally
instead of the stream, and the next stream opens with its summary. Samples whose write had not
completed when the stream broke also go into the tally. Samples written into a connection that
died silently (a partition, not a restart: a restarted orchestrator resets the connection at
once) are lost until the next heartbeat times out, at most about three heartbeat intervals.

With an instance source (the Mp1 registry), a session also reports the full set of the host's
app instances (ReportInstances) right after it registered and again whenever the set changes;
a change while a report is in flight is sent once it is answered. The orchestrator refusing a
report as malformed does not end the session (registering again would not mend it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from mec.agent.v1 import latency_pb2, latency_pb2_grpc, registry_pb2, registry_pb2_grpc

from edge_host_agent import __version__
from edge_host_agent.backoff import Backoff
from edge_host_agent.gap import GapTally
from edge_host_agent.prober import ProbeSample
from edge_host_agent.settings import AccessPointConfig, AgentSettings

log = logging.getLogger(__name__)

MIB = 1024 * 1024
SAMPLE_BYTES_OVERHEAD = 64
"""A bound on a serialised LatencySample's size beyond its access point id."""


class LocalInstance(Protocol):
    """One app instance on the host, as the link reports it."""

    @property
    def app_instance_id(self) -> str: ...
    @property
    def app_name(self) -> str: ...
    @property
    def endpoint_uri(self) -> str | None: ...
    @property
    def user_context_endpoint(self) -> str | None: ...
    @property
    def ready(self) -> bool: ...
    @property
    def users(self) -> Sequence[tuple[str, bytes]]: ...


class InstanceSource(Protocol):
    """The host's app instances and their users (`edge_host_agent.sessions.HostInstances`)."""

    @property
    def version(self) -> int: ...
    def instances(self) -> Sequence[LocalInstance]: ...
    def watch(self, callback: Callable[[], None]) -> Callable[[], None]: ...


NOT_MENDED_BY_REGISTERING = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)
"""Refusals of a report that a new session would not change: logged, the session goes on."""


class SessionEndedError(Exception):
    """The orchestrator ended the session (it asked to register again, or closed the stream)."""


def channel_options(settings: AgentSettings, max_send_bytes: int = MIB) -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", max_send_bytes),
        ("grpc.max_receive_message_length", MIB),
        ("grpc.keepalive_time_ms", 10_000),
        ("grpc.keepalive_timeout_ms", 5_000),
        ("grpc.keepalive_permit_without_calls", 1),
    ]
    if settings.orchestrator_server_name:
        options.append(("grpc.ssl_target_name_override", settings.orchestrator_server_name))
    return options


def open_channel(settings: AgentSettings, address: str) -> grpc.aio.Channel:
    """A channel to the orchestrator at address (one of its addresses).

    Mutual TLS, or plaintext only if the settings say insecure.
    """
    files = settings.tls_files()
    if files is None:
        return grpc.aio.insecure_channel(address, options=channel_options(settings))
    ca, chain, key = files.read()  # read per channel: a rotated Secret takes effect on reconnect
    credentials = grpc.ssl_channel_credentials(ca, key, chain)
    return grpc.aio.secure_channel(address, credentials, options=channel_options(settings))


def describe(error: BaseException) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details()}"
    return f"{type(error).__name__}: {error}"


def registration(
    settings: AgentSettings, access_points: Sequence[AccessPointConfig], endpoint: str | None
) -> registry_pb2.RegisterRequest:
    capacity = registry_pb2.HostCapacity(
        cpu=settings.capacity_cpu or "", memory=settings.capacity_memory or ""
    )
    if settings.capacity_instances is not None:
        capacity.instances = settings.capacity_instances
    if settings.capacity_users is not None:
        capacity.users = settings.capacity_users
    request = registry_pb2.RegisterRequest(
        host_name=settings.host_name,
        node_names=settings.node_names,
        capacity=capacity,
        agent_version=__version__,
        agent_endpoint=endpoint or "",
        access_points=[
            registry_pb2.AccessPoint(access_point_id=ap.id, reflector_address=ap.reflector)
            for ap in access_points
        ],
    )
    if settings.location is not None:
        latitude, longitude = settings.location
        request.location.CopyFrom(registry_pb2.GeoLocation(latitude=latitude, longitude=longitude))
    return request


class OrchestratorLink:
    """Sessions with the orchestrator, one after another, with samples routed to the live one."""

    def __init__(
        self,
        settings: AgentSettings,
        access_points: Sequence[AccessPointConfig],
        agent_endpoint: str | None,
        responding_access_points: Callable[[], int] = lambda: 0,
    ) -> None:
        self._settings = settings
        self._registration = registration(settings, access_points, agent_endpoint)
        self.responding_access_points = responding_access_points
        self._backoff = Backoff(
            settings.backoff_initial_s,
            settings.backoff_max_s,
            settings.backoff_multiplier,
            settings.backoff_jitter,
        )
        longest_id = max((len(ap.id) for ap in access_points), default=1)
        self._sample_bytes = longest_id + SAMPLE_BYTES_OVERHEAD
        self._max_batch = settings.max_batch_samples
        self._max_pending = settings.max_batch_samples * 16
        self._pending: list[ProbeSample] = []
        self._live = False
        self._gap: GapTally | None = GapTally(datetime.now(UTC), settings.gap_reservoir_size)
        self._addresses = settings.orchestrator_addresses()
        self._next_address = 0
        self.orchestrator: str | None = None  # the address of the live session
        self.session_id: str | None = None
        self.first_attempt_done = asyncio.Event()
        self.samples_sent = 0
        self.samples_dropped = 0
        self.gap_summaries_sent = 0
        self._instances: InstanceSource | None = None
        self._instances_changed = asyncio.Event()
        self.instance_reports_sent = 0

    def report_instances(self, source: InstanceSource) -> None:
        """Report source's instances in every session from now on, and again on every change."""
        self._instances = source
        source.watch(self._instances_changed.set)

    # Fed by the prober

    def on_sample(self, sample: ProbeSample) -> None:
        if self._live:
            if len(self._pending) >= self._max_pending:
                self.samples_dropped += 1
                return
            self._pending.append(sample)
        elif self._gap is not None:
            self._gap.add_sample(sample.access_point_id, sample.rtt_ms)

    def on_lost(self, access_point_id: str, count: int) -> None:
        if not self._live and self._gap is not None:
            self._gap.add_lost(access_point_id, count)

    # Sessions

    async def run(self) -> None:
        """Keep a session with the orchestrator, forever (until cancelled)."""
        while True:
            try:
                await self._session()
                reason = "ended"
            except asyncio.CancelledError:
                raise
            except Exception as error:
                reason = describe(error)
            self._go_offline()
            tried = self._addresses[self._next_address]
            # Every new session starts at the next address: a standby replica, a dead one or a
            # partition ends a session the same way, and any of them means "try elsewhere".
            self._next_address = (self._next_address + 1) % len(self._addresses)
            delay = self._backoff.next_delay()
            log.warning(
                "orchestrator %s: no session (%s); retrying in %.3f s (attempt %d)",
                tried,
                reason,
                delay,
                self._backoff.attempt,
            )
            await asyncio.sleep(delay)

    def _go_offline(self) -> None:
        self.session_id = None
        self.orchestrator = None
        if self._live:
            self._live = False
            self._gap = GapTally(datetime.now(UTC), self._settings.gap_reservoir_size)
        if self._gap is not None:
            for sample in self._pending:
                self._gap.add_sample(sample.access_point_id, sample.rtt_ms)
        self._pending = []

    async def _session(self) -> None:
        settings = self._settings
        address = self._addresses[self._next_address]
        async with open_channel(settings, address) as channel:
            registry = registry_pb2_grpc.AgentRegistryServiceStub(channel)
            reports = latency_pb2_grpc.LatencyReportServiceStub(channel)
            try:
                response = await registry.Register(
                    self._registration, timeout=settings.connect_timeout_s
                )
            finally:
                self.first_attempt_done.set()
            self.session_id = response.session_id
            self.orchestrator = address
            self._backoff.reset()
            interval = response.heartbeat_interval.ToTimedelta().total_seconds() or 1.0
            limit = response.max_report_message_bytes or MIB
            self._max_batch = max(1, min(settings.max_batch_samples, limit // self._sample_bytes))
            log.info(
                "registered host %s with %s (session %s, heartbeat every %.2f s)",
                settings.host_name,
                address,
                self.session_id,
                interval,
            )
            call = reports.ReportLatency()
            try:
                await self._resume(call, response.session_id)
                await _first_failure(
                    self._heartbeats(registry, response.session_id, interval),
                    self._reports(call, response.session_id),
                    _ended(call),
                    self._instance_reports(registry, response.session_id),
                )
            finally:
                call.cancel()

    async def _resume(self, call: Any, session_id: str) -> None:
        """Go live on a new stream, opening it with the summary of the gap if there was one."""
        gap, self._gap, self._live = self._gap, None, True
        if gap is None or gap.empty:
            return
        summary = gap.summary(datetime.now(UTC))
        try:
            await call.write(
                latency_pb2.ReportLatencyRequest(
                    host_name=self._settings.host_name, session_id=session_id, gap_summary=summary
                )
            )
        except BaseException:
            self._live, self._gap = False, gap
            raise
        self.gap_summaries_sent += 1
        log.info(
            "sent the summary of a %.1f s gap (%d samples)",
            (summary.ended_at.ToDatetime() - summary.started_at.ToDatetime()).total_seconds(),
            gap.sample_count,
        )

    async def _heartbeats(self, registry: Any, session_id: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            sent_at = Timestamp()
            sent_at.GetCurrentTime()
            response = await registry.Heartbeat(
                registry_pb2.HeartbeatRequest(
                    host_name=self._settings.host_name,
                    session_id=session_id,
                    sent_at=sent_at,
                    responding_access_points=self.responding_access_points(),
                ),
                timeout=max(2 * interval, 1.0),
            )
            if response.reregister:
                raise SessionEndedError("the orchestrator asked to register again")

    async def _instance_reports(self, registry: Any, session_id: str) -> None:
        """Send the full set of instances now and after every change (none without a source)."""
        source = self._instances
        if source is None:
            await asyncio.Future()  # nothing to report: wait with the session's other tasks
            return
        while True:
            self._instances_changed.clear()
            request = registry_pb2.ReportInstancesRequest(
                host_name=self._settings.host_name,
                session_id=session_id,
                generation=source.version,
                instances=[
                    registry_pb2.AppInstance(
                        app_instance_id=i.app_instance_id,
                        app_name=i.app_name,
                        endpoint=i.endpoint_uri or "",
                        user_context_endpoint=i.user_context_endpoint or "",
                        ready=i.ready,
                        users=[
                            registry_pb2.UserSession(user_id=user, record=record)
                            for user, record in i.users
                        ],
                    )
                    for i in source.instances()
                ],
            )
            try:
                await registry.ReportInstances(request, timeout=self._settings.connect_timeout_s)
            except grpc.aio.AioRpcError as error:
                if error.code() not in NOT_MENDED_BY_REGISTERING:
                    raise
                log.warning("the orchestrator refused the app instances: %s", describe(error))
            else:
                self.instance_reports_sent += 1
                log.info(
                    "reported %d app instance(s) (generation %d)",
                    len(request.instances),
                    request.generation,
                )
            await self._instances_changed.wait()

    async def _reports(self, call: Any, session_id: str) -> None:
        while True:
            await asyncio.sleep(self._settings.report_interval_s)
            pending, self._pending = self._pending, []
            for start in range(0, len(pending), self._max_batch):
                chunk = pending[start : start + self._max_batch]
                try:
                    await call.write(self._batch(chunk, session_id))
                except BaseException:
                    self._pending = pending[start:] + self._pending
                    raise
                self.samples_sent += len(chunk)

    def _batch(
        self, chunk: Sequence[ProbeSample], session_id: str
    ) -> latency_pb2.ReportLatencyRequest:
        request = latency_pb2.ReportLatencyRequest(
            host_name=self._settings.host_name, session_id=session_id
        )
        add = request.batch.samples.add
        for s in chunk:
            add(
                access_point_id=s.access_point_id,
                sequence=s.sequence,
                rtt_ms=s.rtt_ms,
                sent_unix_nanos=s.sent_unix_ns,
                received_unix_nanos=s.received_unix_ns,
                reflector_received_unix_nanos=s.reflector_received_unix_ns,
                reflector_sent_unix_nanos=s.reflector_sent_unix_ns,
            )
        request.batch.sent_unix_nanos = time.time_ns()
        return request


async def _ended(call: Any) -> None:
    """Wait for the report stream to end; while the agent writes, any end is a failure."""
    await call
    raise SessionEndedError("the orchestrator closed the report stream")


async def _first_failure(*coroutines: Any) -> None:
    """Run the coroutines together until one ends; re-raise its error, cancel the others."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
        raise SessionEndedError("a session task ended")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
