"""The agent's own gRPC server: users' sessions, handover commands and context transfers.

The orchestrator admits and releases users through SessionService (`edge_host_agent.sessions`)
and drives handovers through HandoverService; source agents stream contexts to target agents
through ContextTransferService (`edge_host_agent.handover`, journalled on the host's disk with
--state-dir). The server runs on `mec_common.grpc_serving`: mutual TLS with the host's
certificate (any client must present a certificate from the same CA), health checking,
reflection, bounded message sizes, and the serving layer's request guard (an unparsable request
is answered INVALID_ARGUMENT, a unary request must arrive within `request_timeout_s`).
"""

from __future__ import annotations

import grpc
from mec.agent.v1 import (
    context_transfer_pb2,
    context_transfer_pb2_grpc,
    handover_pb2,
    handover_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
)

from edge_host_agent.handover.service import HandoverAgent
from edge_host_agent.handover.servicers import ContextTransfers, HandoverCommands
from edge_host_agent.sessions import HostInstances, SessionCommands
from edge_host_agent.settings import AgentSettings
from mec_common.grpc_serving import GrpcServing, ServingOptions

SERVICE_NAMES = (
    session_pb2.DESCRIPTOR.services_by_name["SessionService"].full_name,
    handover_pb2.DESCRIPTOR.services_by_name["HandoverService"].full_name,
    context_transfer_pb2.DESCRIPTOR.services_by_name["ContextTransferService"].full_name,
)


class AgentGrpcServer:
    """Serves SessionService, HandoverService and ContextTransferService (health, reflection).

    host: the host's registered instances and their sessions (None: no Mp1 served, so the
    agent knows no instances and refuses admissions).
    """

    def __init__(self, settings: AgentSettings, host: HostInstances | None = None) -> None:
        self._settings = settings
        self.sessions = SessionCommands(host)
        self.handovers = HandoverAgent(settings, host)
        self._serving: GrpcServing | None = None
        self.port = 0

    async def start(self) -> int:
        def add(server: grpc.aio.Server) -> None:
            session_pb2_grpc.add_SessionServiceServicer_to_server(self.sessions, server)
            handover_pb2_grpc.add_HandoverServiceServicer_to_server(
                HandoverCommands(self.handovers), server
            )
            context_transfer_pb2_grpc.add_ContextTransferServiceServicer_to_server(
                ContextTransfers(self.handovers), server
            )

        await self.handovers.start()
        options = ServingOptions(self._settings.listen, self._settings.tls_files(), keepalive=False)
        self._serving = GrpcServing(options, SERVICE_NAMES, add)
        self.port = await self._serving.start()
        return self.port

    async def stop(self, grace_s: float = 1.0) -> None:
        if self._serving is not None:
            await self._serving.stop(grace_s)
            self._serving = None
        await self.sessions.close()
        await self.handovers.stop()
