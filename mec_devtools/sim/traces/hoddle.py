"""The Hoddle Grid as a SUMO street network, and devices' day plans on it.

Main streets (Flinders, Collins, Bourke, Lonsdale, La Trobe; Spencer ... Spring) are 30 m wide
in the real grid: here two lanes each way at the CBD's 40 km/h limit, 3 m sidewalks, traffic
lights where two main streets cross. Between each pair of long streets runs a little street
(Flinders Lane, Little Collins, Little Bourke, Little Lonsdale): one lane each way at 20 km/h,
1.5 m sidewalks. The network is axis-aligned in the grid's own metres (`frame` turns it onto the
map) and is written as SUMO plain XML for `netconvert`.

Plans are drawn with a seeded generator: a pedestrian walks to a destination within 800 m,
stays there (log-normal, median 2 minutes), and again, for the whole run; a vehicle drives
through a chain of random streets. `duarouter` routes both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
from numpy.typing import NDArray

from mec_devtools.sim.traces.frame import CROSS_STREET_SPACING_M, LONG_STREET_SPACING_M

CROSS_STREETS = 9  # Spencer .. Spring
LONG_STREETS = 5  # Flinders .. La Trobe
LEVELS = 2 * LONG_STREETS - 1  # long streets and the little streets between them
MAIN_SPEED_MS = 40 / 3.6
LITTLE_SPEED_MS = 20 / 3.6
PEDESTRIAN_SPEED_MS = 1.34
"""Mean free walking speed of adults (Knoblauch et al., 1996); SUMO's default is 1.39."""
DESTINATION_RADIUS_M = 800.0
DWELL_MEDIAN_S = 120.0
DWELL_SIGMA = 1.0
DWELL_RANGE_S = (5.0, 1200.0)
VEHICLE_WAYPOINTS = 25


@dataclass(frozen=True, slots=True)
class Street:
    """One directed edge of the network."""

    edge_id: str
    from_node: str
    to_node: str
    x0: float
    y0: float
    x1: float
    y1: float
    main: bool

    @property
    def length_m(self) -> float:
        return math.hypot(self.x1 - self.x0, self.y1 - self.y0)


def _node(i: int, level: int) -> str:
    return f"n{i}_{level}"


def _y(level: int) -> float:
    return level * LONG_STREET_SPACING_M / 2.0


def streets() -> list[Street]:
    """Every directed edge: both directions of each block of each street."""
    result: list[Street] = []

    def both(a: tuple[int, int], b: tuple[int, int], main: bool) -> None:
        (ia, la), (ib, lb) = a, b
        xa, ya = ia * CROSS_STREET_SPACING_M, _y(la)
        xb, yb = ib * CROSS_STREET_SPACING_M, _y(lb)
        na, nb = _node(ia, la), _node(ib, lb)
        result.append(Street(f"{na}-{nb}", na, nb, xa, ya, xb, yb, main))
        result.append(Street(f"{nb}-{na}", nb, na, xb, yb, xa, ya, main))

    for level in range(LEVELS):
        for i in range(CROSS_STREETS - 1):
            both((i, level), (i + 1, level), main=level % 2 == 0)
    for i in range(CROSS_STREETS):
        for level in range(LEVELS - 1):
            both((i, level), (i, level + 1), main=True)
    return result


def nodes_xml() -> str:
    lines = ["<nodes>"]
    for i in range(CROSS_STREETS):
        for level in range(LEVELS):
            kind = "traffic_light" if level % 2 == 0 else "priority"
            x, y = i * CROSS_STREET_SPACING_M, _y(level)
            lines.append(f'  <node id="{_node(i, level)}" x="{x:.2f}" y="{y:.2f}" type="{kind}"/>')
    lines.append("</nodes>")
    return "\n".join(lines) + "\n"


def edges_xml(all_streets: list[Street]) -> str:
    lines = ["<edges>"]
    for s in all_streets:
        lanes, speed, sidewalk, priority = (
            (2, MAIN_SPEED_MS, 3.0, 3) if s.main else (1, LITTLE_SPEED_MS, 1.5, 1)
        )
        lines.append(
            f'  <edge id="{s.edge_id}" from="{s.from_node}" to="{s.to_node}" numLanes="{lanes}"'
            f' speed="{speed:.2f}" sidewalkWidth="{sidewalk}" priority="{priority}"/>'
        )
    lines.append("</edges>")
    return "\n".join(lines) + "\n"


