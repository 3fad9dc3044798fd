"""The REST API's speed: reads with 1,000 app instances, and an ETSI instantiate beside kubectl.

    python -m bench.api [--instances 1000] [--reads 500] [--rounds 10]

On a fresh local control plane (3 kwok edge hosts) with the real `mec-orchestrator run`:

1. **Reads**: 1,000 EdgeApps (NotInstantiated: no Deployments) exist; one client, one request
   at a time, times `GET /app_lcm/v1/app_instances` (all of them) and
   `GET /app_lcm/v1/app_instances/{id}`: p50/p99 latency and requests per second (the API runs
   on one core: one process, one event loop).
2. **Instantiate**: the same app brought up two ways, alternating in one run:
   REST — `POST app_instances`, `POST .../instantiate`, then poll the operation occurrence until
   COMPLETED (it completes only when the EdgeApp is Ready); kubectl — `kubectl apply` of an
   Instantiated EdgeApp, then poll until its Ready condition is True. Both poll every 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.records import machine, save
from mec_devtools.devcluster import DevCluster, DevClusterSettings
from mec_devtools.devcluster.cluster import free_port
from mec_devtools.launch import operator_command, wait_until_ready

REPO = Path(__file__).resolve().parent.parent
NAMESPACE = "default"
APP_D_ID = "bench-appd-0001"
HOSTS = ("edge-a", "edge-b", "edge-c")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def figures(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {
        "count": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(pct(ms, 99), 2),
        "max_ms": round(max(ms), 2),
    }


def template() -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app.kubernetes.io/name": "bench"}},
        "spec": {"containers": [{"name": "app", "image": "registry.example.com/bench:1.0"}]},
    }


def package() -> dict[str, Any]:
    return {
        "apiVersion": "mec.dev/v1alpha1",
        "kind": "AppPackage",
        "metadata": {"name": "bench-package", "namespace": NAMESPACE},
        "spec": {
            "appDId": APP_D_ID,
            "appName": "bench",
            "appProvider": "bench",
            "appSoftVersion": "1.0",
            "appDVersion": "1.0",
            "mecVersion": ["3.1.1"],
            "latency": {"maxMs": 20},
            "template": template(),
            "operationalState": "Enabled",
        },
    }


def edge_app(name: str, lifecycle: str) -> dict[str, Any]:
    return {
        "apiVersion": "mec.dev/v1alpha1",
        "kind": "EdgeApp",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "appDId": APP_D_ID,
            "appName": name,
            "appProvider": "bench",
            "appSoftVersion": "1.0",
            "latency": {"maxMs": 20},
            "lifecycle": lifecycle,
            "placement": {"hosts": list(HOSTS)},  # as the REST side's selectedMECHostInfo
            "template": template(),
        },
    }


class Kubectl:
    def __init__(self, binary: Path, kubeconfig: Path) -> None:
        self.base = [str(binary), "--kubeconfig", str(kubeconfig)]

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [*self.base, *args], input=stdin, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr}")
        return done.stdout


def reads(http: httpx.Client, kubectl: Kubectl, instances: int, count: int) -> dict[str, Any]:
    documents = [edge_app(f"read-{i:04d}", "NotInstantiated") for i in range(instances)]
    for start in range(0, instances, 200):
        kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(documents[start : start + 200]))
    listed = http.get("/app_lcm/v1/app_instances")
    listed.raise_for_status()
    found = len(listed.json())
    list_s, one_s = [], []
    for n in range(count):
        began = time.perf_counter()
        http.get("/app_lcm/v1/app_instances").raise_for_status()
        list_s.append(time.perf_counter() - began)
        began = time.perf_counter()
        http.get(f"/app_lcm/v1/app_instances/read-{n % instances:04d}").raise_for_status()
        one_s.append(time.perf_counter() - began)
    return {
        "instances_listed": found,
        "list_all": {**figures(list_s), "requests_per_s": round(len(list_s) / sum(list_s), 1)},
        "read_one": {**figures(one_s), "requests_per_s": round(len(one_s) / sum(one_s), 1)},
    }


def wait(check: Any, what: str, within: float = 60.0) -> float:
    began = time.perf_counter()
    while time.perf_counter() - began < within:
        if check():
            return time.perf_counter() - began
        time.sleep(0.02)
    raise RuntimeError(f"{what} not within {within} s")


def rest_instantiate(http: httpx.Client, n: int) -> float:
    began = time.perf_counter()
    created = http.post(
        "/app_lcm/v1/app_instances",
        json={"appDId": APP_D_ID, "appInstanceName": f"rest-{n}-{uuid.uuid4().hex[:4]}"},
    )
    created.raise_for_status()
    instance = created.json()["id"]
    hosts = [{"hostId": host} for host in HOSTS]
    started = http.post(
        f"/app_lcm/v1/app_instances/{instance}/instantiate", json={"selectedMECHostInfo": hosts}
    )
    started.raise_for_status()
    occurrence = started.headers["location"]

    def completed() -> bool:
        state = http.get(occurrence).json().get("operationState")
        if state in ("FAILED", "FAILED_TEMP"):
            raise RuntimeError(f"instantiate of {instance} {state}")
        return bool(state == "COMPLETED")

    wait(completed, f"instantiate of {instance}")
    return time.perf_counter() - began


def kubectl_apply(kubectl: Kubectl, n: int) -> float:
    name = f"kubectl-{n}-{uuid.uuid4().hex[:4]}"
    began = time.perf_counter()
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(edge_app(name, "Instantiated")))

    def ready() -> bool:
        found = json.loads(kubectl("get", "edgeapp", name, "-n", NAMESPACE, "-o", "json"))
        conditions = (found.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    wait(ready, f"{name} Ready")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=10)
    options = parser.parse_args()
    started = time.time()
    with tempfile.TemporaryDirectory() as scratch:
        cluster = DevCluster(
            DevClusterSettings(state_dir=Path(scratch) / "dc"), lambda m: print(m, file=sys.stderr)
        )
        info = cluster.up(list(HOSTS))
        operator: subprocess.Popen[bytes] | None = None
        try:
            kubectl = Kubectl(info.binaries["kubectl"], info.kubeconfig)
            crds = ["-f", str(REPO / "crds"), "-f", str(REPO / "crds" / "peering")]
            kubectl("apply", "--server-side", *crds)
            kubectl("wait", "--for=condition=Established", *crds)
            kubectl("apply", "-f", "-", stdin=yaml.safe_dump(package()))
            port = free_port()
            log = Path(scratch) / "operator.log"
            env = {**os.environ, "MEC_API_AUTH": "none"}
            with log.open("wb") as sink:
                operator = subprocess.Popen(
                    operator_command(info.kubeconfig, port, standalone=True),
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            if not wait_until_ready(port, timeout=60, process=operator):
                raise RuntimeError(log.read_text()[-3000:])
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                read_figures = reads(http, kubectl, options.instances, options.reads)
                rest_s, kubectl_s = [], []
                for n in range(options.rounds):
                    rest_s.append(rest_instantiate(http, n))
                    kubectl_s.append(kubectl_apply(kubectl, n))
            rest, plain = figures(rest_s), figures(kubectl_s)
            document = {
                "machine": machine(),
                "date": time.strftime("%Y-%m-%d"),
                "reads": read_figures,
                "instantiate": {
                    "rest_to_completed": rest,
                    "kubectl_apply_to_ready": plain,
                    "ratio_p50": round(rest["p50_ms"] / plain["p50_ms"], 2),
                },
            }
        finally:
            if operator is not None:
                operator.terminate()
                operator.wait(timeout=30)
            cluster.down()
    print(json.dumps(document, indent=2))
    print(f"saved to {save('api', document, started)}")


if __name__ == "__main__":
    main()
