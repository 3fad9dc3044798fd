"""What the orchestrator and the edge-host agent share: TLS identities, gRPC serving, id patterns.

Neither `mec_orchestrator` nor `edge_host_agent` imports the other; code both need lives here,
small and dependency-light.
"""
