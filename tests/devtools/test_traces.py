"""Mobility traces: the grid's frame, the radio's cell choice, storage, and SUMO's output.

SUMO runs here on a few devices for a minute of simulated time (about a second); the shipped
sets are only loaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from mec_devtools.sim.topology import melbourne_sites
from mec_devtools.sim.traces import (
    DeviceKind,
    HandoverRule,
    TraceSet,
    load_traces,
    serving_cells,
    shipped_traces,
)
from mec_devtools.sim.traces.__main__ import main as traces_command
from mec_devtools.sim.traces.cache import DEMO, TINY, TraceSpec, sumo_traces
from mec_devtools.sim.traces.frame import (
    CROSS_STREET_SPACING_M,
    to_grid,
    to_latlon,
)
from mec_devtools.sim.traces.generate import generate_random_waypoint, generate_sumo
from mec_orchestrator.decisions.latency.estimate import distance_km
from tests.decisions.users.shared_settings import thorough

# -- the frame ---------------------------------------------------------------------------------

metres = st.floats(min_value=-3000.0, max_value=3000.0, allow_nan=False)


@thorough(200)
@given(metres, metres)
def test_grid_and_map_coordinates_round_trip(x: float, y: float) -> None:
    lat, lon = to_latlon(np.array([x]), np.array([y]))
    back_x, back_y = to_grid(lat, lon)
    assert back_x[0] == pytest.approx(x, abs=1e-6)
    assert back_y[0] == pytest.approx(y, abs=1e-6)


def test_grid_metres_are_metres_on_the_map() -> None:
    lat, lon = to_latlon(np.array([0.0, 1000.0]), np.array([0.0, 0.0]))
    assert distance_km(lat[0], lon[0], lat[1], lon[1]) == pytest.approx(1.0, abs=0.002)


def test_the_corner_of_spring_and_flinders_is_where_its_site_stands() -> None:
    site = next(s for s in melbourne_sites() if s.site_id == "10003026")  # Spring and Flinders
    lat, lon = to_latlon(np.array([8 * CROSS_STREET_SPACING_M]), np.array([0.0]))
    assert distance_km(lat[0], lon[0], site.latitude, site.longitude) < 0.03


# -- the serving cell --------------------------------------------------------------------------

SITES_X = np.array([0.0, 200.0])
SITES_Y = np.array([0.0, 0.0])


def walk(xs: list[float]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array(xs, dtype=np.float64)[:, None]
    return x, np.full_like(x, 5.0)


def test_a_device_walking_from_one_site_to_the_next_hands_over_past_the_margin() -> None:
    x, y = walk([float(v) for v in range(0, 201, 10)])  # 10 m per second
    cells = serving_cells(x, y, SITES_X, SITES_Y, 1.0)[:, 0]
    first_b = int(np.argmax(cells == 1))
    # 3 dB at exponent 3.5: B must be 1.22 times nearer, from x = 109.8 m; held 1 s more.
    assert x[first_b, 0] == 120.0
    assert list(cells[first_b:]) == [1] * (len(cells) - first_b)


def test_a_device_hovering_at_the_cell_edge_does_not_ping_pong() -> None:
    x, y = walk([95.0, 105.0, 95.0, 105.0, 98.0, 108.0] * 5)
    cells = serving_cells(x, y, SITES_X, SITES_Y, 1.0)[:, 0]
    assert set(cells) == {0}


def test_a_neighbour_better_for_less_than_the_time_to_trigger_does_not_take_over() -> None:
    x, y = walk([50.0, 150.0, 50.0, 150.0, 150.0, 150.0])
    cells = serving_cells(x, y, SITES_X, SITES_Y, 1.0, rule=HandoverRule(time_to_trigger_s=1.0))
    assert list(cells[:, 0]) == [0, 0, 0, 0, 1, 1]
    at_once = serving_cells(x, y, SITES_X, SITES_Y, 1.0, rule=HandoverRule(time_to_trigger_s=0.0))
    assert list(at_once[:, 0]) == [0, 1, 0, 1, 1, 1]


positions = st.lists(
    st.tuples(st.floats(-500, 500, allow_nan=False), st.floats(-500, 500, allow_nan=False)),
    min_size=1,
    max_size=40,
)
site_sets = st.lists(
    st.tuples(st.floats(-500, 500, allow_nan=False), st.floats(-500, 500, allow_nan=False)),
    min_size=1,
    max_size=6,
)


@thorough(200)
@given(positions, site_sets, st.floats(0.0, 6.0), st.floats(0.0, 3.0))
def test_a_change_is_always_to_the_strongest_site_by_the_margin(
    path: list[tuple[float, float]], sites: list[tuple[float, float]], margin: float, ttt: float
) -> None:
    x = np.array([p[0] for p in path])[:, None]
    y = np.array([p[1] for p in path])[:, None]
    sx, sy = np.array([s[0] for s in sites]), np.array([s[1] for s in sites])
    rule = HandoverRule(margin_db=margin, time_to_trigger_s=ttt)
    cells = serving_cells(x, y, sx, sy, 1.0, rule=rule)[:, 0]
    d2 = np.maximum((x - sx[None, :]) ** 2 + (y - sy[None, :]) ** 2, 100.0)
    assert cells[0] == d2[0].argmin()
    for t in range(1, len(cells)):
        if cells[t] != cells[t - 1]:
            old, new = cells[t - 1], cells[t]
            held = int(ttt + 1e-9) + 1
            for k in range(t - held + 1, t + 1):
                assert k >= 1
                assert d2[k, old] > rule.squared_distance_ratio * d2[k, new]


def test_with_no_margin_and_no_time_to_trigger_the_nearest_site_serves() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-300, 300, (50, 4)), rng.uniform(-300, 300, (50, 4))
    sx, sy = rng.uniform(-300, 300, 7), rng.uniform(-300, 300, 7)
    cells = serving_cells(
        x, y, sx, sy, 1.0, rule=HandoverRule(margin_db=0.0, time_to_trigger_s=0.0)
    )
    d2 = (x[..., None] - sx) ** 2 + (y[..., None] - sy) ** 2
    assert np.array_equal(cells, np.maximum(d2, 100.0).argmin(axis=2))


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"margin_db": -1.0}, "margin_db"),
        ({"time_to_trigger_s": float("nan")}, "time_to_trigger_s"),
        ({"path_loss_exponent": 0.0}, "path_loss_exponent"),
    ],
)
def test_a_bad_handover_rule_is_named(kwargs: dict[str, float], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        HandoverRule(**kwargs)


def test_bad_positions_are_refused() -> None:
    with pytest.raises(ValueError, match="samples, devices"):
        serving_cells(np.zeros(3), np.zeros(3), SITES_X, SITES_Y, 1.0)
    with pytest.raises(ValueError, match="step_s"):
        serving_cells(np.zeros((2, 1)), np.zeros((2, 1)), SITES_X, SITES_Y, 0.0)


# -- trace sets --------------------------------------------------------------------------------


def test_the_tiny_shipped_set_is_a_complete_time_series() -> None:
    traces = shipped_traces(TINY.name)
    assert (traces.devices, traces.samples, traces.step_s) == (40, 300, 1.0)
    assert traces.meta["generator"] == "sumo"
    assert traces.meta["seed"] == TINY.seed
    samples = list(traces.series(0))
    assert [s.t_s for s in samples] == [float(t) for t in range(300)]
    assert all(s.cell in traces.site_ids for s in samples)
    changes = list(traces.cell_changes(0))
    assert changes[0].previous is None
    assert changes[0].cell == samples[0].cell
    for change in changes[1:]:
        assert change.previous != change.cell
        i = int(change.t_s)
        assert samples[i].cell == change.cell
        assert samples[i - 1].cell == change.previous
    total = sum(len(list(traces.cell_changes(d))) for d in range(traces.devices))
    everyone = traces.all_cell_changes()
    assert len(everyone) == total
    assert [(c.t_s, c.device) for c in everyone] == sorted((c.t_s, c.device) for c in everyone)


def test_the_demo_set_has_the_816_eua_users_for_30_minutes() -> None:
    traces = shipped_traces(DEMO.name)
    assert (traces.devices, traces.duration_s) == (816, 1800.0)
    lat, lon = traces.positions(0)
    user = (-37.814619463998895, 144.9744434939978)  # the dataset's first user
    assert distance_km(lat[0], lon[0], *user) < 0.1  # on the street nearest to it


def test_a_set_survives_saving_and_loading(tmp_path: Path) -> None:
    traces = generate_random_waypoint(5, 120, seed=4)
    path = tmp_path / "rwp.npz"
    traces.save(path)
    loaded = load_traces(path)
    assert loaded.name == traces.name
    assert loaded.site_ids == traces.site_ids
    assert np.allclose(loaded.x_m, traces.x_m, atol=0.051)
    assert np.array_equal(loaded.cells, traces.cells)
    assert np.array_equal(loaded.kinds, traces.kinds)


def test_unknown_names_and_bad_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="hoddle-40-s7"):
        shipped_traces("no-such-trace")
    bad = tmp_path / "bad.npz"
    np.savez(bad, something=np.zeros(1))
    with pytest.raises(ValueError, match="not a trace file"):
        load_traces(bad)
    with pytest.raises(IndexError, match=r"devices 0\.\.4"):
        list(generate_random_waypoint(5, 10, seed=1).cell_changes(5))


def test_a_trace_set_refuses_arrays_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="kinds"):
        TraceSet(
            "x",
            1.0,
            ("a",),
            np.zeros(3, np.uint8),
            np.zeros((2, 2)),
            np.zeros((2, 2)),
            np.zeros((2, 2), np.int16),
        )


def _speeds(traces: TraceSet, kind: DeviceKind) -> np.ndarray:
    step = np.hypot(np.diff(traces.x_m, axis=0), np.diff(traces.y_m, axis=0)) / traces.step_s
    return step[:, traces.kinds == kind]


def test_random_waypoint_is_deterministic_and_keeps_its_speeds() -> None:
    one, two = (generate_random_waypoint(30, 600, seed=9) for _ in range(2))
    assert np.array_equal(one.x_m, two.x_m)
    assert np.array_equal(one.cells, two.cells)
    assert _speeds(one, DeviceKind.PEDESTRIAN).max() <= 1.8 + 1e-9
    assert _speeds(one, DeviceKind.VEHICLE).max() <= 11.1 + 1e-9


def test_sumo_traces_are_deterministic_by_seed_with_realistic_speeds(tmp_path: Path) -> None:
    one = generate_sumo(24, 120, seed=5, work_dir=tmp_path / "one")
    two = generate_sumo(24, 120, seed=5, work_dir=tmp_path / "two")
    assert np.array_equal(one.x_m, two.x_m)
    assert np.array_equal(one.cells, two.cells)
    assert (tmp_path / "one" / "hoddle.net.xml").is_file()
    other = generate_sumo(24, 120, seed=6, work_dir=tmp_path / "three")
    assert not np.array_equal(one.x_m, other.x_m)
    walking = _speeds(one, DeviceKind.PEDESTRIAN)
    moving = walking[walking > 0.3]
    assert 1.0 < float(np.median(moving)) < 1.6  # m/s: people walk
    assert float(np.percentile(walking, 99)) < 2.5
    driving = _speeds(one, DeviceKind.VEHICLE)
    assert float(np.percentile(driving, 99)) < 40 / 3.6 * 1.25  # the CBD's 40 km/h limit
    assert float(driving.max()) > 5.0  # they do drive


def test_sets_not_shipped_are_made_once_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    spec = TraceSpec(6, 60, seed=3)
    made = sumo_traces(spec)
    cached = list((tmp_path / "mec-orchestrator" / "traces").glob("hoddle-6-s3-60s-*.npz"))
    assert len(cached) == 1
    again = sumo_traces(spec)
    assert np.array_equal(again.cells, made.cells)
    assert np.allclose(again.x_m, made.x_m, atol=0.051)


def test_the_command_makes_a_random_waypoint_set(tmp_path: Path) -> None:
    out = tmp_path / "rwp.npz"
    args = ["make", "--model", "random-waypoint", "--devices", "7", "--minutes", "2"]
    result = CliRunner().invoke(traces_command, [*args, "--seed", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    made = load_traces(out)
    assert (made.devices, made.samples, made.meta["generator"]) == (7, 120, "random-waypoint")
