"""Control-plane provisioning figures: warm start (cached binaries) and cold build (empty caches),
and the two datastores (etcd, kine over SQLite) side by side.

    python -m bench.devcluster --warm 5        # start/stop the control plane 5 times
    python -m bench.devcluster --cold          # build every binary from empty Go and binary caches
    python -m bench.devcluster --datastores 5  # etcd vs kine: 5 starts each, then API latency

Cold mode points GOMODCACHE, GOCACHE and the binary cache at a fresh temporary directory, so it
measures what a fresh machine pays once (downloads included); it takes tens of minutes.

Datastores mode starts each cluster from an empty state directory (binaries cached) the given
number of times, etcd and kine taking turns, and times `up` until ready (every component
healthy, the nodes Ready, the `default` service account there). Then it keeps one cluster of
each running and times typical API calls against both, again taking turns in rounds so that
the machine's other load falls on both alike (the operations: OPERATIONS below).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import queue
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import yaml

from bench.records import machine
from mec_devtools.devcluster import ClusterInfo, DevCluster, DevClusterSettings, binaries
from mec_devtools.devcluster.cluster import admin_client
from mec_devtools.devcluster.settings import DATASTORES
from mec_devtools.devcluster.versions import default_tools

RESULTS = Path(__file__).parent / "results"


def warm(runs: int) -> dict[str, object]:
    starts: list[float] = []
    stops: list[float] = []
    phases: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as state:
        cluster = DevCluster(DevClusterSettings(state_dir=Path(state) / "dc"))
        cluster.ensure_binaries()
        for _ in range(runs):
            began = time.monotonic()
            info = cluster.up(["edge-a", "edge-b", "edge-c"])
            starts.append(time.monotonic() - began)
            phases.append(info.timings)
            began = time.monotonic()
            cluster.down()
            stops.append(time.monotonic() - began)
    return {
        "runs": runs,
        "start_seconds": starts,
        "start_median": statistics.median(starts),
        "start_max": max(starts),
        "stop_median": statistics.median(stops),
        "phases_median": {k: statistics.median(p[k] for p in phases) for k in phases[0]},
    }


def cold() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        os.environ["GOMODCACHE"] = str(root / "gomod")
        os.environ["GOCACHE"] = str(root / "gocache")
        settings = DevClusterSettings(cache_dir=root / "cache", use_path=False)
        per_tool: dict[str, float] = {}
        began = time.monotonic()
        for tool in default_tools():
            started = time.monotonic()
            binaries.build(tool, settings, print)
            per_tool[tool.name] = time.monotonic() - started
        total = time.monotonic() - began
        # The module cache is read-only by design; make it removable.
        subprocess.run(["chmod", "-R", "u+w", str(root)], check=False)
        shutil.rmtree(root, ignore_errors=True)
    return {"total_seconds": total, "per_tool_seconds": per_tool}


# -- etcd vs kine --------------------------------------------------------------------------

EDGE_HOSTS = ["edge-a", "edge-b", "edge-c"]
LIST_SIZE = 100  # ConfigMaps in the namespace that is listed
ZONES = 20  # Zone objects the server-side applies cycle through
NS_WRITE, NS_LIST, NS_WATCH = "bench-write", "bench-list", "bench-watch"
ZONE_PATH = "/apis/mec.dev/v1alpha1/zones"


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered), 2),
        "p90_ms": round(cuts[89], 2),
        "p99_ms": round(cuts[98], 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
    }


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _disk_mib(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 2**20


class _Bench:
    """One running cluster under measurement: its client, its watch, its set-up."""

    def __init__(self, info: ClusterInfo) -> None:
        self.info = info
        self.api = admin_client(info, timeout=30.0)
        self.events: queue.Queue[tuple[str, float]] = queue.Queue()
        self.counter = itertools.count()
        self.zone_spec: dict[str, object] = {}

    def prepare(self) -> None:
        for namespace in (NS_WRITE, NS_LIST, NS_WATCH):
            self.api.post("/api/v1/namespaces", json={"metadata": {"name": namespace}})
        for index in range(LIST_SIZE):
            self._create(NS_LIST, f"fill-{index}")
        crds = Path(__file__).resolve().parent.parent / "crds"
        kubectl = [str(self.info.binaries["kubectl"]), "--kubeconfig", str(self.info.kubeconfig)]
        files = ["-f", str(crds), "-f", str(crds / "peering")]
        subprocess.run([*kubectl, "apply", "--server-side", *files], check=True)
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Established", "--timeout=60s", *files], check=True
        )
        deadline = time.monotonic() + 60
        while self.api.get(ZONE_PATH).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("zones never served")
            time.sleep(0.2)
        examples = Path(__file__).resolve().parent.parent / "examples" / "zones.yaml"
        self.zone_spec = next(d for d in yaml.safe_load_all(examples.read_text()) if d)["spec"]
        threading.Thread(target=self._watch, daemon=True).start()
        time.sleep(1.0)  # the watch is established

    def _create(self, namespace: str, name: str) -> None:
        self.api.post(
            f"/api/v1/namespaces/{namespace}/configmaps",
            json={"metadata": {"name": name}, "data": {"key": "value"}},
        ).raise_for_status()

    def _watch(self) -> None:
        """Put (name, arrival) of every event in NS_WATCH; ends when the cluster stops."""
        with contextlib.suppress(httpx.HTTPError), admin_client(self.info, timeout=None) as watcher:
            version = watcher.get(f"/api/v1/namespaces/{NS_WATCH}/configmaps").json()
            params = {"watch": "true", "resourceVersion": version["metadata"]["resourceVersion"]}
            with watcher.stream(
                "GET", f"/api/v1/namespaces/{NS_WATCH}/configmaps", params=params
            ) as stream:
                for line in stream.iter_lines():
                    if line.strip():
                        event = json.loads(line)
                        self.events.put((event["object"]["metadata"]["name"], time.monotonic()))

    # Each operation: one timed API call (or, for the watch, create -> event), in seconds.

    def create(self) -> float:
        name = f"c-{next(self.counter)}"
        began = time.perf_counter()
        self._create(NS_WRITE, name)
        return time.perf_counter() - began

    def get(self) -> float:
        name = f"fill-{next(self.counter) % LIST_SIZE}"
        began = time.perf_counter()
        self.api.get(f"/api/v1/namespaces/{NS_LIST}/configmaps/{name}").raise_for_status()
        return time.perf_counter() - began

    def list(self) -> float:
        began = time.perf_counter()
        answer = self.api.get(f"/api/v1/namespaces/{NS_LIST}/configmaps")
        answer.raise_for_status()
        elapsed = time.perf_counter() - began
        assert len(answer.json()["items"]) > LIST_SIZE  # and kube-root-ca.crt
        return elapsed

    def watch_delivery(self) -> float:
        name = f"w-{next(self.counter)}"
        began = time.monotonic()
        self._create(NS_WATCH, name)
        while True:
            seen, at = self.events.get(timeout=30)
            if seen == name:
                return at - began

    def server_side_apply(self) -> float:
        index = next(self.counter)
        zone = {
            "apiVersion": "mec.dev/v1alpha1",
            "kind": "Zone",
            "metadata": {"name": f"bench-zone-{index % ZONES}"},
            "spec": {**self.zone_spec, "description": f"applied {index}"},
        }
        began = time.perf_counter()
        self.api.patch(
            f"{ZONE_PATH}/bench-zone-{index % ZONES}",
            params={"fieldManager": "bench", "force": "true"},
            content=json.dumps(zone),
            headers={"Content-Type": "application/apply-patch+yaml"},
        ).raise_for_status()
        return time.perf_counter() - began


OPERATIONS = ("create", "get", "list", "watch_delivery", "server_side_apply")


def _start_times(runs: int, root: Path) -> dict[str, dict[str, object]]:
    starts: dict[str, list[float]] = {d: [] for d in DATASTORES}
    phases: dict[str, list[dict[str, float]]] = {d: [] for d in DATASTORES}
    for run in range(runs):
        order = DATASTORES if run % 2 == 0 else tuple(reversed(DATASTORES))
        for datastore in order:
            cluster = DevCluster(
                DevClusterSettings(state_dir=root / f"start-{datastore}", datastore=datastore)
            )
            began = time.monotonic()
            info = cluster.up(EDGE_HOSTS)
            starts[datastore].append(time.monotonic() - began)
            phases[datastore].append(info.timings)
            cluster.down()
    return {
        d: {
            "runs": runs,
            "start_seconds": [round(x, 2) for x in starts[d]],
            "start_median": round(statistics.median(starts[d]), 2),
            "phases_median": {
                k: round(statistics.median(p[k] for p in phases[d]), 2) for k in phases[d][0]
            },
        }
        for d in DATASTORES
    }


def compare_datastores(runs: int, calls: int, rounds: int = 5) -> dict[str, object]:
    """etcd and kine side by side: `up` to ready, then API latency per operation."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for datastore in DATASTORES:
            DevCluster(DevClusterSettings(datastore=datastore)).ensure_binaries()
        result: dict[str, object] = {"start": _start_times(runs, root)}
        clusters = {
            d: DevCluster(DevClusterSettings(state_dir=root / f"api-{d}", datastore=d))
            for d in DATASTORES
        }
        try:
            benches = {d: _Bench(cluster.up(EDGE_HOSTS)) for d, cluster in clusters.items()}
            for bench in benches.values():
                bench.prepare()
            cpu_before = {
                d: {r.name: _cpu_seconds(r.pid) for r in b.info.processes}
                for d, b in benches.items()
            }
            samples: dict[str, dict[str, list[float]]] = {
                d: {op: [] for op in OPERATIONS} for d in DATASTORES
            }
            for operation in OPERATIONS:
                for round_ in range(rounds):
                    order = DATASTORES if round_ % 2 == 0 else tuple(reversed(DATASTORES))
                    for datastore in order:
                        call = getattr(benches[datastore], operation)
                        for _ in range(max(1, calls // rounds)):
                            samples[datastore][operation].append(call() * 1000)
            result["api"] = {
                d: {op: _percentiles(samples[d][op]) for op in OPERATIONS} for d in DATASTORES
            }
            result["resources_after_api_phase"] = {
                d: {
                    r.name: {
                        "cpu_seconds_during_api_phase": round(
                            _cpu_seconds(r.pid) - cpu_before[d][r.name], 2
                        ),
                        "rss_mib": round(_rss_mib(r.pid), 1),
                    }
                    for r in b.info.processes
                    if r.name in (d, "kube-apiserver")
                }
                | {"datastore_disk_mib": round(_disk_mib(root / f"api-{d}" / d), 1)}
                for d, b in benches.items()
            }
            for bench in benches.values():
                bench.api.close()
        finally:
            for cluster in clusters.values():
                cluster.down()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--warm", type=int, default=0, help="warm start/stop cycles")
    parser.add_argument("--cold", action="store_true", help="build everything from empty caches")
    parser.add_argument(
        "--datastores", type=int, default=0, help="etcd vs kine: starts of each, then API latency"
    )
    parser.add_argument(
        "--calls", type=int, default=200, help="API calls per operation and datastore"
    )
    args = parser.parse_args()
    result: dict[str, object] = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M %Z")}
    if args.warm:
        result["warm"] = warm(args.warm)
    if args.cold:
        result["cold"] = cold()
    if args.datastores:
        result["datastores"] = compare_datastores(args.datastores, args.calls)
    RESULTS.mkdir(exist_ok=True)
    modes = ("warm", "cold", "datastores")
    name = "devcluster-" + "-".join(k for k in modes if k in result) + ".json"
    (RESULTS / name).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
