"""Certificates for mutual TLS: a CA, server and client certificates, and who they name.

The local control plane and the orchestrator's gRPC link with its edge-host agents both run on
certificates from one small CA. Keys are ECDSA P-256, so issuing takes milliseconds and tests
start from fresh credentials. An agent's client certificate names its edge host twice: in the
common name (for people reading logs) and in a SPIFFE ID URI SAN,
`spiffe://mec.dev/edge-host/<host>`, which is what the orchestrator trusts (gRPC exposes it as
the peer's `peer_spiffe_id`). Clusters mount these files from Secrets or bootstrap them through
the CSR API (docs/certificates.md: `sign_leaf` signs a request's key); `write_agent_pki` lays
out a complete set for local runs and tests.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mec_common.identities import (
    EDGE_HOST_ID_PREFIX,
    ORCHESTRATOR_ID,
    TRUST_DOMAIN,
    edge_host_id,
    host_of_id,
)
from mec_common.patterns import DNS_LABEL

__all__ = [
    "EDGE_HOST_ID_PREFIX",
    "ORCHESTRATOR_ID",
    "TRUST_DOMAIN",
    "AgentPki",
    "TlsFiles",
    "cert_pem",
    "edge_host_id",
    "host_of_id",
    "issue_ca",
    "issue_leaf",
    "key_pem",
    "load_cert",
    "load_key",
    "new_key",
    "sign_leaf",
    "write_agent_pki",
    "write_cert",
    "write_key",
]

DEFAULT_VALIDITY = dt.timedelta(days=365)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public: ec.EllipticCurvePublicKey,
    validity: dt.timedelta,
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + validity)
    )


def issue_ca(
    common_name: str, validity: dt.timedelta = DEFAULT_VALIDITY
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed CA certificate and its key."""
    key = new_key()
    name = _name(common_name)
    cert = (
        _builder(name, name, key.public_key(), validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def issue_leaf(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    *,
    organizations: tuple[str, ...] = (),
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
    uris: tuple[str, ...] = (),
    server: bool = False,
    client: bool = False,
    validity: dt.timedelta = DEFAULT_VALIDITY,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate signed by the CA, for TLS servers and/or clients, and its key."""
    key = new_key()
    cert = sign_leaf(
        ca,
        ca_key,
        key.public_key(),
        common_name,
        organizations=organizations,
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        uris=uris,
        server=server,
        client=client,
        validity=validity,
    )
    return cert, key


def sign_leaf(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    public_key: ec.EllipticCurvePublicKey,
    common_name: str,
    *,
    organizations: tuple[str, ...] = (),
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
    uris: tuple[str, ...] = (),
    server: bool = False,
    client: bool = False,
    validity: dt.timedelta = DEFAULT_VALIDITY,
) -> x509.Certificate:
    """A certificate for someone else's public key (a CSR's), signed by the CA."""
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + (
        [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    )
    builder = (
        _builder(_name(common_name, organizations), ca.subject, public_key, validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    alt_names += [x509.UniformResourceIdentifier(uri) for uri in uris]
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert_pem(cert))


def write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Write a private key readable by its owner only."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(key_pem(key))


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{path} holds a {type(key).__name__}, not an EC private key")
    return key


@dataclass(frozen=True)
class TlsFiles:
    """Where one party's TLS material is: the CA it trusts, its certificate chain and key."""

    ca_cert: Path
    cert: Path
    key: Path

    def read(self) -> tuple[bytes, bytes, bytes]:
        """(CA certificates, certificate chain, private key) as PEM bytes."""
        return self.ca_cert.read_bytes(), self.cert.read_bytes(), self.key.read_bytes()


@dataclass(frozen=True)
class AgentPki:
    """The file layout of `write_agent_pki`: one CA, the orchestrator, one pair per edge host."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def orchestrator(self) -> TlsFiles:
        return TlsFiles(
            self.ca_cert, self.directory / "orchestrator.crt", self.directory / "orchestrator.key"
        )

    def edge_host(self, host: str) -> TlsFiles:
        return TlsFiles(
            self.ca_cert, self.directory / f"{host}.crt", self.directory / f"{host}.key"
        )


def write_agent_pki(
    directory: Path,
    hosts: tuple[str, ...],
    *,
    orchestrator_dns: tuple[str, ...] = ("localhost",),
    orchestrator_ips: tuple[str, ...] = ("127.0.0.1",),
    agent_dns: tuple[str, ...] = ("localhost",),
    agent_ips: tuple[str, ...] = ("127.0.0.1",),
    validity: dt.timedelta = DEFAULT_VALIDITY,
) -> AgentPki:
    """Certificates for the orchestrator and the agents of hosts, under directory.

    A CA already in directory is reused (so hosts can be added later); otherwise a new one is
    made. Every certificate serves and authenticates as a client: the orchestrator serves agents
    and calls them, an agent calls the orchestrator and serves handover commands.
    """
    for host in hosts:
        if len(host) > 63 or not re.match(DNS_LABEL, host):
            raise ValueError(f"edge host name {host!r} is not a DNS label")
    directory.mkdir(parents=True, exist_ok=True)
    pki = AgentPki(directory)
    if pki.ca_cert.exists() and pki.ca_key.exists():
        ca, ca_key = load_cert(pki.ca_cert), load_key(pki.ca_key)
    else:
        ca, ca_key = issue_ca("mec-agents-ca", validity)
        write_cert(pki.ca_cert, ca)
        write_key(pki.ca_key, ca_key)
    leaves = [
        (
            pki.orchestrator,
            "mec-orchestrator",
            orchestrator_dns,
            orchestrator_ips,
            ORCHESTRATOR_ID,
        ),
        *((pki.edge_host(h), h, agent_dns, agent_ips, edge_host_id(h)) for h in hosts),
    ]
    for files, common_name, dns_names, ips, spiffe_id in leaves:
        cert, key = issue_leaf(
            ca,
            ca_key,
            common_name,
            dns_names=dns_names,
            ip_addresses=ips,
            uris=(spiffe_id,),
            server=True,
            client=True,
            validity=validity,
        )
        write_cert(files.cert, cert)
        write_key(files.key, key)
    return pki
