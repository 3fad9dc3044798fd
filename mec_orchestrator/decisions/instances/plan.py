"""Which edge hosts an EdgeApp's instances should run on, and why.

The rule, before and after users attach:

1. Hosts that serve users of the app keep their instance while they are available (a cordoned
   host keeps it too; cordon only stops new instances).
2. Then coverage: the smallest set of hosts (greedy set cover, capped by
   `placement.maxInstances`) such that every access point of every Zone has an instance within
   the app's one-way latency budget (`latency.maxMs`, compared with RTT / 2). Each step takes the
   host that covers the most still-uncovered access points; ties go to the lower total latency,
   then to a host the app already runs on, then to the host name — so the plan is
   deterministic. A host the app already runs on has its latency counted `mobility.hysteresisMs`
   lower per access point: another host must be better by more than that on average to take
   the instance over, so hosts of almost equal latency do not swap it back and forth as
   measurements wobble.
3. Then best effort, so that an app degrades instead of disappearing (the way AWS Wavelength and
   Azure Edge Zones fall back to the nearest zone): an access point that no planned host covers
   within the budget is served over budget by its nearest eligible host — the one with the
   lowest latency to it. A host already chosen, or one the app already runs on, counts as
   nearest when it is within `mobility.hysteresisMs` (RTT) of the nearest, so a second instance
   is not started for a gain smaller than that and wobbling measurements do not move it. Access
   points that a chosen host serves that way take it (the chosen host with the lowest latency
   to them, then name); otherwise a new host is added, greedily: the one nearest to the most
   such access points, then one the app already runs on, then the lowest total latency, then
   the name. Still capped by `placement.maxInstances`: once the cap is reached, the rest go to
   the chosen host with the lowest latency to them. So an app with an eligible host and a known
   latency from its access points always has an instance. The plan says which access points
   are served over budget and at what one-way latency (`InstancePlan.over_budget`), and the
   status says it too (`Placed`/`OverBudget`, `LatencySLOMet=False`, `Degraded`). This never
   changes the coverage within budget of step 2, and as soon as a host within budget appears
   (latency drops), step 2 covers the access point with it and the over-budget instance falls
   out of the plan: it is retired after `placement.idleSeconds`, as any instance no longer
   wanted.
4. Then `placement.warmStandby` extra hosts: the second-best hosts of the covered access points,
   next to the users first (the host that is second best for the most users' access points),
   then for the most access points, so a handover target is already warm where users are.
5. With no access point known at all, the app gets one instance: where it already runs if that
   host is still eligible, else on the eligible host with the most free capacity (then name).
   Staying put matters: apps that all chased the emptiest host would move in a herd.

Eligible for a new instance: available (node Ready, agent not lost), allowed by
`placement.hosts`, not cordoned, and with room under its instance capacity (a host the app
already runs on stays eligible when cordoned or full). When nothing is planned the plan says
exactly why: no edge host at all, how many hosts are ineligible for which reason (each host
counted once, under the first of: not Ready, agent lost, not allowed, cordoned, full), or no
latency known from any access point to the eligible hosts. Instances that fall out of the plan
are retired only after `placement.idleSeconds` without being wanted (a flapping measurement does
not tear an instance down), except on an unavailable host, which is evacuated at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from mec_orchestrator.decisions.instances.views import AccessPointView, HostView, ObservedInstance
from mec_orchestrator.decisions.latency.estimate import LatencyLookup
from mec_orchestrator.model import EdgeAppSpec, InstantiationState, PlacedReason

SHOWN = 5
"""How many access points or hosts a message names before it says "..."."""


class Ineligible(StrEnum):
    """Why a host may not take a new instance of the app (the first that applies)."""

    NOT_READY = "not Ready"
    AGENT_LOST = "agent lost"
    NOT_ALLOWED = "not allowed by spec.placement.hosts"
    CORDONED = "cordoned"
    FULL = "full"


class OverBudget(NamedTuple):
    """How an access point that no host covers within the budget is served (best effort)."""

    host: str
    one_way_ms: float
    measured: bool  # False: estimated from distance


@dataclass(frozen=True)
class InstancePlan:
    """The hosts that should have an instance, what they cover, and what goes away."""

    hosts: tuple[str, ...]
    standby: tuple[str, ...]
    coverage: dict[str, str] = field(default_factory=dict)  # access point -> host within budget
    # access point -> the nearest planned host, over budget (rule 3 of the module docstring)
    over_budget: dict[str, OverBudget] = field(default_factory=dict)
    # access points no planned instance serves: nothing placed, or no latency known to the hosts
    uncovered: tuple[str, ...] = ()
    estimated: int = 0  # serving pairs whose latency is estimated, not measured
    keep_until: dict[str, datetime] = field(default_factory=dict)  # idle, retired at that time
    retire: tuple[str, ...] = ()  # hosts whose instance goes now
    evacuated: tuple[str, ...] = ()  # retired because their host became unavailable
    ineligible: dict[str, Ineligible] = field(default_factory=dict)  # host -> why no new one
    reason: PlacedReason = PlacedReason.PLACED
    message: str = ""

    @property
    def wanted(self) -> tuple[str, ...]:
        """Every host that keeps or gets an instance now (planned + idle but not yet expired)."""
        return tuple(sorted({*self.hosts, *self.keep_until}))


def _why_ineligible(spec: EdgeAppSpec, host: HostView, have: frozenset[str]) -> Ineligible | None:
    """Why the host may not get a new instance, None if it may (or already has one)."""
    allow = spec.placement.hosts
    new = host.name not in have
    checks = (
        (not host.ready, Ineligible.NOT_READY),
        (host.agent_lost, Ineligible.AGENT_LOST),
        (allow is not None and host.name not in allow, Ineligible.NOT_ALLOWED),
        (new and host.cordoned, Ineligible.CORDONED),
        (new and not host.has_room, Ineligible.FULL),
    )
    return next((why for failed, why in checks if failed), None)


@dataclass(frozen=True)
class _Coverage:
    chosen: list[str]
    coverage: dict[str, str]


def _cover(
    *,
    ap_ids: Sequence[str],
    eligible: Sequence[str],
    keep: Sequence[str],
    within: Callable[[str, str], float | None],
    cap: int,
    running: frozenset[str] = frozenset(),
    hysteresis_ms: float = 0.0,
) -> _Coverage:
    """Greedy set cover of the access points, starting from the hosts that must stay."""
    chosen = list(keep)
    coverage: dict[str, str] = {}

    def cover_with(host: str) -> None:
        for ap in ap_ids:
            rtt = within(ap, host)
            if rtt is None:
                continue
            current = coverage.get(ap)
            current_rtt = within(ap, current) if current else None
            if current_rtt is None or (rtt, host) < (current_rtt, str(current)):
                coverage[ap] = host

    for host in chosen:
        cover_with(host)
    while len(chosen) < cap:
        best: tuple[int, float, bool, str] | None = None
        for host in eligible:
            if host in chosen:
                continue
            hits = [
                rtt for ap in ap_ids if ap not in coverage and (rtt := within(ap, host)) is not None
            ]
            total = sum(hits) - (hysteresis_ms * len(hits) if host in running else 0.0)
            key = (-len(hits), total, host not in running, host)  # ties: stay where it runs
            if hits and (best is None or key < best):
                best = key
        if best is None:
            break
        chosen.append(best[3])
        cover_with(best[3])
    return _Coverage(chosen, coverage)


def _cover_over_budget(
    *,
    ap_ids: Sequence[str],
    candidates: Sequence[str],
    chosen: list[str],
    rtt: Callable[[str, str], float | None],
    cap: int,
    running: frozenset[str],
    hysteresis_ms: float,
) -> dict[str, str]:
    """Serve each access point by its nearest host, over budget (rule 3); adds to `chosen`."""
    known = {ap: {h: v for h in candidates if (v := rtt(ap, h)) is not None} for ap in ap_ids}
    remaining = sorted(ap for ap, by_host in known.items() if by_host)
    served: dict[str, str] = {}

    def nearest_chosen(ap: str, hosts: Sequence[str]) -> str:
        return min(hosts, key=lambda h: (known[ap][h], h))

    while remaining:
        near: dict[str, set[str]] = {}
        for ap in remaining:
            best = min(known[ap].values())
            near[ap] = {
                host
                for host, value in known[ap].items()
                if value - (hysteresis_ms if host in chosen or host in running else 0.0) <= best
            }
        for ap in remaining:
            if options := [h for h in chosen if h in near[ap]]:
                served[ap] = nearest_chosen(ap, options)
        remaining = [ap for ap in remaining if ap not in served]
        if not remaining:
            break
        if len(chosen) >= cap:
            for ap in remaining:
                if options := [h for h in chosen if h in known[ap]]:
                    served[ap] = nearest_chosen(ap, options)
            break

        keys = []
        for host in sorted({h for ap in remaining for h in near[ap]}):
            aps = [ap for ap in remaining if host in near[ap]]
            total = sum(known[ap][host] for ap in aps)
            total -= hysteresis_ms * len(aps) if host in running else 0.0
            keys.append((-len(aps), host not in running, total, host))
        chosen.append(min(keys)[3])
    return served


@dataclass(frozen=True)
class _Retirement:
    keep_until: dict[str, datetime]
    retire: list[str]
    evacuated: list[str]


def _retirements(
    spec: EdgeAppSpec,
    planned: Sequence[str],
    by_name: Mapping[str, HostView],
    observed: Sequence[ObservedInstance],
    now: datetime,
) -> _Retirement:
    result = _Retirement({}, [], [])
    idle = timedelta(seconds=spec.placement.idle_seconds)
    for instance in observed:
        if instance.host in planned:
            continue
        host = by_name.get(instance.host)
        if host is None or not host.available:
            result.retire.append(instance.host)
            result.evacuated.append(instance.host)
            continue
        since = instance.unneeded_since or now
        if since + idle > now:
            result.keep_until[instance.host] = since + idle
        else:
            result.retire.append(instance.host)
    return result


def plan_instances(
    spec: EdgeAppSpec,
    *,
    hosts: Sequence[HostView],
    access_points: Sequence[AccessPointView],
    latency: LatencyLookup,
    users_by_host: Mapping[str, int],
    observed: Sequence[ObservedInstance],
    now: datetime,
    users_by_access_point: Mapping[str, int] | None = None,
) -> InstancePlan:
    """Decide the instances of one app (see the module docstring for the rule).

    users_by_access_point: where the app's users are (access point -> users), for the standby.
    """
    by_name = {h.name: h for h in hosts}
    if spec.lifecycle == InstantiationState.NOT_INSTANTIATED:
        return InstancePlan(
            hosts=(),
            standby=(),
            retire=tuple(sorted(o.host for o in observed)),
            reason=PlacedReason.NOT_INSTANTIATED,
            message="spec.lifecycle is NotInstantiated: no instance runs",
        )
    running = frozenset(o.host for o in observed)
    ineligible = {
        name: why
        for name, host in sorted(by_name.items())
        if (why := _why_ineligible(spec, host, running)) is not None
    }
    eligible = [name for name in sorted(by_name) if name not in ineligible]
    cap = spec.placement.max_instances or len(by_name) or 1
    budget = spec.latency.max_ms

    def rtt(ap: str, host: str) -> float | None:
        value = latency(ap, host)
        return None if value is None else value.rtt_ms

    def within(ap: str, host: str) -> float | None:
        value = latency(ap, host)
        if value is None or value.one_way_ms > budget:
            return None
        return value.rtt_ms

    keep = [
        name
        for name, users in sorted(users_by_host.items())
        if users > 0 and (host := by_name.get(name)) is not None and host.available
    ][:cap]
    ap_ids = sorted({ap.id for ap in access_points})
    covered = _cover(
        ap_ids=ap_ids,
        eligible=eligible,
        keep=keep,
        within=within,
        cap=cap,
        running=running,
        hysteresis_ms=spec.mobility.hysteresis_ms,
    )
    chosen = covered.chosen
    best_effort = _cover_over_budget(
        ap_ids=[ap for ap in ap_ids if ap not in covered.coverage],
        candidates=sorted({*eligible, *chosen}),
        chosen=chosen,
        rtt=rtt,
        cap=cap,
        running=running,
        hysteresis_ms=spec.mobility.hysteresis_ms,
    )
    if not ap_ids and not chosen and eligible:
        current = [o.host for o in observed if o.host in eligible]
        # Stay where the app already runs: moving on every change of other apps' counts
        # would make all apps chase the emptiest host at once.
        chosen.append(
            min(current) if current else min(eligible, key=lambda n: (-_free(by_name[n]), n))
        )

    standby = _standby(spec, eligible, chosen, ap_ids, within, cap, users_by_access_point or {})
    planned = tuple(sorted({*chosen, *standby}))
    over_budget = {
        ap: OverBudget(host, value.one_way_ms, value.measured)
        for ap, host in best_effort.items()
        if (value := latency(ap, host)) is not None
    }
    uncovered = tuple(ap for ap in ap_ids if ap not in covered.coverage and ap not in over_budget)
    estimated = sum(
        1
        for ap, host in covered.coverage.items()
        if (value := latency(ap, host)) is not None and not value.measured
    ) + sum(1 for served in over_budget.values() if not served.measured)
    retirement = _retirements(spec, planned, by_name, observed, now)
    reason, message = _explain(
        planned=planned,
        standby=standby,
        ap_ids=ap_ids,
        coverage=covered.coverage,
        over_budget=over_budget,
        uncovered=uncovered,
        estimated=estimated,
        budget=budget,
        ineligible=ineligible,
        eligible=eligible,
        host_count=len(by_name),
    )
    return InstancePlan(
        hosts=planned,
        standby=tuple(sorted(standby)),
        coverage=covered.coverage,
        over_budget=over_budget,
        uncovered=uncovered,
        estimated=estimated,
        keep_until=retirement.keep_until,
        retire=tuple(sorted(retirement.retire)),
        evacuated=tuple(sorted(retirement.evacuated)),
        ineligible=ineligible,
        reason=reason,
        message=message,
    )


def _free(host: HostView) -> int:
    return (host.capacity_instances or 10**9) - host.instances_of_other_apps


def _standby(  # noqa: PLR0917 - a private helper of plan_instances
    spec: EdgeAppSpec,
    eligible: Sequence[str],
    chosen: Sequence[str],
    ap_ids: Sequence[str],
    within: Callable[[str, str], float | None],
    cap: int,
    users_at: Mapping[str, int],
) -> list[str]:
    wanted = min(spec.placement.warm_standby, max(cap - len(chosen), 0))
    if wanted == 0:
        return []
    votes: dict[str, int] = {}
    user_votes: dict[str, int] = {}
    for ap in ap_ids:
        ranked = sorted((rtt, host) for host in eligible if (rtt := within(ap, host)) is not None)
        seconds = [host for _, host in ranked if host not in chosen][:1]
        for host in seconds:
            votes[host] = votes.get(host, 0) + 1
            user_votes[host] = user_votes.get(host, 0) + max(users_at.get(ap, 0), 0)
    order = sorted(votes, key=lambda h: (-user_votes[h], -votes[h], h))
    if len(order) < wanted:  # no access point known: any eligible host will do, by name
        order += [h for h in eligible if h not in chosen and h not in order]
    return order[:wanted]


def count(n: int, noun: str) -> str:
    """`n` and the noun, plural unless n is 1: "1 access point", "3 access points"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def ms(value: float) -> str:
    """A latency in ms as messages show it: at most one decimal, no trailing zeros."""
    return f"{round(value, 1):g}"


