"""Making trace sets: SUMO on the Hoddle Grid, or random waypoint, then the serving cells.

Devices start where the EUA dataset's 816 users are (device i at user i; beyond 816, near a
user drawn at random, 150 m Gaussian, as the placement benchmark grows the population). Every
random draw comes from one generator seeded by `seed`, and SUMO, duarouter and netconvert run
with that seed too, so a set is reproduced exactly by its parameters (same SUMO version).
"""

from __future__ import annotations

import csv
import importlib.util
import math
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mec_devtools.sim.topology import melbourne_sites, melbourne_users
from mec_devtools.sim.traces import hoddle
from mec_devtools.sim.traces.cells import HandoverRule, serving_cells
from mec_devtools.sim.traces.frame import (
    CROSS_STREET_SPACING_M,
    LONG_STREET_SPACING_M,
    to_grid,
)
from mec_devtools.sim.traces.model import DeviceKind, TraceSet

VEHICLE_SHARE = 0.2
"""Share of devices in vehicles (cars, taxis); the rest walk."""
CLONE_SPREAD_M = 150.0
GRID_MARGIN_M = 30.0
WAYPOINT_SPEED_MS = {DeviceKind.PEDESTRIAN: (0.8, 1.8), DeviceKind.VEHICLE: (3.0, 11.1)}
WAYPOINT_PAUSE_S = (0.0, 300.0)


class SumoMissingError(RuntimeError):
    """Eclipse SUMO (the PyPI package eclipse-sumo, in the dev extra) is not installed."""


