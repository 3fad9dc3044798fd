"""The emulated runtime runs pods of project images for real on the emulated edge hosts.

A Deployment of the reference app pinned to edge-b gets a pod whose address is an extra address
of edge-b's namespace, whose process really serves there, which turns Ready only when its
readiness probe passes, restarts when killed and is gone (process and address) after the
Deployment is deleted. Pods of other images on the same host stay kwok fakes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes_asyncio import client

from mec_devtools.runtime import PROJECT_IMAGE_PREFIX, EmulatedRuntime
from tests.devtools.runtime.conftest import Emulated, condition, get_pod, list_pods
from tests.helpers import as_model, eventually

pytestmark = pytest.mark.cluster

IMAGE = f"{PROJECT_IMAGE_PREFIX}reference-app:dev"


def reference_deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "nodeSelector": {"mec.dev/edge-host": "edge-b"},
                    "terminationGracePeriodSeconds": 5,
                    "containers": [
                        {
                            "name": "app",
                            "image": IMAGE,
                            "command": ["mec-reference-app"],
                            "args": [
                                "--listen",
                                "$(POD_IP):8080",
                                "--context-listen",
                                "$(POD_IP):9090",
                            ],
                            "env": [
                                {
                                    "name": "POD_IP",
                                    "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
                                }
                            ],
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": {
                                "httpGet": {"path": "/readyz", "port": 8080},
                                "initialDelaySeconds": 2,
                                "periodSeconds": 1,
                            },
                        }
                    ],
                },
            },
        },
    }


def bare_pod(name: str, image: str, node: str, **container: Any) -> dict[str, Any]:
    pod_spec = container.pop("pod_spec", {})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"test": name}},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": image, **container}],
            **pod_spec,
        },
    }


def container_status(pod: dict[str, Any]) -> dict[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return dict(statuses[0])


def address_in_namespace(emulated: Emulated, node: str, address: str) -> bool:
    shown = emulated.network.run(
        emulated.nodes[node], ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True
    )
    return f" {address}/" in shown.stdout


async def no_extra_addresses(emulated: Emulated, node: str) -> bool:
    return emulated.network.extra_addresses(emulated.nodes[node]) == []


def pid_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


async def test_reference_app_runs_for_real_on_its_host(
    api: client.ApiClient, namespace: str, emulated: Emulated
) -> None:
    apps = client.AppsV1Api(api)
    await apps.create_namespaced_deployment(
        namespace, as_model(reference_deployment("ref"), client.V1Deployment)
    )

    # Ready only after the probe passes: Running with Ready False is seen first.
    history: list[tuple[str | None, str | None]] = []

    async def ready_pod() -> dict[str, Any] | None:
        pods = await list_pods(api, namespace, "app=ref")
        if len(pods) != 1:
            return None
        pod = pods[0]
        history.append(((pod.get("status") or {}).get("phase"), condition(pod, "Ready")))
        return pod if condition(pod, "Ready") == "True" else None

    pod = await eventually(ready_pod, within=60)
    assert ("Running", "False") in history, history
    name = pod["metadata"]["name"]
    pod_ip = pod["status"]["podIP"]
    await check_running_pod(emulated, namespace, pod)
    pid = await check_restart(api, namespace, emulated, name, pod_ip)

    # Deleted: the process ends, the address goes, the pod object goes.
    await apps.delete_namespaced_deployment("ref", namespace)

    async def gone() -> bool:
        return not await list_pods(api, namespace, "app=ref")

    await eventually(gone, within=60)
    node = emulated.nodes["edge-b"]
    assert not pid_alive(pid)
    assert emulated.network.extra_addresses(node) == []
    assert not address_in_namespace(emulated, "edge-b", pod_ip)
    assert emulated.runtime.running_pods() == []


async def check_running_pod(emulated: Emulated, namespace: str, pod: dict[str, Any]) -> None:
    name = pod["metadata"]["name"]
    node = emulated.nodes["edge-b"]
    pod_ip = pod["status"]["podIP"]
    assert pod_ip != node.ip
    assert ipaddress.IPv4Address(pod_ip) in emulated.network.subnet
    assert pod["status"]["podIPs"] == [{"ip": pod_ip}]
    assert pod["status"]["hostIP"] == node.ip
    assert pod["status"]["startTime"]
    assert {c["type"] for c in pod["status"]["conditions"]} >= {
        "PodScheduled",
        "Initialized",
        "ContainersReady",
        "Ready",
    }
    assert emulated.network.extra_addresses(node) == [ipaddress.IPv4Address(pod_ip)]
    assert address_in_namespace(emulated, "edge-b", pod_ip)
    status = container_status(pod)
    assert status["name"] == "app"
    assert status["image"] == IMAGE
    assert status["started"] is True
    assert status["ready"] is True
    assert status["restartCount"] == 0
    assert "running" in status["state"]

    # The process serves on the pod's address, reachable from the root namespace.
    async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
        answer = await http.get(f"http://{pod_ip}:8080/healthz")
    assert answer.status_code == 200
    log_text = emulated.runtime.log_path(namespace, name).read_text()
    assert f'"http": "{pod_ip}:8080"' in log_text


async def check_restart(
    api: client.ApiClient, namespace: str, emulated: Emulated, name: str, pod_ip: str
) -> int:
    """Killed: restarted (restartCount 1), Ready again after the probe passes again."""
    (pid,) = emulated.runtime.pids(namespace, name).values()
    os.kill(pid, signal.SIGKILL)

    async def restarted() -> dict[str, Any] | None:
        current = await get_pod(api, namespace, name)
        if current is None:
            return None
        state = container_status(current)
        ok = state.get("restartCount") == 1 and condition(current, "Ready") == "True"
        return current if ok else None

    again = await eventually(restarted, within=60)
    last = container_status(again)["lastState"]["terminated"]
    assert last["exitCode"] == 137
    assert last["reason"] == "Error"
    (new_pid,) = emulated.runtime.pids(namespace, name).values()
    assert new_pid != pid
    assert again["status"]["podIP"] == pod_ip
    async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
        assert (await http.get(f"http://{pod_ip}:8080/healthz")).status_code == 200
    return int(new_pid)


async def test_other_images_stay_kwok_fakes(
    api: client.ApiClient, namespace: str, emulated: Emulated
) -> None:
    core = client.CoreV1Api(api)
    pod = bare_pod("fake", "registry.example.com/x:1", "edge-b", command=["sleep", "1000"])
    await core.create_namespaced_pod(namespace, as_model(pod, client.V1Pod))

    async def ready() -> dict[str, Any] | None:
        current = await get_pod(api, namespace, "fake")
        return current if current and condition(current, "Ready") == "True" else None

    faked = await eventually(ready, within=30)
    assert faked["status"]["phase"] == "Running"
    assert emulated.runtime.running_pods() == []
    assert emulated.runtime.pids(namespace, "fake") == {}
    assert emulated.network.extra_addresses(emulated.nodes["edge-b"]) == []


async def test_odd_pods_wait_with_a_reason(
    api: client.ApiClient, namespace: str, emulated: Emulated
) -> None:
    core = client.CoreV1Api(api)
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "no-command": ({}, "NoCommand"),
        "no-executable": ({"command": ["no-such-program-anywhere"]}, "ExecutableNotFound"),
        "bad-env": (
            {
                "command": ["true"],
                "env": [{"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
            },
            "CreateContainerConfigError",
        ),
    }
    for name, (container, _) in cases.items():
        pod = bare_pod(name, IMAGE, "edge-a", **container)
        await core.create_namespaced_pod(namespace, as_model(pod, client.V1Pod))
    for name, (_, reason) in cases.items():

        async def waiting(name: str = name, reason: str = reason) -> dict[str, Any] | None:
            current = await get_pod(api, namespace, name)
            state = container_status(current or {}).get("state") or {}
            return current if (state.get("waiting") or {}).get("reason") == reason else None

        current = await eventually(waiting, within=30)
        assert current["status"]["phase"] == "Pending"
        assert condition(current, "Ready") == "False"
        assert current["status"]["containerStatuses"][0]["state"]["waiting"]["message"]

    # Deleting them: pods that never started go at once (kwok deletes Pending ones too).
    for name in cases:
        await core.delete_namespaced_pod(name, namespace)

    async def all_gone() -> bool:
        return all([await get_pod(api, namespace, n) is None for n in cases])

    await eventually(all_gone, within=30)
    # kwok deleted them (they were Pending); the runtime hears of it just after.
    await eventually(lambda: no_extra_addresses(emulated, "edge-a"), within=10)


async def test_restart_policy_never_ends_the_pod(
    api: client.ApiClient, namespace: str, emulated: Emulated
) -> None:
    core = client.CoreV1Api(api)
    program = Path(sys.executable).name
    pod = bare_pod(
        "once",
        IMAGE,
        "edge-a",
        command=[program, "-c", "import sys; sys.exit(3)"],
        pod_spec={"restartPolicy": "Never"},
    )
    await core.create_namespaced_pod(namespace, as_model(pod, client.V1Pod))

    async def failed() -> dict[str, Any] | None:
        current = await get_pod(api, namespace, "once")
        return current if (current or {}).get("status", {}).get("phase") == "Failed" else None

    done = await eventually(failed, within=30)
    terminated = container_status(done)["state"]["terminated"]
    assert terminated["exitCode"] == 3
    assert container_status(done)["restartCount"] == 0
    started = time.monotonic()
    while emulated.network.extra_addresses(emulated.nodes["edge-a"]):
        assert time.monotonic() - started < 10, "the finished pod's address was not released"
        await asyncio.sleep(0.1)
    await core.delete_namespaced_pod("once", namespace)

    async def gone() -> bool:
        return await get_pod(api, namespace, "once") is None

    await eventually(gone, within=30)


async def test_project_pod_on_a_host_without_runtime_stays_pending(
    api: client.ApiClient, namespace: str, emulated: Emulated
) -> None:
    """kwok's stages skip project images: on edge-c (no runtime) such a pod is never faked."""
    core = client.CoreV1Api(api)
    project = bare_pod("project", IMAGE, "edge-c", command=["mec-reference-app"])
    other = bare_pod("other", "registry.example.com/x:1", "edge-c")
    await core.create_namespaced_pod(namespace, as_model(project, client.V1Pod))
    await core.create_namespaced_pod(namespace, as_model(other, client.V1Pod))

    async def other_running() -> bool:
        current = await get_pod(api, namespace, "other")
        return bool((current or {}).get("status", {}).get("phase") == "Running")

    await eventually(other_running, within=30)
    await asyncio.sleep(2)  # kwok had its chance
    pending = await get_pod(api, namespace, "project")
    assert pending is not None
    assert pending["status"]["phase"] == "Pending"
    assert not pending["status"].get("containerStatuses")
    assert emulated.runtime.running_pods() == []

    # A project pod that never started is deleted by kwok, so it does not hang in Terminating.
    await core.delete_namespaced_pod("project", namespace)

    async def gone() -> bool:
        return await get_pod(api, namespace, "project") is None

    await eventually(gone, within=30)


