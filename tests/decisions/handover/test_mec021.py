"""MEC 021 decisions: which MobilityProcedureSubscription wants an event, the bodies sent (valid
against the ETSI file), adjacent instances, and which devices' context transfers completed."""

from __future__ import annotations

import jsonschema
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from mec_orchestrator.decisions.handover import HandoverEvent, HandoverEventKind, InstanceRef
from mec_orchestrator.decisions.handover.mec021 import (
    AppInstance,
    MobilityFilter,
    adjacent,
    adjacent_app_info_notification,
    adjacent_app_instance_info,
    comm_interface,
    etsi_test_notification,
    mobility_criteria,
    mobility_procedure_notification,
    timestamp,
    transfer_completed,
)
from tests.decisions.handover.mec021_spec import (
    ADJACENT_APP_INFO_NOTIFICATION,
    MOBILITY_PROCEDURE_NOTIFICATION,
    TEST_NOTIFICATION,
    component,
)
from tests.etsi.conformance import SPECS

HREF = "http://api/namespaces/city/amsi/v1/subscriptions/sub-1"
SOURCE = InstanceRef("edge-a", "city.ar-edge-a", "http://edge-a.pods:8080")
TARGET = InstanceRef("edge-c", "city.ar-edge-c", "http://edge-c.pods:8080")


def event(
    kind: HandoverEventKind = HandoverEventKind.TRIGGERED,
    address: str | None = "10.45.0.7",
    source: InstanceRef = SOURCE,
    target: InstanceRef = TARGET,
    at_s: float = 1_700_000_000.25,
) -> HandoverEvent:
    return HandoverEvent(
        kind=kind,
        handover_id="h1",
        context_id="c1",
        namespace="city",
        app="ar",
        app_d_id="ar-d",
        device_address=address,
        source=source,
        target=target,
        context_transfer="None",
        at_s=at_s,
    )


def test_a_notification_says_the_step_the_device_and_the_target() -> None:
    body = mobility_procedure_notification(event(HandoverEventKind.COMPLETED), HREF)
    assert body == {
        "notificationType": "MobilityProcedureNotification",
        "timeStamp": {"seconds": 1_700_000_000, "nanoSeconds": 250_000_000},
        "associateId": [{"type": 1, "value": "10.45.0.7"}],
        "mobilityStatus": 2,
        "targetAppInfo": {
            "appInstanceId": "city.ar-edge-c",
            "commInterface": {"ipAddresses": [{"host": "edge-c.pods", "port": 8080}]},
        },
        "_links": {"subscription": {"href": HREF}},
    }
    jsonschema.Draft202012Validator(MOBILITY_PROCEDURE_NOTIFICATION).validate(body)
    assert mobility_procedure_notification(event(address=None), HREF) is None  # no associateId


def test_filters_match_the_instance_the_device_and_the_status() -> None:
    triggered, completed = event(), event(HandoverEventKind.COMPLETED)
    default = MobilityFilter.of({})
    assert default.wants(triggered)
    assert not default.wants(completed)
    every = MobilityFilter.of({"mobilityStatus": []})  # an empty list filters nothing
    assert every.wants(triggered)
    assert every.wants(completed)
    for instance, wanted in (("city.ar-edge-a", True), ("city.ar-edge-c", True), ("x", False)):
        assert MobilityFilter.of({"appInstanceId": instance}).wants(triggered) is wanted
    device = {"associateId": [{"type": 1, "value": "10.45.0.7"}], "mobilityStatus": [1, 3]}
    assert MobilityFilter.of(device).wants(triggered)
    assert not MobilityFilter.of(device).wants(completed)
    assert not MobilityFilter.of(device).wants(event(address="10.45.0.8"))
    assert not MobilityFilter.of(device).wants(event(address=None))
    ipv6 = {"associateId": [{"type": 2, "value": "10.45.0.7"}]}  # another identifier type
    assert not MobilityFilter.of(ipv6).wants(triggered)
    assert mobility_criteria({"appInstanceId": "a"}) == {
        "appInstanceId": "a",
        "mobilityStatus": [1],
    }
    assert mobility_criteria({"mobilityStatus": []}) == {"mobilityStatus": []}


def test_adjacent_instances_and_their_notification() -> None:
    instances = [
        AppInstance("city.ar-edge-c", "ar-d", "edge-c", "http://edge-c.pods:8080"),
        AppInstance("city.ar-edge-a", "ar-d", "edge-a", "edge-a.pods:9000"),
    ]
    others = adjacent(instances, "city.ar-edge-c")
    assert [i.app_instance_id for i in others] == ["city.ar-edge-a"]
    info = adjacent_app_instance_info(others[0], "city.ar-edge-c")
    assert info == {
        "appInstanceId": "city.ar-edge-a",
        "appDId": "ar-d",
        "appInstanceCommLink": [{"ipAddresses": [{"host": "edge-a.pods", "port": 9000}]}],
        "mecHostInformation": {"hostName": "edge-a", "hostId": {"name": "edge-a"}},
        "registeredInstanceId": "city.ar-edge-c",
    }
    jsonschema.Draft202012Validator(component("AdjacentAppInstanceInfo")).validate(info)
    body = adjacent_app_info_notification(adjacent(instances, None), HREF, 5.5)
    assert [a["appInstanceId"] for a in body["adjacentAppInfo"]] == [
        "city.ar-edge-a",
        "city.ar-edge-c",
    ]
    jsonschema.Draft202012Validator(ADJACENT_APP_INFO_NOTIFICATION).validate(body)
    jsonschema.Draft202012Validator(TEST_NOTIFICATION).validate(etsi_test_notification(HREF))


