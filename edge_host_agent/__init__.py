"""Edge-host agent: the MEC platform manager's role on one edge host.

It registers the host with the orchestrator, measures latency to access points and carries
user contexts during handovers.
"""

__version__ = "0.1.0"
