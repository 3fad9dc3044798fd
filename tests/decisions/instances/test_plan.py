"""The instance plan: examples for each rule, and properties over random clusters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mec_orchestrator.decisions.instances.plan import plan_instances
from mec_orchestrator.decisions.instances.views import AccessPointView, HostView, ObservedInstance
from mec_orchestrator.decisions.latency.estimate import Latency, LatencyLookup
from mec_orchestrator.model import EdgeAppSpec, PlacedReason

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def spec(**overrides: Any) -> EdgeAppSpec:
    base: dict[str, Any] = {
        "appDId": "app-1",
        "appName": "ar",
        "appProvider": "p",
        "appSoftVersion": "1",
        "latency": {"maxMs": 5},
        "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}},
        "placement": {"warmStandby": 0, "idleSeconds": 60},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return EdgeAppSpec.model_validate(base)


def hosts(*names: str, **flags: dict[str, Any]) -> list[HostView]:
    return [HostView(name=n, ready=True, cordoned=False, **flags.get(n, {})) for n in names]


def table(rtts: Mapping[tuple[str, str], float]) -> LatencyLookup:
    def lookup(ap: str, host: str) -> Latency | None:
        rtt = rtts.get((ap, host))
        return None if rtt is None else Latency(rtt, measured=True)

    return lookup


APS = [AccessPointView("ap-1", "z"), AccessPointView("ap-2", "z")]


def plan(
    app: EdgeAppSpec, views: list[HostView], rtts: Mapping[tuple[str, str], float], **kw: Any
) -> Any:
    return plan_instances(
        app,
        hosts=views,
        access_points=kw.get("access_points", APS),
        latency=table(rtts),
        users_by_host=kw.get("users", {}),
        observed=kw.get("observed", []),
        now=kw.get("now", NOW),
        users_by_access_point=kw.get("users_at"),
    )


def test_the_host_within_budget_for_every_access_point_is_chosen() -> None:
    rtts = {
        ("ap-1", "a"): 2,
        ("ap-2", "a"): 30,
        ("ap-1", "b"): 4,
        ("ap-2", "b"): 6,
        ("ap-1", "c"): 40,
    }
    result = plan(spec(), hosts("a", "b", "c"), rtts)
    assert result.hosts == ("b",)  # b covers both within 5 ms one way (RTT <= 10)
    assert result.coverage == {"ap-1": "b", "ap-2": "b"}
    assert result.uncovered == ()
    assert result.reason is PlacedReason.PLACED


def test_access_points_over_budget_or_uncovered_are_reported_not_hidden() -> None:
    rtts = {("ap-1", "a"): 2, ("ap-2", "a"): 30}
    result = plan(spec(), hosts("a"), rtts, access_points=[*APS, AccessPointView("ap-3", "z")])
    assert result.hosts == ("a",)
    assert result.coverage == {"ap-1": "a"}
    assert result.over_budget == {"ap-2": ("a", 15.0, True)}
    assert result.uncovered == ("ap-3",)  # no latency known to any host
    assert "ap-3" in result.message


def test_cordoned_unready_lost_or_full_hosts_get_no_new_instance() -> None:
    rtts = {(ap, h): 2.0 for ap in ("ap-1", "ap-2") for h in "abcde"}
    views = [
        HostView("a", ready=True, cordoned=True),
        HostView("b", ready=False, cordoned=False),
        HostView("c", ready=True, cordoned=False, agent_lost=True),
        HostView("d", ready=True, cordoned=False, capacity_instances=2, instances_of_other_apps=2),
        HostView("e", ready=True, cordoned=False),
    ]
    assert plan(spec(), views, rtts).hosts == ("e",)


def test_allow_list_is_respected() -> None:
    rtts = {(ap, h): 2.0 for ap in ("ap-1", "ap-2") for h in "ab"}
    assert plan(spec(placement={"hosts": ["b"]}), hosts("a", "b"), rtts).hosts == ("b",)


def test_warm_standby_adds_the_second_best_host() -> None:
    rtts = {
        ("ap-1", "a"): 1,
        ("ap-2", "a"): 1,
        ("ap-1", "b"): 3,
        ("ap-2", "b"): 3,
        ("ap-1", "c"): 8,
    }
    result = plan(spec(placement={"warmStandby": 1}), hosts("a", "b", "c"), rtts)
    assert result.hosts == ("a", "b")
    assert result.standby == ("b",)


def test_the_warm_standby_goes_next_to_the_users() -> None:
    aps = [AccessPointView(f"ap-{i}", "z") for i in (1, 2, 3)]
    rtts = {
        ("ap-1", "a"): 1,
        ("ap-2", "a"): 1,
        ("ap-3", "a"): 1,
        ("ap-1", "b"): 3,  # b is second best for ap-1 and ap-2
        ("ap-2", "b"): 3,
        ("ap-3", "c"): 3,  # c is second best for ap-3 only
    }
    app = spec(placement={"warmStandby": 1})
    nobody = plan(app, hosts("a", "b", "c"), rtts, access_points=aps)
    assert nobody.standby == ("b",)  # most access points
    crowd = plan(app, hosts("a", "b", "c"), rtts, access_points=aps, users_at={"ap-3": 40})
    assert crowd.standby == ("c",)  # where the users are


def test_without_access_points_one_instance_runs_on_the_roomiest_host() -> None:
    views = hosts("a", "b", a={"capacity_instances": 1}, b={"capacity_instances": 5})
    result = plan(spec(), views, {}, access_points=[])
    assert result.hosts == ("b",)


def test_not_instantiated_retires_everything() -> None:
    observed = [ObservedInstance("a", "ar-a", 1, 1)]
    result = plan(spec(lifecycle="NotInstantiated"), hosts("a"), {}, observed=observed)
    assert result.hosts == ()
    assert result.retire == ("a",)
    assert result.reason is PlacedReason.NOT_INSTANTIATED


def test_an_unneeded_instance_stays_until_idle_seconds_then_goes() -> None:
    rtts = {(ap, "b"): 2.0 for ap in ("ap-1", "ap-2")}
    fresh = [ObservedInstance("a", "ar-a", 1, 1)]
    first = plan(spec(), hosts("a", "b"), rtts, observed=fresh)
    assert first.hosts == ("b",)
    assert first.keep_until == {"a": NOW + timedelta(seconds=60)}
    assert first.wanted == ("a", "b")
    aged = [ObservedInstance("a", "ar-a", 1, 1, unneeded_since=NOW - timedelta(seconds=61))]
    later = plan(spec(), hosts("a", "b"), rtts, observed=aged)
    assert later.retire == ("a",)
    assert later.keep_until == {}


def test_an_instance_on_an_unavailable_host_is_evacuated_at_once() -> None:
    rtts = {(ap, h): 2.0 for ap in ("ap-1", "ap-2") for h in "ab"}
    views = [HostView("a", ready=False, cordoned=False), HostView("b", ready=True, cordoned=False)]
    result = plan(spec(), views, rtts, observed=[ObservedInstance("a", "ar-a", 1, 1)])
    assert result.hosts == ("b",)
    assert result.retire == ("a",)
    assert result.evacuated == ("a",)


def test_hosts_serving_users_keep_their_instance_even_when_cordoned() -> None:
    rtts = {(ap, h): 2.0 for ap in ("ap-1", "ap-2") for h in "ab"}
    views = [HostView("a", ready=True, cordoned=True), HostView("b", ready=True, cordoned=False)]
    observed = [ObservedInstance("a", "ar-a", 1, 1)]
    result = plan(spec(), views, rtts, users={"a": 3}, observed=observed)
    assert "a" in result.hosts


# -- properties ---------------------------------------------------------------------------

host_names = st.sampled_from([f"h{i}" for i in range(8)])


@st.composite
def clusters(draw: st.DrawFn) -> tuple[EdgeAppSpec, list[HostView], dict[tuple[str, str], float]]:
    names = sorted(draw(st.sets(host_names, min_size=1, max_size=8)))
    views = [
        HostView(
            name=n,
            ready=draw(st.booleans()),
            cordoned=draw(st.booleans()),
            agent_lost=draw(st.booleans()),
            capacity_instances=draw(st.none() | st.integers(0, 3)),
            instances_of_other_apps=draw(st.integers(0, 3)),
        )
        for n in names
    ]
    aps = [f"ap-{i}" for i in range(draw(st.integers(0, 6)))]
    rtts = {(ap, n): draw(st.floats(0.1, 40.0)) for ap in aps for n in names if draw(st.booleans())}
    allow = draw(st.none() | st.lists(host_names, min_size=1, max_size=4, unique=True))
    cap = draw(st.integers(1, 8))
    app = spec(
        latency={"maxMs": draw(st.floats(0.5, 20.0))},
        placement={
            "hosts": allow,
            "maxInstances": cap,
            "warmStandby": draw(st.integers(0, min(2, cap - 1))),
        },
    )
    return app, views, rtts


def _aps(rtts: dict[tuple[str, str], float]) -> list[AccessPointView]:
    return [AccessPointView(ap, "z") for ap in sorted({ap for ap, _ in rtts})]


@settings(max_examples=300, deadline=None)
@given(clusters())
def test_new_instances_only_on_eligible_hosts_and_within_the_cap(
    cluster: tuple[EdgeAppSpec, list[HostView], dict[tuple[str, str], float]],
) -> None:
    app, views, rtts = cluster
    result = plan(app, views, rtts, access_points=_aps(rtts))
    by_name = {v.name: v for v in views}
    for host in result.hosts:
        view = by_name[host]
        assert view.available
        assert not view.cordoned
        assert view.has_room
        assert app.placement.hosts is None or host in app.placement.hosts
    assert len(result.hosts) <= (app.placement.max_instances or len(views))


@settings(max_examples=300, deadline=None)
@given(clusters())
def test_every_coverable_access_point_is_covered_within_budget_when_the_cap_allows(
    cluster: tuple[EdgeAppSpec, list[HostView], dict[tuple[str, str], float]],
) -> None:
    app, views, rtts = cluster
    result = plan(app, views, rtts, access_points=_aps(rtts))
    eligible = {
        v.name
        for v in views
        if v.available
        and not v.cordoned
        and v.has_room
        and (app.placement.hosts is None or v.name in app.placement.hosts)
    }
    budget_rtt = 2 * app.latency.max_ms  # the budget is one way; the table holds RTTs
    for ap, host in result.coverage.items():
        assert rtts[(ap, host)] <= budget_rtt
        assert host in result.hosts
    if len(result.hosts) < (app.placement.max_instances or len(views)):
        for ap in result.uncovered:
            assert all(rtts.get((ap, h), 1e9) > budget_rtt for h in eligible)


@settings(max_examples=200, deadline=None)
@given(clusters())
def test_the_plan_is_deterministic_and_ignores_host_order(
    cluster: tuple[EdgeAppSpec, list[HostView], dict[tuple[str, str], float]],
) -> None:
    app, views, rtts = cluster
    first = plan(app, views, rtts, access_points=_aps(rtts))
    second = plan(app, list(reversed(views)), rtts, access_points=list(reversed(_aps(rtts))))
    assert first == second


def test_without_access_points_an_app_stays_where_it_runs() -> None:
    views = hosts("a", "b", a={"instances_of_other_apps": 5}, b={"instances_of_other_apps": 0})
    result = plan(
        spec(), views, {}, access_points=[], observed=[ObservedInstance("a", "ar-a", 1, 1)]
    )
    assert result.hosts == ("a",)


def test_equal_hosts_prefer_the_one_already_running_the_app() -> None:
    rtts = {(ap, h): 2.0 for ap in ("ap-1", "ap-2") for h in "ab"}
    result = plan(spec(), hosts("a", "b"), rtts, observed=[ObservedInstance("b", "ar-b", 1, 1)])
    assert result.hosts == ("b",)


def test_a_host_better_by_less_than_the_hysteresis_does_not_take_the_instance_over() -> None:
    app = spec(mobility={"hysteresisMs": 2})
    running = [ObservedInstance("a", "ar-a", 1, 1)]
    slightly = {(ap, "a"): 4.0 for ap in ("ap-1", "ap-2")} | {
        (ap, "b"): 2.5 for ap in ("ap-1", "ap-2")
    }
    assert plan(app, hosts("a", "b"), slightly, observed=running).hosts == ("a",)
    clearly = {(ap, "a"): 4.0 for ap in ("ap-1", "ap-2")} | {
        (ap, "b"): 1.5 for ap in ("ap-1", "ap-2")
    }
    assert plan(app, hosts("a", "b"), clearly, observed=running).hosts == ("b",)
    # with no hysteresis, any gain moves it
    assert plan(
        spec(mobility={"hysteresisMs": 0}), hosts("a", "b"), slightly, observed=running
    ).hosts == ("b",)


@settings(max_examples=300, deadline=None)
@given(
    names=st.lists(host_names, min_size=2, max_size=6, unique=True),
    ap_count=st.integers(1, 5),
    hysteresis=st.floats(0.5, 5.0),
    data=st.data(),
)
def test_measurements_wobbling_within_the_hysteresis_never_move_the_instance(
    names: list[str], ap_count: int, hysteresis: float, data: st.DataObject
) -> None:
    # Every host meets the budget everywhere, so only latency decides, and one host is chosen.
    aps = [f"ap-{i}" for i in range(ap_count)]
    app = spec(latency={"maxMs": 50}, mobility={"hysteresisMs": hysteresis})
    rtts = {(ap, n): data.draw(st.floats(1.0, 40.0)) for ap in aps for n in names}
    views = hosts(*names)
    access = [AccessPointView(ap, "z") for ap in aps]
    (first,) = plan(app, views, rtts, access_points=access).hosts
    running = [ObservedInstance(first, f"ar-{first}", 1, 1)]
    for _ in range(5):  # rounds of measurements, each pair off by less than half the hysteresis
        wobble = 0.45 * hysteresis
        moved = {pair: rtt + data.draw(st.floats(-wobble, wobble)) for pair, rtt in rtts.items()}
        assert plan(app, views, moved, access_points=access, observed=running).hosts == (first,)


# -- no host within budget: degrade to the nearest host, do not disappear -------------------

FAR = {("ap-1", "a"): 30.0, ("ap-1", "b"): 20.0, ("ap-2", "a"): 24.0, ("ap-2", "b"): 40.0}
"""Every pair over a 5 ms one-way budget: b is nearest to ap-1, a to ap-2."""


def test_with_no_host_within_budget_each_access_point_is_served_by_its_nearest_host() -> None:
    result = plan(spec(), hosts("a", "b"), FAR)
    assert result.hosts == ("a", "b")
    assert result.coverage == {}
    assert result.over_budget == {"ap-1": ("b", 10.0, True), "ap-2": ("a", 12.0, True)}
    assert result.uncovered == ()
    assert result.reason is PlacedReason.OVER_BUDGET
    assert "ap-1 10 ms from b" in result.message
    assert "ap-2 12 ms from a" in result.message


def test_over_budget_coverage_respects_max_instances() -> None:
    result = plan(spec(placement={"maxInstances": 1}), hosts("a", "b"), FAR)
    assert result.hosts == ("b",)  # nearest to ap-1 and the lower total of the two
    assert result.over_budget == {"ap-1": ("b", 10.0, True), "ap-2": ("b", 20.0, True)}


def test_an_over_budget_instance_is_not_retired_when_idle() -> None:
    rtts = {("ap-1", "a"): 30.0, ("ap-2", "a"): 30.0}
    aged = [ObservedInstance("a", "ar-a", 1, 1, unneeded_since=NOW - timedelta(seconds=61))]
    result = plan(spec(), hosts("a"), rtts, observed=aged)
    assert result.hosts == ("a",)
    assert result.retire == ()


def test_a_host_within_budget_takes_over_from_the_over_budget_one_which_then_retires() -> None:
    far = {("ap-1", "a"): 30.0, ("ap-2", "a"): 30.0}
    alone = plan(spec(), hosts("a", "b"), far)
    assert alone.hosts == ("a",)
    running = [ObservedInstance("a", "ar-a", 1, 1)]
    near = far | {("ap-1", "b"): 4.0, ("ap-2", "b"): 4.0}
    better = plan(spec(), hosts("a", "b"), near, observed=running)
    assert better.hosts == ("b",)
    assert better.over_budget == {}
    assert better.keep_until == {"a": NOW + timedelta(seconds=60)}
    aged = [ObservedInstance("a", "ar-a", 1, 1, unneeded_since=NOW - timedelta(seconds=61))]
    assert plan(spec(), hosts("a", "b"), near, observed=aged).retire == ("a",)


def test_an_over_budget_instance_stays_put_within_the_hysteresis() -> None:
    rtts = {(ap, "a"): 30.0 for ap in ("ap-1", "ap-2")} | {
        (ap, "b"): 29.0 for ap in ("ap-1", "ap-2")
    }
    app = spec(mobility={"hysteresisMs": 2})
    assert plan(app, hosts("a", "b"), rtts).hosts == ("b",)
    running = [ObservedInstance("a", "ar-a", 1, 1)]
    assert plan(app, hosts("a", "b"), rtts, observed=running).hosts == ("a",)


def test_an_access_point_goes_to_a_chosen_host_within_the_hysteresis_of_the_nearest() -> None:
    rtts = {("ap-1", "a"): 4.0, ("ap-2", "a"): 31.0, ("ap-2", "b"): 30.0}
    result = plan(spec(mobility={"hysteresisMs": 2}), hosts("a", "b"), rtts)
    assert result.hosts == ("a",)  # no second instance for a 0.5 ms gain
    assert result.over_budget == {"ap-2": ("a", 15.5, True)}


@st.composite
def served_clusters(
    draw: st.DrawFn,
) -> tuple[EdgeAppSpec, list[HostView], dict[tuple[str, str], float]]:
    """Clusters with an eligible host, where every access point has a latency to one."""
    app, views, rtts = draw(clusters())
    anchor = draw(st.sampled_from(views)).name
    views = [
        replace(v, ready=True, cordoned=False, agent_lost=False, capacity_instances=None)
        if v.name == anchor
        else v
        for v in views
    ]
    allow = app.placement.hosts
    if allow is not None and anchor not in allow:
        placement = app.placement.model_copy(update={"hosts": [*allow, anchor]})
        app = app.model_copy(update={"placement": placement})
    eligible = {
        v.name
        for v in views
        if v.available
        and not v.cordoned
        and v.has_room
        and (app.placement.hosts is None or v.name in app.placement.hosts)
    }
    aps = sorted({ap for ap, _ in rtts} | {f"ap-{i}" for i in range(draw(st.integers(1, 3)))})
    rtts = dict(rtts)
    for ap in aps:
        if not any((ap, h) in rtts for h in eligible):
            rtts[(ap, draw(st.sampled_from(sorted(eligible))))] = draw(st.floats(0.1, 80.0))
    return app, views, rtts


@settings(max_examples=300, deadline=None)
@given(served_clusters())
def test_an_app_with_an_eligible_host_and_known_latencies_always_runs_somewhere(
    cluster: tuple[EdgeAppSpec, list[HostView], dict[tuple[str, str], float]],
) -> None:
    app, views, rtts = cluster
    aps = _aps(rtts)
    result = plan(app, views, rtts, access_points=aps)
    assert result.hosts
    assert len(result.hosts) <= (app.placement.max_instances or len(views))
    assert set(result.coverage) | set(result.over_budget) | set(result.uncovered) == {
        ap.id for ap in aps
    }
    for ap in result.uncovered:  # only when the cap is reached and no planned host knows it
        assert len(result.hosts) == (app.placement.max_instances or len(views))
        assert all((ap, h) not in rtts for h in result.hosts)
    if app.placement.max_instances is None:
        assert result.uncovered == ()
    assert not set(result.coverage) & set(result.over_budget)
    for ap, (host, one_way_ms, measured) in result.over_budget.items():
        assert host in result.hosts
        assert one_way_ms == rtts[(ap, host)] / 2 > app.latency.max_ms
        assert measured
    assert result.reason is (
        PlacedReason.OVER_BUDGET if result.over_budget else PlacedReason.PLACED
    )


@settings(max_examples=300, deadline=None)
@given(clusters())
def test_over_budget_latencies_never_change_the_coverage_within_budget(
    cluster: tuple[EdgeAppSpec, list[HostView], dict[tuple[str, str], float]],
) -> None:
    app, views, rtts = cluster
    aps = _aps(rtts)
    within = {pair: rtt for pair, rtt in rtts.items() if rtt / 2 <= app.latency.max_ms}
    only_within = plan(app, views, within, access_points=aps)
    result = plan(app, views, rtts, access_points=aps)
    assert result.coverage == only_within.coverage
    assert set(only_within.hosts) <= set(result.hosts)
    if not only_within.uncovered:  # everything coverable within budget: today's plan exactly
        assert result == only_within
