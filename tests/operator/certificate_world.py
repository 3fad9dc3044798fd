"""A small world for the certificate tests: ServiceAccounts holding only the declared rules.

The orchestrator's account gets a ClusterRole and a Role built from the REQUIRED_RULES of the
modules it runs (`adapters.kube.certificates`, `adapters.kube.events`), the agents' account those
of `edge_host_agent.bootstrap_kube`; each logs in with a TokenRequest token, so a missing rule
fails the flow with 403. Agents' tokens are bound to pods placed on a node, as a DaemonSet's are.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio import client

from mec_common.rbac import PolicyRule, cluster_rules, namespace_rules
from mec_devtools.devcluster import ClusterInfo
from mec_orchestrator.adapters.kube.connection import Connection
from mec_orchestrator.operator import certificates
from mec_orchestrator.operator.certificates import Signer

ORCHESTRATOR_SA = "mec-orchestrator"
AGENT_SA = "edge-host-agent"


@dataclass
class World:
    """The namespace, the control plane and what the test made (removed by `cleanup`)."""

    api: client.ApiClient
    info: ClusterInfo
    namespace: str
    directory: Path
    cluster_objects: list[tuple[str, str]] = field(default_factory=list)  # (kind path, name)

    async def grant(self, account: str, rules: Iterable[PolicyRule]) -> None:
        """A ServiceAccount holding exactly `rules` (ClusterRole + Role, bound)."""
        rules = tuple(rules)
        core, rbac = client.CoreV1Api(self.api), client.RbacAuthorizationV1Api(self.api)
        with contextlib.suppress(client.ApiException):
            await core.create_namespaced_service_account(
                self.namespace, _body({"metadata": {"name": account}})
            )
        subject = [{"kind": "ServiceAccount", "name": account, "namespace": self.namespace}]
        name = f"{self.namespace}-{account}"
        cluster = [r.as_kubernetes() for r in cluster_rules(rules)]
        if cluster:
            await rbac.create_cluster_role(_body({"metadata": {"name": name}, "rules": cluster}))
            await rbac.create_cluster_role_binding(
                _body(
                    {
                        "metadata": {"name": name},
                        "roleRef": _role_ref("ClusterRole", name),
                        "subjects": subject,
                    }
                )
            )
            self.cluster_objects += [("clusterroles", name), ("clusterrolebindings", name)]
        local = [r.as_kubernetes() for r in namespace_rules(rules)]
        if local:
            await rbac.create_namespaced_role(
                self.namespace, _body({"metadata": {"name": account}, "rules": local})
            )
            await rbac.create_namespaced_role_binding(
                self.namespace,
                _body(
                    {
                        "metadata": {"name": account},
                        "roleRef": _role_ref("Role", account),
                        "subjects": subject,
                    }
                ),
            )

    async def pod_on(self, node: str, account: str) -> dict[str, Any]:
        """A pod of `account` bound to `node` (kwok runs it on edge hosts; it need not run)."""
        pod = await client.CoreV1Api(self.api).create_namespaced_pod(
            self.namespace,
            _body(
                {
                    "metadata": {"name": f"{account}-{node}-{uuid.uuid4().hex[:5]}"},
                    "spec": {
                        "nodeName": node,
                        "serviceAccountName": account,
                        "automountServiceAccountToken": False,
                        "containers": [{"name": "agent", "image": "registry.invalid/agent:test"}],
                    },
                }
            ),
        )
        return {"name": pod.metadata.name, "uid": pod.metadata.uid}

    async def pod_ip(self, pod: dict[str, Any], within: float = 30.0) -> str:
        """The pod's IP, once kwok has started it on its (edge-host) node."""
        core = client.CoreV1Api(self.api)
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            found = await core.read_namespaced_pod(pod["name"], self.namespace)
            if found.status.pod_ip:
                return str(found.status.pod_ip)
            await asyncio.sleep(0.2)
        raise AssertionError(f"pod {pod['name']} got no IP within {within} s")

    async def token(self, account: str, pod: dict[str, Any] | None = None) -> str:
        """A TokenRequest token of `account`, bound to `pod` when given."""
        spec: dict[str, Any] = {"audiences": [], "expirationSeconds": 3600}
        if pod is not None:
            spec["boundObjectRef"] = {"kind": "Pod", "apiVersion": "v1", **pod}
        answer = await client.CoreV1Api(self.api).create_namespaced_service_account_token(
            account, self.namespace, _body({"spec": spec})
        )
        return str(answer.status.token)

    def connection(self, token: str) -> Connection:
        return Connection(
            server=self.info.server,
            ca_path=str(self.info.pki.ca_cert),
            token=token,
            default_namespace=self.namespace,
        )

    def kubeconfig(self, token: str) -> Path:
        """A kubeconfig logging in with `token`, its context in the test's namespace."""
        path = self.directory / f"kubeconfig-{uuid.uuid4().hex[:8]}"
        context = {"cluster": "dev", "user": "sa", "namespace": self.namespace}
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "dev",
                            "cluster": {
                                "server": self.info.server,
                                "certificate-authority": str(self.info.pki.ca_cert),
                            },
                        }
                    ],
                    "users": [{"name": "sa", "user": {"token": token}}],
                    "contexts": [{"name": "sa", "context": context}],
                    "current-context": "sa",
                }
            )
        )
        return path

    async def cleanup(self) -> None:
        for kind, name in self.cluster_objects:
            with contextlib.suppress(client.ApiException):
                await self.api.call_api(
                    f"/apis/rbac.authorization.k8s.io/v1/{kind}/{name}",
                    "DELETE",
                    auth_settings=["BearerToken"],
                )


def _body(value: dict[str, Any]) -> Any:
    """A request body as a plain dict (the client serialises dicts as they are)."""
    return value


def _role_ref(kind: str, name: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name}


async def run_signer(api: client.ApiClient, signer: Signer, stop: asyncio.Event) -> None:
    """What the active replica's CSR watch does, as a poll (the kopf wiring has its own test)."""
    while not stop.is_set():
        listed = await client.CertificatesV1Api(api).list_certificate_signing_request()
        for item in listed.items:
            await certificates.handle(api, signer, api.sanitize_for_serialization(item))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)


@contextlib.asynccontextmanager
async def signing(api: client.ApiClient, signer: Signer) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_signer(api, signer, stop))
    try:
        yield
    finally:
        stop.set()
        await task
