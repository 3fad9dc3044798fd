"""Placement index: examples, and agreement with a naive full scan on random operation sequences."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.reference_scan import scan_best_host
from mec_orchestrator.decisions.users import HostFullError, PlacementIndex
from tests.decisions.users.shared_settings import thorough

HOSTS = [f"h{i}" for i in range(6)]
ACCESS_POINTS = [f"ap{i}" for i in range(4)]
USERS = [f"u{i}" for i in range(12)]


def test_best_host_is_lowest_latency_then_name_among_free_hosts() -> None:
    index = PlacementIndex()
    for host, capacity in (("b", 1), ("a", 1), ("c", 5)):
        index.add_host(host, capacity)
    index.set_latency("ap", "b", 2.0)
    index.set_latency("ap", "a", 2.0)
    index.set_latency("ap", "c", 3.0)
    assert index.best_host("ap") == (2.0, "a")  # tie on latency: name decides
    index.assign("u1", "a")
    assert index.best_host("ap") == (2.0, "b")
    assert index.best_host("ap", holding="a") == (2.0, "a")  # the user's own slot counts
    assert index.best_host("ap", allowed={"c"}) == (3.0, "c")
    assert index.best_host("ap", allowed={"a"}) is None
    assert index.best_host("elsewhere") is None


def test_capacity_is_enforced_and_released() -> None:
    index = PlacementIndex()
    index.add_host("a", 1)
    index.assign("u1", "a")
    with pytest.raises(HostFullError):
        index.assign("u2", "a")
    with pytest.raises(ValueError, match="already on host"):
        index.assign("u1", "a")
    assert index.release("u1") == "a"
    assert index.release("u1") is None
    index.assign("u2", "a")
    assert index.load("a") == 1
    assert index.free_slots("a") == 0


def test_latency_updates_reorder_and_clearing_unranks() -> None:
    index = PlacementIndex()
    index.add_host("a", 3)
    index.add_host("b", 3)
    index.set_latency("ap", "a", 1.0)
    index.set_latency("ap", "b", 2.0)
    index.set_latency("ap", "a", 5.0)
    assert index.ranked("ap") == [(2.0, "b"), (5.0, "a")]
    index.clear_latency("ap", "b")
    assert index.ranked("ap") == [(5.0, "a")]
    assert index.latency("ap", "b") is None
    with pytest.raises(KeyError):
        index.set_latency("ap", "unknown", 1.0)


def test_remove_host_evicts_its_users_and_unranks_it() -> None:
    index = PlacementIndex()
    index.add_host("a", 3)
    index.add_host("b", 3)
    index.set_latency("ap", "a", 1.0)
    index.set_latency("ap", "b", 2.0)
    index.assign("u2", "a")
    index.assign("u1", "a")
    assert index.remove_host("a") == ["u1", "u2"]
    assert index.host_of("u1") is None
    assert index.best_host("ap") == (2.0, "b")
    assert not index.has_host("a")


@dataclass
class NaiveModel:
    """The same state in plain dicts, for the reference scan."""

    capacity: dict[str, int] = field(default_factory=dict)
    load: dict[str, int] = field(default_factory=dict)
    latency: dict[str, dict[str, float]] = field(default_factory=dict)
    host_of: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AddHost:
    host: str
    capacity: int


@dataclass(frozen=True)
class SetCapacity:
    host: str
    capacity: int


@dataclass(frozen=True)
class RemoveHost:
    host: str


@dataclass(frozen=True)
class SetLatency:
    access_point: str
    host: str
    latency_ms: float


@dataclass(frozen=True)
class ClearLatency:
    access_point: str
    host: str


@dataclass(frozen=True)
class PlaceUser:
    user: str
    access_point: str


@dataclass(frozen=True)
class ReleaseUser:
    user: str


Operation = AddHost | SetCapacity | RemoveHost | SetLatency | ClearLatency | PlaceUser | ReleaseUser

hosts = st.sampled_from(HOSTS)
access_points = st.sampled_from(ACCESS_POINTS)
users = st.sampled_from(USERS)
capacities = st.integers(min_value=0, max_value=4)
latencies = st.floats(min_value=0.0, max_value=50.0, allow_nan=False).map(lambda v: round(v, 1))
operations: st.SearchStrategy[Operation] = st.one_of(
    st.builds(AddHost, hosts, capacities),
    st.builds(SetCapacity, hosts, capacities),
    st.builds(RemoveHost, hosts),
    st.builds(SetLatency, access_points, hosts, latencies),
    st.builds(ClearLatency, access_points, hosts),
    st.builds(PlaceUser, users, access_points),
    st.builds(ReleaseUser, users),
)
allow_lists = st.one_of(st.none(), st.frozensets(hosts, max_size=6))


def apply(index: PlacementIndex, model: NaiveModel, op: Operation) -> None:
    match op:
        case AddHost(host, capacity) if host not in model.capacity:
            index.add_host(host, capacity)
            model.capacity[host], model.load[host] = capacity, 0
        case SetCapacity(host, capacity) if host in model.capacity:
            index.set_capacity(host, capacity)
            model.capacity[host] = capacity
        case RemoveHost(host) if host in model.capacity:
            evicted = index.remove_host(host)
            assert evicted == sorted(u for u, h in model.host_of.items() if h == host)
            for user in evicted:
                del model.host_of[user]
            del model.capacity[host], model.load[host]
            for row in model.latency.values():
                row.pop(host, None)
        case SetLatency(ap, host, value) if host in model.capacity:
            index.set_latency(ap, host, value)
            model.latency.setdefault(ap, {})[host] = value
        case ClearLatency(ap, host):
            index.clear_latency(ap, host)
            model.latency.get(ap, {}).pop(host, None)
        case PlaceUser(user, ap) if user not in model.host_of:
            # Place like the engine does: on the best feasible host, if any.
            best = index.best_host(ap)
            assert best == scan_best_host(model.latency, model.capacity, model.load, ap)
            if best is not None:
                index.assign(user, best[1])
                model.host_of[user] = best[1]
                model.load[best[1]] += 1
        case ReleaseUser(user):
            released = model.host_of.pop(user, None)
            assert index.release(user) == released
            if released is not None:
                model.load[released] -= 1
        case _:
            pass


@thorough(300)
@given(st.lists(operations, max_size=60), allow_lists, st.sampled_from([None, *HOSTS]))
def test_index_agrees_with_a_full_scan(
    ops: list[Operation], allowed: frozenset[str] | None, holding: str | None
) -> None:
    index, model = PlacementIndex(), NaiveModel()
    for op in ops:
        apply(index, model, op)
        for ap in ACCESS_POINTS:
            assert index.best_host(ap, allowed, holding) == scan_best_host(
                model.latency, model.capacity, model.load, ap, allowed=allowed, holding=holding
            )
    for host in model.capacity:
        assert index.load(host) == model.load[host]
        assert index.is_full(host) == (model.load[host] >= model.capacity[host])
    for ap in ACCESS_POINTS:
        assert index.ranked(ap) == sorted((v, h) for h, v in model.latency.get(ap, {}).items())


@thorough(200)
@given(
    st.lists(operations, max_size=60),
    allow_lists,
    st.sampled_from([None, *HOSTS]),
    st.frozensets(st.sampled_from(HOSTS)),
)
def test_excluded_hosts_are_skipped_unless_they_hold_the_user(
    ops: list[Operation],
    allowed: frozenset[str] | None,
    holding: str | None,
    excluded: frozenset[str],
) -> None:
    # Excluding is the same as leaving the hosts out of the allow-list, the holding host aside.
    index, model = PlacementIndex(), NaiveModel()
    for op in ops:
        apply(index, model, op)
    every = frozenset(model.capacity) if allowed is None else allowed
    narrowed = frozenset(h for h in every if h not in excluded or h == holding)
    for ap in ACCESS_POINTS:
        assert index.best_host(ap, allowed, holding, excluded) == scan_best_host(
            model.latency, model.capacity, model.load, ap, allowed=narrowed, holding=holding
        )


def test_a_short_allow_list_is_looked_up_directly_with_the_same_answer() -> None:
    index = PlacementIndex()
    for i in range(40):
        index.add_host(f"h{i:02}", 1)
        index.set_latency("ap", f"h{i:02}", float(40 - i) // 2)
    allowed = frozenset({"h03", "h02", "h39"})
    index.assign("u", "h39")
    # h39 (0.0) is full, h38 is not allowed; among h02 (19.0) and h03 (18.0) the lower wins.
    assert index.best_host("ap", allowed) == (18.0, "h03")
    assert index.best_host("ap", allowed, holding="h39") == (0.0, "h39")


@thorough(200)
@given(
    st.lists(st.integers(min_value=0, max_value=3), min_size=40, max_size=80),  # many ties
    st.data(),
)
def test_both_search_paths_agree_with_a_full_scan_on_long_rankings(
    latencies: list[int], data: st.DataObject
) -> None:
    # Many hosts and short allow-lists: the index looks the allowed hosts up directly.
    index, model = PlacementIndex(), NaiveModel()
    names = [f"h{i:02}" for i in range(len(latencies))]
    for name, latency in zip(names, latencies, strict=True):
        capacity = data.draw(st.integers(min_value=0, max_value=2))
        index.add_host(name, capacity)
        index.set_latency("ap", name, float(latency))
        model.capacity[name], model.load[name] = capacity, 0
        model.latency.setdefault("ap", {})[name] = float(latency)
        if capacity and data.draw(st.booleans()):
            for slot in range(capacity):
                index.assign(f"{name}-u{slot}", name)
            model.load[name] = capacity
    allowed = data.draw(st.one_of(st.none(), st.frozensets(st.sampled_from(names), max_size=5)))
    holding = data.draw(st.one_of(st.none(), st.sampled_from(names)))
    assert index.best_host("ap", allowed, holding) == scan_best_host(
        model.latency, model.capacity, model.load, "ap", allowed=allowed, holding=holding
    )
