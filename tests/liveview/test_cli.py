"""`mec-orchestrator run --live-view` turns the live view on; it is off by default."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mec_orchestrator import process
from mec_orchestrator.cli import main
from mec_orchestrator.operator.settings import OperatorSettings


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[OperatorSettings]:
    """The settings `run` would start the orchestrator with (it is not started)."""
    seen: list[OperatorSettings] = []
    monkeypatch.setattr(process, "main", lambda settings, verbose=False: seen.append(settings))
    monkeypatch.delenv("MEC_OPERATOR_LIVE_VIEW", raising=False)
    return seen


def test_the_flag_turns_the_live_view_on(started: list[OperatorSettings]) -> None:
    result = CliRunner().invoke(main, ["run", "--standalone", "--live-view"])
    assert result.exit_code == 0, result.output
    (settings,) = started
    assert settings.live_view


def test_the_live_view_is_off_by_default_and_on_by_environment(
    started: list[OperatorSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert CliRunner().invoke(main, ["run", "--standalone"]).exit_code == 0
    monkeypatch.setenv("MEC_OPERATOR_LIVE_VIEW", "true")
    assert CliRunner().invoke(main, ["run", "--standalone"]).exit_code == 0
    assert [s.live_view for s in started] == [False, True]


def test_the_help_says_where_the_page_is() -> None:
    result = CliRunner().invoke(main, ["run", "--help"])
    assert "--live-view" in result.output
    assert "/live/" in result.output
