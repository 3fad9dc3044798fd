"""Which AppLcm subscriptions want an event, and notification bodies the ETSI file accepts.

Examples of each selector and filter, properties over random filters and instances (the
selector types mean what GS MEC 010-2 6.2.2.5 says, a subscription never gets another type's
events), and every notification body validated against its schema in the vendored file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mec_orchestrator.decisions.lcm.notifications import (
    Event,
    InstanceFacts,
    SubscriptionType,
    instance_matches,
    instance_state_after,
    notification,
    selected_subscriptions,
    wants,
)
from tests.etsi.conformance import EtsiSpec, _resolve

SPEC = EtsiSpec("MEC01002_AppLcm.yaml")
AT = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
VIDEO = InstanceFacts(
    id="video-x1", app_d_id="appd-1", app_provider="Example Vision", app_name="video-analytics",
    app_soft_version="1.4.0", app_d_version="1.0", app_pkg_id="video",
    app_instance_name="Video (north)",
)  # fmt: skip


def test_selectors() -> None:
    assert instance_matches(None, VIDEO)
    assert instance_matches({"appInstSelectorType": 0}, VIDEO)
    assert instance_matches({"appInstSelectorType": 1, "appInstances": ["video-x1"]}, VIDEO)
    assert not instance_matches({"appInstSelectorType": 1, "appInstances": ["other"]}, VIDEO)
    assert instance_matches({"appInstSelectorType": 2, "appInstances": ["Video (north)"]}, VIDEO)
    assert instance_matches({"appInstSelectorType": 3, "appInstances": ["appd-1"]}, VIDEO)
    assert not instance_matches({"appInstSelectorType": 3, "appInstances": ["video-x1"]}, VIDEO)
    provider: dict[str, Any] = {"appProvider": "Example Vision"}
    assert instance_matches({"appInstSelectorType": 4, "appsFromProviders": [provider]}, VIDEO)
    product = {"appName": "video-analytics", "versions": [{"appSoftVersion": "1.4.0"}]}
    narrowed = {**provider, "appProducts": [product]}
    assert instance_matches({"appInstSelectorType": 4, "appsFromProviders": [narrowed]}, VIDEO)
    old = {**provider, "appProducts": [{"appName": "video-analytics",
                                        "versions": [{"appSoftVersion": "1.3.0"}]}]}  # fmt: skip
    assert not instance_matches({"appInstSelectorType": 4, "appsFromProviders": [old]}, VIDEO)
    d_version = {"appSoftVersion": "1.4.0", "appDVersion": ["2.0"]}
    other_appd = {**provider, "appProducts": [{"appName": "video-analytics",
                                               "versions": [d_version]}]}  # fmt: skip
    assert not instance_matches(
        {"appInstSelectorType": 4, "appsFromProviders": [other_appd]}, VIDEO
    )


def test_the_filters_of_each_type() -> None:
    started = Event(SubscriptionType.INSTANCE_STATE, VIDEO, state="STARTED")
    assert wants("AppInstanceStateChangeSubscription", None, started)
    assert wants("AppInstanceStateChangeSubscription", {"appInstanceState": "STARTED"}, started)
    assert not wants("AppInstanceStateChangeSubscription", {"appInstanceState": ["STOPPED"]},
                     started)  # fmt: skip
    assert not wants("AppLcmOpOccStateChangeSubscription", None, started)
    done = Event(SubscriptionType.OP_OCC_STATE, VIDEO, state="COMPLETED", operation="INSTANTIATE",
                 op_occ_id="op-1")  # fmt: skip
    kind = "AppLcmOpOccStateChangeSubscription"
    assert wants(kind, {}, done)
    only = {"appLcmOpOccSubscriptionFilter": {"operationStates": "COMPLETED"}}
    assert wants(kind, only, done)
    assert not wants(kind, {"appLcmOpOccSubscriptionFilter": {"operationTypes": ["TERMINATE"]}},
                     done)  # fmt: skip
    others = {"appLcmOpOccSubscriptionFilter": {"appInstanceSubscriptionFilter": {
        "appInstSelectorType": 1, "appInstances": ["other"]}}}  # fmt: skip
    assert not wants(kind, others, done)
    created = Event(SubscriptionType.CREATION, VIDEO)
    by_appd = {"appInstanceSubscriptionFilter": {"appInstSelectorType": 3,
                                                 "appInstances": ["appd-1"]}}  # fmt: skip
    assert wants("AppIdentifierCreationSubscription", by_appd, created)
    assert not wants("AppIdentifierDeletionSubscription", by_appd, created)
    listed = [
        ("a", "AppIdentifierCreationSubscription", by_appd),
        ("b", "AppIdentifierCreationSubscription", {"appInstanceSubscriptionFilter": {
            "appInstSelectorType": 3, "appInstances": ["appd-2"]}}),
        ("c", "AppIdentifierDeletionSubscription", None),
    ]  # fmt: skip
    assert selected_subscriptions(listed, created) == ["a"]


def test_the_state_an_operation_leaves() -> None:
    assert instance_state_after("INSTANTIATE", None) == "STARTED"
    assert instance_state_after("OPERATE", "STOPPED") == "STOPPED"
    assert instance_state_after("TERMINATE", None) == "NOT_INSTANTIATED"


@pytest.mark.parametrize(
    ("event", "schema"),
    [
        (Event(SubscriptionType.CREATION, VIDEO), "AppInstanceIdentifierCreationNotification"),
        (Event(SubscriptionType.DELETION, VIDEO), "AppInstanceIdentifierDeletionNotification"),
        (Event(SubscriptionType.INSTANCE_STATE, VIDEO, state="STOPPED"), "AppInstNotification"),
        (
            Event(
                SubscriptionType.OP_OCC_STATE,
                VIDEO,
                state="FAILED_TEMP",
                operation="OPERATE",
                op_occ_id="op-7",
            ),
            "AppLcmOpOccNotification",
        ),
    ],
)
def test_every_notification_is_what_the_file_defines(event: Event, schema: str) -> None:
    root = "https://mec.example/namespaces/ns/app_lcm/v1"
    body = notification(
        event,
        notification_id="n-1",
        subscription_id="sub-1",
        subscription_href=f"{root}/subscriptions/sub-1",
        instance_href=f"{root}/app_instances/video-x1",
        op_occ_href=f"{root}/app_lcm_op_occs/op-7",
        at=AT,
    )
    resolved = _resolve(SPEC.spec, SPEC.spec["components"]["schemas"][schema])
    jsonschema.Draft202012Validator(resolved).validate(body)
    assert body["notificationType"] == event.kind.value
    assert body["timeStamp"] == {"seconds": int(AT.timestamp()), "nanoSeconds": 250000000}
    assert body["_links"]["subscription"] == {"href": f"{root}/subscriptions/sub-1"}


# -- properties ----------------------------------------------------------------------------------

names = st.sampled_from(["a", "b", "c"])
instances = st.builds(
    InstanceFacts,
    id=names,
    app_d_id=names,
    app_provider=names,
    app_name=names,
    app_soft_version=names,
    app_d_version=names,
    app_pkg_id=names,
    app_instance_name=st.none() | names,
)
filters = st.fixed_dictionaries(
    {"appInstSelectorType": st.integers(0, 4)},
    optional={
        "appInstances": st.lists(names, max_size=3),
        "appsFromProviders": st.lists(
            st.fixed_dictionaries({"appProvider": names}, optional={"appProducts": st.lists(
                st.fixed_dictionaries({"appName": names}), max_size=2)}),
            max_size=2,
        ),
    },
)  # fmt: skip


@given(filters, instances)
def test_selectors_mean_what_the_gs_says(criteria: dict[str, Any], instance: InstanceFacts) -> None:
    matched = instance_matches(criteria, instance)
    listed = criteria.get("appInstances", [])
    match criteria["appInstSelectorType"]:
        case 0:
            assert matched
        case 1:
            assert matched == (instance.id in listed)
        case 2:
            assert matched == (instance.app_instance_name in listed)
        case 3:
            assert matched == (instance.app_d_id in listed)
        case 4:
            providers = [p["appProvider"] for p in criteria.get("appsFromProviders", [])]
            if matched:
                assert instance.app_provider in providers


events = st.builds(
    Event,
    kind=st.sampled_from(SubscriptionType),
    instance=instances,
    state=st.sampled_from(["STARTED", "STOPPED", "NOT_INSTANTIATED", "COMPLETED", "PROCESSING"]),
    operation=st.sampled_from(["INSTANTIATE", "OPERATE", "TERMINATE"]),
    op_occ_id=st.just("op-1"),
)


@given(st.sampled_from(SubscriptionType), st.none() | st.just({}), events)
def test_a_subscription_gets_only_its_own_type(
    kind: SubscriptionType, criteria: dict[str, Any] | None, event: Event
) -> None:
    assert wants(kind.value, criteria, event) == (kind is event.kind)
