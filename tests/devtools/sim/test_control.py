"""The control protocol's parser: every malformed request is an error with a reason."""

from __future__ import annotations

import json

import pytest

from mec_devtools.sim.network import control
from mec_devtools.sim.network.links import LinkParams


def line(obj: object) -> bytes:
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    ("request_line", "reason"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (line([1, 2]), "JSON object"),
        (line("ping"), "JSON object"),
        (line({}), "'cmd'"),
        (line({"cmd": 5}), "'cmd'"),
        (line({"cmd": "reboot"}), "unknown command 'reboot'"),
        (line({"cmd": "ping", "extra": 1}), "unknown field"),
        (line({"cmd": "set_link", "from": "a", "to": "b"}), "'delay_ms' must be a number"),
        (line({"cmd": "set_link", "from": "a", "to": "b", "delay_ms": "5"}), "'delay_ms'"),
        (line({"cmd": "set_link", "from": "a", "to": "b", "delay_ms": True}), "'delay_ms'"),
        (line({"cmd": "set_link", "from": "a", "to": "b", "delay_ms": -1}), "delay must be"),
        (line({"cmd": "set_link", "from": "a", "to": "b", "delay_ms": 1, "loss": 2}), "loss"),
        (line({"cmd": "set_link", "from": "a", "to": "b", "delay_ms": 1e12}), "delay must be"),
        (line({"cmd": "set_link", "from": "a", "delay_ms": 1}), "'to'"),
        (line({"cmd": "set_link", "from": "a b", "to": "b", "delay_ms": 1}), "'from'"),
        (
            line({"cmd": "set_link", "from": "a", "to": "b", "delay_ms": 1, "symmetric": 1}),
            "'symmetric'",
        ),
        (line({"cmd": "add_port", "name": "h1", "ifname": "x" * 16}), "'ifname'"),
        (line({"cmd": "add_port", "name": "h1", "ifname": "p2", "mac": "nope"}), "MAC"),
        (line({"cmd": "truth", "since": -1}), "'since'"),
        (line({"cmd": "truth", "limit": 0}), "'limit'"),
        (line({"cmd": "truth", "limit": 10**9}), "'limit'"),
        (b"{" + b" " * control.MAX_LINE_BYTES + b"}", "longer than"),
    ],
)
def test_malformed_requests_are_refused_with_a_reason(request_line: bytes, reason: str) -> None:
    with pytest.raises(control.ControlError, match=reason):
        control.parse_command(request_line)


def test_well_formed_requests_parse_to_commands() -> None:
    assert control.parse_command(line({"cmd": "ping"})) == control.Ping()
    assert control.parse_command(
        line({"cmd": "set_link", "from": "a", "to": "b", "delay_ms": 5, "symmetric": True})
    ) == control.SetLink("a", "b", LinkParams.from_ms(5.0), symmetric=True)
    assert control.parse_command(
        line({"cmd": "add_port", "name": "h1", "ifname": "p2", "mac": "02:00:c6:12:00:02"})
    ) == control.AddPort("h1", "p2", bytes.fromhex("0200c6120002"))
    assert control.parse_command(line({"cmd": "truth", "since": 7})) == control.Truth(
        7, control.MAX_TRUTH_LIMIT
    )


def test_answers_are_single_json_lines() -> None:
    assert json.loads(control.answer({"x": 1})) == {"ok": True, "x": 1}
    refused = control.refusal("bad\nthing")
    assert refused.count(b"\n") == 1
    assert json.loads(refused) == {"ok": False, "error": "bad\nthing"}
