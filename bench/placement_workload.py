"""Workloads for the placement benchmark: build an engine from a topology, fill it with users,
replay a trace of user moves and latency samples, and the naive baseline beside it.

The naive baseline keeps the same state in plain dicts and finds each host by scanning every host
(`scan_best_host`); everything else (policy, bookkeeping) is the same, so the ratio is the price
of the scan.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import numpy as np

from bench.placement_topology import Topology
from bench.reference_scan import scan_best_host
from mec_orchestrator.decisions.latency import LatencySettings
from mec_orchestrator.decisions.mobility import MobilityPolicy, MobilitySituation
from mec_orchestrator.decisions.users import PlacementEngine, PlacementRules

SAMPLES_PER_PAIR = 3
JITTER = 0.02  # relative, uniform +-


@dataclass
class Timings:
    """Per-decision wall times (ns) of one kind of decision."""

    durations_ns: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        if not self.durations_ns:
            return {"decisions": 0}
        values = np.array(self.durations_ns, dtype=np.float64)
        total_s = float(values.sum()) / 1e9
        return {
            "decisions": len(values),
            "per_second": len(values) / total_s,
            "p50_us": float(np.percentile(values, 50)) / 1e3,
            "p99_us": float(np.percentile(values, 99)) / 1e3,
            "max_us": float(values.max()) / 1e3,
            "mean_us": float(values.mean()) / 1e3,
        }


def rules_for(topology: Topology, budget_ms: float) -> tuple[PlacementRules, PlacementRules]:
    """Unrestricted rules, and rules with an allow-list of every other host (one app in five)."""
    restricted = frozenset(sorted(topology.capacity)[::2])
    return PlacementRules(budget_ms), PlacementRules(budget_ms, restricted)


def user_rules(topology: Topology, budget_ms: float) -> dict[str, PlacementRules]:
    free, restricted = rules_for(topology, budget_ms)
    return {user: restricted if i % 5 == 4 else free for i, (user, _) in enumerate(topology.users)}


def build_engine(
    topology: Topology, seed: int, jitter: float = JITTER
) -> tuple[PlacementEngine, float, int]:
    """Engine with every host and SAMPLES_PER_PAIR samples per pair (relative jitter +-jitter).

    Returns the engine, the seconds spent recording samples and how many.
    """
    rng = random.Random(seed)  # noqa: S311 (a reproducible simulation, not a secret)
    engine = PlacementEngine(LatencySettings(stale_after_s=3600.0))
    for host, slots in sorted(topology.capacity.items()):
        engine.add_host(host, slots)
    samples = [
        (ap, host, value * (1.0 + rng.uniform(-jitter, jitter)), float(t))
        for t in range(SAMPLES_PER_PAIR)
        for ap, row in topology.latency.items()
        for host, value in row.items()
    ]
    started = time.perf_counter()
    for ap, host, value, at in samples:
        engine.record_latency(ap, host, value, at)
    return engine, time.perf_counter() - started, len(samples)


class NaivePlacer:
    """The baseline: plain dicts, and a scan of every host for every decision."""

    def __init__(
        self, engine: PlacementEngine, *, with_users: bool, placed_at_s: float = 0.0
    ) -> None:
        index = engine.index
        self.capacity = {host: index.capacity(host) for host in index.hosts()}
        self.latency = {ap: dict(index.latency_row(ap)) for ap in index.access_points()}
        self.load = dict.fromkeys(self.capacity, 0)
        self.host_of: dict[str, str] = {}
        self.since: dict[str, float] = {}
        if with_users:
            for user, host in index.placements().items():
                self.host_of[user] = host
                self.load[host] += 1
                self.since[user] = placed_at_s

    def place(self, user: str, ap: str, rules: PlacementRules) -> str | None:
        best = scan_best_host(
            self.latency, self.capacity, self.load, ap, allowed=rules.allowed_hosts
        )
        if best is None:
            return None
        self.host_of[user] = best[1]
        self.load[best[1]] += 1
        self.since[user] = 0.0
        return best[1]

    def update_user(
        self, user: str, ap: str, rules: PlacementRules, now: float, policy: MobilityPolicy
    ) -> str | None:
        current = self.host_of.get(user)
        allowed = rules.allowed_hosts
        best = scan_best_host(
            self.latency, self.capacity, self.load, ap, allowed=allowed, holding=current
        )
        row = self.latency.get(ap, {})
        verdict = policy.decide(
            MobilitySituation(
                current_host=current,
                current_allowed=current is not None and (allowed is None or current in allowed),
                current_latency_ms=None if current is None else row.get(current),
                best_host=None if best is None else best[1],
                best_latency_ms=None if best is None else best[0],
                budget_ms=rules.latency_budget_ms,
                dwell_s=now - self.since.get(user, now),
            )
        )
        if verdict.move and verdict.target != current:
            if current is not None:
                self.load[current] -= 1
                del self.host_of[user]
            if verdict.target is not None:
                self.host_of[user] = verdict.target
                self.load[verdict.target] += 1
                self.since[user] = now
            return verdict.target
        return current


@dataclass(frozen=True)
class Event:
    """A user seen at an access point (a cell change), or a fresh RTT sample."""

    at_s: float
    user: str | None
    access_point: str
    host: str | None = None
    rtt_ms: float = 0.0


def mobility_trace(
    topology: Topology, events: int, samples_per_move: float, seed: int
) -> list[Event]:
    """Random users moving to a random radio neighbour; latency samples interleaved."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible simulation, not a secret)
    where = dict(topology.users)
    users = [user for user, _ in topology.users]
    pairs = [(ap, host) for ap, row in topology.latency.items() for host in row]
    trace: list[Event] = []
    now = 10.0
    credit = 0.0
    for _ in range(events):
        now += 0.01
        user = rng.choice(users)
        target = rng.choice(topology.neighbours[where[user]])
        where[user] = target
        trace.append(Event(now, user, target))
        credit += samples_per_move
        while credit >= 1.0:
            credit -= 1.0
            ap, host = rng.choice(pairs)
            value = topology.latency[ap][host] * (1.0 + rng.uniform(-JITTER, JITTER))
            trace.append(Event(now, None, ap, host, value))
    return trace
