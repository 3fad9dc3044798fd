"""An instance is ready only when its rollout finished: every replica updated and ready."""

from __future__ import annotations

from mec_orchestrator.decisions.instances.views import HostView, ObservedInstance
from mec_orchestrator.decisions.latency.estimate import Latency


def test_an_instance_mid_rollout_is_not_ready() -> None:
    assert ObservedInstance("h", "d", 1, 1, updated_replicas=1).ready
    assert not ObservedInstance("h", "d", 1, 1, updated_replicas=0).ready  # old pod still serving
    assert not ObservedInstance("h", "d", 1, 1, updated_replicas=1, rollout_observed=False).ready
    assert not ObservedInstance("h", "d", 1, 0, updated_replicas=1).ready
    assert not ObservedInstance("h", "d", 0, 0, updated_replicas=0).ready  # stopped
    # a new pod created, the old one still ready: two pods, one updated, one ready
    assert not ObservedInstance("h", "d", 1, 1, updated_replicas=1, replicas=2).ready
    assert ObservedInstance("h", "d", 1, 1, updated_replicas=1, replicas=1).ready


def test_host_availability_and_room() -> None:
    assert HostView("h", ready=True, cordoned=True).available
    assert not HostView("h", ready=True, cordoned=False, agent_lost=True).available
    assert not HostView(
        "h", ready=True, cordoned=False, capacity_instances=2, instances_of_other_apps=2
    ).has_room
    assert Latency(8.0, measured=True).one_way_ms == 4.0
