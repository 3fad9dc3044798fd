"""Smoke tests proving the local control plane is real: each fails if its component is faked.

- the API server validates CRD schemas and CEL rules, enforces RBAC and serves watches;
- etcd compaction makes an old resourceVersion answer 410 Gone;
- the controller manager turns a Deployment into a ReplicaSet and Pods;
- the scheduler binds Pods by node selector, and refuses when no node matches;
- kwok makes bound Pods Running on the edge-host nodes;
- helm installs a chart.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from mec_common import tls
from mec_devtools.devcluster import ClusterInfo
from mec_devtools.devcluster.cluster import DevCluster, admin_client
from mec_devtools.devcluster.nodes import EDGE_HOST_LABEL
from tests.conftest import EDGE_HOSTS, Kubectl
from tests.helpers import as_model, body_text, eventually

CHART = Path(__file__).parent / "chart"


def test_every_component_is_healthy_and_of_the_pinned_version(control_plane: ClusterInfo) -> None:
    health = DevCluster().component_health(control_plane)
    assert health == {
        "etcd": "healthy",
        "kube-apiserver": "healthy",
        "kube-controller-manager": "healthy",
        "kube-scheduler": "healthy",
        "kwok": "healthy",
    }
    with admin_client(control_plane) as http:
        assert http.get("/version").json()["gitVersion"] == "v1.36.3"


def test_edge_host_nodes_are_ready_and_labelled(kubectl: Kubectl) -> None:
    out = kubectl(
        "get",
        "nodes",
        "-l",
        EDGE_HOST_LABEL,
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}="
        "{.status.conditions[?(@.type=='Ready')].status} {end}",
    )
    assert sorted(out.stdout.split()) == sorted(f"{h}=True" for h in EDGE_HOSTS)


WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.smoke.mec.dev"},
    "spec": {
        "group": "smoke.mec.dev",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["replicas"],
                                "properties": {
                                    "replicas": {"type": "integer", "minimum": 1, "maximum": 5},
                                    "minMs": {"type": "integer"},
                                    "maxMs": {"type": "integer"},
                                },
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "self.minMs <= self.maxMs",
                                        "message": "minMs must not exceed maxMs",
                                    }
                                ],
                            }
                        },
                    }
                },
            }
        ],
    },
}


async def test_crd_schema_and_cel_refuse_bad_objects_naming_the_field(
    api: client.ApiClient, namespace: str
) -> None:
    extensions = client.ApiextensionsV1Api(api)
    await extensions.create_custom_resource_definition(
        as_model(WIDGET_CRD, client.V1CustomResourceDefinition)
    )

    async def established() -> bool:
        crd = await extensions.read_custom_resource_definition("widgets.smoke.mec.dev")
        return any(
            c.type == "Established" and c.status == "True" for c in crd.status.conditions or []
        )

    await eventually(established)
    objects = client.CustomObjectsApi(api)

    async def create(spec: dict[str, Any]) -> Any:
        body = {
            "apiVersion": "smoke.mec.dev/v1",
            "kind": "Widget",
            "metadata": {"generateName": "w-"},
            "spec": spec,
        }
        return await objects.create_namespaced_custom_object(
            "smoke.mec.dev", "v1", namespace, "widgets", body
        )

    created = await create({"replicas": 2, "minMs": 1, "maxMs": 5})
    assert created["spec"]["replicas"] == 2

    with pytest.raises(ApiException) as too_many:
        await create({"replicas": 9, "minMs": 1, "maxMs": 5})
    assert too_many.value.status == 422
    assert "spec.replicas" in body_text(too_many.value)
    assert "less than or equal to 5" in body_text(too_many.value)

    with pytest.raises(ApiException) as inverted:
        await create({"replicas": 1, "minMs": 9, "maxMs": 5})
    assert inverted.value.status == 422
    assert "minMs must not exceed maxMs" in body_text(inverted.value)


async def test_deployment_runs_on_the_kwok_node_its_selector_names(
    api: client.ApiClient, namespace: str
) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    labels = {"app": "pinned"}
    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="pinned"),
        spec=client.V1DeploymentSpec(
            replicas=2,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    node_selector={EDGE_HOST_LABEL: "edge-b"},
                    containers=[client.V1Container(name="app", image="registry.local/app:1")],
                ),
            ),
        ),
    )
    await apps.create_namespaced_deployment(namespace, deployment)

    async def running_pods() -> list[Any]:
        pods = (await core.list_namespaced_pod(namespace, label_selector="app=pinned")).items
        running = [p for p in pods if p.status.phase == "Running"]
        return running if len(running) == 2 else []

    pods = await eventually(running_pods)
    for pod in pods:
        assert pod.spec.node_name == "edge-b"  # the scheduler bound it by the selector
        owner = pod.metadata.owner_references[0]
        assert owner.kind == "ReplicaSet"  # the controller manager made it
        assert pod.status.pod_ip  # kwok ran it
        scheduled = [c for c in pod.status.conditions if c.type == "PodScheduled"]
        assert [c.status for c in scheduled] == ["True"]

    async def deployment_available() -> bool:
        current = await apps.read_namespaced_deployment(namespace=namespace, name="pinned")
        return current.status.available_replicas == 2

    await eventually(deployment_available)


async def test_scheduler_leaves_a_pod_pending_when_no_edge_host_matches(
    api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api)
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="nowhere"),
        spec=client.V1PodSpec(
            node_selector={EDGE_HOST_LABEL: "no-such-host"},
            containers=[client.V1Container(name="app", image="registry.local/app:1")],
        ),
    )
    await core.create_namespaced_pod(namespace, pod)

    async def failed_scheduling() -> list[Any]:
        events = (
            await core.list_namespaced_event(
                namespace, field_selector="involvedObject.name=nowhere"
            )
        ).items
        return [e for e in events if e.reason == "FailedScheduling"]

    events = await eventually(failed_scheduling)
    assert "node(s) didn't match Pod's node affinity/selector" in events[0].message
    current = await core.read_namespaced_pod("nowhere", namespace)
    assert current.status.phase == "Pending"
    assert current.spec.node_name is None


async def test_watch_sees_added_modified_deleted_in_order(
    api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api)
    listed = await core.list_namespaced_config_map(namespace)
    seen: list[tuple[str, str]] = []

    async def observe() -> None:
        async with watch.Watch() as stream:
            async for event in stream.stream(
                core.list_namespaced_config_map,
                namespace,
                resource_version=listed.metadata.resource_version,
                field_selector="metadata.name=watched",
                timeout_seconds=20,
            ):
                seen.append((event["type"], event["object"].data.get("step", "")))
                if event["type"] == "DELETED":
                    return

    watcher = asyncio.create_task(observe())
    await asyncio.sleep(0.3)
    await core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="watched"), data={"step": "1"}),
    )
    await core.patch_namespaced_config_map("watched", namespace, {"data": {"step": "2"}})
    await core.delete_namespaced_config_map("watched", namespace)
    await asyncio.wait_for(watcher, 20)
    assert seen == [("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]


async def test_expired_resource_version_answers_410_after_etcd_compaction(
    api: client.ApiClient, namespace: str, control_plane: ClusterInfo
) -> None:
    core, extensions = client.CoreV1Api(api), client.ApiextensionsV1Api(api)
    objects = client.CustomObjectsApi(api)
    marker = await core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="marker"))
    )
    old_version = marker.metadata.resource_version
    # A resource type born after old_version: its watch cache cannot serve old_version, so the
    # API server has to ask etcd for it.
    group = f"{namespace}.smoke.mec.dev"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gadgets.{group}"},
        "spec": {
            "group": group,
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }
    await extensions.create_custom_resource_definition(
        as_model(crd, client.V1CustomResourceDefinition)
    )

    async def established() -> bool:
        current = await extensions.read_custom_resource_definition(f"gadgets.{group}")
        return any(
            c.type == "Established" and c.status == "True" for c in current.status.conditions or []
        )

    await eventually(established)

    async def list_at_old_version() -> Any:
        return await objects.list_namespaced_custom_object(
            group,
            "v1",
            namespace,
            "gadgets",
            resource_version=old_version,
            resource_version_match="Exact",
        )

    async def list_once_storage_is_ready() -> Any:
        try:
            return await list_at_old_version()
        except ApiException as error:
            if error.status == 429:  # "storage is (re)initializing" just after the CRD appears
                return None
            raise

    before = await eventually(list_once_storage_is_ready)  # etcd still has that revision
    assert before["items"] == []

    latest = await core.patch_namespaced_config_map("marker", namespace, {"data": {"v": "1"}})
    async with httpx.AsyncClient() as http:  # compact etcd's history through etcd's own API
        answer = await http.post(
            f"{control_plane.etcd_url}/v3/kv/compaction",
            json={"revision": int(latest.metadata.resource_version), "physical": True},
        )
    assert answer.status_code == 200, answer.text

    with pytest.raises(ApiException) as gone:
        await list_at_old_version()
    assert gone.value.status == 410
    assert "too old" in body_text(gone.value)

    async def first_event_watching_from_old_version() -> Any:
        async with watch.Watch() as stream:
            async for event in stream.stream(
                objects.list_namespaced_custom_object,
                group,
                "v1",
                namespace,
                "gadgets",
                resource_version=old_version,
                timeout_seconds=10,
            ):
                return event
        return None

    with pytest.raises(ApiException) as expired:  # the watch's ERROR event, raised as 410
        await first_event_watching_from_old_version()
    assert expired.value.status == 410
    assert "too old resource version" in str(expired.value)
    await extensions.delete_custom_resource_definition(f"gadgets.{group}")


def test_rbac_refuses_an_authenticated_user_without_permissions(
    control_plane: ClusterInfo, tmp_path: Path
) -> None:
    keys = control_plane.pki
    ca, ca_key = tls.load_cert(keys.ca_cert), tls.load_key(keys.ca_key)
    cert, key = tls.issue_leaf(ca, ca_key, "nobody", client=True)
    tls.write_cert(tmp_path / "c.crt", cert)
    tls.write_key(tmp_path / "c.key", key)
    context = ssl.create_default_context(cafile=str(keys.ca_cert))
    context.load_cert_chain(str(tmp_path / "c.crt"), str(tmp_path / "c.key"))
    with httpx.Client(base_url=control_plane.server, verify=context) as http:
        answer = http.get("/api/v1/namespaces/default/secrets")
    assert answer.status_code == 403
    assert 'User "nobody" cannot list resource "secrets"' in answer.json()["message"]


def test_helm_installs_and_uninstalls_a_chart(
    control_plane: ClusterInfo, cluster_env: dict[str, str], kubectl: Kubectl
) -> None:
    helm = str(control_plane.binaries["helm"])

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [helm, *args], env=cluster_env, capture_output=True, text=True, check=True, timeout=120
        )

    run("install", "smoke", str(CHART), "--namespace", "default", "--set", "greeting=hi", "--wait")
    try:
        value = kubectl(
            "get", "configmap", "smoke-greeting", "-n", "default", "-o", "jsonpath={.data.greeting}"
        )
        assert value.stdout == "hi"
        assert "smoke" in run("list", "--namespace", "default", "--short").stdout.split()
    finally:
        run("uninstall", "smoke", "--namespace", "default", "--wait")
    gone = kubectl("get", "configmap", "smoke-greeting", "-n", "default", check=False)
    assert gone.returncode != 0
    assert "NotFound" in gone.stderr
