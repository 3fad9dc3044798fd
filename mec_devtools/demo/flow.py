"""`mec-orchestrator demo`: its options, and the placement story step by step.

The full story (the default) lives in story.py; this module starts the control plane for both.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import click
import yaml

from mec_devtools.data import data_dir
from mec_devtools.demo.latency_model import host_status
from mec_devtools.demo.report import DemoReport, Snapshot, markdown, plot, serving
from mec_devtools.devcluster.cluster import ClusterInfo, DevCluster, admin_client, free_port
from mec_devtools.devcluster.errors import DevClusterError
from mec_devtools.launch import operator_command, wait_until_ready

NAMESPACE = "default"
V2X = "v2x-hazard"
AR = "ar-navigator"


def _say(message: str) -> None:
    click.echo(f"[demo {time.strftime('%H:%M:%S')}] {message}", err=True)


def _kubectl(info: ClusterInfo, *args: str, stdin: str | None = None) -> str:
    env = {**os.environ, "KUBECONFIG": str(info.kubeconfig)}
    done = subprocess.run(
        [str(info.binaries["kubectl"]), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise DevClusterError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def v2x_app() -> dict[str, Any]:
    """A V2X hazard-warning service: a 2 ms one-way budget needs instances close to every cell."""
    return {
        "apiVersion": "mec.dev/v1alpha1",
        "kind": "EdgeApp",
        "metadata": {"name": V2X, "namespace": NAMESPACE},
        "spec": {
            "appDId": "5e1c2a9d-v2x-hazard",
            "appName": V2X,
            "appProvider": "Example Mobility",
            "appSoftVersion": "1.4.0",
            "latency": {"maxMs": 2},
            "mobility": {"level": "WithoutConfirmation", "contextTransfer": "MecAssisted"},
            "placement": {"maxInstances": 6, "warmStandby": 0, "idleSeconds": 5},
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "hazard",
                            "image": "registry.example.com/mobility/v2x-hazard:1.4.0",
                            "ports": [
                                {"name": "warnings", "containerPort": 9443, "protocol": "UDP"}
                            ],
                        }
                    ]
                }
            },
        },
    }


class Demo:
    def __init__(self, keep: bool) -> None:
        self.keep = keep
        # kine over SQLite (k3s's datastore) unless MEC_DEVCLUSTER_DATASTORE says otherwise or
        # a cluster already runs: as fast as etcd here (docs/devcluster.md, "etcd or kine").
        self.cluster = DevCluster.preferring("kine", _say)
        self.operator: subprocess.Popen[bytes] | None = None
        self.hosts = {
            d["metadata"]["name"]: (
                d["spec"]["location"]["latitude"],
                d["spec"]["location"]["longitude"],
            )
            for d in _documents(data_dir("examples") / "edgehosts.yaml")
        }
        self.access_points = {
            ap["id"]: (ap["location"]["latitude"], ap["location"]["longitude"])
            for zone in _documents(data_dir("examples") / "zones.yaml")
            for ap in zone["spec"]["accessPoints"]
        }
        self.extra_ms: dict[str, float] = {}

    def start(self) -> ClusterInfo:
        began = time.monotonic()
        _say(
            f"starting the local control plane: {len(self.hosts)} edge hosts"
            " at Melbourne CBD radio sites"
        )
        info = self.cluster.up(sorted(self.hosts))
        self.report = DemoReport(control_plane_s=time.monotonic() - began)
        crds = ["-f", str(data_dir("crds")), "-f", str(data_dir("crds") / "peering")]
        _kubectl(info, "apply", "--server-side", *crds)
        _kubectl(info, "wait", "--for=condition=Established", "--timeout=30s", *crds)
        _kubectl(
            info,
            "apply",
            "--server-side",
            "-f",
            str(data_dir("examples") / "edgehosts.yaml"),
            "-f",
            str(data_dir("examples") / "zones.yaml"),
        )
        _say(
            f"installed the CRDs, {len(self.hosts)} EdgeHosts"
            f" and {len(self.access_points)} access points (Zones)"
        )
        return info

    def start_operator(self, info: ClusterInfo) -> int:
        port = free_port()
        log = info.state_dir / "logs" / "operator.log"
        with log.open("ab") as sink:
            self.operator = subprocess.Popen(
                operator_command(info.kubeconfig, port, standalone=True),
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait_until_ready(port, timeout=60, process=self.operator):
            _say(f"orchestrator running (metrics on http://127.0.0.1:{port}/metrics, log {log})")
            return port
        raise DevClusterError(f"the orchestrator did not start; see {log}")

    def report_latencies(self, info: ClusterInfo) -> None:
        """What the agents would report: each host's RTT to every access point."""
        with admin_client(info) as http:
            for host, location in self.hosts.items():
                status = host_status(location, self.access_points, self.extra_ms.get(host, 0.0))
                http.patch(
                    f"/apis/mec.dev/v1alpha1/edgehosts/{host}/status",
                    json={"status": status},
                    headers={"Content-Type": "application/merge-patch+json"},
                ).raise_for_status()

    def app_rows(self, info: ClusterInfo) -> dict[str, dict[str, Any]]:
        listed = json.loads(_kubectl(info, "get", "edgeapps", "-n", NAMESPACE, "-o", "json"))
        return {item["metadata"]["name"]: item for item in listed["items"]}

    def live_until(self, info: ClusterInfo, done: Any, label: str, within: float = 90.0) -> float:
        began = time.monotonic()
        last = ""
        while time.monotonic() - began < within:
            apps = self.app_rows(info)
            parts = []
            for name in (AR, V2X):
                status = apps.get(name, {}).get("status") or {}
                conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
                parts.append(
                    f"{name}: {status.get('hostsSummary') or '-'}"
                    f" ready {status.get('readySummary') or '-'}"
                    f" SLO {conditions.get('LatencySLOMet', '?')}"
                )
            line = " | ".join(parts)
            if line != last:
                click.echo(f"  {time.monotonic() - began:5.1f} s  {line}", err=True)
                last = line
            if done(apps):
                return time.monotonic() - began
            time.sleep(0.3)
        raise DevClusterError(f"{label}: not reached within {within:.0f} s")

    def run(self) -> None:
        info = self.start()
        try:
            self.start_operator(info)
            self.report_latencies(info)
            _say("agents' round-trip times reported for every (host, access point) pair")
            _kubectl(
                info,
                "apply",
                "-n",
                NAMESPACE,
                "-f",
                str(data_dir("examples") / "edgeapp-ar-navigator.yaml"),
            )
            _kubectl(info, "apply", "-f", "-", stdin=json.dumps(v2x_app()))
            _say(f"applied {AR} (10 ms budget) and {V2X} (2 ms budget); live view:")
            placed = self.live_until(info, _all_ready, "placement")
            self.report.timings["EdgeApps applied -> every instance Ready"] = placed
            before = sorted(_hosts(self.app_rows(info), V2X))
            self.report.snapshots.append(Snapshot(f"{V2X}, initial", before))
            self.report.snapshots.append(
                Snapshot(f"{AR}, initial", sorted(_hosts(self.app_rows(info), AR)))
            )

            degraded = self._busiest(before)
            self.extra_ms[degraded] = 25.0
            _say(f"backhaul of {degraded} degrades by +25 ms RTT; the agents report it; live view:")
            self.report_latencies(info)
            moved = self.live_until(
                info,
                lambda apps: _all_ready(apps) and degraded not in _hosts(apps, V2X),
                "re-placement",
            )
            self.report.timings[f"{degraded} degraded -> {V2X} re-placed and Ready"] = moved
            after = sorted(_hosts(self.app_rows(info), V2X))
            self.report.snapshots.append(Snapshot(f"{V2X}, after {degraded} degraded", after))
            self.finish(info, before, after, degraded)
        finally:
            self.stop_operator()
            if not self.keep:
                self.cluster.down()

    def _busiest(self, hosts: list[str]) -> str:
        assignment = serving(hosts, self.hosts, self.access_points, {})
        counts = {h: sum(1 for host, _ in assignment.values() if host == h) for h in hosts}
        return max(sorted(counts), key=lambda h: counts[h])

    def finish(self, info: ClusterInfo, before: list[str], after: list[str], degraded: str) -> None:
        out = Path("demo-report")
        out.mkdir(exist_ok=True)
        table = _kubectl(info, "get", "edgeapps", "-n", NAMESPACE).rstrip().splitlines()
        self.report.apps = {str(i): line for i, line in enumerate(table)}
        events = _kubectl(
            info,
            "get",
            "events",
            "-n",
            NAMESPACE,
            "--field-selector",
            "involvedObject.kind=EdgeApp",
            "--sort-by=.lastTimestamp",
            "-o",
            "custom-columns=REASON:.reason,OBJECT:.involvedObject.name,MESSAGE:.message",
        )
        self.report.events = [line[:160] for line in events.rstrip().splitlines()]
        plot(
            out / "placement.png",
            [
                (f"{V2X}: initial", serving(before, self.hosts, self.access_points, {}), before),
                (
                    f"{V2X}: {degraded} +25 ms",
                    serving(after, self.hosts, self.access_points, self.extra_ms),
                    after,
                ),
            ],
            self.hosts,
            self.access_points,
        )
        (out / "report.md").write_text(markdown(self.report, "placement.png"))
        click.echo("\nReport")
        click.echo(f"  control plane ready in {self.report.control_plane_s:.1f} s")
        for step, seconds in self.report.timings.items():
            click.echo(f"  {step}: {seconds:.1f} s")
        for snapshot in self.report.snapshots:
            click.echo(f"  {snapshot.title}: {', '.join(snapshot.hosts)}")
        click.echo("\n" + "\n".join(table))
        click.echo("\n" + "\n".join(self.report.events))
        click.echo(f"\nreport: {out / 'report.md'}   plot: {out / 'placement.png'}")
        if self.keep:
            click.echo(
                "The control plane keeps running (the orchestrator stops with the demo):\n"
                '  eval "$(.venv/bin/mec-orchestrator devcluster env)"\n'
                "  kubectl get ea,deploy -o wide\n"
                "  .venv/bin/mec-orchestrator run --standalone   # the orchestrator again\n"
                "  make down                                    # stop it all"
            )

    def stop_operator(self) -> None:
        if self.operator is not None and self.operator.poll() is None:
            self.operator.terminate()
            try:
                self.operator.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.operator.kill()


