"""Requests the services never get to read: unparsable messages and messages that never complete.

Sent the way a client we did not write would send them: raw bytes through a generic channel call
(no schema), and raw HTTP/2 frames over TLS (`h2`), both against real servers on real sockets.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import h2.config
import h2.connection
import h2.events
import pytest
from mec.agent.v1 import latency_pb2, latency_pb2_grpc, registry_pb2

from edge_host_agent.server import AgentGrpcServer
from edge_host_agent.settings import AgentSettings
from mec_common.tls import AgentPki, TlsFiles
from mec_orchestrator.adapters.agent_link import AgentServer
from mec_orchestrator.adapters.agent_link.metrics import sample_value
from tests.agents.conftest import new_server, rpc_code, secure_channel, server_settings, wait_for

REGISTER = "/mec.agent.v1.AgentRegistryService/Register"
REPORT = "/mec.agent.v1.LatencyReportService/ReportLatency"
PREPARE = "/mec.agent.v1.HandoverService/PrepareHandover"
CORRUPT = b"\xff\xff\xff\xff"  # field 31 of wire type 7: no protobuf parses this
TIMEOUT_S = 0.5


@pytest.fixture
async def orchestrator(pki: AgentPki) -> AsyncIterator[AgentServer]:
    """A server with a short request timeout that keeps heartbeat-less sessions for the test."""
    settings = server_settings(
        pki, heartbeat_interval_s=1.0, lost_after_s=60.0, request_timeout_s=TIMEOUT_S
    )
    server = new_server(settings)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(0)


@pytest.fixture
async def client(orchestrator: AgentServer, pki: AgentPki) -> AsyncIterator[Any]:
    async with secure_channel(orchestrator.port, pki.edge_host("edge-a")) as channel:
        yield channel


def refusals(server: AgentServer, method: str, code: str, reason: str) -> tuple[float, float]:
    """(requests refused with code, requests unreadable for reason) of method, as exported."""
    metrics = server.metrics
    return (
        sample_value(metrics, "mec_agent_requests_refused_total", method=method, code=code),
        sample_value(metrics, "mec_agent_requests_unreadable_total", method=method, reason=reason),
    )


def one_batch(host: str, session: str) -> latency_pb2.ReportLatencyRequest:
    now = time.time_ns()
    request = latency_pb2.ReportLatencyRequest(host_name=host, session_id=session)
    request.batch.sent_unix_nanos = now
    request.batch.samples.add(
        access_point_id="ap-0",
        sequence=1,
        rtt_ms=1.0,
        sent_unix_nanos=now - 1_000_000,
        received_unix_nanos=now,
    )
    return request


async def register(channel: Any) -> str:
    request = registry_pb2.RegisterRequest(
        host_name="edge-a",
        access_points=[registry_pb2.AccessPoint(access_point_id="ap-0", reflector_address="h:9")],
    )
    call = channel.unary_unary(
        REGISTER,
        request_serializer=registry_pb2.RegisterRequest.SerializeToString,
        response_deserializer=registry_pb2.RegisterResponse.FromString,
    )
    response = await call(request, timeout=5)
    return str(response.session_id)


def logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What the servers and grpc logged at INFO or above (grpc's DEBUG chatter aside)."""
    return [r for r in caplog.records if r.levelno >= logging.INFO]


def assert_one_line_without_traceback(caplog: pytest.LogCaptureFixture, method: str) -> None:
    records = logged(caplog)
    assert len(records) == 1, [r.getMessage() for r in records]
    record = records[0]
    assert record.exc_info is None
    assert record.exc_text is None
    assert "\n" not in record.getMessage()
    assert method in record.getMessage()


# A corrupt protobuf in a well-formed gRPC message.


