"""The names placement speaks in, kept as plain strings so any layer can pass them in.

An access point is a radio cell (MEC 013 accessPointId), a host is an edge host name (the value
of the node label `mec.dev/edge-host`), a user is whatever identifies a UE's app context.
Aliases rather than new types: the engine is fed from REST, gRPC and Kubernetes objects that all
carry these ids as strings.
"""

from __future__ import annotations

from typing import TypeAlias

AccessPointId: TypeAlias = str
HostName: TypeAlias = str
UserId: TypeAlias = str
