"""Operator reaction times under a sustained event load, on the real local control plane.

    python -m bench.operator                      # 50 hosts, 200 apps, 100 events/s for 120 s
    python -m bench.operator --quick              # 20 s

Every event is a spec update of one EdgeApp: a new appSoftVersion, which the operator writes to
its Deployment's labels; with --rollout the image changes too, so every event also rolls the
Deployment out (a new ReplicaSet and pod on the kwok edge host).
For each event the benchmark measures, from just before its write, (a) when a Deployment written
by the operator for that version (or a later one of the same app: updates can supersede each
other) is seen on a watch and (b) when the EdgeApp's status says Ready for a generation that
includes the event. Side by side, in the same run, it
applies a Deployment directly once per 100 ms and times that bare API round trip. With --poll,
Ready is also timed by listing the EdgeApps every 250 ms, a cross-check of the watch.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from kubernetes_asyncio import client, watch

from bench.records import machine, save
from mec_devtools.devcluster import ClusterInfo, DevCluster, DevClusterSettings
from mec_devtools.devcluster.cluster import free_port
from mec_devtools.launch import operator_command, wait_until_ready
from mec_orchestrator.adapters.kube.connection import from_kubeconfig
from mec_orchestrator.adapters.kube.status import merge_patch

REPO = Path(__file__).resolve().parent.parent
NS = "bench"


@dataclass
class Pending:
    sent: float
    version: str
    written: float | None = None
    ready: float | None = None
    ready_polled: float | None = None


@dataclass
class Run:
    pending: dict[tuple[str, str], Pending] = field(default_factory=dict)  # (app, version)
    by_app: dict[str, list[tuple[int, Pending]]] = field(default_factory=dict)
    bare_ms: list[float] = field(default_factory=list)
    errors: int = 0
    # per EdgeApp watch session: (seconds open, events delivered, how it ended)
    app_watch_sessions: list[tuple[float, int, str]] = field(default_factory=list)

    def add(self, app: str, index: int, entry: Pending) -> None:
        self.pending[(app, entry.version)] = entry
        self.by_app.setdefault(app, []).append((index, entry))

    def mark(self, app: str, version: str, what: str) -> None:
        """State with `version` was seen: that event and every earlier one of the app are in."""
        if (app, version) not in self.pending:
            return
        now = time.perf_counter()
        upto = int(version.removeprefix("v"))
        for index, entry in self.by_app.get(app, []):
            if index <= upto and getattr(entry, what) is None:
                setattr(entry, what, now)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def template(name: str, version: str) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "app", "image": f"registry.local/{name}:{version}"}]}}


def app_body(name: str, version: str) -> dict[str, Any]:
    return {
        "apiVersion": "mec.dev/v1alpha1",
        "kind": "EdgeApp",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "appDId": name,
            "appName": name,
            "appProvider": "bench",
            "appSoftVersion": version,
            "latency": {"maxMs": 10},
            "placement": {"maxInstances": 1, "idleSeconds": 0},
            "template": {
                "spec": {
                    "containers": [{"name": "app", "image": f"registry.local/{name}:{version}"}]
                }
            },
        },
    }


async def watch_deployments(api: client.ApiClient, run: Run, stop: asyncio.Event) -> None:
    apps = client.AppsV1Api(api)
    while not stop.is_set():
        async with watch.Watch() as stream:
            async for event in stream.stream(
                apps.list_namespaced_deployment, NS, timeout_seconds=30
            ):
                labels = event["object"].metadata.labels or {}
                key = (labels.get("mec.dev/app", ""), labels.get("app.kubernetes.io/version", ""))
                run.mark(key[0], key[1], "written")
                if stop.is_set():
                    return


def ready_generation_seen(body: dict[str, Any]) -> bool:
    """Status is Ready for the body's own generation (so for the spec version it carries)."""
    # This body carries the event's version, so its generation is that version's (or a later
    # one's): Ready for it means the operator has handled the event and every earlier one of
    # the same app. (The patch's answer may arrive after this watch event, so it cannot be
    # waited for.)
    generation = int(body["metadata"].get("generation", 0))
    return any(
        c["type"] == "Ready"
        and c["status"] == "True"
        and c.get("observedGeneration", 0) >= generation > 0
        for c in (body.get("status") or {}).get("conditions") or []
    )


async def watch_apps(api: client.ApiClient, run: Run, stop: asyncio.Event) -> None:
    objects = client.CustomObjectsApi(api)
    while not stop.is_set():
        opened, delivered, ended = time.perf_counter(), 0, "timeout"
        async with watch.Watch() as stream:
            async for event in stream.stream(
                objects.list_namespaced_custom_object,
                "mec.dev",
                "v1alpha1",
                NS,
                "edgeapps",
                timeout_seconds=30,
            ):
                delivered += 1
                if event["type"] == "ERROR":  # e.g. 410: the loop opens a new watch
                    ended = f"error {event['object'].get('code')}"
                    break
                body = event["object"]
                if ready_generation_seen(body):
                    run.mark(body["metadata"]["name"], body["spec"]["appSoftVersion"], "ready")
                if stop.is_set():
                    ended = "stopped"
                    break
        run.app_watch_sessions.append((time.perf_counter() - opened, delivered, ended))


