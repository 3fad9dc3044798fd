"""Sandboxed pods on the emulated hosts: their user, volumes, identity and the cluster's names.

A pod that asks for the restricted Pod Security Standard runs as its user with a read-only root
filesystem and no capabilities, writes only to its volumes, reads its configMap, logs in to the
API server with the ServiceAccount token bound to it (the API server says which pod and node it
is), and finds a Service by name.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from mec_devtools.devcluster import ClusterInfo
from mec_devtools.runtime import PROJECT_IMAGE_PREFIX
from mec_devtools.sim.network import Network
from tests.devtools.runtime.conftest import MANAGED, Emulated, get_pod, running_runtime
from tests.helpers import as_model, eventually

IMAGE = f"{PROJECT_IMAGE_PREFIX}probe:dev"

CHECKS = textwrap.dedent(
    """
    import json, os, ssl, time, urllib.request
    out = {"uid": os.getuid(), "gid": os.getgid()}
    try:
        open("/etc/mec-sandbox-test", "w")
        out["root_writable"] = True
    except OSError:
        out["root_writable"] = False
    with open("/data/written", "w") as handle:
        handle.write("ok")
    out["config"] = open("/etc/probe/greeting").read()
    sa = "/var/run/secrets/kubernetes.io/serviceaccount"
    token = open(sa + "/token").read()
    out["namespace"] = open(sa + "/namespace").read()
    context = ssl.create_default_context(cafile=sa + "/ca.crt")
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
    request = urllib.request.Request(
        f"https://{host}:{port}/apis/authentication.k8s.io/v1/selfsubjectreviews",
        data=b'{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}',
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
        method="POST",
    )
    review = json.load(urllib.request.urlopen(request, context=context))
    out["user"] = review["status"]["userInfo"]
    wanted = "named.%s.svc" % out["namespace"]
    deadline = time.time() + 20
    while time.time() < deadline and wanted not in open("/etc/hosts").read():
        time.sleep(0.2)
    out["hosts"] = open("/etc/hosts").read()
    print("RESULT " + json.dumps(out), flush=True)
    """
)


@pytest.fixture
async def sandboxed(
    control_plane: ClusterInfo,
    api: client.ApiClient,
    namespace: str,
    network: Network,
    tmp_path: Path,
) -> AsyncIterator[Emulated]:
    async with running_runtime(
        control_plane, api, namespace, network, tmp_path, sandbox=True
    ) as world:
        yield world


def probe_pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "nodeName": MANAGED[0],
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "securityContext": {"runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532},
            "containers": [
                {
                    "name": "main",
                    "image": IMAGE,
                    "command": ["python", "-c", CHECKS],
                    "securityContext": {
                        "runAsNonRoot": True,
                        "readOnlyRootFilesystem": True,
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "volumeMounts": [
                        {"name": "data", "mountPath": "/data"},
                        {"name": "conf", "mountPath": "/etc/probe", "readOnly": True},
                    ],
                }
            ],
            "volumes": [
                {"name": "data", "emptyDir": {}},
                {"name": "conf", "configMap": {"name": "probe-conf"}},
            ],
        },
    }


async def test_a_restricted_pod_runs_as_its_user_with_its_identity_and_names(
    sandboxed: Emulated, api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api)
    config = {"metadata": {"name": "probe-conf"}, "data": {"greeting": "hello"}}
    await core.create_namespaced_config_map(namespace, as_model(config, client.V1ConfigMap))
    endpoint_slice: dict[str, Any] = {
        "metadata": {
            "name": "named-1",
            "labels": {
                "kubernetes.io/service-name": "named",
                "endpointslice.kubernetes.io/managed-by": "tests.mec.dev",
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["198.51.100.7"]}],
    }
    await client.DiscoveryV1Api(api).create_namespaced_endpoint_slice(
        namespace, as_model(endpoint_slice, client.V1EndpointSlice)
    )
    await core.create_namespaced_pod(namespace, as_model(probe_pod("probe"), client.V1Pod))

    async def finished() -> dict[str, Any] | None:
        pod = await get_pod(api, namespace, "probe")
        phase = (pod or {}).get("status", {}).get("phase")
        return pod if phase in ("Succeeded", "Failed") else None

    pod = await eventually(finished, within=60)
    log = await asyncio.to_thread(sandboxed.runtime.log_path(namespace, "probe").read_text)
    assert pod["status"]["phase"] == "Succeeded", log
    result = json.loads(next(line for line in log.splitlines() if line.startswith("RESULT "))[7:])
    assert (result["uid"], result["gid"]) == (65532, 65532)
    assert result["root_writable"] is False
    assert result["config"] == "hello"
    assert result["namespace"] == namespace
    assert result["user"]["username"] == f"system:serviceaccount:{namespace}:default"
    extra = result["user"].get("extra") or {}
    assert extra.get("authentication.kubernetes.io/pod-name") == ["probe"]
    assert extra.get("authentication.kubernetes.io/node-name") == [MANAGED[0]]
    assert f"198.51.100.7\tnamed.{namespace}.svc" in result["hosts"]
    assert not await asyncio.to_thread(Path("/etc/mec-sandbox-test").exists)


async def test_a_pod_the_sandbox_cannot_run_waits_with_the_reason(
    sandboxed: Emulated, api: client.ApiClient, namespace: str
) -> None:
    pod = probe_pod("rooted")
    pod["spec"]["securityContext"] = {}
    await client.CoreV1Api(api).create_namespaced_pod(namespace, as_model(pod, client.V1Pod))

    async def waiting() -> dict[str, Any] | None:
        found = await get_pod(api, namespace, "rooted")
        statuses = (found or {}).get("status", {}).get("containerStatuses") or []
        state = statuses[0].get("state", {}) if statuses else {}
        return state.get("waiting")

    state = await eventually(waiting, within=30)
    assert state["reason"] == "CreateContainerConfigError"
    assert "runAsNonRoot without runAsUser" in state["message"]
