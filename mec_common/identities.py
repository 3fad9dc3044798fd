"""Who certificates name, and the signer that issues the agents' certificates.

Kept free of cryptography so the orchestrator's pure decisions can use the same names as the
code that builds and signs certificates (`mec_common.tls`, `mec_common.csr`).
"""

from __future__ import annotations

TRUST_DOMAIN = "mec.dev"
EDGE_HOST_ID_PREFIX = f"spiffe://{TRUST_DOMAIN}/edge-host/"
ORCHESTRATOR_ID = f"spiffe://{TRUST_DOMAIN}/orchestrator"

AGENT_SIGNER = "mec.dev/edge-agent"
"""The signerName of agents' CertificateSigningRequests: the orchestrator approves and signs
them. Not `kubernetes.io/kube-apiserver-client`: those certificates would log in to the API
server too."""

AGENT_USAGES = ("digital signature", "client auth", "server auth")
"""The key usages an agent asks for: it calls the orchestrator and serves its own gRPC."""

CA_BUNDLE_KEY = "ca.crt"
"""The key of the CA certificate (PEM) in the ConfigMap the orchestrator publishes."""


def edge_host_id(host: str) -> str:
    """The SPIFFE ID that names an edge host (the URI SAN of its agent's certificate)."""
    return EDGE_HOST_ID_PREFIX + host


def host_of_id(spiffe_id: str) -> str | None:
    """The edge host a SPIFFE ID names, or None if it names no edge host."""
    if not spiffe_id.startswith(EDGE_HOST_ID_PREFIX):
        return None
    host = spiffe_id.removeprefix(EDGE_HOST_ID_PREFIX)
    return host if host and "/" not in host else None
