"""Who plays in the full demo: which EUA sites are hosts and access points, which devices move.

Why it exists: the story's sizing is a pure choice made from the shipped data (the EUA
Melbourne sites of `examples/`, the shipped SUMO trace set), kept apart from the processes so
it can be tested and explained (docs/demo.md). Everything here is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from mec_devtools.data import data_dir
from mec_devtools.demo.latency_model import rtt_ms
from mec_devtools.demo.world import Site
from mec_devtools.sim.traces import CellChange, TraceSet, shipped_traces

TRACE = "hoddle-40-s7"
HOSTS = ("site-10003026", "site-301658", "site-301896", "site-304365")
"""Four of the six example hosts: east, south, north and west of the CBD."""


@dataclass(frozen=True)
class Move:
    """At `at_s` seconds of the story (wall clock) the device enters `ap`'s cell."""

    at_s: float
    device: str
    ap: str


@dataclass(frozen=True)
class Cast:
    hosts: dict[str, Site]
    access_points: dict[str, Site]
    starts: dict[str, str]  # device -> access point at t = 0
    moves: tuple[Move, ...]  # in time order
    trace: str
    window_s: float  # trace seconds played
    compression: float  # trace seconds per wall second
    trace_devices: dict[str, int]  # device name -> device index in the trace set


def example_sites() -> tuple[dict[str, Site], dict[str, Site]]:
    """Every example EdgeHost and every access point of the example Zones (EUA sites)."""
    examples = data_dir("examples")
    hosts: dict[str, Site] = {}
    for doc in yaml.safe_load_all((examples / "edgehosts.yaml").read_text()):
        if doc:
            where = doc["spec"]["location"]
            hosts[doc["metadata"]["name"]] = Site(
                doc["metadata"]["name"], where["latitude"], where["longitude"]
            )
    aps: dict[str, Site] = {}
    for doc in yaml.safe_load_all((examples / "zones.yaml").read_text()):
        for ap in (doc or {}).get("spec", {}).get("accessPoints", []):
            where = ap["location"]
            aps[ap["id"]] = Site(ap["id"], where["latitude"], where["longitude"], ap["cellId"])
    return hosts, aps


def one_way_ms(ap: Site, host: Site) -> float:
    """The delay line's one-way delay: half the demo's distance model's RTT (latency_model)."""
    return rtt_ms((ap.latitude, ap.longitude), (host.latitude, host.longitude)) / 2


def busiest_devices(trace: TraceSet, count: int, window_s: float) -> list[int]:
    """The devices that change cell most within the window, grown greedily over few new cells.

    Each access point costs a namespace and a reflector process, so a device that visits
    cells already chosen is preferred: score = cell changes / (1 + new cells).
    """
    if count < 1 or count > trace.devices:
        raise ValueError(f"count: 1 to {trace.devices} devices, not {count}")
    visits: dict[int, tuple[set[str], int]] = {}
    for device in range(trace.devices):
        changes = [c for c in trace.cell_changes(device) if c.t_s < window_s]
        visits[device] = ({c.cell for c in changes}, len(changes) - 1)
    chosen: list[int] = []
    cells: set[str] = set()
    while len(chosen) < count:
        best = max(
            (d for d in visits if d not in chosen),
            key=lambda d: ((visits[d][1] + 0.1) / (1 + len(visits[d][0] - cells)), -d),
        )
        chosen.append(best)
        cells |= visits[best][0]
    return chosen


def cast(
    devices: int = 10,
    window_s: float = 300.0,
    compression: float = 2.5,
    hosts: Sequence[str] = HOSTS,
    trace_name: str = TRACE,
) -> Cast:
    """The demo's hosts, access points and devices' moves (see the module docstring)."""
    if compression <= 0:
        raise ValueError("compression: trace seconds per wall second, more than 0")
    all_hosts, all_aps = example_sites()
    unknown = [h for h in hosts if h not in all_hosts]
    if unknown:
        raise ValueError(f"hosts {unknown} are not example EdgeHosts ({sorted(all_hosts)})")
    trace = shipped_traces(trace_name)
    window_s = min(window_s, trace.duration_s)
    chosen = busiest_devices(trace, devices, window_s)
    names = {f"ue{i:02d}": d for i, d in enumerate(chosen)}
    starts: dict[str, str] = {}
    moves: list[Move] = []
    for name, index in names.items():
        for change in trace.cell_changes(index):
            if change.t_s >= window_s:
                break
            ap = _ap_of(change, all_aps)
            if change.previous is None:
                starts[name] = ap
            else:
                moves.append(Move(round(change.t_s / compression, 3), name, ap))
    moves.sort(key=lambda m: (m.at_s, m.device))
    used = set(starts.values()) | {m.ap for m in moves}
    return Cast(
        hosts={h: all_hosts[h] for h in hosts},
        access_points={ap: all_aps[ap] for ap in sorted(used)},
        starts=starts,
        moves=tuple(moves),
        trace=trace_name,
        window_s=window_s,
        compression=compression,
        trace_devices=names,
    )


def _ap_of(change: CellChange, aps: Mapping[str, Any]) -> str:
    ap = f"ap-{change.cell}"
    if ap not in aps:
        raise ValueError(f"trace cell {change.cell} is no access point of examples/zones.yaml")
    return ap