def nearest_streets(
    all_streets: list[Street], x_m: NDArray[np.float64], y_m: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """For each point, the nearest street (index) and the position along it (m from its start)."""
    x0 = np.array([s.x0 for s in all_streets])
    y0 = np.array([s.y0 for s in all_streets])
    dx = np.array([s.x1 for s in all_streets]) - x0
    dy = np.array([s.y1 for s in all_streets]) - y0
    length2 = dx**2 + dy**2
    px, py = x_m[:, None] - x0[None, :], y_m[:, None] - y0[None, :]
    along = np.clip((px * dx + py * dy) / length2, 0.0, 1.0)
    d2 = (px - along * dx) ** 2 + (py - along * dy) ** 2
    nearest = d2.argmin(axis=1)
    rows = np.arange(len(x_m))
    return nearest, along[rows, nearest] * np.sqrt(length2[nearest])


def _dwell(rng: np.random.Generator) -> float:
    low, high = DWELL_RANGE_S
    return float(np.clip(rng.lognormal(math.log(DWELL_MEDIAN_S), DWELL_SIGMA), low, high))


def _position(street: Street, offset_m: float) -> float:
    """A depart/arrival position SUMO accepts: inside the edge, clear of its ends."""
    return float(min(max(offset_m, 1.0), street.length_m - 15.0))


def demand_xml(
    all_streets: list[Street],
    start: NDArray[np.int64],
    start_offset_m: NDArray[np.float64],
    vehicle: NDArray[np.bool_],
    *,
    duration_s: float,
    rng: np.random.Generator,
) -> str:
    """Every device's plan, as duarouter reads it; device d is `d<d>`, departing at 0."""
    mid_x = np.array([(s.x0 + s.x1) / 2 for s in all_streets])
    mid_y = np.array([(s.y0 + s.y1) / 2 for s in all_streets])
    lines = [
        "<routes>",
        f'  <vType id="pedestrian" vClass="pedestrian" desiredMaxSpeed="{PEDESTRIAN_SPEED_MS}"'
        ' speedFactor="normc(1,0.15,0.6,1.4)"/>',
        '  <vType id="car" vClass="passenger" speedFactor="normc(1,0.1,0.6,1.2)"/>',
    ]
    for device in range(len(start)):
        here = int(start[device])
        depart_pos = _position(all_streets[here], float(start_offset_m[device]))
        if vehicle[device]:
            via = rng.integers(0, len(all_streets), VEHICLE_WAYPOINTS)
            via = via[via != here]
            lines.append(
                f'  <trip id="d{device}" type="car" depart="0" departLane="best"'
                f' departPos="{depart_pos:.1f}" from={quoteattr(all_streets[here].edge_id)}'
                f" to={quoteattr(all_streets[int(via[-1])].edge_id)}"
                f" via={quoteattr(' '.join(all_streets[int(v)].edge_id for v in via[:-1]))}/>"
            )
            continue
        lines.append(
            f'  <person id="d{device}" type="pedestrian" depart="0" departPos="{depart_pos:.1f}">'
        )
        planned = 0.0
        while planned < duration_s:
            near = np.flatnonzero(
                np.hypot(mid_x - mid_x[here], mid_y - mid_y[here]) <= DESTINATION_RADIUS_M
            )
            near = near[near != here]
            there = int(rng.choice(near))
            arrival = _position(all_streets[there], rng.uniform(0, all_streets[there].length_m))
            dwell = _dwell(rng)
            lines.append(
                f"    <personTrip from={quoteattr(all_streets[here].edge_id)}"
                f' to={quoteattr(all_streets[there].edge_id)} arrivalPos="{arrival:.1f}"/>'
            )
            lines.append(
                f'    <stop edge={quoteattr(all_streets[there].edge_id)} duration="{dwell:.0f}"'
                ' actType="dwell"/>'
            )
            distance = math.hypot(mid_x[there] - mid_x[here], mid_y[there] - mid_y[here])
            planned += distance / PEDESTRIAN_SPEED_MS + dwell
            here = there
        lines.append("  </person>")
    lines.append("</routes>")
    return "\n".join(lines) + "\n"


def write_inputs(
    directory: Path,
    start: NDArray[np.int64],
    start_offset_m: NDArray[np.float64],
    vehicle: NDArray[np.bool_],
    *,
    duration_s: float,
    rng: np.random.Generator,
) -> tuple[Path, Path, Path]:
    """The plain-XML network (nodes, edges) and the demand; their paths."""
    all_streets = streets()
    nodes, edges, demand = (
        directory / "hoddle.nod.xml",
        directory / "hoddle.edg.xml",
        directory / "demand.xml",
    )
    nodes.write_text(nodes_xml())
    edges.write_text(edges_xml(all_streets))
    demand.write_text(
        demand_xml(all_streets, start, start_offset_m, vehicle, duration_s=duration_s, rng=rng)
    )
    return nodes, edges, demand
