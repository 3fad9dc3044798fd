"""Which edge host a caller may speak for: the one its client certificate names.

Over mutual TLS gRPC verifies the agent's certificate against the CA and exposes its SPIFFE ID
URI SAN (`spiffe://mec.dev/edge-host/<host>`) as the peer property `peer_spiffe_id`; a request
naming any other host is refused with PERMISSION_DENIED. Without TLS (only with the explicit
insecure setting, for development) there is no identity and every claim is believed.
"""

from __future__ import annotations

from typing import Any

from mec_common.tls import host_of_id
from mec_orchestrator.adapters.agent_link.refusals import WrongHostError
from mec_orchestrator.decisions.names import HostName

SPIFFE_ID_PROPERTY = "peer_spiffe_id"


def peer_host(context: Any) -> HostName | None:
    """The edge host named by the peer's certificate (context: a grpc.aio.ServicerContext)."""
    values = context.auth_context().get(SPIFFE_ID_PROPERTY)
    if not values:
        return None
    return host_of_id(values[0].decode())


class HostAuthority:
    """Checks that a call speaks for the host its peer certificate names."""

    def __init__(self, require_certificate: bool) -> None:
        self.require_certificate = require_certificate

    def check(self, context: Any, host: HostName) -> None:
        if not self.require_certificate:
            return
        named = peer_host(context)
        if named is None:
            raise WrongHostError(
                "the client certificate names no edge host "
                "(expected a URI SAN spiffe://mec.dev/edge-host/<host>)"
            )
        if named != host:
            raise WrongHostError(
                f"host_name: {host!r} is not the host named by the client certificate ({named!r})"
            )
