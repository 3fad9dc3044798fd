"""Users' benchmark (MEC 016 attach, RNIS cell changes): how fast devices attach, how soon a
device hears of its move, how many cell changes one core decides, and memory per user.

    python -m bench.users            # full run (about 5 minutes)
    python -m bench.users --quick    # smaller sizes, same tables (about 1.5 minutes)

Everything runs in this process (the memory figure in a fresh child process): the real
FastAPI app over the real operator state and users' directory, driven over ASGI; one real
agent gRPC server on 127.0.0.1 (plaintext) called by the real `AgentSessions` client, or a
recording stand-in for it; a real HTTP receiver (aiohttp) for the devices' callbacks, reached
by the real `CallbackDelivery`. Writes a JSON file under bench/results/ and prints Markdown
tables (docs/benchmarks.md quotes them).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from aiohttp import web
from prometheus_client import CollectorRegistry

from bench.placement_topology import Topology, melbourne, synthetic_city
from bench.records import machine, save
from bench.users_moves import Mover
from bench.users_world import (
    NAMESPACE,
    RealAgent,
    RecordingAgents,
    World,
    build_world,
    device_address,
)
from mec_orchestrator.adapters.agent_link.commands import AgentClientSettings, AgentSessions
from mec_orchestrator.adapters.callbacks import CallbackDelivery, CallbackMetrics, DeliverySettings
from mec_orchestrator.adapters.rnis.client import UE_IPV4_ADDRESS
from mec_orchestrator.api.app import create_app
from mec_orchestrator.api.schemas.rnis import CellChangeNotification
from mec_orchestrator.api.settings import ApiSettings, AuthMode
from mec_orchestrator.decisions.users.cell_changes import CellChange
from mec_orchestrator.operator.cell_changes import CellChangeIntake

WARM_UP = 20  # untimed requests first: the gRPC channel and the callback connection open
HYSTERESIS_MS = 0.002  # one way: 0.004 ms as a round trip, 200 m of fibre
BUDGET_MS = 5.0  # one way; every measured pair is within it
SLACK = 1.25
DELIVERY = {
    "timeout_seconds": 2.0,
    "backoff_base_seconds": 0.05,
    "backoff_max_seconds": 0.2,
    "jitter": 0.0,
    "max_age_seconds": 30.0,
    "stop_grace_seconds": 0.0,
    "use_env_proxy": False,
}


@dataclass(frozen=True)
class Size:
    known_users: int  # attached before the timed attaches
    attaches: int
    cell_changes: int  # moves timed until the device's callback has the notification
    throughput_users: int  # Melbourne
    throughput_notifications: int
    city_users: int  # synthetic city, throughput
    city_notifications: int
    route_notifications: int
    memory_users: int
    tracemalloc_users: int


FULL = Size(10_000, 2_000, 500, 20_000, 40_000, 5_000, 2_000, 4_000, 100_000, 2_000)
QUICK = Size(2_000, 300, 100, 5_000, 10_000, 1_000, 300, 1_000, 5_000, 1_000)


class GcWatch:
    """Counts CPython's full (generation 2) collections and their time while it is active."""

    def __init__(self) -> None:
        self.full = 0
        self.full_s = 0.0
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.full += 1
            self.full_s += time.perf_counter() - self._started

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._callback)

    def summary(self) -> dict[str, float]:
        return {"gc_full_collections": self.full, "gc_full_ms": self.full_s * 1e3}


def stats_ms(values_s: list[float]) -> dict[str, float]:
    array = np.array(values_s, dtype=np.float64) * 1e3
    return {
        "count": len(values_s),
        "p50_ms": float(np.percentile(array, 50)),
        "p99_ms": float(np.percentile(array, 99)),
        "max_ms": float(array.max()),
        "mean_ms": float(array.mean()),
    }


def context_body(callback: str) -> dict[str, Any]:
    """The AppContext a device application POSTs (MEC 016), as tests/api/test_dev_app.py."""
    return {
        "associateDevAppId": "dev-app-1",
        "callbackReference": callback,
        "appLocationUpdates": False,
        "appAutoInstantiation": False,
        "appInfo": {
            "appName": "ar",
            "appProvider": NAMESPACE,
            "appDVersion": "1.0",
            "userAppInstanceInfo": [{}],
        },
    }


