"""What one EdgeApp write costs the API server, by CRD variant, beside a ConfigMap write.

    python -m bench.crd_write_cost                 # 3 rounds x 300 writes per variant (~5 min)
    python -m bench.crd_write_cost --rounds 1 --writes 200

The operator benchmark is bound by the API server's CPU, most of it spent on EdgeApp writes.
This starts its own control plane (one kwok node), installs the EdgeApp CRD in several forms
and times sequential merge patches of one object's spec and of its status, reading the API
server's CPU time from /proc: as shipped; without its CEL rules; without descriptions; without
printer columns and selectable fields; and with no schema at all (preserve-unknown-fields). A
ConfigMap patch is the built-in baseline. The variants take turns, round after round, and the
median of the rounds is reported: one API server drifts by a few ms per write over minutes, so
measuring one variant after another would mistake drift for a difference.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio import client

from bench.records import machine, save
from mec_devtools.devcluster import DevCluster, DevClusterSettings
from mec_orchestrator.adapters.kube.connection import from_kubeconfig
from mec_orchestrator.adapters.kube.status import merge_patch

REPO = Path(__file__).resolve().parent.parent
NS = "writes"
VARIANTS = ("as-shipped", "no-cel", "no-descriptions", "no-columns", "no-schema")


def without(node: Any, key: str) -> None:
    if isinstance(node, dict):
        node.pop(key, None)
        for value in node.values():
            without(value, key)
    elif isinstance(node, list):
        for value in node:
            without(value, key)


def variant(crd: dict[str, Any], kind: str) -> dict[str, Any]:
    crd = copy.deepcopy(crd)
    version = crd["spec"]["versions"][0]
    if kind == "no-cel":
        without(version["schema"], "x-kubernetes-validations")
    elif kind == "no-descriptions":
        without(version["schema"], "description")
    elif kind in {"no-columns", "no-schema"}:
        version.pop("selectableFields", None)
        version["additionalPrinterColumns"] = []
    if kind == "no-schema":
        version["schema"] = {
            "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        }
    return crd


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def cost(
    api: client.ApiClient, pid: int, path: str, body: Callable[[int], dict[str, Any]], writes: int
) -> dict[str, float]:
    """API server CPU and wall time per write, in ms, over `writes` sequential merge patches."""
    for i in range(20):  # warm-up
        await merge_patch(api, path, body(-i - 1))
    cpu, wall = cpu_seconds(pid), time.perf_counter()
    for i in range(writes):
        await merge_patch(api, path, body(i))
    return {
        "apiserver_cpu_ms": round((cpu_seconds(pid) - cpu) * 1000 / writes, 2),
        "round_trip_ms": round((time.perf_counter() - wall) * 1000 / writes, 2),
    }


def install(kubectl: list[str], crd: dict[str, Any], scratch: Path) -> None:
    subprocess.run(
        [*kubectl, "delete", "crd", crd["metadata"]["name"], "--ignore-not-found", "--wait"],
        check=True,
        capture_output=True,
    )
    manifest = scratch / "crd.yaml"
    manifest.write_text(yaml.safe_dump(crd))
    subprocess.run(
        [*kubectl, "apply", "--server-side", "-f", str(manifest)], check=True, capture_output=True
    )
    subprocess.run(
        [*kubectl, "wait", "--for=condition=Established", "-f", str(manifest)],
        check=True,
        capture_output=True,
    )


async def create_when_served(api: client.ApiClient, body: dict[str, Any]) -> None:
    objects = client.CustomObjectsApi(api)
    deadline = time.monotonic() + 30
    while True:
        try:
            await objects.create_namespaced_custom_object(
                "mec.dev", "v1alpha1", NS, "edgeapps", body
            )
        except client.ApiException:  # the new CRD is established but not served yet
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
        else:
            return


async def measure(
    kubeconfig: Path, kubectl: list[str], pid: int, *, writes: int, rounds: int, scratch: Path
) -> dict[str, Any]:
    crd = yaml.safe_load((REPO / "crds" / "edgeapps.mec.dev.yaml").read_text())
    app = yaml.safe_load((REPO / "examples" / "edgeapp-ar-navigator.yaml").read_text())
    app["metadata"]["namespace"] = NS
    api = from_kubeconfig(kubeconfig).api_client()
    core = client.CoreV1Api(api)
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
    await core.create_namespaced_config_map(
        NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="baseline"), data={"v": "0"})
    )
    rounds_seen: dict[str, list[float]] = {}
    path = f"/apis/mec.dev/v1alpha1/namespaces/{NS}/edgeapps/{app['metadata']['name']}"
    for round_ in range(rounds):
        configmap = await cost(
            api,
            pid,
            f"/api/v1/namespaces/{NS}/configmaps/baseline",
            lambda i: {"data": {"v": str(i)}},
            writes,
        )
        rounds_seen.setdefault("configmap", []).append(configmap["apiserver_cpu_ms"])
        for kind in VARIANTS:
            print(f"  round {round_ + 1}/{rounds}: {kind}", file=sys.stderr)
            install(kubectl, variant(crd, kind), scratch)
            await create_when_served(api, copy.deepcopy(app))
            spec = await cost(
                api, pid, path, lambda i: {"spec": {"appSoftVersion": f"v{i}"}}, writes
            )
            status = await cost(
                api, pid, f"{path}/status", lambda i: {"status": {"users": i + 1000}}, writes
            )
            rounds_seen.setdefault(f"{kind} spec", []).append(spec["apiserver_cpu_ms"])
            rounds_seen.setdefault(f"{kind} status", []).append(status["apiserver_cpu_ms"])
    await api.close()
    return {
        "apiserver_cpu_ms_per_write_median": {
            key: round(statistics.median(values), 2) for key, values in rounds_seen.items()
        },
        "apiserver_cpu_ms_per_write_rounds": rounds_seen,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--writes", type=int, default=300, help="writes per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="turns of every variant")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        cluster = DevCluster(
            DevClusterSettings(state_dir=Path(scratch) / "dc"), lambda m: print(m, file=sys.stderr)
        )
        info = cluster.up(["host-01"])
        try:
            pid = next(p.pid for p in info.processes if p.name == "kube-apiserver")
            kubectl = [str(info.binaries["kubectl"]), "--kubeconfig", str(info.kubeconfig)]
            result = asyncio.run(
                measure(
                    info.kubeconfig,
                    kubectl,
                    pid,
                    writes=args.writes,
                    rounds=args.rounds,
                    scratch=Path(scratch),
                )
            )
        finally:
            cluster.down()
    result.update(
        {
            "writes": args.writes,
            "rounds": args.rounds,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "machine": machine(),
            "date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "command": " ".join(["python -m bench.crd_write_cost", *sys.argv[1:]]),
        }
    )
    save("crd-write-cost", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
