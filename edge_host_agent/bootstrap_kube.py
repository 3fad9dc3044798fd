"""The agent's only use of the Kubernetes API: its certificate request and the CA ConfigMap.

An agent that bootstraps its certificate (docs/certificates.md) creates a
CertificateSigningRequest for the signer `mec.dev/edge-agent`, waits for the orchestrator to
sign it, and reads the CA certificate the orchestrator publishes. It does so as its pod's
ServiceAccount (token file, CA and KUBERNETES_SERVICE_HOST/PORT, as every pod gets them), or
from a kubeconfig when one is given (tests, a run outside the cluster). `REQUIRED_RULES` are
the permissions this needs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

from mec_common.identities import AGENT_SIGNER, AGENT_USAGES, CA_BUNDLE_KEY
from mec_common.rbac import PolicyRule

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

REQUIRED_RULES: tuple[PolicyRule, ...] = (
    PolicyRule(
        ("certificates.k8s.io",),
        ("certificatesigningrequests",),
        ("create", "get", "watch"),
        scope="cluster",
    ),
    PolicyRule(("",), ("configmaps",), ("get",), scope="namespace"),
)
"""Create its CSR and follow it (cluster-scoped); read the CA ConfigMap (the orchestrator's
namespace). The chart may narrow the ConfigMap rule to its name (resourceNames)."""


class BootstrapError(RuntimeError):
    """The certificate could not be bootstrapped; the message says what and why."""


class CertificateRefusedError(BootstrapError):
    """The request was denied or failed: the condition's reason and message say why."""


def _refused(what: str, error: ApiException) -> BootstrapError:
    body = error.body.decode() if isinstance(error.body, bytes) else str(error.body or "")
    try:
        message = str(json.loads(body).get("message", body))
    except ValueError:
        message = body
    return BootstrapError(f"{what}: the API server answered {error.status}: {message}")


class KubeCertificates:
    """A client for the agent's few calls, as its ServiceAccount or from a kubeconfig."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.api = api
        self.namespace = namespace

    @classmethod
    async def connect(cls, kubeconfig: Path | None, namespace: str = "") -> KubeCertificates:
        """In-cluster unless a kubeconfig is given; `namespace` empty: the pod's (or context's)."""
        configuration = client.Configuration()
        if kubeconfig is not None:
            loader = await config.load_kube_config(
                config_file=str(kubeconfig), client_configuration=configuration
            )
            context_namespace = (loader.current_context or {}).get("context", {}).get("namespace")
            namespace = namespace or str(context_namespace or "default")
        else:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            namespace = namespace or _pod_namespace()
        return cls(client.ApiClient(configuration), namespace)

    async def close(self) -> None:
        await self.api.close()

    async def node_label(self, node: str, label: str) -> str:
        """The value of a label of a node (the edge host a DaemonSet's pod runs on)."""
        try:
            found = await client.CoreV1Api(self.api).read_node(node)
        except ApiException as error:
            raise _refused(f"reading node {node}", error) from None
        value = (found.metadata.labels or {}).get(label)
        if not value:
            raise BootstrapError(f"node {node} has no label {label}: is it an edge host?")
        return str(value)

    async def read_ca_bundle(self, configmap: str) -> bytes:
        """The CA certificate(s) the orchestrator published (PEM)."""
        try:
            found = await client.CoreV1Api(self.api).read_namespaced_config_map(
                configmap, self.namespace
            )
        except ApiException as error:
            raise _refused(f"reading ConfigMap {self.namespace}/{configmap}", error) from None
        bundle = (found.data or {}).get(CA_BUNDLE_KEY)
        if not bundle:
            raise ValueError(f"ConfigMap {self.namespace}/{configmap} has no {CA_BUNDLE_KEY}")
        return str(bundle).encode()

    async def create_request(
        self, host: str, request_pem: bytes, expiration_seconds: int | None
    ) -> str:
        """Create the CSR (a generated name starting with the host); returns its name."""
        body = client.V1CertificateSigningRequest(
            metadata=client.V1ObjectMeta(
                generate_name=f"edge-agent-{host}-",
                labels={"mec.dev/edge-host": host},
            ),
            spec=client.V1CertificateSigningRequestSpec(
                signer_name=AGENT_SIGNER,
                request=base64.b64encode(request_pem).decode(),
                usages=list(AGENT_USAGES),
                expiration_seconds=expiration_seconds,
            ),
        )
        try:
            created = await client.CertificatesV1Api(self.api).create_certificate_signing_request(
                body
            )
        except ApiException as error:
            raise _refused("creating a CertificateSigningRequest", error) from None
        return str(created.metadata.name)

    async def wait_for_certificate(
        self, name: str, timeout_s: float, progress_every_s: float = 10.0
    ) -> bytes:
        """The signed certificate of CSR `name` (PEM), once the orchestrator has issued it.

        Raises CertificateRefusedError when it is denied or failed, TimeoutError after
        `timeout_s`; says every `progress_every_s` that it is still waiting, and for what.
        """
        certificates = client.CertificatesV1Api(self.api)
        started = time.monotonic()
        while True:
            csr = await certificates.read_certificate_signing_request(name)
            issued = _outcome(csr.to_dict(), name)
            if issued is not None:
                return issued
            waited = time.monotonic() - started
            if waited >= timeout_s:
                raise TimeoutError(
                    f"certificate request {name} not signed after {timeout_s:.0f} s "
                    f"({_state(csr.to_dict())}); see kubectl describe csr {name}"
                )
            log.info(
                "waiting for the orchestrator to sign certificate request %s (%s, %.0f s)",
                name,
                _state(csr.to_dict()),
                waited,
            )
            window = max(1, round(min(progress_every_s, timeout_s - waited)))
            try:
                async with watch.Watch() as stream, asyncio.timeout(window + 5):
                    async for event in stream.stream(
                        certificates.list_certificate_signing_request,
                        field_selector=f"metadata.name={name}",
                        resource_version=csr.metadata.resource_version,
                        timeout_seconds=window,
                    ):
                        if _outcome(event["object"].to_dict(), name) is not None:
                            break
            except (TimeoutError, ApiException) as error:  # a watch cut short: read again
                log.debug("watch of %s ended: %s", name, error)


def _pod_namespace() -> str:
    return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()


def _conditions(csr: dict[str, Any]) -> list[dict[str, Any]]:
    return list((csr.get("status") or {}).get("conditions") or [])


def _state(csr: dict[str, Any]) -> str:
    types = [str(c.get("type")) for c in _conditions(csr)]
    return "approved, not yet signed" if "Approved" in types else "pending approval"


def _outcome(csr: dict[str, Any], name: str) -> bytes | None:
    for condition in _conditions(csr):
        if condition.get("type") in ("Denied", "Failed"):
            raise CertificateRefusedError(
                f"certificate request {name} {str(condition['type']).lower()}: "
                f"{condition.get('reason')}: {condition.get('message')}"
            )
    certificate = (csr.get("status") or {}).get("certificate")
    return base64.b64decode(certificate) if certificate else None
