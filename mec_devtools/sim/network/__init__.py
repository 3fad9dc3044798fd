"""Real network emulation for end-to-end tests: namespaces joined by a userspace delay line.

See docs/network-emulation.md. The kernel of the test machines has no netem qdisc, so one-way
delay, jitter and loss per pair of nodes come from a Python switch that also records when every
frame really entered and left, which is what accuracy is measured against.
"""

from mec_devtools.sim.network.addresses import Node
from mec_devtools.sim.network.cleanup import cleanup_leftovers, leftover_names
from mec_devtools.sim.network.client import FrameRecord, SwitchClient, SwitchError
from mec_devtools.sim.network.frames import payload_digest
from mec_devtools.sim.network.links import LinkParams
from mec_devtools.sim.network.topology import Network, NetworkError

__all__ = [
    "FrameRecord",
    "LinkParams",
    "Network",
    "NetworkError",
    "Node",
    "SwitchClient",
    "SwitchError",
    "cleanup_leftovers",
    "leftover_names",
    "payload_digest",
]
