"""ETSI MEC orchestrator for Kubernetes.

Places EdgeApp instances on the edge host nearest each user, by latency that edge-host agents
measure, and hands them over (make-before-break, with context transfer) when users move.
"""

__version__ = "0.1.0"
