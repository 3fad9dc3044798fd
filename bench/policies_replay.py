"""Replaying a trace set through the real placement engine under one mobility policy.

The world: edge hosts at EUA sites spread over the CBD (`spread_sites`, as the demo's
examples/edgehosts.yaml), every (site, host) pair's RTT from the demo's latency model
(`mec_devtools.demo.latency_model.rtt_ms`: 1 ms + 3 ms per km, what the demo's stand-in agents
report) recorded once in the engine's latency matrix and trusted for the whole run (agents
that keep probing keep it fresh), capacities as the placement benchmark sets them
(users x 1.25 / hosts each). The app's budget is one way, as `latency.maxMs`; the engine
compares round trips, as the operator's users' directory asks it to (2 x maxMs).

Each device attaches at t = 0 from its first cell (`PlacementEngine.place`), and every later
cell change is an `update_user` with the policy under test, in time order: what the operator's
users' directory does on an RNIS cell change. Between two of its cell changes a device's
latency is constant (its access point and host do not change), so the metrics are integrals
over those intervals, not samples.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from mec_devtools.demo.latency_model import rtt_ms
from mec_devtools.sim.topology import Site, melbourne_sites, spread_sites
from mec_devtools.sim.traces import TraceSet
from mec_orchestrator.decisions.latency import LatencySettings
from mec_orchestrator.decisions.mobility import MobilityPolicy
from mec_orchestrator.decisions.users import PlacementEngine, PlacementRules

CAPACITY_SLACK = 1.25
IDLE_SECONDS = 300.0
"""An instance left without users retires after this (`placement.idleSeconds`, default)."""
TRUSTED_FOR_S = 1e12

INTERRUPTION_MS = {"4KiB": 15.5, "16MiB": 59.3}
"""Interruption per handover, p50, measured by bench/handover.py (docs/benchmarks.md, Handover):
make-before-break, device 2 ms and hosts 1 ms apart one way, 4 KiB context at 100 updates/s
(15.5 ms), 16 MiB at 20 updates/s (59.3 ms)."""
SLO_INTERRUPTION = "4KiB"
"""The interruption counted as time outside the budget in the compliance figure."""


@dataclass(frozen=True)
class World:
    hosts: list[Site]
    capacity: int
    rtt: dict[str, dict[str, float]]  # access point (site id) -> host name -> RTT ms
    budget_rtt_ms: float

    @property
    def host_names(self) -> list[str]:
        return [host_name(h) for h in self.hosts]


def host_name(site: Site) -> str:
    return f"host-{site.site_id}"


def build_world(hosts: int, devices: int, budget_one_way_ms: float) -> World:
    sites = melbourne_sites()
    chosen = spread_sites(sites, hosts)
    rtt = {
        s.site_id: {
            host_name(h): rtt_ms((s.latitude, s.longitude), (h.latitude, h.longitude))
            for h in chosen
        }
        for s in sites
    }
    capacity = math.ceil(devices * CAPACITY_SLACK / hosts)
    return World(chosen, capacity, rtt, 2.0 * budget_one_way_ms)


@dataclass
class Metrics:
    """One policy on one trace set: integrals over device-time, counts, decision times."""

    policy: str
    devices: int
    duration_s: float
    device_s: float = 0.0
    within_budget_s: float = 0.0
    unplaced_s: float = 0.0
    latency_integral_ms_s: float = 0.0
    cell_changes: int = 0
    migrations: int = 0
    instance_s: float = 0.0
    decisions_ns: list[int] = field(default_factory=list)

    @property
    def device_hours(self) -> float:
        return self.device_s / 3600.0

    def summary(self) -> dict[str, float | int | str]:
        hours = self.device_hours
        interruption_s = self.migrations * INTERRUPTION_MS[SLO_INTERRUPTION] / 1e3
        decisions = np.array(self.decisions_ns, dtype=np.float64) / 1e3
        per_hour = self.migrations / hours
        return {
            "policy": self.policy,
            "devices": self.devices,
            "device_hours": hours,
            "slo_compliance_pct": 100.0 * (self.within_budget_s - interruption_s) / self.device_s,
            "over_budget_pct": 100.0 * (self.device_s - self.within_budget_s) / self.device_s,
            "mean_rtt_ms": self.latency_integral_ms_s / (self.device_s - self.unplaced_s),
            "cell_changes_per_device_hour": self.cell_changes / hours,
            "migrations_per_device_hour": per_hour,
            **{
                f"interruption_ms_per_device_hour_{size}": per_hour * ms
                for size, ms in INTERRUPTION_MS.items()
            },
            "instance_hours": self.instance_s / 3600.0,
            "instance_hours_per_1000_device_hours": 1000.0 * self.instance_s / self.device_s,
            "decisions": len(self.decisions_ns),
            "decision_p50_us": float(np.percentile(decisions, 50)) if len(decisions) else 0.0,
            "decision_p99_us": float(np.percentile(decisions, 99)) if len(decisions) else 0.0,
            "decision_cpu_ms_per_device_hour": float(decisions.sum()) / 1e3 / hours,
        }


def instance_seconds(events: list[tuple[float, int]], end_s: float, idle_s: float) -> float:
    """Seconds a host's instance is up, from its (time, +1/-1 user) events in time order.

    Up from its first user until idle_s after it last became empty (or end_s, if sooner); a
    user arriving within idle_s finds it still up.
    """
    total, users, up_since, emptied = 0.0, 0, None, None
    for at, delta in events:
        if users == 0 and emptied is not None and up_since is not None and at > emptied + idle_s:
            total += emptied + idle_s - up_since  # retired before this user came
            up_since = None
        if up_since is None:
            up_since = at
        users += delta
        if users < 0:
            raise ValueError(f"more users left than came, at {at} s")
        emptied = at if users == 0 else None
    if up_since is not None:
        stop = end_s if users > 0 or emptied is None else min(end_s, emptied + idle_s)
        total += stop - up_since
    return total


def replay(traces: TraceSet, world: World, policy: MobilityPolicy) -> Metrics:
    """Every cell change of traces through a fresh engine under policy; the metrics."""
    engine = PlacementEngine(LatencySettings(stale_after_s=TRUSTED_FOR_S), default_policy=policy)
    for name in world.host_names:
        engine.add_host(name, world.capacity)
    for access_point, row in world.rtt.items():
        for name, value in row.items():
            engine.record_latency(access_point, name, value, 0.0)
    rules = PlacementRules(latency_budget_ms=world.budget_rtt_ms)
    metrics = Metrics(policy.name, traces.devices, traces.duration_s)
    host_events: dict[str, list[tuple[float, int]]] = {name: [] for name in world.host_names}
    # Per device: (since, access point, host) of the interval now open.
    state: dict[int, tuple[float, str, str | None]] = {}
    budget = world.budget_rtt_ms

    def close(device: int, now: float) -> None:
        since, access_point, host = state[device]
        span = now - since
        metrics.device_s += span
        if host is None:
            metrics.unplaced_s += span
            return
        latency = world.rtt[access_point][host]
        metrics.latency_integral_ms_s += latency * span
        if latency <= budget:
            metrics.within_budget_s += span

    clock = time.perf_counter_ns
    for change in traces.all_cell_changes():
        user, now = f"d{change.device}", change.t_s
        if change.previous is None:
            decision = engine.place(user, change.cell, rules, now)
            state[change.device] = (now, change.cell, decision.host)
            if decision.host is not None:
                host_events[decision.host].append((now, 1))
            continue
        close(change.device, now)
        metrics.cell_changes += 1
        started = clock()
        result = engine.update_user(user, change.cell, rules, now, policy)
        metrics.decisions_ns.append(clock() - started)
        previous, host = result.previous_host, result.decision.host
        if host != previous:
            if result.moved:
                metrics.migrations += 1
            if previous is not None:
                host_events[previous].append((now, -1))
            if host is not None:
                host_events[host].append((now, 1))
        state[change.device] = (now, change.cell, host)
    end = traces.duration_s
    for device in state:
        close(device, end)
    metrics.instance_s = sum(
        instance_seconds(events, end, IDLE_SECONDS) for events in host_events.values()
    )
    return metrics
