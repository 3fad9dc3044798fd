"""The orchestrator's calls to the agents: users admitted to and released from their instances.

The agents serve `SessionService` on the endpoint they registered (mutual TLS with the agents'
CA, the orchestrator's certificate as the client's); one channel per agent endpoint is kept and
reused. A refusal or an unreachable agent raises `AgentCommandError` with the gRPC status and
the agent's message, so the caller can answer its own client precisely.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc
from mec.agent.v1 import session_pb2, session_pb2_grpc

from mec_common.tls import TlsFiles

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0


class AgentCommandError(RuntimeError):
    """An agent refused a command or could not be reached."""

    def __init__(self, endpoint: str, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"agent at {endpoint}: {code.name}: {message}")
        self.endpoint = endpoint
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class AgentClientSettings:
    """How the orchestrator calls agents: TLS files (None: plaintext) and the name to verify."""

    tls: TlsFiles | None
    server_name: str | None = None
    """The name the agents' certificates are checked against (default: the endpoint's host)."""
    timeout_s: float = DEFAULT_TIMEOUT_S


class AgentSessions:
    """SessionService calls to any agent, by its registered endpoint."""

    def __init__(self, settings: AgentClientSettings) -> None:
        self._settings = settings
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._credentials: grpc.ChannelCredentials | None = None
        if settings.tls is not None:
            ca, cert, key = settings.tls.read()
            self._credentials = grpc.ssl_channel_credentials(ca, key, cert)

    def _stub(self, endpoint: str) -> session_pb2_grpc.SessionServiceStub:
        channel = self._channels.get(endpoint)
        if channel is None:
            if self._credentials is None:
                channel = grpc.aio.insecure_channel(endpoint)
            else:
                options = []
                if self._settings.server_name:
                    options.append(("grpc.ssl_target_name_override", self._settings.server_name))
                channel = grpc.aio.secure_channel(endpoint, self._credentials, options=options)
            self._channels[endpoint] = channel
        return session_pb2_grpc.SessionServiceStub(channel)

    async def admit(self, endpoint: str, app_instance_id: str, user_id: str, record: bytes) -> int:
        """Tell the agent its instance serves user; returns how many users the instance serves."""
        request = session_pb2.AdmitUserRequest(
            app_instance_id=app_instance_id, user_id=user_id, record=record
        )
        try:
            response = await self._stub(endpoint).AdmitUser(
                request, timeout=self._settings.timeout_s
            )
        except grpc.aio.AioRpcError as error:
            raise AgentCommandError(endpoint, error.code(), error.details() or "") from None
        return int(response.users)

    async def release(
        self, endpoint: str, app_instance_id: str, user_id: str, redirect: str | None
    ) -> bool:
        """Tell the agent its instance no longer serves user (who is at redirect now, if any)."""
        request = session_pb2.ReleaseUserRequest(
            app_instance_id=app_instance_id, user_id=user_id, redirect_endpoint=redirect or ""
        )
        try:
            response = await self._stub(endpoint).ReleaseUser(
                request, timeout=self._settings.timeout_s
            )
        except grpc.aio.AioRpcError as error:
            raise AgentCommandError(endpoint, error.code(), error.details() or "") from None
        return bool(response.released)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