def _hosts(apps: dict[str, dict[str, Any]], name: str) -> set[str]:
    return {i["host"] for i in (apps.get(name, {}).get("status") or {}).get("instances") or []}


def _all_ready(apps: dict[str, dict[str, Any]]) -> bool:
    for name in (AR, V2X):
        conditions = {
            c["type"]: c for c in (apps.get(name, {}).get("status") or {}).get("conditions") or []
        }
        generation = apps.get(name, {}).get("metadata", {}).get("generation")
        ready = conditions.get("Ready", {})
        if ready.get("status") != "True" or ready.get("observedGeneration") != generation:
            return False
        if conditions.get("Placed", {}).get("message", "").count("instance") == 0:
            return False
    return True


def run_full(keep: bool, devices: int, compression: float) -> None:
    """The whole story (story.py): agents, real instances, devices, handovers, incidents."""
    import asyncio
    import shutil

    from mec_devtools.demo.story import FullStory, StorySettings
    from mec_devtools.demo.world import WorldError

    began = time.monotonic()
    demo_ = Demo(keep)
    info = demo_.start()
    workdir = info.state_dir / "demo-run"
    shutil.rmtree(workdir, ignore_errors=True)
    settings = StorySettings(devices=devices, compression=compression)
    try:
        evidence = asyncio.run(FullStory(info, Path("demo-report"), workdir, settings).run())
    except (WorldError, TimeoutError) as error:
        raise DevClusterError(f"{error} (logs in {workdir / 'logs'})") from error
    finally:
        if not keep:
            demo_.cluster.down()
    click.echo(f"\nreport: demo-report/report.md   (live view was {evidence.live_url})")
    click.echo(f"the whole demo took {time.monotonic() - began:.0f} s")


@click.command()
@click.option(
    "--keep/--no-keep", default=True, show_default=True, help="Leave the control plane running."
)
@click.option(
    "--story",
    type=click.Choice(["full", "placement"]),
    default="full",
    show_default=True,
    help="full: agents, real instances, devices moving on SUMO traces, handovers, incidents "
    "(about 2.5 min warm, docs/demo.md); placement: two apps placed by a distance-based "
    "stand-in for the agents (no agents, no devices, about 25 s).",
)
@click.option(
    "--devices", type=click.IntRange(1, 40), default=10, show_default=True, help="full story"
)
@click.option(
    "--compression",
    type=click.FloatRange(0.5, 10.0),
    default=2.5,
    show_default=True,
    help="full story: trace seconds per wall-clock second",
)
def demo(keep: bool, story: str, devices: int, compression: float) -> None:
    """Run the demo on a local control plane."""
    try:
        if story == "full":
            run_full(keep, devices, compression)
        else:
            Demo(keep).run()
    except DevClusterError as error:
        raise click.ClickException(str(error)) from error
