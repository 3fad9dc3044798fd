"""A pod's ServiceAccount identity, as the kubelet projects it: token, CA bundle, namespace.

The token comes from the TokenRequest API, bound to the pod (so the API server knows which pod
and node it was issued for, and it dies with the pod), and is written with the cluster's CA
certificate and the pod's namespace into the directory the pod's sandbox mounts at
/var/run/secrets/kubernetes.io/serviceaccount.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client

from mec_devtools.runtime.sandbox import is_service_account_volume

TOKEN_SECONDS = 3607  # what the kubelet asks for by default


def wants_token(pod: Mapping[str, Any]) -> bool:
    """Whether the pod has the ServiceAccount volume the API server adds.

    The API server adds it unless automountServiceAccountToken is off for the pod or its
    ServiceAccount.
    """
    volumes = (pod.get("spec") or {}).get("volumes") or []
    return any(isinstance(v, Mapping) and is_service_account_volume(v) for v in volumes)


async def project(
    api: client.ApiClient, pod: Mapping[str, Any], directory: Path, ca_pem: bytes
) -> None:
    """Request a token bound to pod and write token, ca.crt and namespace into directory."""
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    namespace = str(metadata.get("namespace", ""))
    account = str(spec.get("serviceAccountName") or "default")
    body = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(
            audiences=[],
            expiration_seconds=TOKEN_SECONDS,
            bound_object_ref=client.V1BoundObjectReference(
                api_version="v1", kind="Pod", name=metadata.get("name"), uid=metadata.get("uid")
            ),
        )
    )
    answer = await client.CoreV1Api(api).create_namespaced_service_account_token(
        account, namespace, body
    )
    write_files(directory, answer.status.token, ca_pem, namespace)


def write_files(directory: Path, token: str, ca_pem: bytes, namespace: str) -> None:
    """The three files of a projected ServiceAccount volume, readable by the pod's user."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in (
        ("token", token.encode()),
        ("ca.crt", ca_pem),
        ("namespace", namespace.encode()),
    ):
        path = directory / name
        path.write_bytes(content)
        path.chmod(0o644)
