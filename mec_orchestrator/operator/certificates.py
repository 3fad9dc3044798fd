"""Certificates that bootstrap themselves: the CA, the serving certificate, the agents' CSRs.

The orchestrator keeps its CA, serves agents with a certificate from it, and approves and signs
the agents' CertificateSigningRequests (docs/certificates.md).

`bootstrap` runs in every replica before the agent server starts: it reads the CA from its Secret
(or makes it, one CA even when replicas start together), publishes the CA certificate in a
ConfigMap for the agents, and issues this replica's serving certificate for the DNS names and IPs
of the settings, written where the gRPC server reads it.

`register` watches CSRs with the signer `mec.dev/edge-agent` through kopf, so only the active
replica acts (a standby's watches are paused; on taking over it lists every CSR again and
finishes what is pending). For each: a pending request is decided by the pure
`decisions.certificates.decide` from the request and the node its requester's token is bound to,
and written as an Approved or Denied condition; an approved one without a certificate is signed
(`status.certificate`), valid for its `spec.expirationSeconds` up to the maximum of the
settings. Every decision and issue is an Event on the CSR and a metric.

A request approved by someone else (`kubectl certificate approve`) is signed as asked, minus any
subject attribute other than the common name: approving is the approver's responsibility.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import os
from dataclasses import dataclass, replace
from typing import Any

import kopf
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mec_common.csr import MalformedRequestError, read_request
from mec_common.identities import AGENT_SIGNER, ORCHESTRATOR_ID
from mec_common.tls import cert_pem, issue_ca, issue_leaf, key_pem, sign_leaf, write_cert, write_key
from mec_orchestrator.adapters.kube import certificates as kube_certificates
from mec_orchestrator.adapters.kube import events
from mec_orchestrator.adapters.kube.connection import ApiClient, Connection
from mec_orchestrator.adapters.kube.errors import ApiError
from mec_orchestrator.decisions.certificates import (
    NODE_NAME_EXTRA,
    POD_NAME_EXTRA,
    ApprovalPolicy,
    Decision,
    NodeFacts,
    PodFacts,
    RequestFacts,
    decide,
    validity_seconds,
)
from mec_orchestrator.operator import metrics
from mec_orchestrator.operator.settings import OperatorSettings
from mec_orchestrator.operator.state import OperatorState

log = logging.getLogger(__name__)

CA_COMMON_NAME = "mec-orchestrator-ca"
ISSUED_REASON = "Issued"
ATTEMPTS = 4  # a CSR changed under us (409) or a busy API server: read again, handle again


@dataclass(frozen=True)
class Signer:
    """The CA that signs agents' certificates, and who may have one."""

    ca: x509.Certificate
    ca_key: ec.EllipticCurvePrivateKey
    trusted_pem: bytes
    policy: ApprovalPolicy


