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


main.add_command(devcluster)
main.add_command(demo)
