"""`mec-orchestrator demo`: the main job, run by the README's first command.

Today it brings up the local control plane with edge hosts at real Melbourne CBD radio sites,
installs the CRDs and the example EdgeHosts, Zones and AR EdgeApp, runs one app instance per edge
host pinned by node selector (what the operator will do from EdgeApps), shows them coming up
live and ends with a report. It grows with the orchestrator.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import click
import httpx

from mec_orchestrator.devcluster.cluster import ClusterInfo, DevCluster, admin_client
from mec_orchestrator.devcluster.errors import DevClusterError
from mec_orchestrator.devcluster.nodes import EDGE_HOST_LABEL
from mec_orchestrator.devcluster.settings import DevClusterSettings
from mec_orchestrator.sim.topology import Site, melbourne_sites, spread_sites

NAMESPACE = "default"
REPO = Path(__file__).resolve().parent.parent
EXAMPLES = ("edgehosts.yaml", "zones.yaml", "edgeapp-ar-navigator.yaml")


def _say(message: str) -> None:
    click.echo(f"[demo {time.strftime('%H:%M:%S')}] {message}", err=True)


def instance_deployment(app: str, host: str) -> dict[str, Any]:
    name = f"{app}-{host}"
    labels = {"mec.dev/app": app, EDGE_HOST_LABEL: host}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {EDGE_HOST_LABEL: host},
                    "containers": [{"name": "app", "image": "registry.local/ar-overlay:1.0"}],
                },
            },
        },
    }


def _running_by_host(client: httpx.Client, app: str) -> dict[str, int]:
    answer = client.get(
        f"/api/v1/namespaces/{NAMESPACE}/pods", params={"labelSelector": f"mec.dev/app={app}"}
    )
    answer.raise_for_status()
    running: dict[str, int] = {}
    for pod in answer.json()["items"]:
        if pod.get("status", {}).get("phase") == "Running":
            host = pod["spec"].get("nodeName", "?")
            running[host] = running.get(host, 0) + 1
    return running


def _kubectl(info: ClusterInfo, *args: str) -> str:
    env = {**os.environ, "KUBECONFIG": str(info.kubeconfig)}
    done = subprocess.run(
        [str(info.binaries["kubectl"]), *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise DevClusterError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def install_resources(info: ClusterInfo) -> None:
    """Install the CRDs, wait until they are served, apply the example resources."""
    _kubectl(info, "apply", "--server-side", "-f", str(REPO / "crds"))
    _kubectl(info, "wait", "--for=condition=Established", "--timeout=30s", "-f", str(REPO / "crds"))
    for example in EXAMPLES:
        _kubectl(
            info, "apply", "--server-side", "-n", NAMESPACE, "-f", str(REPO / "examples" / example)
        )


def run_demo(hosts: int, app: str, keep: bool) -> None:
    sites: list[Site] = spread_sites(melbourne_sites(), hosts)
    names = [f"site-{s.site_id}" for s in sites]
    _say(
        f"starting the local control plane with {len(names)} edge hosts"
        " at Melbourne CBD radio sites"
    )
    cluster = DevCluster(DevClusterSettings(), _say)
    info: ClusterInfo = cluster.up(names)
    _say("installing the CRDs and the example EdgeHosts, Zones and EdgeApp (examples/)")
    install_resources(info)
    started = time.monotonic()
    first_running: dict[str, float] = {}
    with admin_client(info) as client:
        for name in names:
            answer = client.post(
                f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments",
                json=instance_deployment(app, name),
            )
            if answer.status_code not in (201, 409):
                answer.raise_for_status()
        _say(
            f"applied {len(names)} Deployments of app '{app}',"
            " one pinned to each edge host; live view:"
        )
        deadline = started + 60
        while time.monotonic() < deadline:
            running = _running_by_host(client, app)
            for name in names:
                if running.get(name) and name not in first_running:
                    first_running[name] = time.monotonic() - started
            bar = "".join("#" if n in first_running else "." for n in names)
            click.echo(
                f"\r  instances running [{bar}] {len(first_running)}/{len(names)}",
                nl=False,
                err=True,
            )
            if len(first_running) == len(names):
                break
            time.sleep(0.2)
        click.echo("", err=True)
    click.echo("\nReport")
    click.echo(f"  control plane ready in {info.started_in_seconds:.1f} s at {info.server}")
    for component, seconds in info.timings.items():
        click.echo(f"    {component:<26} ready at {seconds:5.2f} s")
    click.echo(f"  {'edge host':<16} {'lat':>9} {'lon':>10}  {'running after':>13}  site")
    for site, name in zip(sites, names, strict=True):
        after = f"{first_running[name]:.2f} s" if name in first_running else "not running"
        click.echo(
            f"  {name:<16} {site.latitude:9.5f} {site.longitude:10.5f}"
            f"  {after:>13}  {site.name[:40]}"
        )
    click.echo("\n$ kubectl get edgehosts,zones")
    click.echo(_kubectl(info, "get", "edgehosts,zones").rstrip())
    click.echo("\n$ kubectl get edgeapps -A")
    click.echo(_kubectl(info, "get", "edgeapps", "-A").rstrip())
    if len(first_running) != len(names):
        raise click.ClickException("some instances did not reach Running within 60 s")
    if keep:
        click.echo(
            "\nThe control plane keeps running:"
            ' eval "$(.venv/bin/mec-orchestrator devcluster env)"; kubectl get pods -o wide'
        )
        click.echo("Stop it with: make down")
    else:
        cluster.down()
        click.echo("\ncontrol plane stopped")


@click.command()
@click.option(
    "--hosts", default=6, show_default=True, help="Edge hosts (spread over the 125 sites)."
)
@click.option("--app", default="ar-navigator", show_default=True, help="Name of the demo app.")
@click.option(
    "--keep/--no-keep", default=True, show_default=True, help="Leave the control plane running."
)
def demo(hosts: int, app: str, keep: bool) -> None:
    """Run the demo on a local control plane."""
    try:
        run_demo(hosts, app, keep)
    except DevClusterError as error:
        raise click.ClickException(str(error)) from error
