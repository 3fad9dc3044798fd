"""The placement engine: latency matrix, index, users and policies behind one object.

This is what the operator holds: agents' RTT samples go in, users' attachments and cell changes
go in, and decisions come out (where each user is served, whether the latency budget holds, who
should move, which hosts to keep warm). It is stateful but pure: no I/O, no clock (every call
that depends on time takes now_s), deterministic for the same sequence of calls.

Capacity is counted in user slots per host, shared by every user the engine places; an operator
that wants separate capacity per app keeps one engine per app.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mec_orchestrator.decisions.latency.matrix import (
    LatencyEstimate,
    LatencyMatrix,
    LatencyMetric,
    LatencySettings,
    StalePair,
)
from mec_orchestrator.decisions.mobility.policies import (
    MobilityPolicy,
    MobilitySituation,
    MobilityVerdict,
    ThresholdPolicy,
)
from mec_orchestrator.decisions.names import AccessPointId, HostName, UserId
from mec_orchestrator.decisions.users.decision import PlacementDecision, PlacementRules, judge
from mec_orchestrator.decisions.users.index import PlacementIndex
from mec_orchestrator.decisions.users.rebalance import Move, RebalancePlan
from mec_orchestrator.decisions.users.standby import StandbySuggestion, warm_standby_hosts


@dataclass(frozen=True, slots=True)
class MobilityResult:
    """What happened to a user on an update: the policy's verdict and where the user is now."""

    verdict: MobilityVerdict
    previous_host: HostName | None
    decision: PlacementDecision

    @property
    def moved(self) -> bool:
        """The user changed host: a handover from previous_host to decision.host is due."""
        return (
            self.previous_host is not None
            and self.decision.host is not None
            and self.decision.host != self.previous_host
        )


class _UserState:
    __slots__ = ("access_point", "allowed", "since_s")

    def __init__(
        self, access_point: AccessPointId, allowed: frozenset[HostName] | None, since_s: float
    ) -> None:
        self.access_point = access_point
        self.allowed = allowed
        self.since_s = since_s