def listed(items: Sequence[str], shown: int = SHOWN) -> str:
    """The first few items, then "..." if there are more."""
    return ", ".join(items[:shown]) + (", ..." if len(items) > shown else "")


def over_budget_text(over_budget: Mapping[str, OverBudget], budget: float) -> str:
    """'2 access points over the 5 ms budget: ap-1 7.5 ms from a, ap-2 9 ms from b (estimated)'."""
    served = [
        f"{ap} {ms(s.one_way_ms)} ms from {s.host}{'' if s.measured else ' (estimated)'}"
        for ap, s in sorted(over_budget.items())
    ]
    return (
        f"{count(len(served), 'access point')} over the {budget:g} ms budget, served by the "
        f"nearest host: {listed(served)}"
    )


def ineligible_text(ineligible: Mapping[str, Ineligible]) -> str:
    """'1 not Ready (a), 2 full (b, c)': the hosts per cause, in the order of `Ineligible`."""
    parts = []
    for why in Ineligible:
        names = sorted(h for h, w in ineligible.items() if w is why)
        if names:
            parts.append(f"{len(names)} {why} ({listed(names, 3)})")
    return ", ".join(parts)


def _explain(
    *,
    planned: Sequence[str],
    standby: Sequence[str],
    ap_ids: Sequence[str],
    coverage: Mapping[str, str],
    over_budget: Mapping[str, OverBudget],
    uncovered: Sequence[str],
    estimated: int,
    budget: float,
    ineligible: Mapping[str, Ineligible],
    eligible: Sequence[str],
    host_count: int,
) -> tuple[PlacedReason, str]:
    """The reason of the Placed condition and a message that says exactly why."""
    if not planned:
        if not host_count:
            return PlacedReason.NO_EDGE_HOST, "no node is labelled mec.dev/edge-host"
        if not eligible:
            return PlacedReason.NO_ELIGIBLE_HOST, (
                f"none of {count(host_count, 'edge host')} is eligible for a new instance: "
                f"{ineligible_text(ineligible)}"
            )
        others = f"; not eligible: {ineligible_text(ineligible)}" if ineligible else ""
        return PlacedReason.NO_LATENCY_DATA, (
            f"{count(len(eligible), 'eligible edge host')} ({listed(eligible)}) but no latency "
            f"known from any access point to them (no measurement, no location to estimate "
            f"from): {listed(uncovered)}{others}"
        )
    parts = [f"{len(planned)} instance(s) on {', '.join(planned)}"]
    if ap_ids:
        parts.append(f"{len(coverage)}/{len(ap_ids)} access points within {budget:g} ms")
    if over_budget:
        parts.append(over_budget_text(over_budget, budget))
    if uncovered:
        parts.append(
            f"{count(len(uncovered), 'access point')} with no known latency to a planned "
            f"host: {listed(uncovered)}"
        )
    if standby:
        parts.append(f"warm standby on {', '.join(standby)}")
    if estimated:
        parts.append(f"{estimated} latencies estimated from distance (no measurement yet)")
    reason = PlacedReason.OVER_BUDGET if over_budget else PlacedReason.PLACED
    return reason, "; ".join(parts)
