"""The switch's control protocol: one JSON object per line in, one JSON object per line out.

Requests name a command in ``cmd``; answers carry ``"ok": true`` and the result, or
``"ok": false`` and an ``error`` text. A malformed request (not JSON, not an object, an unknown
command, a missing or mistyped field, a value out of range) is answered with an error and the
switch goes on forwarding.

    {"cmd": "ping"}
    {"cmd": "add_port", "name": "h1", "ifname": "p1", "mac": "02:00:c6:12:00:02"}
    {"cmd": "set_link", "from": "ap1", "to": "h1", "delay_ms": 5, "jitter_ms": 0, "loss": 0,
     "symmetric": true}
    {"cmd": "get_link", "from": "ap1", "to": "h1"}
    {"cmd": "stats"}
    {"cmd": "truth", "since": 0, "limit": 10000}
    {"cmd": "clear_truth"}
    {"cmd": "shutdown"}
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from mec_devtools.sim.network.frames import mac_bytes
from mec_devtools.sim.network.links import LinkParams

MAX_LINE_BYTES = 64 * 1024
MAX_TRUTH_LIMIT = 200_000
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_PORT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ControlError(ValueError):
    """A request that cannot be carried out; its text goes back to the client."""


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class AddPort:
    name: str
    ifname: str
    mac: bytes | None


@dataclass(frozen=True)
class SetLink:
    ingress: str
    egress: str
    params: LinkParams
    symmetric: bool


@dataclass(frozen=True)
class GetLink:
    ingress: str
    egress: str


@dataclass(frozen=True)
class Stats:
    pass


@dataclass(frozen=True)
class Truth:
    since: int
    limit: int


@dataclass(frozen=True)
class ClearTruth:
    pass


@dataclass(frozen=True)
class Shutdown:
    pass


Command = Ping | AddPort | SetLink | GetLink | Stats | Truth | ClearTruth | Shutdown


class _Fields:
    """Typed access to the fields of one request, with errors that name the field."""

    def __init__(self, request: dict[str, Any], allowed: set[str]) -> None:
        unknown = sorted(set(request) - allowed - {"cmd"})
        if unknown:
            raise ControlError(f"unknown field(s): {', '.join(unknown)}")
        self._request = request

    def text(self, key: str, pattern: re.Pattern[str]) -> str:
        value = self._request.get(key)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ControlError(f"field {key!r} must be a string matching {pattern.pattern}")
        return value

    def number(self, key: str, default: float | None = None) -> float:
        value = self._request.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ControlError(f"field {key!r} must be a number")
        if not math.isfinite(value):
            raise ControlError(f"field {key!r} must be finite")
        return float(value)

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self._request.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ControlError(f"field {key!r} must be an integer within {low}..{high}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self._request.get(key, default)
        if not isinstance(value, bool):
            raise ControlError(f"field {key!r} must be true or false")
        return value

    def optional_mac(self, key: str) -> bytes | None:
        value = self._request.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ControlError(f"field {key!r} must be a MAC address string")
        try:
            return mac_bytes(value)
        except ValueError as error:
            raise ControlError(str(error)) from None


def _link_params(fields: _Fields) -> LinkParams:
    try:
        return LinkParams.from_ms(
            fields.number("delay_ms"),
            fields.number("jitter_ms", 0.0),
            fields.number("loss", 0.0),
        )
    except ValueError as error:
        if isinstance(error, ControlError):
            raise
        raise ControlError(str(error)) from None


def parse_command(line: bytes) -> Command:
    """Turn one request line into a command, or raise ControlError saying what is wrong."""
    if len(line) > MAX_LINE_BYTES:
        raise ControlError(f"request longer than {MAX_LINE_BYTES} bytes")
    try:
        request = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ControlError(f"not JSON: {error}") from None
    if not isinstance(request, dict):
        raise ControlError("a request must be a JSON object")
    name = request.get("cmd")
    match name:
        case "ping" | "stats" | "clear_truth" | "shutdown":
            _Fields(request, set())
            simple: dict[str, Command] = {
                "ping": Ping(),
                "stats": Stats(),
                "clear_truth": ClearTruth(),
                "shutdown": Shutdown(),
            }
            return simple[name]
        case "add_port":
            fields = _Fields(request, {"name", "ifname", "mac"})
            return AddPort(
                fields.text("name", _PORT_RE),
                fields.text("ifname", _IFNAME_RE),
                fields.optional_mac("mac"),
            )
        case "set_link":
            fields = _Fields(request, {"from", "to", "delay_ms", "jitter_ms", "loss", "symmetric"})
            return SetLink(
                fields.text("from", _PORT_RE),
                fields.text("to", _PORT_RE),
                _link_params(fields),
                fields.flag("symmetric", False),
            )
        case "get_link":
            fields = _Fields(request, {"from", "to"})
            return GetLink(fields.text("from", _PORT_RE), fields.text("to", _PORT_RE))
        case "truth":
            fields = _Fields(request, {"since", "limit"})
            return Truth(
                fields.integer("since", 0, 0, 2**63 - 1),
                fields.integer("limit", MAX_TRUTH_LIMIT, 1, MAX_TRUTH_LIMIT),
            )
        case str():
            raise ControlError(f"unknown command {name!r}")
        case _:
            raise ControlError("field 'cmd' must name a command")


def answer(result: dict[str, Any] | None = None) -> bytes:
    return json.dumps({"ok": True, **(result or {})}, separators=(",", ":")).encode() + b"\n"


def refusal(error: str) -> bytes:
    return json.dumps({"ok": False, "error": error}).encode() + b"\n"
