"""One way to serve gRPC, for the orchestrator's agent server and the agent's own server.

Both serve over mutual TLS (plaintext only when asked explicitly), with the official health
checking and reflection services, explicit message-size limits (a larger message is refused with
RESOURCE_EXHAUSTED before a handler sees it), keepalive settings that notice dead peers, and a
graceful stop that first tells health checkers the server is going away.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from mec_common.tls import TlsFiles

MIB = 1024 * 1024

AddServicers = Callable[[grpc.aio.Server], None]
"""Adds the server's own servicers (the generated add_*_to_server functions)."""


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


class GrpcServing:
    """A started grpc.aio server with health and reflection; `stop` ends it gracefully."""

    def __init__(self, options: ServingOptions, services: Sequence[str], add: AddServicers) -> None:
        """services: the full names of the services add() registers (for health, reflection)."""
        self.options = options
        self.services = tuple(services)
        self._add = add
        self._server: grpc.aio.Server | None = None
        self._health: Any = None
        self.port = 0

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> int:
        """Listen and serve; returns the bound port (OSError when it cannot listen)."""
        options = self.options
        server = grpc.aio.server(options=options.channel_options())
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
