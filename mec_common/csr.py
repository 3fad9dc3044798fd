"""PKCS#10 certificate signing requests: the agent writes one, the orchestrator reads one.

An agent that bootstraps its certificate (docs/certificates.md) sends the API server a
CertificateSigningRequest whose `spec.request` is built by `build_request`; the orchestrator
reads it back with `read_request` into the plain facts its pure approval decision checks
(`mec_orchestrator.decisions.certificates`), then signs the public key with `mec_common.tls`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mec_common.identities import edge_host_id


class MalformedRequestError(ValueError):
    """The bytes are not a PEM certificate request with a valid self-signature."""


def build_request(
    key: ec.EllipticCurvePrivateKey,
    host: str,
    *,
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
) -> bytes:
    """A PEM CSR for the agent of `host`: CN=host, its SPIFFE ID and the addresses it serves on."""
    alt_names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(edge_host_id(host))]
    alt_names += [x509.DNSName(name) for name in dns_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class RequestedIdentity:
    """What a CSR asks to be named: its subject and every subject alternative name, by kind."""

    subject: tuple[tuple[str, str], ...]  # (attribute name, value), e.g. ("CN", "edge-a")
    uris: tuple[str, ...]
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    other_names: tuple[str, ...]  # emails, directory names, ...: anything else, described
    public_key: ec.EllipticCurvePublicKey | None  # None: not an EC P-256 key


def read_request(pem: bytes) -> RequestedIdentity:
    """The identity a PEM CSR asks for; MalformedRequestError if it is unreadable or forged."""
    try:
        request = x509.load_pem_x509_csr(pem)
    except ValueError as error:
        raise MalformedRequestError(f"not a PEM certificate request: {error}") from None
    if not request.is_signature_valid:
        raise MalformedRequestError("the request's self-signature does not verify")
    subject = tuple(
        (attribute.rfc4514_attribute_name, str(attribute.value)) for attribute in request.subject
    )
    uris: list[str] = []
    dns_names: list[str] = []
    ips: list[str] = []
    others: list[str] = []
    for extension in request.extensions:
        if not isinstance(extension.value, x509.SubjectAlternativeName):
            continue  # other requested extensions are ignored: the signer sets its own
        for name in extension.value:
            if isinstance(name, x509.UniformResourceIdentifier):
                uris.append(name.value)
            elif isinstance(name, x509.DNSName):
                dns_names.append(name.value)
            elif isinstance(name, x509.IPAddress):
                ips.append(str(name.value))
            else:
                others.append(f"{type(name).__name__}:{name.value}")
    public = request.public_key()
    ec_key = (
        public
        if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
        else None
    )
    return RequestedIdentity(
        subject, tuple(uris), tuple(dns_names), tuple(ips), tuple(others), ec_key
    )
