"""The users' benchmark measures what it says: its cell-change mixes move exactly the users
they mean to, the real-agent run ends with the agent holding every user, and the memory
figure counts every user it attached. Tiny sizes: seconds, not the benchmark's minutes.
"""

from __future__ import annotations

from bench.placement_topology import melbourne
from bench.users import (
    BUDGET_MS,
    HYSTERESIS_MS,
    Size,
    attach_and_move,
    change_of,
    memory_child,
    prefill,
)
from bench.users_moves import Mover
from bench.users_world import RecordingAgents, build_world
from mec_orchestrator.operator.cell_changes import CellChangeIntake
from mec_orchestrator.operator.users import MoveOutcome

SEED = 7


async def test_each_mix_moves_exactly_the_users_it_means_to() -> None:
    topology = melbourne(25, 300, 1.25, SEED)
    world = build_world(
        topology,
        RecordingAgents(),
        lambda host: f"{host}.agents:50061",
        None,
        SEED,
        hysteresis_ms=HYSTERESIS_MS,
        budget_ms=BUDGET_MS,
    )
    await prefill(world, None, 300, 0)
    intake = CellChangeIntake(world.directory)
    mover = Mover(world, 2 * HYSTERESIS_MS, SEED)
    for share in (0.0, 0.5, 1.0):
        users = [
            (s.context_id, s.device_address or "", s.access_point or "", s.host)
            for s in world.directory.sessions()
        ]
        plan = mover.plan(users, 300, share)
        outcomes = []
        for body in plan.bodies:
            result = await intake.apply(change_of(body))
            assert result.outcome == "applied"
            outcomes += [move.outcome for move in result.moves]
        wanted = [MoveOutcome.MOVED if m else MoveOutcome.STAYED for m in plan.moves]
        assert outcomes == wanted


async def test_the_real_agent_run_ends_with_the_agent_holding_every_user() -> None:
    size = Size(50, 10, 10, 0, 0, 0, 0, 0, 0, 0)
    topology = melbourne(25, 80, 1.25, SEED)
    results = await attach_and_move(topology, size, SEED)
    change = results["cell_change"]
    assert isinstance(change, dict)
    assert change["outcomes"] == {"moved": 10}
    assert change["agent_sessions"] == change["users"] == 80
    assert change["told"]["count"] == 10


async def test_the_memory_figure_counts_every_user_it_attached() -> None:
    result = await memory_child(200, SEED, city=False, trace=False)
    assert result["users"] == result["engine_users"] == 200
    assert result["stopped_at_rss_cap"] is False