async def test_a_register_request_that_is_not_a_protobuf_is_refused_as_invalid_argument(
    orchestrator: AgentServer, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    raw = client.unary_unary(REGISTER, request_serializer=None, response_deserializer=None)
    code, details = await rpc_code(raw(CORRUPT, timeout=5))

    assert code is grpc.StatusCode.INVALID_ARGUMENT, details
    assert "AgentRegistryService/Register" in details
    assert "could not be parsed" in details
    assert "class" not in details
    assert "DecodeError" not in details
    assert len(details) < 160
    assert_one_line_without_traceback(caplog, "Register")
    assert refusals(orchestrator, "Register", "INVALID_ARGUMENT", "malformed") == (1, 1)
    assert len(orchestrator.registry) == 0


async def test_a_report_stream_message_that_is_not_a_protobuf_is_refused_as_invalid_argument(
    orchestrator: AgentServer, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    session = await register(client)
    caplog.set_level(logging.DEBUG)
    good = one_batch("edge-a", session).SerializeToString()
    raw = client.stream_unary(REPORT, request_serializer=None, response_deserializer=None)

    async def messages() -> AsyncIterator[bytes]:
        yield good
        yield CORRUPT

    code, details = await rpc_code(raw(messages(), timeout=5))

    assert code is grpc.StatusCode.INVALID_ARGUMENT, details
    assert "LatencyReportService/ReportLatency" in details
    assert "message 2" in details
    assert "could not be parsed" in details
    assert "class" not in details
    assert_one_line_without_traceback(caplog, "ReportLatency")
    assert refusals(orchestrator, "ReportLatency", "INVALID_ARGUMENT", "malformed") == (1, 1)
    # The message before it was read and recorded.
    assert orchestrator.sink.matrix.access_points_of("edge-a") == ["ap-0"]


async def test_the_agents_own_server_refuses_requests_that_are_not_protobufs(
    pki: AgentPki, caplog: pytest.LogCaptureFixture
) -> None:
    files = pki.edge_host("edge-a")
    settings = AgentSettings(
        host_name="edge-a",
        listen="127.0.0.1:0",
        ca_cert=files.ca_cert,
        cert=files.cert,
        key=files.key,
    )
    server = AgentGrpcServer(settings)
    port = await server.start()
    caplog.set_level(logging.DEBUG)
    try:
        async with secure_channel(port, pki.edge_host("edge-b")) as channel:
            raw = channel.unary_unary(PREPARE, request_serializer=None, response_deserializer=None)
            code, details = await rpc_code(raw(CORRUPT, timeout=5))
    finally:
        await server.stop(0)
    assert code is grpc.StatusCode.INVALID_ARGUMENT, details
    assert "HandoverService/PrepareHandover" in details
    assert "could not be parsed" in details
    assert_one_line_without_traceback(caplog, "PrepareHandover")


# A message that announces more bytes than it sends.


@dataclass
class RawHttp2:
    """A client speaking HTTP/2 over TLS itself, frame by frame, with the h2 state machine."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    connection: h2.connection.H2Connection
    events: list[h2.events.Event] = field(default_factory=list)

    @classmethod
    async def connect(cls, port: int, files: TlsFiles) -> RawHttp2:
        context = ssl.create_default_context(cafile=str(files.ca_cert))
        context.load_cert_chain(files.cert, files.key)
        context.set_alpn_protocols(["h2"])
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1"
        )
        config = h2.config.H2Configuration(client_side=True)  # headers received as bytes
        connection = h2.connection.H2Connection(config)
        connection.initiate_connection()
        client = cls(reader, writer, connection)
        await client.flush()
        return client

    async def flush(self) -> None:
        self.writer.write(self.connection.data_to_send())
        await self.writer.drain()

    async def open_call(self, path: str, body: bytes, *, end: bool = False) -> int:
        """Start a gRPC call to path and send body; the stream stays open unless end is set."""
        stream = self.connection.get_next_available_stream_id()
        headers = [
            (":method", "POST"),
            (":scheme", "https"),
            (":path", path),
            (":authority", "127.0.0.1"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ]
        self.connection.send_headers(stream, headers, end_stream=end and not body)
        if body:
            self.connection.send_data(stream, body, end_stream=end)
        await self.flush()
        return stream

    async def ended(self, stream: int, within: float) -> None:
        """Wait until the server ends stream (trailers, reset or goaway); fail after within."""
        started = time.monotonic()
        while not self._ended(stream):
            remaining = within - (time.monotonic() - started)
            if remaining <= 0:
                pytest.fail(f"the server held the stream for {within} s: {self.events}")
            try:
                data = await asyncio.wait_for(self.reader.read(65536), remaining)
            except TimeoutError:
                continue
            if not data:
                self.events.append(h2.events.ConnectionTerminated())
                break
            self.events += self.connection.receive_data(data)
            await self.flush()  # acknowledge settings and pings, as a live peer does

    def _ended(self, stream: int) -> bool:
        return any(
            isinstance(e, h2.events.ConnectionTerminated)
            or (
                isinstance(e, h2.events.StreamReset | h2.events.StreamEnded)
                and e.stream_id == stream
            )
            for e in self.events
        )

    def grpc_status(self, stream: int) -> int | None:
        """The grpc-status the server sent on stream (trailers or a trailers-only response)."""
        for event in self.events:
            if (
                isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived)
                and event.stream_id == stream
            ):
                for name, value in event.headers or ():
                    if name == b"grpc-status":
                        return int(value)
        return None

    def close(self) -> None:
        self.writer.transport.abort()  # no TLS close_notify exchange: the test is done


def length_prefixed(announced: int, sent: bytes) -> bytes:
    """A gRPC message header announcing `announced` bytes, followed by only `sent`."""
    return b"\x00" + announced.to_bytes(4, "big") + sent


def call_tasks(method: str) -> list[asyncio.Task[Any]]:
    """The server's tasks serving calls of method (grpc.aio names each after its method)."""
    return [t for t in asyncio.all_tasks() if method in t.get_name()]


@pytest.mark.parametrize(
    "body",
    [length_prefixed(1000, b"x" * 10), length_prefixed(1000, b""), b"\x00\x00", b""],
    ids=["10-of-1000-bytes", "header-only", "partial-header", "no-data"],
)
async def test_a_unary_request_that_never_completes_is_ended_by_the_server(
    orchestrator: AgentServer, pki: AgentPki, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    raw = await RawHttp2.connect(orchestrator.port, pki.edge_host("edge-a"))
    try:
        started = time.monotonic()
        stream = await raw.open_call(REGISTER, body)
        await wait_for(lambda: call_tasks(REGISTER), within=2, what="the call is being served")
        await raw.ended(stream, within=TIMEOUT_S + 3)
        took = time.monotonic() - started
        status = raw.grpc_status(stream)
        # The server's side of the call is gone too, not just the stream.
        await wait_for(lambda: not call_tasks(REGISTER), within=2, what="the call's task ends")
    finally:
        raw.close()
    assert took >= TIMEOUT_S * 0.8
    assert status == grpc.StatusCode.DEADLINE_EXCEEDED.value[0], raw.events
    assert_one_line_without_traceback(caplog, "Register")
    assert refusals(orchestrator, "Register", "DEADLINE_EXCEEDED", "incomplete") == (1, 1)
    assert len(orchestrator.registry) == 0


async def test_a_unary_request_cut_short_by_the_end_of_its_stream_is_answered(
    orchestrator: AgentServer, pki: AgentPki
) -> None:
    raw = await RawHttp2.connect(orchestrator.port, pki.edge_host("edge-a"))
    try:
        stream = await raw.open_call(REGISTER, length_prefixed(1000, b"x" * 10), end=True)
        await raw.ended(stream, within=3)
        status = raw.grpc_status(stream)
        await wait_for(lambda: not call_tasks(REGISTER), within=2, what="the call's task ends")
    finally:
        raw.close()
    assert status == grpc.StatusCode.INVALID_ARGUMENT.value[0], raw.events


async def test_report_streams_idle_between_whole_messages_are_not_cut(
    orchestrator: AgentServer, client: Any
) -> None:
    session = await register(client)
    call = latency_pb2_grpc.LatencyReportServiceStub(client).ReportLatency()
    await asyncio.sleep(3 * TIMEOUT_S)  # idle before its first message
    await call.write(one_batch("edge-a", session))
    await asyncio.sleep(3 * TIMEOUT_S)  # and between two messages
    await call.write(one_batch("edge-a", session))
    await call.done_writing()
    response = await asyncio.wait_for(call, 5)
    assert response.accepted_sample_count == 2
