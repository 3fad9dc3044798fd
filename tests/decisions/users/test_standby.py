"""Warm standby: where a user's neighbourhood would be served, minus where the app runs."""

from __future__ import annotations

from mec_orchestrator.decisions.users import PlacementIndex, PlacementRules, warm_standby_hosts
from tests.decisions.users.builders import engine_with


def test_standby_suggests_where_neighbours_would_be_served() -> None:
    engine = engine_with(
        {
            ("here", "a"): 1.0,
            ("n1", "b"): 1.0,
            ("n1", "a"): 5.0,
            ("n2", "b"): 2.0,
            ("n3", "c"): 1.0,
            ("n4", "a"): 1.0,
        },
        {"a": 5, "b": 5, "c": 5},
    )
    engine.place("u", "here", PlacementRules(), 0.0)
    suggestions = engine.standby_hosts(
        "here", ["n1", "n2", "n3", "n4"], PlacementRules(), 0.0, user="u"
    )
    assert [(s.host, s.access_points, s.latency_ms) for s in suggestions] == [
        ("b", ("n1", "n2"), 1.0),
        ("c", ("n3",), 1.0),
    ]
    only_one = engine.standby_hosts(
        "here", ["n1", "n3"], PlacementRules(), 0.0, user="u", running_on=["b"], count=1
    )
    assert [s.host for s in only_one] == ["c"]


def test_standby_respects_capacity_and_the_allow_list() -> None:
    index = PlacementIndex()
    for host in ("a", "b", "c"):
        index.add_host(host, 1)
    for ap, host, value in (("n1", "a", 1.0), ("n1", "b", 2.0), ("n1", "c", 3.0)):
        index.set_latency(ap, host, value)
    index.assign("someone", "a")
    assert [s.host for s in warm_standby_hosts(index, ["n1"])] == ["b"]
    assert [s.host for s in warm_standby_hosts(index, ["n1"], holding="a")] == ["a"]
    assert [s.host for s in warm_standby_hosts(index, ["n1"], allowed={"c"})] == ["c"]
    assert warm_standby_hosts(index, ["n1", "n1"], allowed={"c"}, running_on={"c"}) == []
    assert warm_standby_hosts(index, ["n1"], count=0) == []
