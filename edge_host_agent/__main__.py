"""`python -m edge_host_agent`: the `edge-host-agent` command without the installed script."""

from edge_host_agent.cli import main

main(prog_name="edge-host-agent")
