"""OperatorSettings: the replica's priority from its StatefulSet ordinal (the chart's way)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from mec_orchestrator.operator.settings import OperatorSettings


@given(st.integers(min_value=0, max_value=99))
def test_the_ordinal_gives_a_priority_that_falls_with_it(index: int) -> None:
    assert OperatorSettings(pod_index=index).priority == 100 - index


def test_an_explicit_priority_wins_over_the_ordinal() -> None:
    assert OperatorSettings(pod_index=3, priority=7).priority == 7


def test_the_ordinal_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEC_OPERATOR_POD_INDEX", "1")
    assert OperatorSettings().priority == 99


def test_a_bad_ordinal_is_refused_naming_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEC_OPERATOR_POD_INDEX", "first")
    with pytest.raises(ValidationError, match="pod_index"):
        OperatorSettings()
    with pytest.raises(ValidationError, match="pod_index"):
        OperatorSettings(pod_index=100)
