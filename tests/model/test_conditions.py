"""Properties of the pure condition setter (apimachinery's SetStatusCondition semantics)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from mec_orchestrator.model import (
    Condition,
    ConditionStatus,
    EdgeAppConditionType,
    EdgeAppStatus,
    NewCondition,
    find_condition,
    is_condition_true,
    remove_condition,
    set_condition,
)

TYPES = [t.value for t in EdgeAppConditionType]
T0 = datetime(2026, 1, 1, tzinfo=UTC)

times = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
)
statuses = st.sampled_from(list(ConditionStatus))
reasons = st.from_regex(r"[A-Z][A-Za-z0-9]{0,20}", fullmatch=True)
messages = st.text(max_size=40)
generations = st.none() | st.integers(min_value=0, max_value=10**6)

new_conditions = st.builds(
    NewCondition,
    type=st.sampled_from(TYPES),
    status=statuses,
    reason=reasons,
    message=messages,
    observed_generation=generations,
)


@st.composite
def condition_lists(draw: st.DrawFn) -> list[Condition]:
    chosen = draw(st.lists(st.sampled_from(TYPES), unique=True, max_size=len(TYPES)))
    return [
        Condition(
            type=t,
            status=draw(statuses),
            reason=draw(reasons),
            message=draw(messages),
            observed_generation=draw(generations),
            last_transition_time=draw(times).replace(microsecond=0),
        )
        for t in chosen
    ]


@given(condition_lists(), new_conditions, times)
def test_the_new_condition_is_there_with_its_fields(
    conditions: list[Condition], new: NewCondition, now: datetime
) -> None:
    result = set_condition(conditions, new, now)
    got = find_condition(result, new.type)
    assert got is not None
    assert (got.status, got.reason, got.message, got.observed_generation) == (
        new.status,
        new.reason,
        new.message,
        new.observed_generation,
    )


@given(condition_lists(), new_conditions, times)
def test_transition_time_moves_only_when_the_status_changes(
    conditions: list[Condition], new: NewCondition, now: datetime
) -> None:
    before = find_condition(conditions, new.type)
    got = find_condition(set_condition(conditions, new, now), new.type)
    assert got is not None
    if before is not None and before.status == new.status:
        assert got.last_transition_time == before.last_transition_time
    else:
        assert got.last_transition_time == now.replace(microsecond=0)


@given(condition_lists(), new_conditions, times)
def test_other_conditions_and_order_are_kept(
    conditions: list[Condition], new: NewCondition, now: datetime
) -> None:
    snapshot = list(conditions)
    result = set_condition(conditions, new, now)
    assert conditions == snapshot  # the input is not modified
    assert [c for c in result if c.type != new.type] == [
        c for c in conditions if c.type != new.type
    ]
    old_types = [c.type for c in conditions]
    expected_types = old_types if new.type in old_types else [*old_types, new.type]
    assert [c.type for c in result] == expected_types


@given(condition_lists(), new_conditions, times, times)
def test_setting_twice_is_setting_once(
    conditions: list[Condition], new: NewCondition, now: datetime, later: datetime
) -> None:
    once = set_condition(conditions, new, now)
    assert set_condition(once, new, later) == once


@given(condition_lists(), new_conditions, times)
def test_results_are_valid_and_round_trip(
    conditions: list[Condition], new: NewCondition, now: datetime
) -> None:
    for condition in set_condition(conditions, new, now):
        assert Condition.model_validate(condition.to_dict()) == condition


def test_a_flip_and_back_records_each_transition() -> None:
    ready = NewCondition(type="Ready", status=ConditionStatus.TRUE, reason="InstancesReady")
    not_ready = NewCondition(type="Ready", status=ConditionStatus.FALSE, reason="PodsStarting")
    first = set_condition([], ready, T0 + timedelta(microseconds=123))
    assert first[0].last_transition_time == T0
    assert first[0].to_dict()["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    same = set_condition(first, ready.model_copy(update={"message": "3/3"}), T0 + timedelta(1))
    assert same[0].last_transition_time == T0
    assert same[0].message == "3/3"
    flipped = set_condition(same, not_ready, T0 + timedelta(2))
    assert flipped[0].last_transition_time == T0 + timedelta(2)
    assert not is_condition_true(flipped, "Ready")
    assert is_condition_true(first, "Ready")
    assert remove_condition(flipped, "Ready") == []
    assert remove_condition(flipped, "Placed") == flipped


def test_conditions_must_be_one_per_type_and_well_formed() -> None:
    entry = {
        "type": "Ready",
        "status": "True",
        "reason": "Ok",
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    with pytest.raises(ValidationError, match="condition types must be unique"):
        EdgeAppStatus.model_validate({"conditions": [entry, entry]})
    with pytest.raises(ValidationError, match=r"conditions\.0\.reason"):
        EdgeAppStatus.model_validate({"conditions": [{**entry, "reason": "not ok"}]})
    with pytest.raises(ValidationError, match="timezone"):
        EdgeAppStatus.model_validate(
            {"conditions": [{**entry, "lastTransitionTime": "2026-01-01T00:00:00"}]}
        )
