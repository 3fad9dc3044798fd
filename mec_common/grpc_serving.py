"""One way to serve gRPC, for the orchestrator's agent server and the agent's own server.

Both serve over mutual TLS (plaintext only when asked explicitly), with the official health
checking and reflection services, explicit message-size limits (a larger message is refused with
RESOURCE_EXHAUSTED before a handler sees it), keepalive settings that notice dead peers, and a
graceful stop that first tells health checkers the server is going away.

Every call goes through `RequestGuard` before a servicer sees it:

- A request message that is not a valid protobuf of the method's request type (a client without
  our schema, a corrupt frame) is answered INVALID_ARGUMENT ("... could not be parsed as ..."),
  logged as one warning line and reported to `on_refused` (reason `MALFORMED`); grpc alone
  would answer UNKNOWN with a Python class name and log a traceback per request.
- A call with one request message (unary and server-streaming methods) must deliver that whole
  message within `ServingOptions.request_timeout_s` of reaching the handlers, or the server ends
  it with DEADLINE_EXCEEDED (reason `INCOMPLETE`; the core then resets the stream and the call is
  freed). That covers a length prefix announcing more bytes than arrive, a partial prefix, and
  headers with no data at all. One whose stream ends before a whole message is answered
  INVALID_ARGUMENT (grpc alone would hold it until the connection closed).

Not bounded, because grpc's Python API only ever sees whole messages and the C core has no
per-message receive timeout: a message of a *client stream* (ReportLatency, SendContext,
reflection) that starts and never completes. The server cannot tell it from a stream that is
merely idle between messages, which is legitimate (an agent whose probes all go unanswered
sends nothing), so such a stream is held until the client goes away, keepalive ends the
connection of a peer that stops answering pings (`keepalive`: about 15 s; the agent's own server
runs without it), or `stop` cancels it. The core's only other bound, `grpc.max_connection_age_ms`,
would end every healthy report stream periodically too, so it is not set. Such a stream costs a
task and a buffer of at most `max_message_bytes` (the core refuses a longer announced length at
once), and only a client with a certificate from our CA can open one.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from mec_common.tls import TlsFiles

MIB = 1024 * 1024
REQUEST_TIMEOUT_S = 5.0

MALFORMED = "malformed"
"""Refusal reason: a request message could not be parsed."""
INCOMPLETE = "incomplete"
"""Refusal reason: the request of a unary-request call was not complete in time."""

log = logging.getLogger(__name__)

AddServicers = Callable[[grpc.aio.Server], None]
"""Adds the server's own servicers (the generated add_*_to_server functions)."""

OnRefused = Callable[[str, grpc.StatusCode, str], None]
"""Told of every call `RequestGuard` refuses: (method path, status code, reason)."""


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """Server credentials that require a client certificate signed by the CA."""
    ca, chain, key = files.read()
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=ca, require_client_auth=True
    )


@dataclass(frozen=True)
class ServingOptions:
    """Where and how to listen."""

    listen: str
    tls: TlsFiles | None  # None: plaintext
    max_message_bytes: int = MIB
    keepalive: bool = True
    request_timeout_s: float | None = REQUEST_TIMEOUT_S
    """How long a unary or server-streaming call may take to deliver its one request message
    (None: no bound). Client-streaming calls are not bounded by it (see the module)."""

    def channel_options(self) -> list[tuple[str, Any]]:
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        if self.keepalive:
            options += [
                ("grpc.keepalive_time_ms", 10_000),
                ("grpc.keepalive_timeout_ms", 5_000),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
            ]
        return options