def namespace_of(settings: OperatorSettings, connection: Connection) -> str:
    """The orchestrator's namespace: the setting, else the pod's, else the connection's."""
    return (
        settings.namespace
        or os.environ.get("POD_NAMESPACE", "")
        or connection.default_namespace
        or "default"
    )


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _load_ca(
    stored: kube_certificates.StoredCa,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca = x509.load_pem_x509_certificate(stored.cert)
    key = serialization.load_pem_private_key(stored.key, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"the CA Secret holds a {type(key).__name__}, not an EC private key")
    return ca, key


async def bootstrap(settings: OperatorSettings, connection: Connection) -> Signer:
    """Read or make the CA, publish it, write this replica's serving certificate."""
    namespace = namespace_of(settings, connection)
    fresh_ca, fresh_key = issue_ca(CA_COMMON_NAME, dt.timedelta(days=settings.ca_validity_days))
    api = connection.api_client()
    try:
        # Owned by the orchestrator's workload: `helm uninstall` deletes them with it, an
        # upgrade (same workload) keeps them.
        owner = await kube_certificates.workload_of_pod(
            api, namespace, os.environ.get("POD_NAME", "")
        )
        stored = await kube_certificates.ensure_ca(
            api, namespace, settings.ca_secret, (cert_pem(fresh_ca), key_pem(fresh_key)), owner
        )
        published = await kube_certificates.publish_ca(
            api, namespace, settings.ca_configmap, stored.trusted, owner
        )
    finally:
        await api.close()
    ca, ca_key = _load_ca(stored)
    log.info(
        "CA %s Secret %s/%s (expires %s); ConfigMap %s/%s %s",
        "created in" if stored.created else "read from",
        namespace,
        settings.ca_secret,
        ca.not_valid_after_utc.isoformat(),
        namespace,
        settings.ca_configmap,
        "written" if published else "up to date",
    )
    files = settings.serving_files()
    if files is not None:
        cert, key = issue_leaf(
            ca,
            ca_key,
            "mec-orchestrator",
            dns_names=_split(settings.serving_dns_names),
            ip_addresses=_split(settings.serving_ip_addresses),
            uris=(ORCHESTRATOR_ID,),
            server=True,
            client=True,
            validity=dt.timedelta(days=settings.serving_validity_days),
        )
        files.cert.parent.mkdir(parents=True, exist_ok=True)
        files.ca_cert.write_bytes(stored.trusted)
        write_cert(files.cert, cert)
        write_key(files.key, key)
    policy = ApprovalPolicy(
        settings.agent_namespace or namespace,
        settings.agent_service_account,
        settings.agent_certificate_max_seconds,
    )
    return Signer(ca, ca_key, stored.trusted, policy)


# -- one CSR -------------------------------------------------------------------------------


def request_facts(csr: dict[str, Any]) -> RequestFacts:
    """The facts of a CSR object the decision needs (its PEM request read here)."""
    spec = csr.get("spec") or {}
    extra = {
        str(key): tuple(str(value) for value in values or ())
        for key, values in (spec.get("extra") or {}).items()
    }
    facts = RequestFacts(
        name=csr["metadata"]["name"],
        username=str(spec.get("username", "")),
        extra=extra,
        usages=tuple(str(usage) for usage in spec.get("usages") or ()),
    )
    try:
        pem = base64.b64decode(spec.get("request", ""), validate=True)
    except ValueError as error:
        return replace(facts, unreadable=f"spec.request is not base64 ({error})")
    try:
        identity = read_request(pem)
    except MalformedRequestError as error:
        return replace(facts, unreadable=str(error))
    if identity.public_key is None:
        return replace(facts, unreadable="the request's key is not an EC P-256 key")
    return replace(
        facts,
        subject=identity.subject,
        uris=identity.uris,
        dns_names=identity.dns_names,
        ip_addresses=identity.ip_addresses,
        other_names=identity.other_names,
    )


def node_facts(node: dict[str, Any] | None) -> NodeFacts | None:
    if node is None:
        return None
    metadata = node.get("metadata") or {}
    addresses = (node.get("status") or {}).get("addresses") or []
    return NodeFacts(
        name=str(metadata.get("name", "")),
        uid=str(metadata.get("uid", "")),
        labels=dict(metadata.get("labels") or {}),
        addresses=tuple((str(a.get("type", "")), str(a.get("address", ""))) for a in addresses),
    )


def pod_facts(pod: dict[str, Any] | None) -> PodFacts | None:
    if pod is None:
        return None
    metadata, status = pod.get("metadata") or {}, pod.get("status") or {}
    ips = {str(entry.get("ip", "")) for entry in status.get("podIPs") or []}
    ips.add(str(status.get("podIP") or ""))
    return PodFacts(
        name=str(metadata.get("name", "")),
        uid=str(metadata.get("uid", "")),
        node_name=str((pod.get("spec") or {}).get("nodeName", "")),
        ips=frozenset(ip for ip in ips if ip),
    )


def _conditions(csr: dict[str, Any]) -> set[str]:
    found = (csr.get("status") or {}).get("conditions") or []
    return {str(c.get("type")) for c in found if c.get("status", "True") == "True"}


def sign(signer: Signer, csr: dict[str, Any]) -> bytes:
    """The PEM certificate for an approved CSR; MalformedRequestError if it cannot be signed."""
    spec = csr.get("spec") or {}
    identity = read_request(base64.b64decode(spec.get("request", "")))
    if identity.public_key is None:
        raise MalformedRequestError("the request's key is not an EC P-256 key")
    usages = set(spec.get("usages") or ())
    common_name = next((v for k, v in identity.subject if k == "CN"), "edge-host-agent")
    seconds = validity_seconds(spec.get("expirationSeconds"), signer.policy)
    certificate = sign_leaf(
        signer.ca,
        signer.ca_key,
        identity.public_key,
        common_name,
        dns_names=identity.dns_names,
        ip_addresses=identity.ip_addresses,
        uris=identity.uris,
        server="server auth" in usages,
        client="client auth" in usages,
        validity=dt.timedelta(seconds=seconds),
    )
    return cert_pem(certificate)


async def _tell(
    api: ApiClient, csr: dict[str, Any], reason: str, message: str, warning: bool
) -> None:
    metadata = csr.get("metadata") or {}
    await events.emit(
        api,
        involved={
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "name": str(metadata.get("name", "")),
            "uid": str(metadata.get("uid", "")),
        },
        reason=reason,
        message=message,
        warning=warning,
    )


async def _decide(
    api: ApiClient, signer: Signer, csr: dict[str, Any]
) -> tuple[Decision, dict[str, Any]]:
    facts = request_facts(csr)
    node_name = facts.extra_value(NODE_NAME_EXTRA)
    node = await kube_certificates.read_node(api, node_name) if node_name else None
    pod_name = facts.extra_value(POD_NAME_EXTRA)
    pod = None
    if pod_name and facts.username == signer.policy.agent_username:  # the agents' namespace
        pod = await kube_certificates.read_pod(api, signer.policy.agent_namespace, pod_name)
    decision = decide(facts, node_facts(node), signer.policy, pod_facts(pod))
    written = await kube_certificates.decide_request(
        api, csr, approved=decision.approved, reason=decision.reason, message=decision.message
    )
    verdict = "approved" if decision.approved else "denied"
    metrics.AGENT_CERTIFICATE_DECISIONS.labels(verdict, decision.reason).inc()
    log.log(
        logging.INFO if decision.approved else logging.WARNING,
        "certificate request %s %s (%s): %s",
        facts.name,
        verdict,
        decision.reason,
        decision.message,
    )
    await _tell(api, csr, decision.reason, decision.message, warning=not decision.approved)
    return decision, written


async def handle_once(api: ApiClient, signer: Signer, csr: dict[str, Any]) -> str:
    """Take one CSR one step further: decide it, then sign it. Returns what was done."""
    if (csr.get("spec") or {}).get("signerName") != AGENT_SIGNER:
        return "not ours"
    conditions = _conditions(csr)
    if conditions & {"Denied", "Failed"} or (csr.get("status") or {}).get("certificate"):
        return "done already"
    if "Approved" not in conditions:
        decision, csr = await _decide(api, signer, csr)
        if not decision.approved:
            return "denied"
    name = csr["metadata"]["name"]
    try:
        certificate = sign(signer, csr)
    except (MalformedRequestError, ValueError) as error:
        log.warning("approved certificate request %s cannot be signed: %s", name, error)
        return "unsignable"
    await kube_certificates.issue_certificate(api, csr, certificate)
    metrics.AGENT_CERTIFICATES_ISSUED.inc()
    issued = x509.load_pem_x509_certificate(certificate)
    until = issued.not_valid_after_utc.isoformat()
    message = f"signed by {signer.ca.subject.rfc4514_string()}, valid until {until}"
    log.info("certificate request %s: %s", name, message)
    await _tell(api, csr, ISSUED_REASON, message, warning=False)
    return "issued"


async def handle(api: ApiClient, signer: Signer, csr: dict[str, Any]) -> str:
    """`handle_once`, retried from a fresh read when the CSR changed (409) or the API is busy.

    429 and 5xx answers are retried after 1, 2 and 4 s; other errors are raised.
    """
    for attempt in range(ATTEMPTS):
        try:
            return await handle_once(api, signer, csr)
        except ApiError as error:
            retriable = error.status in {409, 429} or error.status >= 500
            if not retriable or attempt == ATTEMPTS - 1:
                raise
            if error.status != 409:
                await asyncio.sleep(2**attempt)
        fresh = await kube_certificates.read_request(api, csr["metadata"]["name"])
        if fresh is None:
            return "gone"
        csr = fresh
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def register(registry: kopf.OperatorRegistry, state: OperatorState, signer: Signer) -> None:
    """Decide and sign agents' CSRs as kopf sees them (in the active replica only)."""

    @kopf.on.event(
        "certificates.k8s.io",
        "v1",
        "certificatesigningrequests",
        field="spec.signerName",
        value=AGENT_SIGNER,
        registry=registry,
    )
    async def agent_certificate_requested(body: kopf.Body, type: str | None, **_: Any) -> None:
        if type == "DELETED":
            return
        await handle(state.api, signer, dict(body))
