"""The agent's side of a handover: records, their journal on the host, the gRPC services."""