def test_endpoints_and_times() -> None:
    assert comm_interface("https://ar.example") == {
        "ipAddresses": [{"host": "ar.example", "port": 443}]
    }
    assert comm_interface("no port here") == {}
    assert comm_interface("http://[::1") == {}
    with pytest.raises(ValueError, match="finite"):
        timestamp(float("nan"))


def test_context_transfers_completed() -> None:
    before = [(1, "10.0.0.1", 0), (1, "10.0.0.2", 1)]
    after = [(1, "10.0.0.1", 1), (1, "10.0.0.2", 1), (1, "10.0.0.3", 1), (2, "::1", 1)]
    # 10.0.0.2 had completed already; ::1 is no IPv4 address (no context is found by it).
    assert transfer_completed(before, after) == ["10.0.0.1", "10.0.0.3"]
    assert transfer_completed(after, before) == []


addresses = st.ip_addresses(v=4).map(str)
kinds = st.sampled_from(list(HandoverEventKind))
instance_refs = st.builds(
    InstanceRef,
    host=st.sampled_from(["edge-a", "edge-b"]),
    app_instance_id=st.sampled_from(["ns.a", "ns.b", "ns.c"]),
    endpoint=st.one_of(
        st.builds(
            lambda h, p: f"http://{h}:{p}",
            st.sampled_from(["h1", "10.0.0.9"]),
            st.integers(1, 65535),
        ),
        st.text(max_size=20),
    ),
)
events = st.builds(
    event,
    kind=kinds,
    address=st.one_of(st.none(), addresses),
    source=instance_refs,
    target=instance_refs,
    at_s=st.floats(0, 2**32 - 2, allow_nan=False),
)


@given(events)
def test_every_notification_body_is_valid_against_the_file(one: HandoverEvent) -> None:
    body = mobility_procedure_notification(one, HREF)
    if one.device_address is None:
        assert body is None
        return
    assert body is not None
    jsonschema.Draft202012Validator(MOBILITY_PROCEDURE_NOTIFICATION).validate(body)
    seconds, nanos = body["timeStamp"]["seconds"], body["timeStamp"]["nanoSeconds"]
    assert abs(seconds + nanos / 1e9 - one.at_s) < 1e-6 * max(1.0, one.at_s)


@given(
    events,
    st.one_of(st.none(), st.sampled_from(["ns.a", "ns.b", "ns.z"])),
    st.lists(addresses, max_size=3),
    st.one_of(st.none(), st.lists(st.integers(1, 3), max_size=3)),
)
def test_a_filter_wants_exactly_what_each_criterion_allows(
    one: HandoverEvent, instance: str | None, devices: list[str], statuses: list[int] | None
) -> None:
    criteria = mobility_criteria(
        {
            "appInstanceId": instance,
            "associateId": [{"type": 1, "value": d} for d in devices],
            "mobilityStatus": statuses,
        }
    )
    wanted = MobilityFilter.of(criteria).wants(one)
    by_instance = instance in (None, one.source.app_instance_id, one.target.app_instance_id)
    by_device = not devices or one.device_address in devices
    status = {"INTERHOST_MOVEOUT_TRIGGERED": 1, "INTERHOST_MOVEOUT_COMPLETED": 2}.get(
        one.kind.value, 3
    )
    by_status = status in (statuses if statuses is not None else [1]) or statuses == []
    assert wanted == (by_instance and by_device and by_status)


@given(st.lists(st.tuples(st.sampled_from([1, 2]), addresses, st.sampled_from([0, 1]))), st.data())
def test_a_transfer_is_reported_once(
    before: list[tuple[int, str, int]], data: st.DataObject
) -> None:
    after = data.draw(
        st.lists(st.tuples(st.sampled_from([1, 2]), addresses, st.sampled_from([0, 1])))
    )
    reported = transfer_completed(before, after)
    assert reported == sorted(set(reported))
    done_before = {(t, v) for t, v, s in before if s == 1}
    for address in reported:
        assert (1, address) not in done_before
        assert (1, address, 1) in after
    assert transfer_completed(after, after) == []


def test_the_file_types_associate_id_as_a_string_where_the_gs_means_mec_012s() -> None:
    """The one file defect corrected for the checks (tests/etsi/conformance.py CORRECTIONS)."""
    raw = yaml.safe_load((SPECS / "MEC021_AppMobilityService.yaml").read_text())
    assert raw["components"]["schemas"]["AssociateId"]["type"] == "string"
    corrected = component("AssociateId")
    assert corrected["required"] == ["type", "value"]
    jsonschema.Draft202012Validator(corrected).validate({"type": 1, "value": "10.45.0.7"})