# -- the devices' callbacks ----------------------------------------------------------------


class Receiver:
    """A device-side HTTP server: records when each notification arrives (perf_counter)."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[tuple[float, dict[str, Any]]]] = {}
        self.received = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _notify(self, request: web.Request) -> web.Response:
        body = await request.json()
        arrived = time.perf_counter()
        self.received += 1
        future = self.waiting.pop(request.match_info["device"], None)
        if future is not None and not future.done():
            future.set_result((arrived, body))
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/notify/{device}", self._notify)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])  # the port the kernel chose

    def url(self, device: int) -> str:
        return f"http://127.0.0.1:{self.port}/notify/{device}"

    def expect(self, device: int) -> asyncio.Future[tuple[float, dict[str, Any]]]:
        future: asyncio.Future[tuple[float, dict[str, Any]]] = (
            asyncio.get_running_loop().create_future()
        )
        self.waiting[str(device)] = future
        return future

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


# -- 1 and 2: attach latency, cell change until the device is told ---------------------------


@asynccontextmanager
async def api_client(
    world: World, intake: CellChangeIntake | None
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.ASGITransport]]:
    world.state.started(object())  # type: ignore[arg-type]  # ready; no API server is called
    app = create_app(
        world.state,
        ApiSettings(auth=AuthMode.NONE, default_namespace=NAMESPACE),
        users=world.directory,
        cell_changes=intake,
    )
    transport = httpx.ASGITransport(app=app, client=("10.64.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://orchestrator") as http:
        yield http, transport


async def prefill(world: World, receiver: Receiver | None, count: int, first: int) -> None:
    """count users attached through the directory (untimed), devices first, first+1, ..."""
    users = world.topology.users
    for i in range(first, first + count):
        address = device_address(i)
        await world.directory.device_moved(address, users[i % len(users)][1])
        callback = None if receiver is None else receiver.url(i)
        await world.directory.attach(world.request(address, callback))


async def time_attaches(world: World, receiver: Receiver | None, size: Size) -> dict[str, object]:
    """POST app_contexts -> 201 with referenceURI, one at a time, size.known_users known."""
    await prefill(world, receiver, size.known_users, 0)
    durations: list[float] = []
    hosts: Counter[str] = Counter()
    users = world.topology.users
    first = size.known_users + WARM_UP  # the first WARM_UP attaches open channels: untimed
    with GcWatch() as watch:
        async with api_client(world, None) as (http, transport):
            for i in range(size.known_users, first + size.attaches):
                address = device_address(i)
                await world.directory.device_moved(address, users[i % len(users)][1])
                transport.client = (address, 40000)
                callback = receiver.url(i) if receiver is not None else f"http://{address}:9000/n"
                body = context_body(callback)
                t0 = time.perf_counter()
                answer = await http.post("/dev_app/v1/app_contexts", json=body)
                if i >= first:
                    durations.append(time.perf_counter() - t0)
                assert answer.status_code == 201, answer.text
                (instance,) = answer.json()["appInfo"]["userAppInstanceInfo"]
                assert instance["referenceURI"].startswith("http://")
                hosts[world.directory.get(answer.json()["contextId"]).host] += 1
    return {
        **stats_ms(durations),
        **watch.summary(),
        "users_known_before": size.known_users + WARM_UP,
        "users_after": len(world.directory),
        "hosts_used": len(hosts),
    }


async def time_cell_changes(
    world: World, receiver: Receiver, mover: Mover, count: int, agent: RealAgent
) -> dict[str, object]:
    """POST a CellChangeNotification until the device's callback has the update notification."""
    intake = CellChangeIntake(world.directory)
    sessions = world.directory.sessions()
    users = [(s.context_id, s.device_address or "", s.access_point or "", s.host) for s in sessions]
    plan = mover.plan(users, count + WARM_UP, move_share=1.0)
    device_of = {
        s.context_id: int(s.callback_reference.rsplit("/", 1)[1])
        for s in sessions
        if s.callback_reference
    }
    told: list[float] = []
    decided: list[float] = []
    outcomes: Counter[str] = Counter()
    path = f"/rnis_callbacks/v1/{intake.token}/cell_change"
    with GcWatch() as watch:
        async with api_client(world, intake) as (http, _):
            steps = zip(plan.bodies, plan.contexts, plan.moves, strict=True)
            for n, (body, context, moving) in enumerate(steps):
                assert moving
                before = world.directory.get(context)
                arrival = receiver.expect(device_of[context])
                t0 = time.perf_counter()
                answer = await http.post(path, json=body)
                if n >= WARM_UP:
                    decided.append(time.perf_counter() - t0)
                assert answer.status_code == 204, answer.text
                after = world.directory.get(context)
                moved = after.host != before.host
                if n >= WARM_UP:
                    outcomes["moved" if moved else "stayed"] += 1
                if not moved:
                    receiver.waiting.pop(str(device_of[context]), None)
                    continue
                arrived, note = await asyncio.wait_for(arrival, 10.0)
                if n >= WARM_UP:
                    told.append(arrived - t0)
                assert note["notificationType"] == "ApplicationContextUpdateNotification"
                assert note["userAppInstanceInfo"][0]["referenceURI"] == after.reference_uri
    return {
        "told": stats_ms(told),
        "decided": stats_ms(decided),
        **watch.summary(),
        "outcomes": dict(outcomes),
        "users": len(world.directory),
        "agent_sessions": sum(len(r.users) for r in agent.host.instances()),
    }