async def poll_apps(api: client.ApiClient, run: Run, stop: asyncio.Event) -> None:
    """The same Ready check by listing every 250 ms: a cross-check of the watch's figures."""
    objects = client.CustomObjectsApi(api)
    while not stop.is_set():
        listed = await objects.list_namespaced_custom_object("mec.dev", "v1alpha1", NS, "edgeapps")
        for body in listed["items"]:
            if ready_generation_seen(body):
                run.mark(body["metadata"]["name"], body["spec"]["appSoftVersion"], "ready_polled")
        await asyncio.sleep(0.25)


async def bare_applies(api: client.ApiClient, run: Run, stop: asyncio.Event) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        manifest = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            # a label, not an annotation: a new annotation would also make the controller
            # manager rewrite the ReplicaSet, a load that is not the operator's
            "metadata": {"name": "bare", "namespace": "bare", "labels": {"n": str(n)}},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "bare"}},
                "template": {
                    "metadata": {"labels": {"app": "bare"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]},
                },
            },
        }
        began = time.perf_counter()
        await api.call_api(
            "/apis/apps/v1/namespaces/bare/deployments/bare",
            "PATCH",
            query_params=[("fieldManager", "bench"), ("force", "true")],
            header_params={
                "Content-Type": "application/apply-patch+yaml",
                "Accept": "application/json",
            },
            body=manifest,
            auth_settings=["BearerToken"],
            response_types_map={200: "object", 201: "object"},
        )
        run.bare_ms.append((time.perf_counter() - began) * 1000)
        await asyncio.sleep(0.1)


async def drive(  # noqa: PLR0915 - one benchmark run, start to finish
    info: ClusterInfo,
    apps: int,
    rate: float,
    duration: float,
    *,
    rollout: bool,
    poll: bool,
    pids: dict[str, int],
) -> dict[str, Any]:
    api = from_kubeconfig(info.kubeconfig).api_client()
    core, objects = client.CoreV1Api(api), client.CustomObjectsApi(api)
    for ns in (NS, "bare"):
        await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    names = [f"app-{i:03d}" for i in range(apps)]
    for name in names:
        await objects.create_namespaced_custom_object(
            "mec.dev", "v1alpha1", NS, "edgeapps", app_body(name, "v0")
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # warm-up: everything placed and Ready
        listed = await objects.list_namespaced_custom_object("mec.dev", "v1alpha1", NS, "edgeapps")
        ready_apps = sum(
            1
            for a in listed["items"]
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (a.get("status") or {}).get("conditions") or []
            )
        )
        print(f"\r  warm-up: {ready_apps}/{apps} apps Ready", end="", file=sys.stderr)
        if ready_apps == apps:
            break
        await asyncio.sleep(1)
    print(file=sys.stderr)

    run, stop = Run(), asyncio.Event()
    watchers = [
        asyncio.create_task(watch_deployments(api, run, stop)),
        asyncio.create_task(watch_apps(api, run, stop)),
        asyncio.create_task(bare_applies(api, run, stop)),
    ]
    if poll:
        watchers.append(asyncio.create_task(poll_apps(api, run, stop)))
    await asyncio.sleep(1)

    async def one_event(index: int) -> None:
        name = names[index % apps]
        version = f"v{index + 1}"
        entry = Pending(time.perf_counter(), version)
        run.add(name, index + 1, entry)
        try:
            spec: dict[str, Any] = {"appSoftVersion": version}
            if rollout:
                spec["template"] = template(name, version)
            await merge_patch(
                api, f"/apis/mec.dev/v1alpha1/namespaces/{NS}/edgeapps/{name}", {"spec": spec}
            )
        except Exception:  # counted, reported
            run.errors += 1

    cpu_before = cpu_seconds(pids)
    requests_before = await apiserver_counts(api)
    started = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []
    total = int(rate * duration)
    for index in range(total):
        due = started + index / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one_event(index)))
        if index % int(rate) == 0:
            done = sum(1 for e in run.pending.values() if e.ready)
            print(
                f"\r  t={time.perf_counter() - started:5.0f} s sent {index}/{total} ready {done}",
                end="",
                file=sys.stderr,
            )
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    achieved = total / elapsed
    cpu_after = cpu_seconds(pids)
    requests_after = await apiserver_counts(api)
    per_event = {
        key: round((count - requests_before.get(key, 0.0)) / total, 2)
        for key, count in requests_after.items()
        if (count - requests_before.get(key, 0.0)) / total >= 0.05
    }
    # CPU each component spent per event while the events were sent (cores = CPU-s per s)
    cpu_ms_per_event = {
        name: (cpu_after[name] - cpu_before[name]) * 1000 / total for name in cpu_after
    }
    cores_busy = {name: (cpu_after[name] - cpu_before[name]) / elapsed for name in cpu_after}
    drain = time.monotonic() + 60
    while time.monotonic() < drain and any(e.ready is None for e in run.pending.values()):  # noqa: ASYNC110 - polling the watchers' results
        await asyncio.sleep(0.5)
    print(file=sys.stderr)
    stop.set()
    for task in watchers:
        task.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)
    await api.close()

    # an update superseded by a later one for the same app before it was handled is not counted
    entries = list(run.pending.values())
    written = [(e.written - e.sent) * 1000 for e in entries if e.written is not None]
    ready = [(e.ready - e.sent) * 1000 for e in entries if e.ready is not None]
    polled = [(e.ready_polled - e.sent) * 1000 for e in entries if e.ready_polled is not None]
    return {
        "events": total,
        "achieved_rate_per_s": achieved,
        "write_errors": run.errors,
        "deployment_written_ms": summary(written, total),
        "status_ready_ms": summary(ready, total),
        "status_ready_polled_ms": summary(polled, total),
        "app_watch_sessions": [
            {"open_s": round(o, 1), "events": n, "ended": why}
            for o, n, why in run.app_watch_sessions
        ],
        "bare_apply_ms": summary(run.bare_ms, len(run.bare_ms)),
        "cpu_ms_per_event": {k: round(v, 2) for k, v in cpu_ms_per_event.items()},
        "cores_busy": {k: round(v, 3) for k, v in cores_busy.items()},
        "apiserver_per_event": dict(sorted(per_event.items(), key=lambda kv: -kv[1])),
    }


