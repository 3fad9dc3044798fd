"""The `edge-host-agent` command (the agent's subcommands arrive with the agent itself)."""

from __future__ import annotations

import click

from edge_host_agent import __version__


@click.group()
@click.version_option(__version__, prog_name="edge-host-agent")
def main() -> None:
    """Edge-host agent: registers an edge host with the MEC orchestrator and measures latency."""