def start_positions(devices: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Grid metres of each device's start: the EUA users, then jittered copies of them."""
    if devices <= 0:
        raise ValueError(f"devices must be positive, got {devices}")
    users = melbourne_users()
    lat = np.array([u.latitude for u in users])
    lon = np.array([u.longitude for u in users])
    x, y = to_grid(lat, lon)
    extra = devices - len(users)
    if extra > 0:
        rng = np.random.default_rng([seed, 1])
        base = rng.integers(0, len(users), extra)
        x = np.concatenate([x, x[base] + rng.normal(0.0, CLONE_SPREAD_M, extra)])
        y = np.concatenate([y, y[base] + rng.normal(0.0, CLONE_SPREAD_M, extra)])
    width = (hoddle.CROSS_STREETS - 1) * CROSS_STREET_SPACING_M
    height = (hoddle.LONG_STREETS - 1) * LONG_STREET_SPACING_M
    x = np.clip(x[:devices], -GRID_MARGIN_M, width + GRID_MARGIN_M)
    y = np.clip(y[:devices], -GRID_MARGIN_M, height + GRID_MARGIN_M)
    return x, y


def device_kinds(devices: int, seed: int, vehicle_share: float) -> NDArray[np.uint8]:
    if not 0.0 <= vehicle_share <= 1.0:
        raise ValueError(f"vehicle_share must be in [0, 1], got {vehicle_share}")
    rng = np.random.default_rng([seed, 2])
    vehicle = rng.random(devices) < vehicle_share
    return np.where(vehicle, DeviceKind.VEHICLE, DeviceKind.PEDESTRIAN).astype(np.uint8)


def with_cells(
    name: str,
    kinds: NDArray[np.uint8],
    x_m: NDArray[np.float64],
    y_m: NDArray[np.float64],
    *,
    step_s: float,
    rule: HandoverRule,
    meta: dict[str, object],
) -> TraceSet:
    """A trace set from positions: each sample's serving EUA site under `rule`."""
    sites = melbourne_sites()
    site_x, site_y = to_grid(
        np.array([s.latitude for s in sites]), np.array([s.longitude for s in sites])
    )
    cells = serving_cells(x_m, y_m, site_x, site_y, step_s, rule=rule)
    meta = {
        **meta,
        "handover": {
            "margin_db": rule.margin_db,
            "time_to_trigger_s": rule.time_to_trigger_s,
            "path_loss_exponent": rule.path_loss_exponent,
        },
    }
    return TraceSet(name, step_s, tuple(s.site_id for s in sites), kinds, x_m, y_m, cells, meta)


# -- SUMO --------------------------------------------------------------------------------------


def sumo_home() -> Path:
    """Where the eclipse-sumo package keeps SUMO (its bin/ has sumo, netconvert, duarouter)."""
    spec = importlib.util.find_spec("sumo")
    if spec is None or spec.origin is None:
        raise SumoMissingError(
            "Eclipse SUMO is not installed: it is in the dev extra (pip install -e '.[dev]',"
            " or scripts/bootstrap.sh)"
        )
    return Path(spec.origin).parent


def _run(home: Path, tool: str, *args: str, cwd: Path) -> None:
    env = {**os.environ, "SUMO_HOME": str(home)}
    command = [str(home / "bin" / tool), *args]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def _read_fcd(
    path: Path, devices: int, samples: int, step_s: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = np.full((samples, devices), np.nan)
    y = np.full((samples, devices), np.nan)
    with path.open(newline="") as source:
        rows = csv.reader(source, delimiter=";")
        header = next(rows)
        t_col, id_col = header.index("timestep_time"), header.index("vehicle_id")
        x_col, y_col = header.index("vehicle_x"), header.index("vehicle_y")
        for row in rows:
            step = round(float(row[t_col]) / step_s)
            if 0 <= step < samples:
                device = int(row[id_col][1:])
                x[step, device] = float(row[x_col])
                y[step, device] = float(row[y_col])
    return x, y


def _fill_gaps(
    values: NDArray[np.float64], start: NDArray[np.float64]
) -> tuple[NDArray[np.float64], int]:
    """Before insertion a device is at its start; after arrival, where it arrived."""
    missing = np.isnan(values)
    never = int(missing.all(axis=0).sum())
    values[0] = np.where(np.isnan(values[0]), start, values[0])
    for t in range(1, len(values)):
        values[t] = np.where(np.isnan(values[t]), values[t - 1], values[t])
    return values, never


NETWORK_OPTIONS = ("--offset.disable-normalization", "--crossings.guess")
"""Keep the grid's own metres (no shift to the origin); pedestrian crossings at junctions."""
FCD_OPTIONS = (
    "--fcd-output",
    "fcd.csv",
    "--output.format",
    "csv",
    "--fcd-output.attributes",
    "x,y",
    "--no-step-log",
    "--duration-log.disable",
)


def _simulate(
    home: Path,
    directory: Path,
    inputs: tuple[Path, Path, Path],
    *,
    seed: int,
    step_s: float,
    end_s: float,
) -> None:
    """netconvert, duarouter, sumo in directory: leaves fcd.csv (positions every step)."""
    nodes, edges, demand = inputs
    net, routes = "hoddle.net.xml", "routes.xml"
    common = ("--seed", str(seed), "--no-warnings")
    steps = (
        ("netconvert", "-n", nodes.name, "-e", edges.name, "-o", net, *NETWORK_OPTIONS),
        ("duarouter", "-n", net, "--route-files", demand.name, "-o", routes, "--ignore-errors"),
        (
            "sumo",
            "-n",
            net,
            "-r",
            routes,
            "--step-length",
            f"{step_s:g}",
            "--end",
            f"{end_s:g}",
            *FCD_OPTIONS,
        ),
    )
    for tool, *args in steps:
        _run(home, tool, *args, *common, cwd=directory)


def generate_sumo(
    devices: int,
    duration_s: int,
    seed: int,
    *,
    step_s: float = 1.0,
    vehicle_share: float = VEHICLE_SHARE,
    rule: HandoverRule | None = None,
    work_dir: Path | None = None,
) -> TraceSet:
    """Run SUMO on the Hoddle Grid: `devices` devices for `duration_s` seconds from t = 0."""
    if duration_s <= 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    home = sumo_home()
    rule = rule or HandoverRule()
    sx, sy = start_positions(devices, seed)
    kinds = device_kinds(devices, seed, vehicle_share)
    all_streets = hoddle.streets()
    start, offset = hoddle.nearest_streets(all_streets, sx, sy)
    rng = np.random.default_rng([seed, 3])
    samples = math.ceil(duration_s / step_s)
    with tempfile.TemporaryDirectory(prefix="hoddle-") as scratch:
        directory = work_dir or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        vehicle = kinds == DeviceKind.VEHICLE
        inputs = hoddle.write_inputs(
            directory, start, offset, vehicle, duration_s=duration_s, rng=rng
        )
        _simulate(home, directory, inputs, seed=seed, step_s=step_s, end_s=samples * step_s)
        x, y = _read_fcd(directory / "fcd.csv", devices, samples, step_s)
    x, never = _fill_gaps(x, sx)
    y, _ = _fill_gaps(y, sy)
    meta: dict[str, object] = {
        "generator": "sumo",
        "sumo_version": sumo_version(),
        "seed": seed,
        "devices": devices,
        "duration_s": duration_s,
        "vehicle_share": vehicle_share,
        "never_inserted": never,
    }
    name = f"hoddle-{devices}-s{seed}"
    return with_cells(name, kinds, x, y, step_s=step_s, rule=rule, meta=meta)


def sumo_version() -> str:
    """The installed Eclipse SUMO version (part of a cached set's key)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("eclipse-sumo")
    except PackageNotFoundError:
        return "unknown"


# -- random waypoint ---------------------------------------------------------------------------


def generate_random_waypoint(
    devices: int,
    duration_s: int,
    seed: int,
    *,
    step_s: float = 1.0,
    vehicle_share: float = VEHICLE_SHARE,
    rule: HandoverRule | None = None,
) -> TraceSet:
    """The simpler model: straight lines to uniform random points of the grid's area, pauses.

    Speeds are uniform per leg (pedestrians 0.8-1.8 m/s, vehicles 3-11 m/s), pauses uniform
    0-300 s; devices ignore the streets.
    """
    if duration_s <= 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    rule = rule or HandoverRule()
    x0, y0 = start_positions(devices, seed)
    kinds = device_kinds(devices, seed, vehicle_share)
    rng = np.random.default_rng([seed, 4])
    samples = math.ceil(duration_s / step_s)
    times = np.arange(samples) * step_s
    width = (hoddle.CROSS_STREETS - 1) * CROSS_STREET_SPACING_M
    height = (hoddle.LONG_STREETS - 1) * LONG_STREET_SPACING_M
    x = np.empty((samples, devices))
    y = np.empty((samples, devices))
    for device in range(devices):
        low, high = WAYPOINT_SPEED_MS[DeviceKind(int(kinds[device]))]
        # Knots of a piecewise-linear path: (time, x, y), until past the end.
        kt, kx, ky = [0.0], [float(x0[device])], [float(y0[device])]
        while kt[-1] <= times[-1]:
            tx, ty = rng.uniform(0.0, width), rng.uniform(0.0, height)
            leg = math.hypot(tx - kx[-1], ty - ky[-1]) / rng.uniform(low, high)
            pause = rng.uniform(*WAYPOINT_PAUSE_S)
            kt += [kt[-1] + leg, kt[-1] + leg + pause]
            kx += [tx, tx]
            ky += [ty, ty]
        x[:, device] = np.interp(times, kt, kx)
        y[:, device] = np.interp(times, kt, ky)
    meta: dict[str, object] = {
        "generator": "random-waypoint",
        "seed": seed,
        "devices": devices,
        "duration_s": duration_s,
        "vehicle_share": vehicle_share,
    }
    return with_cells(f"rwp-{devices}-s{seed}", kinds, x, y, step_s=step_s, rule=rule, meta=meta)
