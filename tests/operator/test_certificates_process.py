"""The whole bootstrap with real processes: two orchestrator replicas and an agent.

Two `mec-orchestrator run` replicas with `MEC_OPERATOR_CERTIFICATES_BOOTSTRAP` start at once
(one CA between them); the active one's kopf watch approves and signs the CSR of a real
`edge-host-agent run --bootstrap-certificate` (logged in with a token bound to a pod on edge-a),
which then registers over mutual TLS with the certificates both sides bootstrapped.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from kubernetes_asyncio import client

from edge_host_agent import bootstrap_kube
from mec_devtools.devcluster import ClusterInfo
from mec_devtools.devcluster.cluster import free_port
from tests.helpers import eventually
from tests.operator.certificate_world import AGENT_SA, World
from tests.operator.conftest import OperatorProcess

pytestmark = pytest.mark.cluster


async def test_replicas_and_an_agent_bootstrap_their_certificates_and_talk_mtls(
    api: client.ApiClient,
    namespace: str,
    crds_installed: ClusterInfo,
    operator_logs: Path,
    tmp_path: Path,
) -> None:
    world = World(api, crds_installed, namespace, tmp_path)
    await world.grant(AGENT_SA, bootstrap_kube.REQUIRED_RULES)
    agents_port = free_port()
    replicas = [
        OperatorProcess(
            crds_installed,
            operator_logs,
            priority=priority,
            env={
                "MEC_OPERATOR_CERTIFICATES_BOOTSTRAP": "true",
                "MEC_OPERATOR_NAMESPACE": namespace,
                "MEC_OPERATOR_CERTIFICATES_DIR": str(tmp_path / f"tls-{priority}"),
                "MEC_OPERATOR_AGENTS_LISTEN": f"127.0.0.1:{agents_port if priority == 900 else 0}",
                "MEC_OPERATOR_SERVING_DNS_NAMES": "localhost",
                "MEC_OPERATOR_AGENT_SERVICE_ACCOUNT": AGENT_SA,
            },
        )
        for priority in (900, 800)
    ]
    agent: subprocess.Popen[bytes] | None = None
    agent_log = tmp_path / "agent.log"
    try:
        await asyncio.gather(*(asyncio.to_thread(replica.start) for replica in replicas))
        cas = {(tmp_path / f"tls-{p}" / "ca.crt").read_bytes() for p in (900, 800)}
        assert len(cas) == 1  # one CA between the replicas that raced to make it

        pod = await world.pod_on("edge-a", AGENT_SA)
        kubeconfig = world.kubeconfig(await world.token(AGENT_SA, pod))
        command = [
            sys.executable,
            "-m",
            "edge_host_agent",
            "run",
            "--host",
            "edge-a",
            "--bootstrap-certificate",
            "--kubeconfig",
            str(kubeconfig),
            "--state-dir",
            str(tmp_path / "agent-state"),
            "--orchestrator",
            f"127.0.0.1:{agents_port}",
            "--orchestrator-server-name",
            "localhost",
            "--listen",
            "127.0.0.1:0",
            "--advertise",
            "10.96.0.1:50061",
        ]
        agent = _start(command, agent_log)

        async def registered() -> bool:
            assert agent is not None
            assert agent.poll() is None, agent_log.read_text()[-3000:]
            return replicas[0].metric("mec_agents_connected") == 1

        await eventually(registered, within=60)
        log = agent_log.read_text()
        assert "asked for a certificate for spiffe://mec.dev/edge-host/edge-a" in log
        kept = tmp_path / "agent-state" / "tls" / "tls.crt"
        certificate = x509.load_pem_x509_certificate(kept.read_bytes())
        ca = x509.load_pem_x509_certificate(cas.pop())
        certificate.verify_directly_issued_by(ca)
        assert replicas[0].metric("mec_agent_certificates_issued_total") == 1
        assert replicas[1].metric("mec_agent_certificates_issued_total") == 0  # standby
    finally:
        if agent is not None and agent.poll() is None:
            agent.terminate()
            agent.wait(timeout=30)
        for replica in replicas:
            replica.stop()
        await world.cleanup()


def _start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ})
