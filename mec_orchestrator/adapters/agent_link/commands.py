"""The orchestrator's calls to the agents: users admitted and released, handovers driven.

The agents serve `SessionService` and `HandoverService` on the endpoint they registered
(mutual TLS with the agents' CA, the orchestrator's certificate as the client's); one channel
per agent endpoint is kept and reused. A refusal or an unreachable agent raises
`AgentCommandError` with the gRPC status and the agent's message, so the caller can answer its
own client precisely.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from mec.agent.v1 import handover_pb2, handover_pb2_grpc, session_pb2, session_pb2_grpc

from mec_common.tls import TlsFiles

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0
TRANSFER_TIMEOUT_S = 120.0
"""A transfer moves the whole context (up to tens of MiB) between hosts."""


@dataclass(frozen=True, slots=True)
class HandoverSide:
    """One instance of a handover, as the agents need it (the proto's AppInstanceRef)."""

    namespace: str
    edge_app: str
    host: str
    deployment: str
    app_instance_id: str
    user_context_endpoint: str
    endpoint: str

    def ref(self) -> handover_pb2.AppInstanceRef:
        return handover_pb2.AppInstanceRef(
            namespace=self.namespace,
            edge_app_name=self.edge_app,
            host_name=self.host,
            deployment_name=self.deployment,
            user_context_endpoint=self.user_context_endpoint,
            app_instance_id=self.app_instance_id,
            endpoint=self.endpoint,
        )


@dataclass(frozen=True, slots=True)
class Transferred:
    """What a transfer reports: bytes moved, pre-copy rounds, the fenced part, the version."""

    context_bytes: int
    precopy_rounds: int
    fenced_bytes: int
    fenced_s: float
    version: int


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
        return session_pb2_grpc.SessionServiceStub(self._channel(endpoint))

    def _handovers(self, endpoint: str) -> handover_pb2_grpc.HandoverServiceStub:
        return handover_pb2_grpc.HandoverServiceStub(self._channel(endpoint))

    def _channel(self, endpoint: str) -> grpc.aio.Channel:
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
        return channel

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

    async def prepare_handover(
        self,
        endpoint: str,
        *,
        handover_id: str,
        source_role: bool,
        user_id: str,
        source: HandoverSide,
        target: HandoverSide,
        target_agent_endpoint: str,
        mec_assisted: bool,
        timeout_s: float,
        session_record: bytes = b"",
    ) -> None:
        """Prepare one side of a handover (idempotent by handover_id)."""
        timeout = Duration()
        timeout.FromNanoseconds(int(timeout_s * 1e9))
        request = handover_pb2.PrepareHandoverRequest(
            handover_id=handover_id,
            role=handover_pb2.HANDOVER_ROLE_SOURCE
            if source_role
            else handover_pb2.HANDOVER_ROLE_TARGET,
            user_id=user_id,
            source=source.ref(),
            target=target.ref(),
            target_agent_endpoint=target_agent_endpoint,
            context_transfer=handover_pb2.CONTEXT_TRANSFER_MODE_MEC_ASSISTED
            if mec_assisted
            else handover_pb2.CONTEXT_TRANSFER_MODE_APP_SELF_CONTROLLED,
            timeout=timeout,
            session_record=session_record,
        )
        await self._call(endpoint, self._handovers(endpoint).PrepareHandover, request)

    async def transfer(
        self, endpoint: str, handover_id: str, *, precopy_only: bool = False
    ) -> Transferred:
        """The source agent moves the context (pre-copy, then the fenced rest).

        precopy_only: copy while the source serves and stop (a radio handover in preparation).
        """
        request = handover_pb2.TransferContextRequest(
            handover_id=handover_id, precopy_only=precopy_only
        )
        answer = await self._call(
            endpoint, self._handovers(endpoint).TransferContext, request, TRANSFER_TIMEOUT_S
        )
        return Transferred(
            context_bytes=int(answer.context_bytes),
            precopy_rounds=int(answer.precopy_rounds),
            fenced_bytes=int(answer.fenced_bytes),
            fenced_s=answer.fenced_for.ToNanoseconds() / 1e9,
            version=int(answer.version),
        )

    async def commit(self, endpoint: str, handover_id: str, version: int = 0) -> None:
        request = handover_pb2.CommitHandoverRequest(handover_id=handover_id, version=version)
        await self._call(endpoint, self._handovers(endpoint).CommitHandover, request)

    async def abort(self, endpoint: str, handover_id: str, reason: str) -> None:
        request = handover_pb2.AbortHandoverRequest(handover_id=handover_id, reason=reason)
        await self._call(endpoint, self._handovers(endpoint).AbortHandover, request)

    async def _call(
        self, endpoint: str, method: Any, request: Any, timeout_s: float | None = None
    ) -> Any:
        try:
            return await method(request, timeout=timeout_s or self._settings.timeout_s)
        except grpc.aio.AioRpcError as error:
            raise AgentCommandError(endpoint, error.code(), error.details() or "") from None

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
