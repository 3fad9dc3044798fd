"""The orchestrator's side of its link with edge-host agents (MEC platform managers, Mm3/Mm5).

`AgentServer` serves agents over gRPC (mutual TLS): registration, heartbeats, reports of the app
instances on each host and latency reports. Samples feed the placement package's latency matrix;
`AgentRegistry` knows every agent's session, liveness and reported instances and publishes
`AgentConnected`, `AgentLost`, `AgentReleased`, `GapSummaryReceived` and `InstancesReported`
events;
`edge_host_status` turns what an agent reported into the EdgeHost status the operator writes.
The handover coordinator (client calls to agents) arrives with the handover itself.
"""

from mec_orchestrator.adapters.agent_link.events import (
    AccessPointGap,
    AgentConnected,
    AgentEvent,
    AgentLost,
    AgentReleased,
    GapReport,
    GapSummaryReceived,
    InstancesReported,
    ReportedInstance,
)
from mec_orchestrator.adapters.agent_link.ingest import LatencySink, MatrixSink
from mec_orchestrator.adapters.agent_link.metrics import AgentMetrics
from mec_orchestrator.adapters.agent_link.registry import (
    AgentEvents,
    AgentRecord,
    AgentRegistry,
    AgentState,
    HostCapacity,
    Registration,
)
from mec_orchestrator.adapters.agent_link.server import AgentServer, AgentServerSettings
from mec_orchestrator.adapters.agent_link.status import edge_host_status, host_latencies

__all__ = [
    "AccessPointGap",
    "AgentConnected",
    "AgentEvent",
    "AgentEvents",
    "AgentLost",
    "AgentMetrics",
    "AgentRecord",
    "AgentRegistry",
    "AgentReleased",
    "AgentServer",
    "AgentServerSettings",
    "AgentState",
    "GapReport",
    "GapSummaryReceived",
    "HostCapacity",
    "InstancesReported",
    "LatencySink",
    "MatrixSink",
    "Registration",
    "ReportedInstance",
    "edge_host_status",
    "host_latencies",
]
