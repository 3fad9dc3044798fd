"""The `mec-orchestrator` command: the product's entry points, and a door for dev tooling.

`run` is the orchestrator itself. Other commands (`devcluster`, `demo`) come from the
`mec_orchestrator.commands` entry-point group, which the development tooling (`mec_devtools`)
registers; a command's module is imported only when that command runs, so `run` never loads the
tooling, its plotting libraries or the simulator.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import click

from mec_orchestrator import __version__

COMMANDS_GROUP = "mec_orchestrator.commands"


def _plugins() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}


class _Commands(click.Group):
    """A click group whose plugin commands are loaded on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        plugin = _plugins().get(cmd_name)
        if plugin is None:
            return None
        try:
            loaded = plugin.load()
        except ImportError as missing:
            return _unavailable(cmd_name, missing)
        if not isinstance(loaded, click.Command):
            raise click.ClickException(f"{plugin.value} is not a click command")
        return loaded


def _unavailable(name: str, missing: ImportError) -> click.Command:
    """A stand-in for a plugin whose module cannot be imported: says why when run."""

    def fail() -> None:
        raise click.ClickException(f"`{name}` cannot load: {missing}")

    return click.Command(name, callback=fail, help=f"(unavailable: {missing})")


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="mec-orchestrator")
def main() -> None:
    """ETSI MEC orchestrator for Kubernetes."""


@main.command()
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None)
@click.option("--priority", type=int, default=None, help="Peering priority of this replica.")
@click.option("--standalone", is_flag=True, default=None, help="No peering (single replica).")
@click.option("--http-port", type=int, default=None, help="Port of /metrics, /healthz, /readyz.")
@click.option(
    "--live-view",
    is_flag=True,
    default=None,
    help="Serve the live map at /live/ on the HTTP port (no authentication: docs/live-view.md).",
)
@click.option("--verbose", is_flag=True)
def run(
    *,
    kubeconfig: str | None,
    priority: int | None,
    standalone: bool | None,
    http_port: int | None,
    live_view: bool | None,
    verbose: bool,
) -> None:
    """Run the orchestrator (the kopf operator) against the cluster."""
    from mec_orchestrator.operator.settings import OperatorSettings
    from mec_orchestrator.process import main as run_main

    given: dict[str, object] = {
        "kubeconfig": kubeconfig,
        "priority": priority,
        "standalone": standalone,
        "http_port": http_port,
        "live_view": live_view,
    }
    settings = OperatorSettings.model_validate({k: v for k, v in given.items() if v is not None})
    run_main(settings, verbose)


@main.command()
@click.option("--api", "api_url", required=True, help="The REST API, e.g. http://svc:8080.")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("/var/run/secrets/kubernetes.io/serviceaccount/token"),
    show_default=True,
    help="Bearer token for the ETSI call (missing file: no token).",
)
@click.option("--kubeconfig", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--timeout", "timeout_s", type=click.FloatRange(1, 3600), default=120.0)
def selftest(api_url: str, token_file: Path, kubeconfig: Path | None, timeout_s: float) -> None:
    """Check a running installation: API ready, an authorised ETSI call, an agent session."""
    import asyncio

    from mec_orchestrator.operator.selftest import run_checks

    token = token_file.read_text().strip() if token_file.is_file() else None
    results = asyncio.run(run_checks(api_url, token, kubeconfig, timeout_s))
    for result in results:
        click.echo(f"{'PASS' if result.passed else 'FAIL'} {result.name}: {result.detail}")
    if not all(result.passed for result in results):
        raise SystemExit(1)


@main.command()
@click.option("--namespace", default="mec-system", show_default=True)
@click.option("--service-account", default="mec-orchestrator", show_default=True)
def rbac(namespace: str, service_account: str) -> None:
    """Print the ClusterRole and Role the orchestrator needs (for installs without helm)."""
    import yaml

    from mec_common.rbac import role_documents
    from mec_orchestrator.operator.permissions import orchestrator_rules

    documents = role_documents("mec-orchestrator", namespace, service_account, orchestrator_rules())
    click.echo(yaml.safe_dump_all(documents, sort_keys=False), nl=False)
