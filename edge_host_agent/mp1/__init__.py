"""Mp1 (ETSI GS MEC 011 v3.1.1, application support) served by the agent to the apps on its host.

The app instances on this edge host register with the agent (`POST /registrations`, an
`AppInfo`), confirm they are ready, subscribe to termination notifications and confirm
termination; the agent keeps them in an `AppInstanceRegistry` (app instance id -> registration,
ready flag, user-context gRPC endpoint, termination subscriptions) and asks them to terminate
with `Mp1Service.request_termination`. Served under `/mec_app_support/v1` with FastAPI and
uvicorn in the agent's event loop when `mp1_listen` (`--mp1-listen`) is set; errors are
RFC 7807 ProblemDetails. docs/agents.md ("Mp1") lists what is served and the choices made where
the ETSI file is silent.
"""

from edge_host_agent.mp1.registry import AppInstance, AppInstanceRegistry, TerminationSubscription
from edge_host_agent.mp1.service import Mp1Service

__all__ = ["AppInstance", "AppInstanceRegistry", "Mp1Service", "TerminationSubscription"]
