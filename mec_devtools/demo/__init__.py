"""`mec-orchestrator demo`: the main job, run by the README's first command.

The full story (the default, docs/demo.md): the local control plane, real edge-host agents
measuring a delay line, the reference app running for real, devices following SUMO traces and
handed over with their state, a backhaul degrading and an agent killed, the live view, and a
report with the evidence. `--story placement` is the short placement story (a distance-based
stand-in for the agents, two apps, one degradation).
"""

from mec_devtools.demo.flow import demo

__all__ = ["demo"]