async def attach_and_move(topology: Topology, size: Size, seed: int) -> dict[str, object]:
    """Figures 1 and 2: the real agent (gRPC), then the stand-in for attaches."""
    results: dict[str, object] = {"topology": topology.name, "notes": topology.notes}
    agent = RealAgent(sorted(topology.capacity))
    endpoint = await agent.start()
    client = AgentSessions(AgentClientSettings(tls=None))
    receiver = Receiver()
    await receiver.start()
    delivery = CallbackDelivery(
        DeliverySettings.model_validate(DELIVERY), metrics=CallbackMetrics(CollectorRegistry())
    )
    try:
        async with delivery:
            world = build_world(
                topology,
                client,
                lambda _: endpoint,
                delivery,
                seed,
                hysteresis_ms=HYSTERESIS_MS,
                budget_ms=BUDGET_MS,
            )
            results["attach_grpc"] = await time_attaches(world, receiver, size)
            mover = Mover(world, 2 * HYSTERESIS_MS, seed)
            results["cell_change"] = await time_cell_changes(
                world, receiver, mover, size.cell_changes, agent
            )
    finally:
        await client.close()
        await agent.stop()
        await receiver.stop()
    stand_in = RecordingAgents()
    world = build_world(
        topology,
        stand_in,
        lambda host: f"{host}.agents:50061",
        None,
        seed,
        hysteresis_ms=HYSTERESIS_MS,
        budget_ms=BUDGET_MS,
    )
    results["attach_stand_in"] = await time_attaches(world, None, size)
    return results


# -- 3: cell-change intake throughput ---------------------------------------------------------


def change_of(body: dict[str, Any]) -> CellChange:
    """What the intake's route makes of a notification (rnis_callbacks.py, the same steps)."""
    notification = CellChangeNotification.model_validate(body)
    return CellChange(
        addresses=tuple(a.value for a in notification.associate_id if a.type == UE_IPV4_ADDRESS),
        source_cell=notification.src_ecgi.cell_id,
        target_cell=notification.trg_ecgi[0].cell_id if notification.trg_ecgi else None,
        status=notification.ho_status,
    )


