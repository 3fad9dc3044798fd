"""Certificates that bootstrap themselves, on the real API server, as least-privileged accounts.

The orchestrator runs as a ServiceAccount holding only the rules its certificate modules declare,
the agents as one holding only `edge_host_agent.bootstrap_kube.REQUIRED_RULES`, logged in with
TokenRequest tokens bound to pods (as a DaemonSet's are). The CA: one, even when two replicas
start at once, kept across restarts, published without its key. The agent of a pod on an edge
host gets a certificate for its host, kept and reused; every other request is denied with the
reason of what is wrong.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from kubernetes_asyncio import client
from prometheus_client import REGISTRY

from edge_host_agent import bootstrap_kube
from edge_host_agent.bootstrap import obtain, still_good
from edge_host_agent.bootstrap_kube import CertificateRefusedError, KubeCertificates
from edge_host_agent.settings import AgentSettings
from mec_common.identities import AGENT_SIGNER, CA_BUNDLE_KEY, edge_host_id
from mec_common.tls import new_key
from mec_devtools.devcluster import ClusterInfo
from mec_orchestrator.adapters.kube import certificates as kube_certificates
from mec_orchestrator.adapters.kube import events
from mec_orchestrator.decisions.certificates import APPROVED_REASON, DenialReason
from mec_orchestrator.operator import certificates
from mec_orchestrator.operator.settings import OperatorSettings
from tests.operator.certificate_world import AGENT_SA, ORCHESTRATOR_SA, World, signing

pytestmark = pytest.mark.cluster

KWOK_NODE_IP = "10.96.0.1"  # every kwok node's InternalIP in the devcluster


@pytest.fixture
async def world(
    api: client.ApiClient, namespace: str, control_plane: ClusterInfo, tmp_path: Path
) -> AsyncIterator[World]:
    made = World(api, control_plane, namespace, tmp_path)
    await made.grant(ORCHESTRATOR_SA, kube_certificates.REQUIRED_RULES + events.REQUIRED_RULES)
    await made.grant(AGENT_SA, bootstrap_kube.REQUIRED_RULES)
    try:
        yield made
    finally:
        await made.cleanup()


def orchestrator_settings(world: World, **overrides: Any) -> OperatorSettings:
    return OperatorSettings(
        certificates_bootstrap=True,
        namespace=world.namespace,
        certificates_dir=world.directory / f"orchestrator-{uuid.uuid4().hex[:6]}",
        serving_dns_names="mec-orchestrator.mec.svc,mec-orchestrator",
        serving_ip_addresses="127.0.0.1",
        agent_service_account=AGENT_SA,
        agent_certificate_max_seconds=86400,
        **overrides,
    )


async def orchestrator(world: World) -> tuple[certificates.Signer, client.ApiClient]:
    """The orchestrator's CA (bootstrapped) and a client with its ServiceAccount's token."""
    connection = world.connection(await world.token(ORCHESTRATOR_SA))
    signer = await certificates.bootstrap(orchestrator_settings(world), connection)
    return signer, connection.api_client()


def agent_settings(world: World, host: str = "edge-a", **overrides: Any) -> AgentSettings:
    values: dict[str, Any] = {
        "host_name": host,
        "bootstrap_certificate": True,
        "state_dir": world.directory / f"agent-{host}-{uuid.uuid4().hex[:6]}",
        "advertise": f"{KWOK_NODE_IP}:50061",
        "certificate_timeout_s": 30,
    }
    return AgentSettings(**{**values, **overrides})


async def agent_source(world: World, account: str, pod: dict[str, Any] | None) -> KubeCertificates:
    token = await world.token(account, pod)
    return await KubeCertificates.connect(world.kubeconfig(token))


async def test_two_replicas_starting_at_once_end_with_one_ca_kept_across_restarts(
    world: World,
) -> None:
    connection = world.connection(await world.token(ORCHESTRATOR_SA))
    first, second = await asyncio.gather(
        certificates.bootstrap(orchestrator_settings(world), connection),
        certificates.bootstrap(orchestrator_settings(world), connection),
    )
    assert first.ca == second.ca
    restarted = await certificates.bootstrap(orchestrator_settings(world), connection)
    assert restarted.ca == first.ca

    core = client.CoreV1Api(world.api)
    secret = await core.read_namespaced_secret("mec-orchestrator-ca", world.namespace)
    assert secret.type == "kubernetes.io/tls"
    published = await core.read_namespaced_config_map("mec-agents-ca", world.namespace)
    assert set(published.data) == {CA_BUNDLE_KEY}  # the certificate, never the key
    assert x509.load_pem_x509_certificate(published.data[CA_BUNDLE_KEY].encode()) == first.ca
    assert "PRIVATE KEY" not in published.data[CA_BUNDLE_KEY]


async def test_the_serving_certificate_names_the_settings_addresses(world: World) -> None:
    connection = world.connection(await world.token(ORCHESTRATOR_SA))
    settings = orchestrator_settings(world)
    signer = await certificates.bootstrap(settings, connection)
    files = settings.serving_files()
    assert files is not None
    serving = x509.load_pem_x509_certificate(files.cert.read_bytes())
    serving.verify_directly_issued_by(signer.ca)
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [
        "mec-orchestrator.mec.svc",
        "mec-orchestrator",
    ]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert files.key.stat().st_mode & 0o077 == 0
    assert files.ca_cert.read_bytes() == signer.trusted_pem


def _approvals() -> float:
    labels = {"decision": "approved", "reason": APPROVED_REASON}
    return REGISTRY.get_sample_value("mec_agent_certificate_decisions_total", labels) or 0.0


async def _csr(world: World, name: str) -> Any:
    return await client.CertificatesV1Api(world.api).read_certificate_signing_request(name)


async def test_the_agent_of_an_edge_host_gets_its_certificate_and_keeps_it(world: World) -> None:
    signer, orchestrator_api = await orchestrator(world)
    pod = await world.pod_on("edge-a", AGENT_SA)
    source = await agent_source(world, AGENT_SA, pod)
    settings = agent_settings(world, certificate_seconds=3600)
    approved_before = _approvals()
    try:
        async with signing(orchestrator_api, signer):
            obtained = await obtain(settings, source)
            again = await obtain(settings, source)  # a restart: the kept one is reused
            renewed = await obtain(settings, source, force=True)  # renewal: a new one
    finally:
        await source.close()
        await orchestrator_api.close()

    assert obtained.requested is not None
    assert again.requested is None
    assert renewed.requested not in (None, obtained.requested)
    certificate = x509.load_pem_x509_certificate(obtained.files.cert.read_bytes())
    certificate.verify_directly_issued_by(signer.ca)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == [edge_host_id("edge-a")]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == [KWOK_NODE_IP]
    lifetime = certificate.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=55) < lifetime <= dt.timedelta(hours=1)  # expirationSeconds
    assert obtained.files.key.stat().st_mode & 0o077 == 0
    bundle = obtained.files.ca_cert.read_bytes()
    assert still_good(renewed.files, bundle, "edge-a", dt.datetime.now(dt.UTC)) is None
    assert "due for renewal" in str(
        still_good(renewed.files, bundle, "edge-a", renewed.renew_at + dt.timedelta(seconds=1))
    )

    csr = await _csr(world, obtained.requested)
    assert csr.spec.signer_name == AGENT_SIGNER
    (condition,) = csr.status.conditions
    assert (condition.type, condition.reason) == ("Approved", APPROVED_REASON)
    assert "edge-a" in condition.message
    assert _approvals() == approved_before + 2
    told = await client.CoreV1Api(world.api).list_namespaced_event(
        "default", field_selector=f"involvedObject.name={obtained.requested}"
    )
    assert {e.reason for e in told.items} == {APPROVED_REASON, certificates.ISSUED_REASON}


async def test_an_agent_advertised_on_its_pod_ip_gets_that_ip_in_its_certificate(
    world: World,
) -> None:
    signer, orchestrator_api = await orchestrator(world)
    pod = await world.pod_on("edge-b", AGENT_SA)
    pod_ip = await world.pod_ip(pod)
    source = await agent_source(world, AGENT_SA, pod)
    try:
        async with signing(orchestrator_api, signer):
            obtained = await obtain(
                agent_settings(world, "edge-b", advertise=f"{pod_ip}:50061"), source
            )
    finally:
        await source.close()
        await orchestrator_api.close()
    certificate = x509.load_pem_x509_certificate(obtained.files.cert.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == [pod_ip]
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == [edge_host_id("edge-b")]


def _request_with_extra_uri(host: str) -> bytes:
    key = new_key()
    names = [
        x509.UniformResourceIdentifier(edge_host_id(host)),
        x509.UniformResourceIdentifier("spiffe://mec.dev/orchestrator"),
    ]
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM)


async def test_requests_that_are_not_an_edge_agent_s_own_are_denied_with_the_reason(
    world: World,
) -> None:
    signer, orchestrator_api = await orchestrator(world)
    plain_node = f"plain-{uuid.uuid4().hex[:6]}"
    await client.CoreV1Api(world.api).create_node(
        {"metadata": {"name": plain_node}}  # type: ignore[arg-type]
    )
    await world.grant("intruder", bootstrap_kube.REQUIRED_RULES)
    sources: list[KubeCertificates] = []

    async def refusal(
        settings: AgentSettings, account: str, node: str | None, request: bytes | None = None
    ) -> str:
        pod = None if node is None else await world.pod_on(node, account)
        source = await agent_source(world, account, pod)
        sources.append(source)
        if request is None:
            with pytest.raises(CertificateRefusedError) as refused:
                await obtain(settings, source)
            return str(refused.value)
        name = await source.create_request(settings.host_name, request, None)
        with pytest.raises(CertificateRefusedError) as refused:
            await source.wait_for_certificate(name, 30)
        return str(refused.value)

    try:
        async with signing(orchestrator_api, signer):
            refused = await asyncio.gather(
                refusal(agent_settings(world), AGENT_SA, plain_node),
                refusal(agent_settings(world, "edge-b"), AGENT_SA, "edge-a"),
                refusal(agent_settings(world), "intruder", "edge-a"),
                refusal(
                    agent_settings(world), AGENT_SA, "edge-a", _request_with_extra_uri("edge-a")
                ),
                refusal(agent_settings(world), AGENT_SA, None),
                refusal(agent_settings(world, advertise="192.0.2.1:50061"), AGENT_SA, "edge-a"),
            )
    finally:
        for source in sources:
            await source.close()
        await orchestrator_api.close()
        await client.CoreV1Api(world.api).delete_node(plain_node)

    expected = [
        (DenialReason.NODE_NOT_EDGE_HOST, plain_node),
        (DenialReason.IDENTITY_MISMATCH, edge_host_id("edge-b")),
        (DenialReason.NOT_AGENT_SERVICE_ACCOUNT, "intruder"),
        (DenialReason.EXTRA_IDENTITY, "spiffe://mec.dev/orchestrator"),
        (DenialReason.NOT_BOUND_TO_POD, "node-name"),
        (DenialReason.ADDRESS_NOT_OF_NODE, "192.0.2.1"),
    ]
    for message, (reason, named) in zip(refused, expected, strict=True):
        assert f"denied: {reason.value}:" in message
        assert named in message
        labels = {"decision": "denied", "reason": reason.value}
        assert REGISTRY.get_sample_value("mec_agent_certificate_decisions_total", labels)
