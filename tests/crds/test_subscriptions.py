"""The MecSubscription CRD on a real kube-apiserver, its model, and adapters/kube/subscriptions.

The CRD file is applied with the others by `crds_installed` (every file in crds/); these tests
wait until it is published too, then check that the server and the model accept the same good
objects and refuse the same bad ones naming the same field, that `kubectl explain` and `kubectl
get` show what they should, and that the adapter's create, get, list, delete and status writer
work against the server.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from pydantic import ValidationError

from mec_devtools.devcluster import ClusterInfo
from mec_orchestrator.adapters.kube.subscriptions import (
    create_subscription,
    delete_subscription,
    get_subscription,
    list_subscriptions,
    write_subscription_status,
)
from mec_orchestrator.model import (
    GROUP,
    VERSION,
    ConditionStatus,
    MecSubscription,
    MecSubscriptionConditionType,
    MecSubscriptionSpec,
    MecSubscriptionStatus,
    NewCondition,
    SubscriptionApi,
    set_condition,
)
from mec_orchestrator.model.subscription import API_LABEL
from tests.conftest import Kubectl
from tests.crds.test_crd_schema import ModelSchema, compare, walk
from tests.model.catalogue import DELETE, crds, describe, edited

pytestmark = pytest.mark.cluster

PLURAL = "mecsubscriptions"
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
CRD = crds()["MecSubscription"]
SCHEMA: dict[str, Any] = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]

GOOD: dict[str, Any] = {
    "apiVersion": "mec.dev/v1alpha1",
    "kind": "MecSubscription",
    "metadata": {"name": "sub-example"},
    "spec": {
        "api": "AppLcm",
        "subscriptionType": "AppInstanceStateChangeSubscription",
        "callbackReference": "https://subscriber.example.com:8443/notify?tenant=a",
        "filter": {"appInstanceSubscriptionFilter": {"appInstanceIdList": ["ar-navigator"]}},
        "expiryDeadline": "2030-01-01T00:00:00Z",
        "body": {
            "subscriptionType": "AppInstanceStateChangeSubscription",
            "callbackReference": "https://subscriber.example.com:8443/notify?tenant=a",
            "requestTestNotification": False,
            "appInstanceSubscriptionFilter": {"appInstanceIdList": ["ar-navigator"]},
            "expiryDeadline": {"seconds": 1893456000, "nanoSeconds": 0},
        },
    },
}

# (id, edits, the field both refusals name, the server's status code)
BAD: list[tuple[str, dict[str, object], str, int]] = [
    (
        "ftp-callback",
        {"spec.callbackReference": "ftp://host/notify"},
        "spec.callbackReference",
        422,
    ),
    (
        "mailto-callback",
        {"spec.callbackReference": "mailto:someone@example.com"},
        "spec.callbackReference",
        422,
    ),
    (
        "no-host-callback",
        {"spec.callbackReference": "http:///notify"},
        "spec.callbackReference",
        422,
    ),
    ("space-callback", {"spec.callbackReference": "http://a b/"}, "spec.callbackReference", 422),
    (
        "long-callback",
        {"spec.callbackReference": "https://example.com/" + "a" * 2030},
        "spec.callbackReference",
        422,
    ),
    ("no-callback", {"spec.callbackReference": DELETE}, "spec.callbackReference", 422),
    ("unknown-api", {"spec.api": "Rnis"}, "spec.api", 422),
    ("no-api", {"spec.api": DELETE}, "spec.api", 422),
    ("long-type", {"spec.subscriptionType": "A" * 65}, "spec.subscriptionType", 422),
    ("type-not-identifier", {"spec.subscriptionType": "App-Sub"}, "spec.subscriptionType", 422),
    ("type-digit-first", {"spec.subscriptionType": "1Sub"}, "spec.subscriptionType", 422),
    ("bad-expiry", {"spec.expiryDeadline": "tomorrow"}, "spec.expiryDeadline", 422),
    ("unknown-field", {"spec.callback": "http://host/"}, "callback", 400),
]


@pytest.fixture
def custom(crds_installed: ClusterInfo, api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


async def dry_run(
    custom: client.CustomObjectsApi, obj: dict[str, Any], namespace: str
) -> dict[str, Any]:
    created: dict[str, Any] = await custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, obj, dry_run="All", field_validation="Strict"
    )
    return created


# -- the CRD file --------------------------------------------------------------------------------


def test_names_scope_and_columns() -> None:
    spec = CRD["spec"]
    assert CRD["metadata"]["name"] == f"{MecSubscription.PLURAL}.{GROUP}"
    assert (spec["names"]["kind"], spec["names"]["plural"]) == ("MecSubscription", PLURAL)
    assert (spec["names"]["shortNames"], spec["names"]["categories"]) == (["msub"], ["mec"])
    assert spec["scope"] == "Namespaced"
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == (VERSION, True, True)
    columns = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert columns == ["API", "Type", "Callback", "Age"]


def test_every_field_is_described_and_every_rule_names_its_field() -> None:
    assert SCHEMA["description"]
    undocumented = [p for p, sub in walk(SCHEMA) if p != "metadata" and not sub.get("description")]
    assert undocumented == []
    for path, sub in walk(SCHEMA):
        for rule in sub.get("x-kubernetes-validations", []):
            assert path.rsplit(".", 1)[-1] in rule["message"], (path, rule)


@pytest.mark.parametrize("part", ["spec", "status"])
def test_crd_and_model_agree(part: str) -> None:
    ms = ModelSchema(MecSubscription.model_json_schema(by_alias=True, mode="validation"))
    assert compare(SCHEMA["properties"][part], ms.root["properties"][part], ms, part) == []


def test_the_comparison_sees_a_difference() -> None:
    ms = ModelSchema(MecSubscription.model_json_schema(by_alias=True, mode="validation"))
    crd = copy.deepcopy(SCHEMA["properties"]["spec"])
    crd["properties"]["api"]["enum"].append("Rnis")
    assert len(compare(crd, ms.root["properties"]["spec"], ms, "spec")) == 1


# -- against the API server ------------------------------------------------------------------------


def test_the_crd_is_established(crds_installed: ClusterInfo, kubectl: Kubectl) -> None:
    got = json.loads(kubectl("get", "crd", "mecsubscriptions.mec.dev", "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in got["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    assert got["status"]["acceptedNames"]["shortNames"] == ["msub"]
    assert got["status"]["acceptedNames"]["categories"] == ["mec"]


async def test_a_good_object_round_trips_through_the_model(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    stored = await dry_run(custom, GOOD, namespace)
    assert stored["spec"] == GOOD["spec"]
    model = MecSubscription.model_validate(stored)
    assert model.to_dict()["spec"] == GOOD["spec"]
    assert model.spec.api is SubscriptionApi.APP_LCM
    assert model.spec.expiry_deadline == datetime(2030, 1, 1, tzinfo=UTC)
    assert not model.spec.is_expired(NOW)
    assert model.spec.is_expired(datetime(2030, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("bad", BAD, ids=[b[0] for b in BAD])
async def test_a_bad_object_is_refused_by_the_server_and_the_model(
    custom: client.CustomObjectsApi, namespace: str, bad: tuple[str, dict[str, object], str, int]
) -> None:
    _, edits, field, status = bad
    obj = edited(GOOD, edits)
    with pytest.raises(ApiException) as refused:
        await dry_run(custom, obj, namespace)
    assert refused.value.body is not None
    answer = json.loads(refused.value.body)
    assert refused.value.status == status, answer["message"]
    assert field in answer["message"]
    with pytest.raises(ValidationError) as model_refused:
        MecSubscription.model_validate(obj)
    assert field in describe(model_refused.value)


async def test_api_and_type_are_immutable(
    kubectl: Kubectl, namespace: str, crds_installed: ClusterInfo
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(GOOD))
    for change, message in (
        ({"api": "AppPkgm"}, "spec.api is immutable"),
        ({"subscriptionType": "AppPkgSubscription"}, "spec.subscriptionType is immutable"),
    ):
        refused = kubectl(
            "patch", "msub", "sub-example", "-n", namespace, "--type=merge",
            "-p", json.dumps({"spec": change}), check=False,
        )  # fmt: skip
        assert refused.returncode != 0
        assert message in refused.stderr
    moved = {"spec": {"callbackReference": "http://elsewhere.example.com/n"}}
    kubectl(
        "patch", "msub", "sub-example", "-n", namespace, "--type=merge", "-p", json.dumps(moved)
    )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (
            "mecsubscription.spec.callbackReference",
            ["http://", "https://", "2048", "X-Notification-Id", "more than once"],
        ),
        ("msub.spec.api", ["AppPkgm", "AppLcm", "Location", "AppMobility", "MEC 021"]),
        ("msub.spec.subscriptionType", ["AppInstanceStateChangeSubscription", "64"]),
        ("msub.spec.expiryDeadline", ["expiryDeadline", "dropped"]),
        ("msub.status", ["deliveredCount", "failedCount", "lastDeliveryTime", "lastFailure"]),
    ],
)
def test_kubectl_explain_teaches(
    kubectl: Kubectl, crds_installed: ClusterInfo, target: str, expected: list[str]
) -> None:
    text = " ".join(kubectl("explain", target).stdout.split())
    missing = [word for word in expected if word not in text]
    assert missing == [], text


async def test_kubectl_get_shows_the_columns(
    kubectl: Kubectl, namespace: str, crds_installed: ClusterInfo
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(GOOD))
    header, row = kubectl("get", "msub", "-n", namespace).stdout.strip().splitlines()
    assert header.split() == ["NAME", "API", "TYPE", "CALLBACK", "AGE"]
    assert row.split()[:4] == [
        "sub-example",
        "AppLcm",
        "AppInstanceStateChangeSubscription",
        GOOD["spec"]["callbackReference"],
    ]


# -- adapters/kube/subscriptions.py ----------------------------------------------------------------


def spec_of(api: SubscriptionApi, n: int) -> MecSubscriptionSpec:
    return MecSubscriptionSpec(
        api=api,
        subscription_type="ZoneLocationEventSubscription"
        if api is SubscriptionApi.LOCATION
        else "AppInstanceStateChangeSubscription",
        callback_reference=f"http://subscriber-{n}.example.com/notify",
        filter={"zoneId": "zone-1"} if api is SubscriptionApi.LOCATION else None,
        body={"callbackReference": f"http://subscriber-{n}.example.com/notify", "n": n},
    )


async def test_create_get_list_delete(
    crds_installed: ClusterInfo, api: client.ApiClient, namespace: str
) -> None:
    lcm = [
        await create_subscription(api, namespace, spec_of(SubscriptionApi.APP_LCM, n))
        for n in (1, 2)
    ]
    location = await create_subscription(
        api, namespace, spec_of(SubscriptionApi.LOCATION, 3), labels={"team": "a"}
    )  # fmt: skip
    for created, n in ((lcm[0], 1), (lcm[1], 2), (location, 3)):
        assert created.metadata.name is not None
        assert created.metadata.name.startswith("sub-")
        assert created.metadata.labels is not None
        assert created.metadata.labels[API_LABEL] == created.spec.api.value
        assert created.spec.body == {
            "callbackReference": f"http://subscriber-{n}.example.com/notify",
            "n": n,
        }
    assert location.metadata.labels is not None
    assert location.metadata.labels["team"] == "a"
    assert location.spec.filter == {"zoneId": "zone-1"}

    name = lcm[0].metadata.name
    assert name is not None
    got = await get_subscription(api, namespace, name)
    assert got is not None
    assert got.spec == lcm[0].spec
    assert await get_subscription(api, namespace, "sub-none") is None

    def names(found: list[MecSubscription]) -> set[str | None]:
        return {s.metadata.name for s in found}

    assert names(await list_subscriptions(api, namespace)) == names([*lcm, location])
    only_lcm = await list_subscriptions(api, namespace, subscription_api=SubscriptionApi.APP_LCM)
    assert names(only_lcm) == names(lcm)
    everywhere = await list_subscriptions(api, None, subscription_api=SubscriptionApi.LOCATION)
    assert location.metadata.name in names(everywhere)

    assert await delete_subscription(api, namespace, name)
    assert await get_subscription(api, namespace, name) is None
    assert not await delete_subscription(api, namespace, name)


async def test_status_is_merged(
    crds_installed: ClusterInfo, api: client.ApiClient, namespace: str
) -> None:
    created = await create_subscription(api, namespace, spec_of(SubscriptionApi.APP_MOBILITY, 1))
    name = created.metadata.name
    assert name is not None
    delivering = set_condition(
        [],
        NewCondition(
            type=MecSubscriptionConditionType.DELIVERING,
            status=ConditionStatus.TRUE,
            reason="Delivered",
            message="HTTP 204",
        ),
        NOW,
    )
    first = await write_subscription_status(
        api,
        namespace,
        name,
        MecSubscriptionStatus(delivered_count=3, last_delivery_time=NOW, conditions=delivering),
    )
    assert first is not None
    second = await write_subscription_status(
        api, namespace, name, {"failedCount": 1, "lastFailure": "HTTP 404"}
    )
    assert second is not None
    assert second.status == MecSubscriptionStatus(
        delivered_count=3,
        failed_count=1,
        last_delivery_time=NOW,
        last_failure="HTTP 404",
        conditions=delivering,
    )
    assert second.metadata.generation == created.metadata.generation  # status is no spec change
    bad = {"deliveredCount": -1}
    with pytest.raises(ApiException) as refused:
        await write_subscription_status(api, namespace, name, bad)
    assert refused.value.status == 422
    assert "status.deliveredCount" in (refused.value.body or "")
    gone = await write_subscription_status(
        api, namespace, "sub-none", {"lastDeliveryTime": (NOW + timedelta(1)).isoformat()}
    )
    assert gone is None
