"""Pure decisions about agents' certificates: approve or deny a CertificateSigningRequest.

`approval.py` holds the one function the operator calls for every pending request with the
signer `mec.dev/edge-agent` (docs/certificates.md): facts about the request and the node its
requester's token is bound to in, a decision with a reason and a message out. No client, no
clock, no cryptography: the operator reads the PEM request (`mec_common.csr`) and the node.
"""

from mec_orchestrator.decisions.certificates.approval import (
    ALLOWED_USAGES,
    APPROVED_REASON,
    MIN_EXPIRATION_SECONDS,
    NODE_NAME_EXTRA,
    NODE_UID_EXTRA,
    POD_NAME_EXTRA,
    POD_UID_EXTRA,
    REQUIRED_USAGES,
    ApprovalPolicy,
    Decision,
    DenialReason,
    NodeFacts,
    PodFacts,
    RequestFacts,
    decide,
    validity_seconds,
)

__all__ = [
    "ALLOWED_USAGES",
    "APPROVED_REASON",
    "MIN_EXPIRATION_SECONDS",
    "NODE_NAME_EXTRA",
    "NODE_UID_EXTRA",
    "POD_NAME_EXTRA",
    "POD_UID_EXTRA",
    "REQUIRED_USAGES",
    "ApprovalPolicy",
    "Decision",
    "DenialReason",
    "NodeFacts",
    "PodFacts",
    "RequestFacts",
    "decide",
    "validity_seconds",
]
