"""The live view's model: what the browser map shows, as a snapshot and typed deltas.

Pure (no I/O): `items` are the things drawn, `snapshot` the whole picture with `diff` and
`apply` (applying the deltas between two snapshots to the first gives the second), `board`
the accumulator the feed fills from the operator's state and handover steps, with a bounded
handover history and a bounded log of recent batches for reconnecting clients.
"""

from mec_orchestrator.decisions.liveview.board import LiveBoard, LiveFacts
from mec_orchestrator.decisions.liveview.items import (
    App,
    Device,
    Handover,
    HandoverState,
    Host,
    Instance,
    Site,
)
from mec_orchestrator.decisions.liveview.snapshot import (
    Batch,
    Delta,
    Drop,
    Put,
    Snapshot,
    Table,
    apply,
    diff,
)

__all__ = [
    "App",
    "Batch",
    "Delta",
    "Device",
    "Drop",
    "Handover",
    "HandoverState",
    "Host",
    "Instance",
    "LiveBoard",
    "LiveFacts",
    "Put",
    "Site",
    "Snapshot",
    "Table",
    "apply",
    "diff",
]