async def throughput(
    topology: Topology, users: int, count: int, route_count: int, seed: int
) -> dict[str, object]:
    """Notifications/s into decisions, two mixes, then the HTTP route, on one world."""
    world = build_world(
        topology,
        RecordingAgents(),
        lambda host: f"{host}.agents:50061",
        None,
        seed,
        hysteresis_ms=HYSTERESIS_MS,
        budget_ms=BUDGET_MS,
    )
    fill_started = time.perf_counter()
    await prefill(world, None, users, 0)
    fill_s = time.perf_counter() - fill_started
    intake = CellChangeIntake(world.directory)
    mover = Mover(world, 2 * HYSTERESIS_MS, seed)
    rows: list[dict[str, object]] = []
    for mix, share in (("mostly stay (10 % move)", 0.1), ("every one moves", 1.0)):
        sessions = world.directory.sessions()
        plan = mover.plan(
            [
                (s.context_id, s.device_address or "", s.access_point or "", s.host)
                for s in sessions
            ],
            count,
            share,
        )
        outcomes: Counter[str] = Counter()
        started = time.perf_counter()
        for body in plan.bodies:
            result = await intake.apply(change_of(body))
            for move in result.moves:
                outcomes[move.outcome.value] += 1
        elapsed = time.perf_counter() - started
        rows.append(
            {
                "mix": mix,
                "notifications": count,
                "per_second": count / elapsed,
                "mean_us": elapsed / count * 1e6,
                "intended_moves": sum(plan.moves),
                "outcomes": dict(outcomes),
            }
        )
    sessions = world.directory.sessions()
    plan = mover.plan(
        [(s.context_id, s.device_address or "", s.access_point or "", s.host) for s in sessions],
        route_count,
        0.1,
    )
    http_intake = CellChangeIntake(world.directory)
    path = f"/rnis_callbacks/v1/{http_intake.token}/cell_change"
    async with api_client(world, http_intake) as (http, _):
        started = time.perf_counter()
        for body in plan.bodies:
            answer = await http.post(path, json=body)
            assert answer.status_code == 204
        elapsed = time.perf_counter() - started
    route = {
        "mix": "mostly stay (10 % move)",
        "notifications": route_count,
        "per_second": route_count / elapsed,
        "mean_us": elapsed / route_count * 1e6,
    }
    return {
        "topology": topology.name,
        "hosts": len(world.hosts),
        "access_points": len(world.cells),
        "users": len(world.directory),
        "fill_attaches_per_second": users / fill_s,
        "world_build_s": world.build_s,
        "one_edge_host_event_ms": world.host_event_ms,
        "intake": rows,
        "route": route,
    }


# -- 4: memory per user, in a fresh process -------------------------------------------------


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


MEMORY_CAP_BYTES = 3_000_000_000
"""The child stops attaching when its RSS passes this (the machine is shared)."""
MEMORY_BATCH = 1_000


async def memory_child(users: int, seed: int, city: bool, trace: bool) -> dict[str, object]:
    """In this (fresh) process: RSS with the hosts' state, then with users attached.

    city: the synthetic 3,233-host city (every site a host and an access point, each access
    point measuring its 48 nearest hosts), else Melbourne (125 access points, 25 hosts).
    Users attach through `UserDirectory.attach` (device put in its cell first) with agents
    that only count the calls; stops early, and says so, when RSS passes MEMORY_CAP_BYTES.
    """
    gc.collect()
    rss_start = rss_bytes()
    if city:
        topology = synthetic_city(3_233, users, 48, SLACK, seed)
    else:
        topology = melbourne(25, users, SLACK, seed)
    gc.collect()
    rss_topology = rss_bytes()
    world = build_world(
        topology,
        RecordingAgents(keep=False),
        lambda host: f"{host}.agents:50061",
        None,
        seed,
        hysteresis_ms=HYSTERESIS_MS,
        budget_ms=BUDGET_MS,
    )
    gc.collect()
    rss_hosts = rss_bytes()
    if trace:
        tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0] if trace else 0
    started = time.perf_counter()
    attached = 0
    capped = False
    while attached < users:
        batch = min(MEMORY_BATCH, users - attached)
        await prefill(world, None, batch, attached)
        attached += batch
        if rss_bytes() > MEMORY_CAP_BYTES:
            capped = attached < users
            break
    attach_s = time.perf_counter() - started
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - traced_before if trace else None
    rss_users = rss_bytes()
    per_user = (rss_users - rss_hosts) / max(1, attached)
    return {
        "topology": topology.name,
        "hosts": len(world.hosts),
        "access_points": len(world.cells),
        "measured_pairs": topology.pairs,
        "users_asked": users,
        "users": len(world.directory),
        "engine_users": world.state.engine.user_count(),
        "stopped_at_rss_cap": capped,
        "rss_start_mb": rss_start / 1e6,
        "rss_with_topology_mb": rss_topology / 1e6,
        "rss_with_hosts_mb": rss_hosts / 1e6,
        "rss_with_users_mb": rss_users / 1e6,
        "rss_bytes_per_user": per_user,
        "rss_for_asked_users_mb": (rss_hosts + per_user * users) / 1e6,
        **allowed_sets(world),
        "tracemalloc_bytes_per_user": None if traced is None else traced / max(1, attached),
        "attach_s": attach_s,
        "attaches_per_second": attached / attach_s,
    }


