"""Effects only, each adapter independent of the others (an import contract says so).

- `kube/`: the only code that talks to the Kubernetes API server (besides kopf's own watches);
- `agent_link/`: the orchestrator's end of its gRPC link with the edge-host agents.
"""
