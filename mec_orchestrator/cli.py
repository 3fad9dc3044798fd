"""The `mec-orchestrator` command: every entry point of the orchestrator in one place."""

from __future__ import annotations

import click

from mec_orchestrator import __version__
from mec_orchestrator.demo import demo
from mec_orchestrator.devcluster.cli import devcluster


@click.group()
@click.version_option(__version__, prog_name="mec-orchestrator")
def main() -> None:
    """ETSI MEC orchestrator for Kubernetes."""


@main.command()
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None)
@click.option("--priority", type=int, default=None, help="Peering priority of this replica.")
@click.option("--standalone", is_flag=True, default=None, help="No peering (single replica).")
@click.option("--http-port", type=int, default=None, help="Port of /metrics, /healthz, /readyz.")
@click.option("--verbose", is_flag=True)
def run(
    kubeconfig: str | None,
    priority: int | None,
    standalone: bool | None,
    http_port: int | None,
    verbose: bool,
) -> None:
    """Run the orchestrator (the kopf operator) against the cluster."""
    from mec_orchestrator.operator.main import main as run_main
    from mec_orchestrator.operator.settings import OperatorSettings

    given: dict[str, object] = {
        "kubeconfig": kubeconfig,
        "priority": priority,
        "standalone": standalone,
        "http_port": http_port,
    }
    settings = OperatorSettings.model_validate({k: v for k, v in given.items() if v is not None})
    run_main(settings, verbose)


main.add_command(devcluster)
main.add_command(demo)
