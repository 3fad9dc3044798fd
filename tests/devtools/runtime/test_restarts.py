"""Restart decisions of emulated containers: the policy and the capped back-off."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mec_devtools.runtime.containers import backoff_delay, should_restart
from mec_devtools.runtime.processes import exit_code


@pytest.mark.parametrize(
    ("policy", "code", "expected"),
    [
        ("Always", 0, True),
        ("Always", 1, True),
        ("OnFailure", 0, False),
        ("OnFailure", 137, True),
        ("Never", 0, False),
        ("Never", 2, False),
    ],
)
def test_restart_policy(policy: str, code: int, expected: bool) -> None:
    assert should_restart(policy, code) is expected


def test_backoff_doubles_from_half_a_second() -> None:
    assert [backoff_delay(n, 5.0) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


@given(st.integers(min_value=1, max_value=100_000), st.floats(min_value=0.5, max_value=300))
def test_backoff_is_capped_and_never_shrinks(failures: int, cap: float) -> None:
    assert 0.5 <= backoff_delay(failures, cap) <= cap
    assert backoff_delay(failures + 1, cap) >= backoff_delay(failures, cap)


def test_exit_codes_of_signals() -> None:
    assert exit_code(0) == (0, None)
    assert exit_code(3) == (3, None)
    assert exit_code(-9) == (137, 9)
    assert exit_code(-15) == (143, 15)
