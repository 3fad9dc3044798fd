"""Pure decisions, one folder per step of the walk: no I/O, no clock, no Kubernetes.

- `latency/`: the latency matrix agents feed, distance estimates, host rankings per access point;
- `instances/`: which hosts run an EdgeApp's instances, their manifests, the app's status;
- `users/`: which instance serves each user (the per-user placement engine, warm standby,
  rebalancing);
- `mobility/`: when a user moves (pluggable policies).

An import contract keeps every module here free of I/O libraries, even indirectly.
"""