class RequestGuard(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Parses request messages for the servicers and bounds the wait for a unary request.

    Every method is re-registered to receive raw bytes (a unary-request method as a
    stream-request one, which is the same on the wire), so that the guard, not grpc, reads and
    parses each message. Async servicer methods only (all of ours); a sync one is left to grpc.
    Stream servicers must read requests through the request iterator (`context.read()` would
    return raw bytes).
    """

    def __init__(self, request_timeout_s: float | None, on_refused: OnRefused | None) -> None:
        self.request_timeout_s = request_timeout_s
        self._on_refused = on_refused
        self._guarded: dict[str, tuple[Any, Any]] = {}  # method -> (grpc's handler, ours)

    async def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        known = self._guarded.get(method)
        if known is None or known[0] is not handler:
            known = (handler, self._guard(method, handler))
            self._guarded[method] = known
        return known[1]

    def _guard(self, method: str, handler: Any) -> Any:
        """Our handler in place of grpc's (bytes in, parsed here), or grpc's for a sync servicer."""
        parse = _Parser(self, method, handler.request_deserializer)
        respond = handler.response_serializer
        if handler.unary_unary is not None:
            return _unary_unary(parse, handler.unary_unary, respond) or handler
        if handler.unary_stream is not None:
            return _unary_stream(parse, handler.unary_stream, respond) or handler
        if handler.stream_unary is not None:
            return _stream_unary(parse, handler.stream_unary, respond) or handler
        return _stream_stream(parse, handler.stream_stream, respond) or handler

    async def refuse(
        self, context: Any, method: str, code: grpc.StatusCode, reason: str, message: str
    ) -> NoReturn:
        """End the call with code and message: one log line, one report to on_refused."""
        log.warning("refused a call from %s: %s", context.peer(), message)
        if self._on_refused is not None:
            self._on_refused(method, code, reason)
        await context.abort(code, message)
        raise AssertionError("grpc.aio.ServicerContext.abort returned")  # it always raises


class _Parser:
    """Reads and parses the request messages of one method's calls, refusing what it cannot."""

    def __init__(self, guard: RequestGuard, method: str, deserializer: Any) -> None:
        self._guard = guard
        self._method = method
        self._name = method.lstrip("/")
        self._deserializer = deserializer
        descriptor = getattr(getattr(deserializer, "__self__", None), "DESCRIPTOR", None)
        self._type = getattr(descriptor, "full_name", "its request type")

    async def one(self, requests: Any, context: Any) -> Any:
        """The single request of a unary-request call, complete within the guard's timeout."""
        timeout = self._guard.request_timeout_s
        try:
            raw = await asyncio.wait_for(anext(requests, None), timeout)
        except TimeoutError:
            await self._guard.refuse(
                context,
                self._method,
                grpc.StatusCode.DEADLINE_EXCEEDED,
                INCOMPLETE,
                f"{self._name}: the request did not arrive within {timeout:g} s",
            )
        if raw is None:
            # The client closed its side without a whole message, or the core refused the one it
            # announced (over the size limit: the client gets the core's RESOURCE_EXHAUSTED).
            # The two look alike from here, so this is neither logged nor counted; grpc itself
            # would answer neither and hold the call until the connection ends.
            log.debug("%s from %s: no whole request message", self._method, context.peer())
            message = f"{self._name}: the call ended without a whole request message"
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)
            raise AssertionError("grpc.aio.ServicerContext.abort returned")  # it always raises
        return await self._parse(raw, context, f"{self._name}: the request")

    async def each(self, requests: Any, context: Any) -> AsyncIterator[Any]:
        """The messages of a client stream, parsed as they come (not bounded in time)."""
        count = 0
        async for raw in requests:
            count += 1
            yield await self._parse(raw, context, f"{self._name}: message {count} of the stream")

    async def _parse(self, raw: bytes, context: Any, what: str) -> Any:
        if self._deserializer is None:
            return raw
        try:
            return self._deserializer(raw)
        except Exception:  # whatever a deserializer raises, the message is unparsable
            await self._guard.refuse(
                context,
                self._method,
                grpc.StatusCode.INVALID_ARGUMENT,
                MALFORMED,
                f"{what} could not be parsed as {self._type}",
            )


def _unary_unary(parse: _Parser, serve: Any, respond: Any) -> Any:
    if not inspect.iscoroutinefunction(serve):
        return None

    async def unary_unary(requests: Any, context: Any) -> Any:
        return await serve(await parse.one(requests, context), context)

    return grpc.stream_unary_rpc_method_handler(unary_unary, None, respond)


def _unary_stream(parse: _Parser, serve: Any, respond: Any) -> Any:
    if inspect.isasyncgenfunction(serve):

        async def generating(requests: Any, context: Any) -> AsyncIterator[Any]:
            async for response in serve(await parse.one(requests, context), context):
                yield response

        return grpc.stream_stream_rpc_method_handler(generating, None, respond)
    if inspect.iscoroutinefunction(serve):

        async def writing(requests: Any, context: Any) -> None:
            await serve(await parse.one(requests, context), context)

        return grpc.stream_stream_rpc_method_handler(writing, None, respond)
    return None


def _stream_unary(parse: _Parser, serve: Any, respond: Any) -> Any:
    if not inspect.iscoroutinefunction(serve):
        return None

    async def stream_unary(requests: Any, context: Any) -> Any:
        return await serve(parse.each(requests, context), context)

    return grpc.stream_unary_rpc_method_handler(stream_unary, None, respond)


def _stream_stream(parse: _Parser, serve: Any, respond: Any) -> Any:
    if inspect.isasyncgenfunction(serve):

        async def generating(requests: Any, context: Any) -> AsyncIterator[Any]:
            async for response in serve(parse.each(requests, context), context):
                yield response

        return grpc.stream_stream_rpc_method_handler(generating, None, respond)
    if inspect.iscoroutinefunction(serve):

        async def writing(requests: Any, context: Any) -> None:
            await serve(parse.each(requests, context), context)

        return grpc.stream_stream_rpc_method_handler(writing, None, respond)
    return None


class GrpcServing:
    """A started grpc.aio server with health and reflection; `stop` ends it gracefully."""

    def __init__(
        self,
        options: ServingOptions,
        services: Sequence[str],
        add: AddServicers,
        *,
        on_refused: OnRefused | None = None,
    ) -> None:
        """services: the full names of the services add() registers (for health, reflection).

        on_refused is told of every call refused before a servicer saw it (see `RequestGuard`).
        """
        self.options = options
        self.services = tuple(services)
        self._add = add
        self._on_refused = on_refused
        self._server: grpc.aio.Server | None = None
        self._health: Any = None
        self.port = 0

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> int:
        """Listen and serve; returns the bound port (OSError when it cannot listen)."""
        options = self.options
        guard = RequestGuard(options.request_timeout_s, self._on_refused)
        server = grpc.aio.server(options=options.channel_options(), interceptors=[guard])
        self._add(server)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            (*self.services, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        if options.tls is None:
            port: int = server.add_insecure_port(options.listen)
        else:
            port = server.add_secure_port(options.listen, server_credentials(options.tls))
        if port == 0:
            raise OSError(f"cannot listen on {options.listen}")
        await server.start()
        for name in (*self.services, health.OVERALL_HEALTH):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._server, self.port = server, port
        return port

    async def stop(self, grace_s: float) -> None:
        """Health answers NOT_SERVING, then calls in flight get grace_s seconds."""
        if self._server is not None:
            await self._health.enter_graceful_shutdown()
            await self._server.stop(grace_s)
            self._server = None

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()
