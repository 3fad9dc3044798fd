"""OperatorState.on_zone_change: how layers above the operator hear of Zone changes."""

from __future__ import annotations

from typing import Any

from mec_orchestrator.adapters.kube.connection import Connection
from mec_orchestrator.model import Zone
from mec_orchestrator.operator.settings import OperatorSettings
from mec_orchestrator.operator.state import OperatorState


def _zone(name: str, *access_points: str, version: str = "1") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "resourceVersion": version},
        "spec": {
            "accessPoints": [
                {
                    "id": ap,
                    "location": {"latitude": 1.0, "longitude": 2.0},
                    "probeReflector": "reflector.example:8620",
                }
                for ap in access_points
            ]
        },
    }


def test_observers_hear_every_change_once_and_a_failing_one_stops_no_one() -> None:
    state = OperatorState(
        OperatorSettings(standalone=True), Connection(server="https://127.0.0.1:1", ca_path=None)
    )
    heard: list[tuple[str, list[str] | None, list[str] | None]] = []

    def ids(zone: Zone | None) -> list[str] | None:
        return None if zone is None else [ap.id for ap in zone.spec.access_points]

    def broken(name: str, before: Zone | None, after: Zone | None) -> None:
        raise RuntimeError("an observer's bug")

    state.on_zone_change(broken)
    remove = state.on_zone_change(lambda n, b, a: heard.append((n, ids(b), ids(a))))

    state.zone_seen("z", _zone("z", "ap-1"))
    state.zone_seen("z", _zone("z", "ap-1"))  # the same object again (index and event): no change
    state.zone_seen("z", _zone("z", "ap-1", "ap-2", version="2"))
    state.zone_seen("z", None)
    state.zone_seen("z", None)
    assert heard == [
        ("z", None, ["ap-1"]),
        ("z", ["ap-1"], ["ap-1", "ap-2"]),
        ("z", ["ap-1", "ap-2"], None),
    ]
    assert "z" not in state.view.zones

    remove()
    remove()  # twice is harmless
    state.zone_seen("y", _zone("y", "ap-9"))
    assert len(heard) == 3
