"""The API server's side of agents' certificates: the CA Secret, its ConfigMap, the CSRs.

- `ensure_ca` keeps the orchestrator's CA in a `kubernetes.io/tls` Secret of its namespace:
  read it, or make one and create it; two replicas starting at once both create, one gets 409
  Conflict and reads the winner's, so both end with the one CA.
- `publish_ca` writes the CA certificate (never its key) into a ConfigMap agents can read.
- `read_node` and `read_pod` read the node and pod a request's token is bound to;
  `decide_request` writes a decision (the Approved or Denied condition, through the `approval`
  subresource) and `issue_certificate` the signed certificate (the `status` subresource).

Calls go through `ApiClient.call_api` with JSON bodies, so objects are plain dicts (the CSR is
written back as read, with its resourceVersion: a concurrent change is a 409, not lost).
`REQUIRED_RULES` are the permissions these calls need (docs/certificates.md).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mec_common.identities import AGENT_SIGNER, CA_BUNDLE_KEY
from mec_common.rbac import PolicyRule

CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"

REQUIRED_RULES: tuple[PolicyRule, ...] = (
    PolicyRule(
        ("certificates.k8s.io",),
        ("certificatesigningrequests",),
        ("get", "list", "watch"),
        scope="cluster",
    ),
    PolicyRule(
        ("certificates.k8s.io",),
        ("certificatesigningrequests/approval", "certificatesigningrequests/status"),
        ("update",),
        scope="cluster",
    ),
    PolicyRule(
        ("certificates.k8s.io",),
        ("signers",),
        ("approve", "sign"),
        (AGENT_SIGNER,),
        scope="cluster",
    ),
    PolicyRule(("",), ("nodes",), ("get",), scope="cluster"),
    # The requester's pod (its IPs may be in its certificate): agents run in this namespace.
    PolicyRule(("",), ("pods",), ("get",), scope="namespace"),
    PolicyRule(("",), ("secrets",), ("get", "create"), scope="namespace"),
    PolicyRule(("",), ("configmaps",), ("get", "create", "update"), scope="namespace"),
)
"""What the orchestrator's certificate code calls: cluster-wide CSRs, signers and nodes; the
CA Secret and ConfigMap, and the agents' pods, in its own namespace. (Its Events on CSRs:
`events.REQUIRED_RULES`.)"""

TLS_CERT = "tls.crt"
TLS_KEY = "tls.key"


async def _call(
    api: client.ApiClient, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = await api.call_api(
        path,
        method,
        header_params={"Accept": "application/json", "Content-Type": "application/json"},
        body=body,
        response_types_map={200: "object", 201: "object"},
        auth_settings=["BearerToken"],
        _return_http_data_only=True,
    )
    return answer


async def _get_or_none(api: client.ApiClient, path: str) -> dict[str, Any] | None:
    try:
        return await _call(api, "GET", path)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class StoredCa:
    """The CA as its Secret holds it (PEM): the signing pair and the certificates trusted.

    `trusted` is the Secret's optional `ca.crt` (the new CA and the old one during a rotation,
    docs/certificates.md), else the CA certificate alone.
    """

    cert: bytes
    key: bytes
    trusted: bytes
    created: bool = False


def stored_ca(secret: dict[str, Any]) -> StoredCa:
    """The CA of a kubernetes.io/tls Secret; ValueError if its certificate or key is missing."""
    data = secret.get("data") or {}
    if TLS_CERT not in data or TLS_KEY not in data:
        name = secret.get("metadata", {}).get("name")
        raise ValueError(f"Secret {name!r} lacks {TLS_CERT} or {TLS_KEY}")
    cert = base64.b64decode(data[TLS_CERT])
    trusted = base64.b64decode(data[CA_BUNDLE_KEY]) if data.get(CA_BUNDLE_KEY) else cert
    return StoredCa(cert, base64.b64decode(data[TLS_KEY]), trusted)


async def workload_of_pod(api: client.ApiClient, namespace: str, pod: str) -> dict[str, Any] | None:
    """The controller that owns a pod (the orchestrator's StatefulSet), as an ownerReference.

    What the orchestrator creates at run time gets it, so that deleting the workload (helm
    uninstall) deletes them too. None outside a pod or for a bare pod.
    """
    found = await read_pod(api, namespace, pod) if pod else None
    for reference in ((found or {}).get("metadata") or {}).get("ownerReferences") or []:
        if reference.get("controller") is True:
            keys = ("apiVersion", "kind", "name", "uid")
            return {key: reference[key] for key in keys if key in reference}
    return None


def _owned(metadata: dict[str, Any], owner: dict[str, Any] | None) -> dict[str, Any]:
    return {**metadata, "ownerReferences": [owner]} if owner is not None else metadata


async def ensure_ca(
    api: client.ApiClient,
    namespace: str,
    name: str,
    make: tuple[bytes, bytes],
    owner: dict[str, Any] | None = None,
) -> StoredCa:
    """The CA kept in Secret `name`, created from `make` (cert PEM, key PEM) if missing.

    When another replica created it first (409), its CA is the one returned. `owner`: the
    ownerReference a new Secret gets (the orchestrator's workload).
    """
    path = f"/api/v1/namespaces/{namespace}/secrets/{name}"
    found = await _get_or_none(api, path)
    if found is not None:
        return stored_ca(found)
    cert, key = make
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": _owned(
            {
                "name": name,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/managed-by": "mec-orchestrator"},
            },
            owner,
        ),
        "data": {TLS_CERT: _b64(cert), TLS_KEY: _b64(key)},
    }
    try:
        await _call(api, "POST", f"/api/v1/namespaces/{namespace}/secrets", body)
    except ApiException as error:
        if error.status != 409:
            raise
        return stored_ca(await _call(api, "GET", path))
    return StoredCa(cert, key, cert, created=True)


async def publish_ca(
    api: client.ApiClient,
    namespace: str,
    name: str,
    ca_pem: bytes,
    owner: dict[str, Any] | None = None,
) -> bool:
    """Put the CA certificate in ConfigMap `name` (key `ca.crt`); True if it was written."""
    path = f"/api/v1/namespaces/{namespace}/configmaps/{name}"
    data = {CA_BUNDLE_KEY: ca_pem.decode()}
    for _ in range(5):
        found = await _get_or_none(api, path)
        if (
            found is not None
            and (found.get("data") or {}).get(CA_BUNDLE_KEY) == data[CA_BUNDLE_KEY]
        ):
            return False
        try:
            if found is None:
                body = {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": _owned({"name": name, "namespace": namespace}, owner),
                    "data": data,
                }
                await _call(api, "POST", f"/api/v1/namespaces/{namespace}/configmaps", body)
            else:
                await _call(
                    api, "PUT", path, {**found, "data": {**(found.get("data") or {}), **data}}
                )
        except ApiException as error:
            if error.status == 409:  # another replica wrote first: look again
                continue
            raise
        return True
    raise RuntimeError(f"ConfigMap {namespace}/{name} kept changing while being published")


async def read_node(api: client.ApiClient, name: str) -> dict[str, Any] | None:
    """The node `name`, or None if there is none."""
    return await _get_or_none(api, f"/api/v1/nodes/{name}")


async def read_pod(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    """The pod `name` of `namespace`, or None if there is none."""
    return await _get_or_none(api, f"/api/v1/namespaces/{namespace}/pods/{name}")


async def read_request(api: client.ApiClient, name: str) -> dict[str, Any] | None:
    """The CertificateSigningRequest `name`, or None if it is gone."""
    return await _get_or_none(api, f"{CSR_PATH}/{name}")


async def decide_request(
    api: client.ApiClient, csr: dict[str, Any], *, approved: bool, reason: str, message: str
) -> dict[str, Any]:
    """Add the Approved or Denied condition to `csr` (as read: 409 if it changed since)."""
    conditions = list((csr.get("status") or {}).get("conditions") or [])
    conditions.append(
        {
            "type": "Approved" if approved else "Denied",
            "status": "True",
            "reason": reason,
            "message": message[:1024],
        }
    )
    body = {**csr, "status": {**(csr.get("status") or {}), "conditions": conditions}}
    name = csr["metadata"]["name"]
    return await _call(api, "PUT", f"{CSR_PATH}/{name}/approval", body)


async def issue_certificate(
    api: client.ApiClient, csr: dict[str, Any], certificate_pem: bytes
) -> dict[str, Any]:
    """Set `status.certificate` of an approved `csr` (as read: 409 if it changed since)."""
    body = {**csr, "status": {**(csr.get("status") or {}), "certificate": _b64(certificate_pem)}}
    name = csr["metadata"]["name"]
    return await _call(api, "PUT", f"{CSR_PATH}/{name}/status", body)