class PlacementEngine:
    """Latency matrix + placement index + user state, with the decisions the operator needs."""

    def __init__(
        self,
        settings: LatencySettings | None = None,
        metric: LatencyMetric = LatencyMetric.EWMA,
        default_policy: MobilityPolicy | None = None,
    ) -> None:
        self.matrix = LatencyMatrix(settings)
        self.index = PlacementIndex()
        self.metric = metric
        self.default_policy: MobilityPolicy = default_policy or ThresholdPolicy()
        self._users: dict[UserId, _UserState] = {}  # placed users
        self._waiting: dict[UserId, _UserState] = {}  # asked, but no feasible host had room

    # Hosts

    def add_host(self, host: HostName, capacity: int) -> None:
        """Register a host; latencies already measured to it (and trusted) are ranked at once."""
        self.index.add_host(host, capacity)
        for access_point in self.matrix.access_points_of(host):
            if self.matrix.is_trusted(access_point, host):
                value = self.matrix.value(access_point, host, self.metric)
                if value is not None:
                    self.index.set_latency(access_point, host, value)

    def set_capacity(self, host: HostName, capacity: int) -> None:
        self.index.set_capacity(host, capacity)

    def remove_host(self, host: HostName) -> list[UserId]:
        """Forget a host (it died or left); returns its users, now unplaced, to place again."""
        evicted = self.index.remove_host(host)
        for user in evicted:
            del self._users[user]
        return evicted

    # Measurements

    def record_latency(
        self, access_point: AccessPointId, host: HostName, rtt_ms: float, at_s: float
    ) -> None:
        """One RTT sample from host's agent to access_point's reflector, taken at at_s."""
        stats = self.matrix.record(access_point, host, rtt_ms, at_s)
        if self.index.has_host(host):
            self.index.set_latency(access_point, host, stats.value(self.metric))

    def expire_stale(self, now_s: float) -> list[tuple[AccessPointId, HostName]]:
        """Stop trusting pairs without a recent sample; returns those newly stale (sorted).

        Every decision calls this first, so decisions never rank a stale pair.
        """
        expired = self.matrix.expire(now_s)
        for access_point, host in expired:
            if self.index.has_host(host):
                self.index.clear_latency(access_point, host)
        return expired

    def stale_pairs(self, now_s: float) -> list[StalePair]:
        """Every measured pair stale at now_s (a report: scans the matrix)."""
        return self.matrix.stale_pairs(now_s)

    def latency(
        self, access_point: AccessPointId, host: HostName, now_s: float
    ) -> LatencyEstimate | None:
        return self.matrix.estimate(access_point, host, now_s)

    # Decisions

    def choose(
        self,
        access_point: AccessPointId,
        rules: PlacementRules,
        now_s: float,
        user: UserId | None = None,
    ) -> PlacementDecision:
        """The best feasible host from access_point (read-only; a user's own slot counts)."""
        self.expire_stale(now_s)
        holding = None if user is None else self.index.host_of(user)
        best = self.index.best_host(
            access_point, rules.allowed_hosts, holding, rules.excluded_hosts
        )
        if best is None:
            return judge(user, access_point, None, None, rules.latency_budget_ms)
        return judge(user, access_point, best[1], best[0], rules.latency_budget_ms)

    def place(
        self, user: UserId, access_point: AccessPointId, rules: PlacementRules, now_s: float
    ) -> PlacementDecision:
        """Put a user that has no host on the best feasible host (none: the user stays unplaced).

        A user that already has a host goes through `update_user` instead.
        """
        if self.index.host_of(user) is not None:
            raise ValueError(f"user {user!r} is already placed; use update_user")
        decision = self.choose(access_point, rules, now_s, user)
        state = _UserState(access_point, rules.allowed_hosts, now_s)
        if decision.host is None:
            self._waiting[user] = state
        else:
            self.index.assign(user, decision.host)
            self._users[user] = state
            self._waiting.pop(user, None)
        return decision

    def update_user(
        self,
        user: UserId,
        access_point: AccessPointId,
        rules: PlacementRules,
        now_s: float,
        policy: MobilityPolicy | None = None,
    ) -> MobilityResult:
        """The user is (now) at access_point: ask the policy whether it moves, and apply it.

        Works for a new user too (it is placed). The result's decision is judged against the
        budget wherever the user ends up: a breach is reported, never hidden. A user whose host
        the rules no longer allow leaves it, and is unplaced if no allowed host has room.
        """
        self.expire_stale(now_s)
        index = self.index
        current = index.host_of(user)
        state = self._users.get(user)
        allowed = rules.allowed_hosts
        best = index.best_host(access_point, allowed, current, rules.excluded_hosts)
        situation = MobilitySituation(
            current_host=current,
            current_allowed=current is not None and (allowed is None or current in allowed),
            current_latency_ms=None if current is None else index.latency(access_point, current),
            best_host=None if best is None else best[1],
            best_latency_ms=None if best is None else best[0],
            budget_ms=rules.latency_budget_ms,
            dwell_s=0.0 if state is None else now_s - state.since_s,
        )
        verdict = (policy or self.default_policy).decide(situation)
        if verdict.target not in (current, situation.best_host):
            raise ValueError(f"policy chose {verdict.target!r}, not the current or best host")
        host = current
        if verdict.move and verdict.target != current:
            if current is not None:
                index.release(user)
                del self._users[user]
                state = None
            if verdict.target is not None:
                index.assign(user, verdict.target)
            host = verdict.target
        if host is None:
            self._waiting[user] = _UserState(access_point, allowed, now_s)
        else:
            self._waiting.pop(user, None)
            if state is None:
                self._users[user] = _UserState(access_point, allowed, now_s)
            else:
                state.access_point = access_point
                state.allowed = allowed
        latency = None if host is None else index.latency(access_point, host)
        decision = judge(user, access_point, host, latency, rules.latency_budget_ms)
        return MobilityResult(verdict, current, decision)

    def assess(
        self,
        user: UserId,
        access_point: AccessPointId,
        rules: PlacementRules,
        now_s: float,
        policy: MobilityPolicy | None = None,
    ) -> MobilityVerdict:
        """What the policy would decide for the user at access_point, without applying it.

        For apps whose users cannot move yet (their context must be handed over first): the
        decision is recorded, the user stays.
        """
        self.expire_stale(now_s)
        current = self.index.host_of(user)
        state = self._users.get(user)
        allowed = rules.allowed_hosts
        best = self.index.best_host(access_point, allowed, current, rules.excluded_hosts)
        situation = MobilitySituation(
            current_host=current,
            current_allowed=current is not None and (allowed is None or current in allowed),
            current_latency_ms=None
            if current is None
            else self.index.latency(access_point, current),
            best_host=None if best is None else best[1],
            best_latency_ms=None if best is None else best[0],
            budget_ms=rules.latency_budget_ms,
            dwell_s=0.0 if state is None else now_s - state.since_s,
        )
        return (policy or self.default_policy).decide(situation)

    def note_access_point(self, user: UserId, access_point: AccessPointId) -> None:
        """The user is at access_point now but stays where it is served (no decision)."""
        state = self._users.get(user) or self._waiting.get(user)
        if state is not None:
            state.access_point = access_point

    def relocate(self, user: UserId, host: HostName, now_s: float) -> None:
        """Serve the user on host, whatever the policy says (undoing a move that failed).

        Raises HostFullError when host has no free slot; the user then keeps its host.
        """
        current = self.index.host_of(user)
        if current == host:
            return
        if current is not None:
            self.index.release(user)
        try:
            self.index.assign(user, host)
        except Exception:
            if current is not None:
                self.index.assign(user, current)
            raise
        state = self._users.get(user) or self._waiting.pop(user, None)
        if state is not None:
            state.since_s = now_s
            self._users[user] = state

    def adopt(
        self, user: UserId, host: HostName, access_point: AccessPointId | None, now_s: float
    ) -> bool:
        """A user already served on host (learned from its agent after a restart): record it.

        The slot is taken even when the host is over its capacity now (the user is there; the
        capacity only refuses new users). False when the engine does not know the host.
        """
        if not self.index.has_host(host):
            return False
        if self.index.host_of(user) == host:
            return True
        self.index.release(user)
        self.index.force_assign(user, host)
        self._users[user] = _UserState(access_point or "", None, now_s)
        self._waiting.pop(user, None)
        return True

    def release(self, user: UserId) -> HostName | None:
        """The user left: free its slot (or stop waiting); returns the host it was on."""
        self._users.pop(user, None)
        self._waiting.pop(user, None)
        return self.index.release(user)

    def host_of(self, user: UserId) -> HostName | None:
        return self.index.host_of(user)

    def access_point_of(self, user: UserId) -> AccessPointId | None:
        state = self._users.get(user)
        return None if state is None else state.access_point

    def user_count(self) -> int:
        """Placed users."""
        return len(self._users)

    def waiting_users(self) -> list[UserId]:
        """Users whose last placement found no feasible host (a rebalance may place them)."""
        return sorted(self._waiting)

    def total_latency_ms(self) -> float:
        """Sum over placed users of the latency of their host from their access point."""
        total = 0.0
        for user, host in self.index.placements().items():
            latency = self.index.latency(self._users[user].access_point, host)
            if latency is not None:
                total += latency
        return total

    # Warm standby

    def standby_hosts(
        self,
        access_point: AccessPointId,
        neighbours: Iterable[AccessPointId],
        rules: PlacementRules,
        now_s: float,
        *,
        user: UserId | None = None,
        running_on: Iterable[HostName] = (),
        count: int | None = 2,
    ) -> list[StandbySuggestion]:
        """Hosts to keep an instance warm on for a user at access_point (see `standby`).

        The hosts in running_on (where the app already runs) and the user's own host are left
        out; access_point itself is considered with its neighbours.
        """
        self.expire_stale(now_s)
        holding = None if user is None else self.index.host_of(user)
        skip = set(running_on)
        if holding is not None:
            skip.add(holding)
        return warm_standby_hosts(
            self.index,
            [access_point, *neighbours],
            allowed=rules.allowed_hosts,
            running_on=skip,
            holding=holding,
            count=count,
        )

    # Rebalancing

    def plan_rebalance(self, now_s: float) -> list[Move]:
        """Moves that place waiting users and bring the total latency to its minimum.

        As many waiting users as capacity allows get a host, and the total latency of placed
        users is then the least possible under capacity; nobody placed loses their host.
        Users on a host without a trusted latency from their access point, on a host they are
        no longer allowed on, or on a host over its capacity are left where they are.
        """
        self.expire_stale(now_s)
        plan = RebalancePlan(self.index)
        over = {h for h in self.index.hosts() if self.index.load(h) > self.index.capacity(h)}
        for user, host in sorted(self.index.placements().items()):
            state = self._users[user]
            allowed = state.allowed
            if (
                host in over
                or self.index.latency(state.access_point, host) is None
                or (allowed is not None and host not in allowed)
            ):
                plan.pin(host)
            else:
                plan.add(user, state.access_point, allowed, host)
        for user, state in sorted(self._waiting.items()):
            plan.add(user, state.access_point, state.allowed, None)
        return plan.solve(over)

    def apply_moves(self, moves: Sequence[Move], now_s: float) -> None:
        """Apply a plan at once (every user released first, then assigned: chains fit)."""
        for move in moves:
            if self.index.host_of(move.user) != move.from_host or (
                move.from_host is None and move.user not in self._waiting
            ):
                raise ValueError(f"user {move.user!r} is no longer where the plan has it")
        for move in moves:
            self.index.release(move.user)
        for move in moves:
            self.index.assign(move.user, move.to_host)
            state = self._users.get(move.user) or self._waiting.pop(move.user)
            state.since_s = now_s
            self._users[move.user] = state

    def rebalance(self, now_s: float) -> list[Move]:
        """Plan and apply the moves to the least total latency; returns them."""
        moves = self.plan_rebalance(now_s)
        self.apply_moves(moves, now_s)
        return moves
