"""Connection settings for the API server: a kubeconfig file or the in-cluster service account.

Both kopf (for watching) and kubernetes_asyncio (for writing) are configured from here, so the
two always talk to the same server as the same identity.
"""

from __future__ import annotations

import base64
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


__all__ = ["ApiClient", "Connection", "discover"]


@dataclass(frozen=True)
class Connection:
    """Where the API server is and how to authenticate (file paths; data is written to files)."""

    server: str
    ca_path: str | None
    certificate_path: str | None = None
    private_key_path: str | None = None
    token: str | None = None
    default_namespace: str | None = None

    def api_client(self) -> ApiClient:
        configuration = client.Configuration()
        configuration.host = self.server
        configuration.ssl_ca_cert = self.ca_path
        configuration.cert_file = self.certificate_path
        configuration.key_file = self.private_key_path
        if self.token:  # kubernetes_asyncio sends the "BearerToken" key (the other: older ones)
            bearer = f"Bearer {self.token}"
            configuration.api_key = {"BearerToken": bearer, "authorization": bearer}
        return client.ApiClient(configuration)


def _materialise(data: str, suffix: str) -> str:
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept for the process lifetime
        prefix="mec-", suffix=suffix, delete=False
    )
    handle.write(base64.b64decode(data))
    handle.close()
    return handle.name


def _path_or_data(entry: dict[str, Any], key: str, base: Path, suffix: str) -> str | None:
    if entry.get(key):
        path = Path(str(entry[key]))
        return str(path if path.is_absolute() else base / path)
    if entry.get(f"{key}-data"):
        return _materialise(str(entry[f"{key}-data"]), suffix)
    return None


def from_kubeconfig(path: Path, context: str | None = None) -> Connection:
    config = yaml.safe_load(path.read_text())
    name = context or config.get("current-context")
    ctx = next(c["context"] for c in config["contexts"] if c["name"] == name)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == ctx["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == ctx["user"])
    base = path.parent
    return Connection(
        server=cluster["server"],
        ca_path=_path_or_data(cluster, "certificate-authority", base, ".crt"),
        certificate_path=_path_or_data(user, "client-certificate", base, ".crt"),
        private_key_path=_path_or_data(user, "client-key", base, ".key"),
        token=user.get("token"),
        default_namespace=ctx.get("namespace"),
    )


def in_cluster() -> Connection:
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    return Connection(
        server=f"https://{host}:{port}",
        ca_path=str(SERVICE_ACCOUNT / "ca.crt"),
        token=(SERVICE_ACCOUNT / "token").read_text().strip(),
        default_namespace=(SERVICE_ACCOUNT / "namespace").read_text().strip(),
    )


def discover(kubeconfig: Path | None) -> Connection:
    """The kubeconfig given, else $KUBECONFIG, else the in-cluster service account."""
    if kubeconfig is not None:
        return from_kubeconfig(kubeconfig)
    if os.environ.get("KUBECONFIG"):
        return from_kubeconfig(Path(os.environ["KUBECONFIG"].split(os.pathsep)[0]))
    if (SERVICE_ACCOUNT / "token").exists() and "KUBERNETES_SERVICE_HOST" in os.environ:
        return in_cluster()
    return from_kubeconfig(Path.home() / ".kube" / "config")
