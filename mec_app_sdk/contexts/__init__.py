"""Per-user contexts for an app instance, and the UserContextService that hands them over.

- `store`: the rules, no I/O — bytes and a growing version per user, change tracking
  (`changes_since` / `apply_delta`), a fence per user, idempotency by handover id.
- `transfer`: a context in chunks and back, checked against its size and SHA-256 trailer.
- `service`: the gRPC servicer over a store, served through `mec_common.grpc_serving`.
"""