async def apiserver_counts(api: client.ApiClient) -> dict[str, float]:
    """The API server's request counts (verb resource/subresource) and watch events it sent."""
    text: str = await api.call_api(
        "/metrics",
        "GET",
        header_params={"Accept": "text/plain"},
        auth_settings=["BearerToken"],
        response_types_map={200: "str"},
        _return_http_data_only=True,
    )
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("apiserver_request_total{", "apiserver_watch_events_total{")):
            labels_text, value = line.rsplit(" ", 1)
            labels = dict(
                part.split("=", 1) for part in labels_text.split("{", 1)[1].rstrip("}").split(",")
            )
            label = {k: v.strip('"') for k, v in labels.items()}
            if line.startswith("apiserver_request_total"):
                sub = f"/{label['subresource']}" if label.get("subresource") else ""
                key = f"{label.get('verb')} {label.get('resource')}{sub}"
            else:
                key = f"watch events {label.get('resource')}"
            counts[key] = counts.get(key, 0.0) + float(value)
    return counts


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU time of each process (and of this benchmark), in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {"benchmark": time.process_time()}
    for name, pid in pids.items():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        found[name] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def summary(values: list[float], expected: int) -> dict[str, float]:
    if not values:
        return {"count": 0, "expected": expected}
    return {
        "count": len(values),
        "expected": expected,
        "p50": statistics.median(values),
        "p90": pct(values, 90),
        "p99": pct(values, 99),
        "max": max(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--quick", action="store_true", help="20 s instead of --duration")
    parser.add_argument("--rollout", action="store_true", help="every event also changes the image")
    parser.add_argument(
        "--poll",
        action="store_true",
        help="also list the EdgeApps every 250 ms and time Ready from that (a cross-check)",
    )
    args = parser.parse_args()
    duration = 20.0 if args.quick else args.duration
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        cluster = DevCluster(
            DevClusterSettings(state_dir=Path(scratch) / "dc"), lambda m: print(m, file=sys.stderr)
        )
        info = cluster.up([f"host-{i:02d}" for i in range(1, args.hosts + 1)])
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
            with log.open("wb") as sink:
                operator = subprocess.Popen(
                    operator_command(info.kubeconfig, port, standalone=True),
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, "MEC_OPERATOR_RESYNC_SECONDS": "300"},
                )
            if not wait_until_ready(port, timeout=60, process=operator):
                raise SystemExit(f"the operator did not become ready; see {log}")
            result = asyncio.run(
                drive(
                    info,
                    args.apps,
                    args.rate,
                    duration,
                    rollout=args.rollout,
                    poll=args.poll,
                    pids={**{p.name: p.pid for p in info.processes}, "operator": operator.pid},
                )
            )
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            result["operator_reconciles"] = next(
                (
                    float(line.split()[1])
                    for line in metrics.splitlines()
                    if line.startswith("mec_reconcile_seconds_count")
                ),
                0.0,
            )
        finally:
            if operator is not None:
                operator.terminate()
                operator.wait(timeout=30)
            cluster.down()
    result.update(
        {
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "machine": machine(),
            "date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "hosts": args.hosts,
            "apps": args.apps,
            "rate": args.rate,
            "duration_s": duration,
            "rollout": args.rollout,
            "poll": args.poll,
            "command": " ".join(["python -m bench.operator", *sys.argv[1:]]),
        }
    )
    save("operator", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