FLIPPING_SERVER = """
import http.server, sys
answers = [0]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        answers[0] += 1
        self.send_response(200 if answers[0] <= 3 else 503)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer((sys.argv[1], 8080), Handler).serve_forever()
"""


async def test_a_failing_probe_makes_a_ready_pod_unready(
    api: client.ApiClient, namespace: str, emulated: Emulated
) -> None:
    core = client.CoreV1Api(api)
    pod = bare_pod(
        "flips",
        IMAGE,
        "edge-a",
        command=[Path(sys.executable).name],
        args=["-c", FLIPPING_SERVER, "$(POD_IP)"],
        env=[{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        ports=[{"name": "http", "containerPort": 8080}],
        readinessProbe={
            "httpGet": {"path": "/", "port": "http"},
            "periodSeconds": 1,
            "failureThreshold": 1,
        },
    )
    await core.create_namespaced_pod(namespace, as_model(pod, client.V1Pod))
    seen: list[str | None] = []

    async def unready_again() -> dict[str, Any] | None:
        current = await get_pod(api, namespace, "flips")
        if current is None:
            return None
        seen.append(condition(current, "Ready"))
        return current if "True" in seen and seen[-1] == "False" else None

    current = await eventually(unready_again, within=30)
    assert current["status"]["phase"] == "Running"
    status = container_status(current)
    assert status["restartCount"] == 0
    assert status["ready"] is False
    assert "running" in status["state"]


async def test_host_network_pods_use_the_host_address_and_stop_ends_everything(
    api: client.ApiClient, namespace: str, emulated: Emulated
) -> None:
    core = client.CoreV1Api(api)
    serve = "import http.server, sys; http.server.HTTPServer((sys.argv[1], 8081), http.server.BaseHTTPRequestHandler).serve_forever()"  # noqa: E501
    host = bare_pod(
        "on-host",
        IMAGE,
        "edge-a",
        command=[Path(sys.executable).name, "-c", serve, "$(HOST_IP)"],
        env=[{"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}],
        readinessProbe={"tcpSocket": {"port": 8081}, "periodSeconds": 1},
        pod_spec={"hostNetwork": True},
    )
    own = bare_pod("own-address", IMAGE, "edge-a", command=["sleep", "600"])
    for pod in (host, own):
        await core.create_namespaced_pod(namespace, as_model(pod, client.V1Pod))

    async def both_ready() -> list[dict[str, Any]] | None:
        pods = [await get_pod(api, namespace, n) for n in ("on-host", "own-address")]
        ready = [p for p in pods if p and condition(p, "Ready") == "True"]
        return ready if len(ready) == 2 else None

    on_host, own_address = await eventually(both_ready, within=30)
    node = emulated.nodes["edge-a"]
    assert on_host["status"]["podIP"] == node.ip
    assert own_address["status"]["podIP"] != node.ip
    assert emulated.network.extra_addresses(node) == [
        ipaddress.IPv4Address(own_address["status"]["podIP"])
    ]
    pids = [
        *emulated.runtime.pids(namespace, "on-host").values(),
        *emulated.runtime.pids(namespace, "own-address").values(),
    ]
    assert len(pids) == 2

    await emulated.runtime.stop()
    assert not any(pid_alive(pid) for pid in pids)
    assert emulated.network.extra_addresses(node) == []
    assert emulated.runtime.running_pods() == []


async def test_a_new_runtime_takes_over_the_pods_of_its_nodes(
    api: client.ApiClient, namespace: str, emulated: Emulated, tmp_path: Path
) -> None:
    core = client.CoreV1Api(api)
    pod = bare_pod("kept", IMAGE, "edge-a", command=["sleep", "600"])
    await core.create_namespaced_pod(namespace, as_model(pod, client.V1Pod))

    async def ready() -> dict[str, Any] | None:
        current = await get_pod(api, namespace, "kept")
        return current if current and condition(current, "Ready") == "True" else None

    first = await eventually(ready, within=30)
    (old_pid,) = emulated.runtime.pids(namespace, "kept").values()
    await emulated.runtime.stop()
    assert not pid_alive(old_pid)
    node = emulated.nodes["edge-a"]
    taken = emulated.network.add_address(node)  # the next runtime gets another address
    assert str(taken) == first["status"]["podIP"]

    successor = EmulatedRuntime(
        api=api, network=emulated.network, nodes=emulated.nodes, log_dir=tmp_path / "second"
    )
    async with successor:

        async def moved() -> dict[str, Any] | None:
            current = await get_pod(api, namespace, "kept")
            ip = (current or {}).get("status", {}).get("podIP")
            if ip in (None, str(taken)) or condition(current or {}, "Ready") != "True":
                return None
            return current

        await eventually(moved, within=30)
        assert successor.pids(namespace, "kept")
        assert successor.running_pods() == [(namespace, "kept")]
    emulated.network.remove_address(node, taken)
    assert emulated.network.extra_addresses(node) == []


async def test_pods_are_still_followed_after_the_watch_expires(
    api: client.ApiClient, namespace: str, emulated: Emulated, tmp_path: Path
) -> None:
    await emulated.runtime.stop()
    core = client.CoreV1Api(api)
    short = EmulatedRuntime(
        api=api,
        network=emulated.network,
        nodes=emulated.nodes,
        log_dir=tmp_path / "short",
        watch_timeout_s=1,
    )
    async with short:
        await asyncio.sleep(2.5)  # the watch has ended and been renewed at least twice
        pod = bare_pod("late", IMAGE, "edge-b", command=["sleep", "600"])
        await core.create_namespaced_pod(namespace, as_model(pod, client.V1Pod))

        async def ready() -> dict[str, Any] | None:
            current = await get_pod(api, namespace, "late")
            return current if current and condition(current, "Ready") == "True" else None

        await eventually(ready, within=30)
        await asyncio.sleep(1.5)  # another renewal while it runs
        await core.delete_namespaced_pod("late", namespace)

        async def gone() -> bool:
            return await get_pod(api, namespace, "late") is None

        await eventually(gone, within=30)
        assert short.running_pods() == []
    assert emulated.network.extra_addresses(emulated.nodes["edge-b"]) == []
