"""Certificate requests: what an agent builds is read back as it was built; bad ones are named.

`request_facts` (the operator's reading of a CSR object) turns each unusable request into the
`unreadable` fact the approval denies as MalformedRequest: not base64, not PEM, a forged
self-signature, a key other than EC P-256.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from mec_common.csr import MalformedRequestError, build_request, read_request
from mec_common.identities import edge_host_id
from mec_common.tls import new_key
from mec_orchestrator.decisions.certificates import DenialReason, decide
from mec_orchestrator.operator.certificates import request_facts
from tests.decisions.certificates.test_approval import NODE, POLICY


def _csr_object(request: bytes | str) -> dict[str, Any]:
    encoded = request if isinstance(request, str) else base64.b64encode(request).decode()
    return {
        "metadata": {"name": "r"},
        "spec": {
            "request": encoded,
            "username": POLICY.agent_username,
            "usages": ["client auth", "server auth"],
            "extra": {
                "authentication.kubernetes.io/node-name": ["node-1"],
                "authentication.kubernetes.io/node-uid": ["uid-1"],
            },
        },
    }


def test_a_built_request_is_read_back_and_approved() -> None:
    pem = build_request(new_key(), "edge-a", dns_names=("node-1",), ip_addresses=("10.0.0.5",))
    identity = read_request(pem)
    assert identity.subject == (("CN", "edge-a"),)
    assert identity.uris == (edge_host_id("edge-a"),)
    assert identity.dns_names == ("node-1",)
    assert identity.ip_addresses == ("10.0.0.5",)
    assert identity.public_key is not None
    assert decide(request_facts(_csr_object(pem)), NODE, POLICY).approved


def _forged() -> bytes:
    pem = build_request(new_key(), "edge-a")
    der = bytearray(x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the last byte belongs to the signature
    return x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)


def _rsa() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edge-a")]))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(edge_host_id("edge-a"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM)


def _p384() -> bytes:
    key = ec.generate_private_key(ec.SECP384R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edge-a")]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    ("request_data", "named"),
    [
        ("not base64!", "spec.request is not base64"),
        (b"hello", "not a PEM certificate request"),
        (_forged(), "self-signature"),
        (_rsa(), "EC P-256"),
        (_p384(), "EC P-256"),
    ],
)
def test_an_unusable_request_is_denied_as_malformed_naming_why(
    request_data: bytes | str, named: str
) -> None:
    facts = request_facts(_csr_object(request_data))
    assert named in str(facts.unreadable)
    decision = decide(facts, NODE, POLICY)
    assert decision.reason == DenialReason.MALFORMED_REQUEST.value
    assert named in decision.message


def test_reading_a_forged_request_raises() -> None:
    with pytest.raises(MalformedRequestError, match="self-signature"):
        read_request(_forged())
