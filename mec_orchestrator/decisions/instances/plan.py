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
3. Then `placement.warmStandby` extra hosts: the second-best hosts of the covered access points
   (most access points first), so a handover target is already warm.
4. With no access point known at all, the app gets one instance: where it already runs if that
   host is still eligible, else on the eligible host with the most free capacity (then name).
   Staying put matters: apps that all chased the emptiest host would move in a herd.

Eligible for a new instance: available (node Ready, agent not lost), not cordoned, allowed by
`placement.hosts`, and with room under its instance capacity. Instances that fall out of the plan
are retired only after `placement.idleSeconds` without being wanted (a flapping measurement does
not tear an instance down), except on an unavailable host, which is evacuated at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mec_orchestrator.decisions.instances.views import AccessPointView, HostView, ObservedInstance
from mec_orchestrator.decisions.latency.estimate import LatencyLookup
from mec_orchestrator.model import EdgeAppSpec, InstantiationState


@dataclass(frozen=True)
class InstancePlan:
    """The hosts that should have an instance, what they cover, and what goes away."""

    hosts: tuple[str, ...]
    standby: tuple[str, ...]
    coverage: dict[str, str] = field(default_factory=dict)  # access point -> serving host
    uncovered: tuple[str, ...] = ()  # access points with no host within budget
    estimated: int = 0  # coverage pairs whose latency is estimated, not measured
    keep_until: dict[str, datetime] = field(default_factory=dict)  # idle, retired at that time
    retire: tuple[str, ...] = ()  # hosts whose instance goes now
    evacuated: tuple[str, ...] = ()  # retired because their host became unavailable
    reason: str = "Placed"
    message: str = ""

    @property
    def wanted(self) -> tuple[str, ...]:
        """Every host that keeps or gets an instance now (planned + idle but not yet expired)."""
        return tuple(sorted({*self.hosts, *self.keep_until}))


def _allowed(spec: EdgeAppSpec, host: str) -> bool:
    allow = spec.placement.hosts
    return allow is None or host in allow


@dataclass(frozen=True)
class _Coverage:
    chosen: list[str]
    coverage: dict[str, str]


def _eligible(spec: EdgeAppSpec, hosts: Sequence[HostView], have: set[str]) -> list[str]:
    return sorted(
        h.name
        for h in hosts
        if h.available
        and _allowed(spec, h.name)
        and (h.name in have or (not h.cordoned and h.has_room))
    )


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
) -> InstancePlan:
    """Decide the instances of one app (see the module docstring for the rule)."""
    by_name = {h.name: h for h in hosts}
    if spec.lifecycle == InstantiationState.NOT_INSTANTIATED:
        return InstancePlan(
            hosts=(),
            standby=(),
            retire=tuple(sorted(o.host for o in observed)),
            reason="NotInstantiated",
            message="spec.lifecycle is NotInstantiated: no instance runs",
        )
    eligible = _eligible(spec, hosts, {o.host for o in observed})
    cap = spec.placement.max_instances or len(by_name) or 1
    budget = spec.latency.max_ms

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
    running = frozenset(o.host for o in observed)
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
    if not ap_ids and not chosen and eligible:
        current = [o.host for o in observed if o.host in eligible]
        # Stay where the app already runs: moving on every change of other apps' counts
        # would make all apps chase the emptiest host at once.
        chosen.append(
            min(current) if current else min(eligible, key=lambda n: (-_free(by_name[n]), n))
        )

    standby = _standby(spec, eligible, chosen, ap_ids, within, cap)
    planned = tuple(sorted({*chosen, *standby}))
    uncovered = tuple(ap for ap in ap_ids if ap not in covered.coverage)
    estimated = sum(
        1
        for ap, host in covered.coverage.items()
        if (value := latency(ap, host)) is not None and not value.measured
    )
    retirement = _retirements(spec, planned, by_name, observed, now)
    if planned:
        reason = "Placed"
        message = _placed_message(planned, standby, ap_ids, uncovered, estimated, budget)
    elif not hosts:
        reason, message = "NoEdgeHost", "no node is labelled mec.dev/edge-host"
    else:
        reason = "NoEligibleHost"
        message = (
            f"none of {len(hosts)} edge hosts is eligible (Ready, not cordoned, allowed by "
            "spec.placement.hosts, with room) or within the latency budget"
        )
    return InstancePlan(
        hosts=planned,
        standby=tuple(sorted(standby)),
        coverage=covered.coverage,
        uncovered=uncovered,
        estimated=estimated,
        keep_until=retirement.keep_until,
        retire=tuple(sorted(retirement.retire)),
        evacuated=tuple(sorted(retirement.evacuated)),
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
) -> list[str]:
    wanted = min(spec.placement.warm_standby, max(cap - len(chosen), 0))
    if wanted == 0:
        return []
    votes: dict[str, int] = {}
    for ap in ap_ids:
        ranked = sorted((rtt, host) for host in eligible if (rtt := within(ap, host)) is not None)
        seconds = [host for _, host in ranked if host not in chosen][:1]
        for host in seconds:
            votes[host] = votes.get(host, 0) + 1
    order = sorted(votes, key=lambda h: (-votes[h], h))
    if len(order) < wanted:  # no access point known: any eligible host will do, by name
        order += [h for h in eligible if h not in chosen and h not in order]
    return order[:wanted]


def _placed_message(  # noqa: PLR0917 - a private helper of plan_instances
    planned: Sequence[str],
    standby: Sequence[str],
    ap_ids: Sequence[str],
    uncovered: Sequence[str],
    estimated: int,
    budget: float,
) -> str:
    parts = [f"{len(planned)} instance(s) on {', '.join(planned)}"]
    if ap_ids:
        parts.append(
            f"{len(ap_ids) - len(uncovered)}/{len(ap_ids)} access points within {budget:g} ms"
        )
    if standby:
        parts.append(f"warm standby on {', '.join(standby)}")
    if estimated:
        parts.append(f"{estimated} latencies estimated from distance (no measurement yet)")
    return "; ".join(parts)