def allowed_sets(world: World) -> dict[str, object]:
    """The allowed-hosts set the engine keeps with each user: its size, and whether shared."""
    states = list(world.state.engine._users.values())[:2]
    sizes = [sys.getsizeof(state.allowed) for state in states]
    return {
        "allowed_hosts_set_bytes": sizes[0] if sizes else None,
        "allowed_hosts_set_shared": len(states) == 2 and states[0].allowed is states[1].allowed,
    }


def memory(users: int, seed: int, *, city: bool, trace: bool) -> dict[str, object]:
    args = [sys.executable, "-m", "bench.users", "--memory-child", str(users), "--seed", str(seed)]
    args += ["--city"] * city + ["--tracemalloc"] * trace
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the report -------------------------------------------------------------------------------


def _n(value: object, digits: int = 0) -> str:
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def markdown(results: dict[str, Any]) -> str:
    first = results["attach_and_move"]
    lines = [
        f"Attach ({first['topology']}): POST /dev_app/v1/app_contexts -> 201, one at a time",
        "",
        "| agents | users known before | attaches | p50 ms | p99 ms | max ms | mean ms "
        "| full GCs (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, label in (
        ("attach_grpc", "real agent, gRPC over loopback"),
        ("attach_stand_in", "recording stand-in (no RPC)"),
    ):
        row = first[key]
        lines.append(
            f"| {label} | {_n(row['users_known_before'])} | {_n(row['count'])} "
            f"| {_n(row['p50_ms'], 2)} | {_n(row['p99_ms'], 2)} | {_n(row['max_ms'], 2)} "
            f"| {_n(row['mean_ms'], 2)} "
            f"| {row['gc_full_collections']} ({_n(row['gc_full_ms'], 0)}) |"
        )
    change = first["cell_change"]
    lines += [
        "",
        "Cell change -> device told (real agent, CallbackDelivery, HTTP receiver)",
        "",
        "| from POST of the notification to | count | p50 ms | p99 ms | max ms | mean ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, label in (
        ("decided", "the route's 204 (moved: admit + release over gRPC)"),
        ("told", "the receiver has the ApplicationContextUpdateNotification"),
    ):
        row = change[key]
        lines.append(
            f"| {label} | {_n(row['count'])} | {_n(row['p50_ms'], 2)} | {_n(row['p99_ms'], 2)} "
            f"| {_n(row['max_ms'], 2)} | {_n(row['mean_ms'], 2)} |"
        )
    lines += [
        "",
        f"Outcomes {change['outcomes']}; full GCs during: {change['gc_full_collections']} "
        f"({_n(change['gc_full_ms'], 0)} ms); after: {_n(change['users'])} users in the "
        f"directory, {_n(change['agent_sessions'])} sessions held by the agent.",
        "",
        "Cell-change intake throughput (validate + CellChangeIntake.apply, stand-in agents, "
        "no notifier)",
        "",
        "| topology | hosts | users | mix | notifications | per second | mean µs | outcomes |",
        "|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for world in results["throughput"]:
        for row in world["intake"]:
            outcomes = ", ".join(f"{k} {_n(v)}" for k, v in sorted(row["outcomes"].items()))
            lines.append(
                f"| {world['topology']} | {_n(world['hosts'])} | {_n(world['users'])} "
                f"| {row['mix']} | {_n(row['notifications'])} | {_n(row['per_second'])} "
                f"| {_n(row['mean_us'], 1)} | {outcomes} |"
            )
        route = world["route"]
        lines.append(
            f"| {world['topology']} | {_n(world['hosts'])} | {_n(world['users'])} "
            f"| HTTP route over ASGI, {route['mix']} | {_n(route['notifications'])} "
            f"| {_n(route['per_second'])} | {_n(route['mean_us'], 1)} | |"
        )
    lines += [
        "",
        "| topology | attaches/s while filling (stand-in) | world build s "
        "| one EdgeHost watch event ms |",
        "|---|---:|---:|---:|",
    ]
    for world in results["throughput"]:
        lines.append(
            f"| {world['topology']} | {_n(world['fill_attaches_per_second'])} "
            f"| {_n(world['world_build_s'], 2)} | {_n(world['one_edge_host_event_ms'], 1)} |"
        )
    lines += [
        "",
        "Memory (fresh process per row, VmRSS; users attached through UserDirectory.attach)",
        "",
        "| topology | hosts | measured pairs | users | RSS start MB | with topology MB "
        "| with hosts MB | with users MB | RSS bytes/user | RSS for the asked users MB "
        "| tracemalloc bytes/user | allowed-hosts set kept with each user, bytes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mem, traced in zip(results["memory"], results["memory_tracemalloc"], strict=True):
        users = _n(mem["users"])
        if mem["stopped_at_rss_cap"]:
            users += f" (stopped at the RSS cap; {_n(mem['users_asked'])} asked)"
        lines.append(
            f"| {mem['topology']} | {_n(mem['hosts'])} | {_n(mem['measured_pairs'])} "
            f"| {users} | {_n(mem['rss_start_mb'], 1)} | {_n(mem['rss_with_topology_mb'], 1)} "
            f"| {_n(mem['rss_with_hosts_mb'], 1)} | {_n(mem['rss_with_users_mb'], 1)} "
            f"| {_n(mem['rss_bytes_per_user'])} | {_n(mem['rss_for_asked_users_mb'])} "
            f"| {_n(traced['tracemalloc_bytes_per_user'])} (over {_n(traced['users'])}) "
            f"| {_n(mem['allowed_hosts_set_bytes'])} |"
        )
    return "\n".join(lines)


async def run(size: Size, seed: int) -> dict[str, object]:
    melbourne_attach = melbourne(25, size.known_users + size.attaches, SLACK, seed)
    results: dict[str, object] = {
        "attach_and_move": await attach_and_move(melbourne_attach, size, seed)
    }
    melbourne_many = melbourne(25, size.throughput_users, SLACK, seed)
    city = synthetic_city(3_233, size.city_users, 48, SLACK, seed)
    results["throughput"] = [
        await throughput(
            melbourne_many,
            size.throughput_users,
            size.throughput_notifications,
            size.route_notifications,
            seed,
        ),
        await throughput(
            city, size.city_users, size.city_notifications, size.route_notifications // 4, seed
        ),
    ]
    results["memory"] = [
        memory(size.memory_users, seed, city=True, trace=False),
        memory(size.memory_users, seed, city=False, trace=False),
    ]
    results["memory_tracemalloc"] = [
        memory(size.tracemalloc_users, seed, city=True, trace=True),
        memory(size.tracemalloc_users, seed, city=False, trace=True),
    ]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.users", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about 1.5 minutes)")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--memory-child", type=int, metavar="USERS", help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--city", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child is not None:
        result = asyncio.run(
            memory_child(args.memory_child, args.seed, args.city, args.tracemalloc)
        )
        print(json.dumps(result))
        return 0
    size = QUICK if args.quick else FULL
    started = time.time()
    load_before = os.getloadavg()
    wall = time.perf_counter()
    results = asyncio.run(run(size, args.seed))
    report = {
        "benchmark": "users",
        "mode": "quick" if args.quick else "full",
        "command": "python -m bench.users" + (" --quick" if args.quick else ""),
        "seed": args.seed,
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_s": time.perf_counter() - wall,
        "machine": machine(),
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "size": size.__dict__,
        "results": results,
    }
    path = save("users", report, started)
    print(markdown(results))
    print(
        f"\nload average {load_before[0]:.2f} -> {os.getloadavg()[0]:.2f}; "
        f"{report['duration_s']:.0f} s; results: bench/results/{path.name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
