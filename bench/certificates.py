"""How long an agent waits for its bootstrapped certificate, on the real local control plane.

    python -m bench.certificates                  # 20 hosts: 10 one after another, 20 at once
    python -m bench.certificates --hosts 50 --sequential 20

One `mec-orchestrator run` (standalone, MEC_OPERATOR_CERTIFICATES_BOOTSTRAP) signs; agents are
the agent's own bootstrap code (`edge_host_agent.bootstrap.obtain`) in this process, each logged
in with a token bound to a pod on its edge host, as its pod's ServiceAccount would be. Timed per
agent: from reading the CA ConfigMap, through the key, the CSR, the orchestrator's decision and
signature, to the certificate written in its state directory. First one agent at a time
(`--sequential` rounds, each from an empty state directory), then every host's agent at once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio import client, config

from bench.records import machine, save
from edge_host_agent import bootstrap_kube
from edge_host_agent.bootstrap import obtain
from edge_host_agent.bootstrap_kube import KubeCertificates
from edge_host_agent.settings import AgentSettings
from mec_common.rbac import cluster_rules, namespace_rules
from mec_devtools.devcluster import ClusterInfo, DevCluster, DevClusterSettings
from mec_devtools.devcluster.cluster import free_port
from mec_devtools.launch import operator_command, wait_until_ready

REPO = Path(__file__).resolve().parent.parent
NS = "bench-certs"
SA = "edge-host-agent"


async def _setup(api: client.ApiClient) -> None:
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    body: Any = {"metadata": {"name": SA}}
    await core.create_namespaced_service_account(NS, body)
    subjects = [{"kind": "ServiceAccount", "name": SA, "namespace": NS}]
    rules = bootstrap_kube.REQUIRED_RULES
    body = {"metadata": {"name": SA}, "rules": [r.as_kubernetes() for r in cluster_rules(rules)]}
    await rbac.create_cluster_role(body)
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": SA}
    body = {"metadata": {"name": SA}, "roleRef": ref, "subjects": subjects}
    await rbac.create_cluster_role_binding(body)
    body = {"metadata": {"name": SA}, "rules": [r.as_kubernetes() for r in namespace_rules(rules)]}
    await rbac.create_namespaced_role(NS, body)
    body = {"metadata": {"name": SA}, "roleRef": {**ref, "kind": "Role"}, "subjects": subjects}
    await rbac.create_namespaced_role_binding(NS, body)


async def _agent_kubeconfig(
    api: client.ApiClient, info: ClusterInfo, host: str, directory: Path
) -> Path:
    core = client.CoreV1Api(api)
    body: Any = {
        "metadata": {"name": f"agent-{host}"},
        "spec": {
            "nodeName": host,
            "serviceAccountName": SA,
            "automountServiceAccountToken": False,
            "containers": [{"name": "agent", "image": "registry.invalid/agent:bench"}],
        },
    }
    pod = await core.create_namespaced_pod(NS, body)
    ref = {"kind": "Pod", "apiVersion": "v1", "name": pod.metadata.name, "uid": pod.metadata.uid}
    body = {"spec": {"audiences": [], "expirationSeconds": 3600, "boundObjectRef": ref}}
    token = (await core.create_namespaced_service_account_token(SA, NS, body)).status.token
    path = directory / f"kubeconfig-{host}"
    cluster = {"server": info.server, "certificate-authority": str(info.pki.ca_cert)}
    context = {"cluster": "dev", "user": "agent", "namespace": NS}
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "dev", "cluster": cluster}],
                "users": [{"name": "agent", "user": {"token": token}}],
                "contexts": [{"name": "agent", "context": context}],
                "current-context": "agent",
            }
        )
    )
    return path


async def _one(kubeconfig: Path, host: str, state: Path) -> float:
    settings = AgentSettings(
        host_name=host,
        bootstrap_certificate=True,
        state_dir=state,
        advertise="10.96.0.1:50061",
        certificate_timeout_s=120,
    )
    source = await KubeCertificates.connect(kubeconfig)
    try:
        started = time.perf_counter()
        obtained = await obtain(settings, source)
        elapsed = time.perf_counter() - started
    finally:
        await source.close()
    assert obtained.requested is not None
    return elapsed * 1000


def _summary(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "n": len(values),
        "median_ms": statistics.median(values),
        "p90_ms": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        "max_ms": max(values),
        "values_ms": [round(v, 1) for v in values],
    }


async def drive(
    info: ClusterInfo, hosts: list[str], sequential: int, scratch: Path
) -> dict[str, Any]:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(info.kubeconfig), client_configuration=configuration
    )
    async with client.ApiClient(configuration) as api:
        await _setup(api)
        kubeconfigs = {h: await _agent_kubeconfig(api, info, h, scratch) for h in hosts}
    one_by_one = [
        await _one(kubeconfigs[hosts[0]], hosts[0], scratch / f"seq-{i}") for i in range(sequential)
    ]
    started = time.perf_counter()
    together = await asyncio.gather(*(_one(kubeconfigs[h], h, scratch / f"all-{h}") for h in hosts))
    wall = (time.perf_counter() - started) * 1000
    return {
        "one_at_a_time": _summary(one_by_one),
        "all_at_once": {**_summary(list(together)), "wall_ms": wall},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--sequential", type=int, default=10)
    args = parser.parse_args()
    load_before = os.getloadavg()
    begun = time.time()
    with tempfile.TemporaryDirectory() as scratch:
        cluster = DevCluster(
            DevClusterSettings(state_dir=Path(scratch) / "dc"), lambda m: print(m, file=sys.stderr)
        )
        hosts = [f"host-{i:02d}" for i in range(1, args.hosts + 1)]
        info = cluster.up(hosts)
        operator: subprocess.Popen[bytes] | None = None
        try:
            kubectl = [str(info.binaries["kubectl"]), "--kubeconfig", str(info.kubeconfig)]
            crds = ["-f", str(REPO / "crds"), "-f", str(REPO / "crds" / "peering")]
            subprocess.run(
                [*kubectl, "apply", "--server-side", *crds], check=True, capture_output=True
            )
            subprocess.run(
                [*kubectl, "wait", "--for=condition=Established", *crds],
                check=True,
                capture_output=True,
            )
            port = free_port()
            log = Path(scratch) / "operator.log"
            env = {
                **os.environ,
                "MEC_OPERATOR_CERTIFICATES_BOOTSTRAP": "true",
                "MEC_OPERATOR_NAMESPACE": NS,
                "MEC_OPERATOR_AGENTS_LISTEN": "127.0.0.1:0",
                "MEC_OPERATOR_CERTIFICATES_DIR": str(Path(scratch) / "tls"),
            }
            subprocess.run([*kubectl, "create", "namespace", NS], check=True, capture_output=True)
            with log.open("wb") as sink:
                operator = subprocess.Popen(
                    operator_command(info.kubeconfig, port, standalone=True),
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            if not wait_until_ready(port, timeout=60, process=operator):
                raise SystemExit(f"the operator did not become ready: {log.read_text()[-2000:]}")
            result = asyncio.run(drive(info, hosts, args.sequential, Path(scratch)))
        finally:
            if operator is not None:
                operator.terminate()
                operator.wait(timeout=30)
            cluster.down()
    result.update(
        {
            "machine": machine(),
            "hosts": args.hosts,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        }
    )
    path = save("certificates", result, begun)
    print(yaml.safe_dump(result, sort_keys=False))
    print(f"saved {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
