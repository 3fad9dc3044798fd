"""Certificates and kubeconfigs for the local control plane.

One CA signs the API server's serving certificate and one client certificate per identity
(admin, controller manager, scheduler, kwok); the service-account signing key pair is separate.
ECDSA P-256 keeps generation in milliseconds so every `up` starts from fresh credentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization

from mec_common.tls import issue_ca, issue_leaf, new_key, write_cert, write_key

SERVICE_IP = "10.0.0.1"
SERVICE_CIDR = "10.0.0.0/24"


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate subject: the user name (CN) and groups (O) the API server sees."""

    name: str
    user: str
    groups: tuple[str, ...] = ()


ADMIN = ClientIdentity("admin", "mec-admin", ("system:masters",))
CONTROLLER_MANAGER = ClientIdentity("kube-controller-manager", "system:kube-controller-manager")
SCHEDULER = ClientIdentity("kube-scheduler", "system:kube-scheduler")
KWOK = ClientIdentity("kwok", "kwok-controller", ("system:masters",))
CLIENTS = (ADMIN, CONTROLLER_MANAGER, SCHEDULER, KWOK)


@dataclass(frozen=True)
class Pki:
    """Paths of everything written under one directory."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def sa_public(self) -> Path:
        return self.directory / "sa.pub"

    @property
    def sa_private(self) -> Path:
        return self.directory / "sa.key"

    def client_cert(self, who: ClientIdentity) -> Path:
        return self.directory / f"{who.name}.crt"

    def client_key(self, who: ClientIdentity) -> Path:
        return self.directory / f"{who.name}.key"

    def kubeconfig(self, who: ClientIdentity) -> Path:
        return self.directory / f"{who.name}.kubeconfig"


def kubeconfig_text(server: str, pki: Pki, who: ClientIdentity, context: str = "mec-dev") -> str:
    """A kubeconfig with absolute paths to the CA and the identity's client certificate."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": context,
                "cluster": {"server": server, "certificate-authority": str(pki.ca_cert)},
            }
        ],
        "users": [
            {
                "name": who.user,
                "user": {
                    "client-certificate": str(pki.client_cert(who)),
                    "client-key": str(pki.client_key(who)),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": who.user}}],
        "current-context": context,
    }
    return yaml.safe_dump(config, sort_keys=False)


def generate(directory: Path, server: str) -> Pki:
    """Write a CA, serving and client certificates, SA keys and kubeconfigs under directory."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    pki = Pki(directory)
    ca, ca_key = issue_ca("mec-devcluster-ca")
    write_cert(pki.ca_cert, ca)
    write_key(pki.ca_key, ca_key)
    serving, serving_key = issue_leaf(
        ca,
        ca_key,
        "kube-apiserver",
        dns_names=(
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ),
        ip_addresses=("127.0.0.1", SERVICE_IP),
        server=True,
    )
    write_cert(pki.serving_cert, serving)
    write_key(pki.serving_key, serving_key)
    for who in CLIENTS:
        cert, key = issue_leaf(ca, ca_key, who.user, organizations=who.groups, client=True)
        write_cert(pki.client_cert(who), cert)
        write_key(pki.client_key(who), key)
        pki.kubeconfig(who).write_text(kubeconfig_text(server, pki, who))
    sa_key = new_key()
    write_key(pki.sa_private, sa_key)
    pki.sa_public.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pki
