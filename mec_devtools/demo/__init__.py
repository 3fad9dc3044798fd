"""`mec-orchestrator demo`: the main job, run by the README's first command.

Brings up the local control plane with edge hosts at real Melbourne CBD radio sites, runs the
orchestrator, feeds it measured round-trip times (simulated agents today), places two apps with
different latency budgets, degrades one host's backhaul live, and ends with a report and a plot.
"""

from mec_devtools.demo.flow import demo

__all__ = ["demo"]
