"""Devices' mobility traces on Melbourne's CBD: SUMO on the Hoddle Grid, or random waypoint.

A trace set gives each device a time series of (t, latitude, longitude, serving cell), the
cell being the EUA site a radio would serve it from (strongest, with a handover margin and a
time-to-trigger). Sets are deterministic by seed; a small one ships with the package
(`shipped_traces`), and `python -m mec_devtools.sim.traces` makes more (docs/policies.md).
"""

from mec_devtools.sim.traces.cells import HandoverRule, serving_cells
from mec_devtools.sim.traces.model import (
    CellChange,
    DeviceKind,
    TraceSample,
    TraceSet,
    load_traces,
    shipped_trace_path,
    shipped_traces,
)

__all__ = [
    "CellChange",
    "DeviceKind",
    "HandoverRule",
    "TraceSample",
    "TraceSet",
    "load_traces",
    "serving_cells",
    "shipped_trace_path",
    "shipped_traces",
]
