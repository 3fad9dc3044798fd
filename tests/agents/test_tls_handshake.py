"""What a gRPC Python client without a valid client certificate sees, and that the docs say so.

The server checks the client certificate after the client has finished its part of the TLS 1.3
handshake, then closes the connection without a gRPC status: the client reports that it could
not connect, with the socket closed under it, never a status from the server.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from mec.agent.v1 import registry_pb2, registry_pb2_grpc

from mec_common.tls import AgentPki, TlsFiles
from mec_orchestrator.adapters.agent_link import AgentServer
from tests.agents.conftest import rpc_code, secure_channel

DOC = Path(__file__).resolve().parents[2] / "docs" / "agents.md"
CANNOT_CONNECT = "failed to connect to all addresses"
CLOSED = "Socket closed"


async def failure(port: int, files: TlsFiles | None, ca: Path) -> tuple[grpc.StatusCode, str]:
    async with secure_channel(port, files, ca=ca) as channel:
        stub = registry_pb2_grpc.AgentRegistryServiceStub(channel)
        return await rpc_code(
            stub.Register(registry_pb2.RegisterRequest(host_name="edge-a"), timeout=5)
        )


@pytest.mark.parametrize("client", ["no certificate", "certificate from another CA"])
async def test_a_client_without_a_valid_certificate_sees_the_socket_closed(
    orchestrator: AgentServer, pki: AgentPki, foreign_pki: AgentPki, client: str
) -> None:
    files = None if client == "no certificate" else foreign_pki.edge_host("edge-a")
    code, details = await failure(orchestrator.port, files, pki.ca_cert)

    assert code is grpc.StatusCode.UNAVAILABLE
    assert details.startswith(f"{CANNOT_CONNECT}; last error: "), details
    assert f"127.0.0.1:{orchestrator.port}: {CLOSED}" in details
    assert "handshake" not in details.lower()  # the client's side of it succeeded
    assert len(orchestrator.registry) == 0


def test_the_docs_say_what_such_a_client_sees() -> None:
    text = " ".join(DOC.read_text().split())
    assert CANNOT_CONNECT in text
    assert CLOSED in text
    assert "grpcurl" in text
