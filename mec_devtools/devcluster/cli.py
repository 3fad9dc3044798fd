"""`mec-orchestrator devcluster up|down|status|env|build|path`: the local control plane, by hand."""

from __future__ import annotations

import json
import shlex
import sys
import time
from functools import partial
from pathlib import Path

import click

from mec_devtools.devcluster import binaries, helm_plugins, schemas
from mec_devtools.devcluster.cluster import DevCluster
from mec_devtools.devcluster.errors import DevClusterError
from mec_devtools.devcluster.nodes import default_names
from mec_devtools.devcluster.settings import DATASTORES, DevClusterSettings
from mec_devtools.devcluster.versions import default_tools

# `devcluster path` names that are directories rather than binaries.
HELM_PLUGINS = "helm-plugins"
KUBERNETES_SCHEMAS = "kubernetes-schemas"


def _progress(message: str) -> None:
    click.echo(f"[devcluster {time.strftime('%H:%M:%S')}] {message}", err=True)


def _cluster() -> DevCluster:
    return DevCluster(DevClusterSettings(), _progress)


def env_command(state_dir: Path) -> str:
    """The `devcluster env` command line that reads the cluster kept in state_dir.

    The state directory comes from the environment (MEC_DEVCLUSTER_STATE_DIR), so a hint printed
    for a cluster that is not the default one carries it, as an absolute path: a bare
    `devcluster env` would read the default cluster (`.devcluster` in the working directory).
    """
    command = "mec-orchestrator devcluster env"
    state_dir = state_dir.resolve()
    if state_dir == DevClusterSettings.model_fields["state_dir"].get_default().resolve():
        return command
    return f"MEC_DEVCLUSTER_STATE_DIR={shlex.quote(str(state_dir))} {command}"


def env_hint(state_dir: Path) -> str:
    """How to point a shell at the cluster kept in state_dir (what `up` prints last)."""
    return f'eval "$({env_command(state_dir)})" && kubectl get nodes'


@click.group()
def devcluster() -> None:
    """A real local control plane (etcd, kube-apiserver, controller manager, scheduler, kwok)."""


@devcluster.command()
def build() -> None:
    """Build (once) and cache every binary the control plane and the tests need.

    Also lays out the helm-unittest plugin (HELM_PLUGINS) and kubeconform's offline schemas.
    """
    settings = DevClusterSettings()
    try:
        paths = binaries.ensure(default_tools(), settings, _progress)
        paths[HELM_PLUGINS] = helm_plugins.ensure_helm_plugins(settings, _progress)
        paths[KUBERNETES_SCHEMAS] = schemas.ensure_schemas(settings)
    except DevClusterError as error:
        raise click.ClickException(str(error)) from error
    for name, path in sorted(paths.items()):
        click.echo(f"{name:<24} {path}")


@devcluster.command()
@click.option("--edge-hosts", type=int, default=None, help="Number of kwok edge-host nodes.")
@click.option("--host", "hosts", multiple=True, help="Name of an edge-host node (repeatable).")
@click.option(
    "--datastore",
    type=click.Choice(DATASTORES),
    default=None,
    help="etcd, or kine over SQLite (k3s's datastore). Default: MEC_DEVCLUSTER_DATASTORE, etcd.",
)
def up(edge_hosts: int | None, hosts: tuple[str, ...], datastore: str | None) -> None:
    """Start the control plane (idempotent) and create edge-host nodes."""
    settings = DevClusterSettings()
    if datastore is not None:
        settings = settings.model_copy(update={"datastore": datastore})
    names = list(hosts) or default_names(
        edge_hosts if edge_hosts is not None else settings.edge_hosts
    )
    try:
        info = DevCluster(settings, _progress).up(names)
    except DevClusterError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"API server   {info.server}")
    click.echo(f"datastore    {info.datastore} ({info.etcd_url})")
    click.echo(f"kubeconfig   {info.kubeconfig}")
    click.echo(f"edge hosts   {', '.join(info.edge_host_nodes) or '(none)'}")
    click.echo(f"started in   {info.started_in_seconds:.1f} s")
    click.echo(f"use it:      {env_hint(settings.state_dir)}")


@devcluster.command()
def down() -> None:
    """Stop every process of the control plane."""
    try:
        stopped = _cluster().down()
    except DevClusterError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@devcluster.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Say what runs and whether it is healthy; exit 1 when not all is healthy."""
    cluster = _cluster()
    info = cluster.info()
    if info is None:
        click.echo("no control plane is running (start one: mec-orchestrator devcluster up)")
        sys.exit(1)
    health = cluster.component_health(info)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "server": info.server,
                    "kubeconfig": str(info.kubeconfig),
                    "datastore": info.datastore,
                    "components": health,
                }
            )
        )
    else:
        click.echo(f"API server {info.server}   kubeconfig {info.kubeconfig}")
        click.echo(f"datastore  {info.datastore} at {info.etcd_url}")
        for record in info.processes:
            click.echo(f"  {record.name:<24} pid {record.pid:<8} {health[record.name]}")
    sys.exit(0 if cluster.healthy(info) else 1)


@devcluster.command()
def env() -> None:
    """Print shell exports for kubectl/helm: eval "$(mec-orchestrator devcluster env)".

    HELM_PLUGINS points at the project's own plugin directory (helm-unittest), so
    `helm unittest` works and the user's plugins are left alone.
    """
    cluster = _cluster()
    info = cluster.info()
    if info is None:
        raise click.ClickException(
            f"no control plane is running in {cluster.state_dir} "
            "(start one: mec-orchestrator devcluster up; MEC_DEVCLUSTER_STATE_DIR chooses where)"
        )
    values = info.env()
    path = values.pop("MEC_DEVCLUSTER_PATH")
    try:
        values["HELM_PLUGINS"] = str(helm_plugins.ensure_helm_plugins(cluster.settings, _progress))
    except DevClusterError as error:
        raise click.ClickException(str(error)) from error
    for key, value in values.items():
        click.echo(f"export {key}={shlex.quote(value)}")
    click.echo(f'export PATH="{path}:$PATH"')


@devcluster.command()
@click.argument("binary")
def path(binary: str) -> None:
    """Print the path of one cached binary (building it if needed), e.g. `path kubectl`.

    Two names are directories: `helm-plugins` (for HELM_PLUGINS: helm-unittest) and
    `kubernetes-schemas` (for kubeconform's -schema-location, offline).
    """
    settings = DevClusterSettings()
    directories = {
        HELM_PLUGINS: partial(helm_plugins.ensure_helm_plugins, settings, _progress),
        KUBERNETES_SCHEMAS: partial(schemas.ensure_schemas, settings),
    }
    if binary in directories:
        try:
            click.echo(str(directories[binary]()))
        except DevClusterError as error:
            raise click.ClickException(str(error)) from error
        return
    for tool in default_tools():
        if binary in tool.binaries:
            try:
                paths = binaries.ensure((tool,), settings, _progress)
            except DevClusterError as error:
                raise click.ClickException(str(error)) from error
            click.echo(str(paths[binary]))
            return
    known = ", ".join([*(b for t in default_tools() for b in t.binaries), *directories])
    raise click.ClickException(f"unknown binary {binary!r}; known: {known}")
