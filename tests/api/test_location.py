"""GS MEC 013 location (`/location/v2`) against the real API server, every answer checked
against the ETSI file (tests/etsi/specs/LocationAPI.yaml).

Zones are created with kubectl; the API runs in process (httpx ASGITransport). The notification
test runs the operator's own kopf handlers in process too (they feed `OperatorState.zone_seen`,
which the location service watches) and a notification receiver as a separate process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import kopf
import pytest
from kubernetes_asyncio import client
from prometheus_client import CollectorRegistry

from mec_devtools.devcluster import ClusterInfo
from mec_orchestrator.adapters.callbacks import CallbackDelivery, CallbackMetrics, DeliverySettings
from mec_orchestrator.adapters.kube.connection import from_kubeconfig
from mec_orchestrator.api.app import create_app
from mec_orchestrator.api.settings import ApiSettings, AuthMode
from mec_orchestrator.operator.handlers import register
from mec_orchestrator.operator.settings import OperatorSettings
from mec_orchestrator.operator.state import OperatorState
from tests.callbacks.conftest import FAST, Receiver, Receivers
from tests.conftest import Kubectl, run_kubectl, wait_until
from tests.etsi.conformance import EtsiSpec, _resolve

pytestmark = pytest.mark.cluster

SPEC = EtsiSpec("LocationAPI.yaml")
ROOT = "/location/v2"
PROBLEM = "application/problem+json"

# Operations whose 200 schema in the file contradicts the GS (and itself): the checker cannot
# pass any body there. The body served is the GS's (one root element, the subscription type);
# it is checked against the file's schema of that type instead. See docs/api.md.
FILE_DEFECTS: dict[tuple[str, str], str] = {
    # required: [zoneLocationEventSubscription, zoneStatusSubscription] - one subscription is one
    ("get", "/subscriptions/zones/{subscriptionId}"): "requires both roots",
    # required: [UserLocationEventSubscription] - upper case, the property is lower case
    ("get", "/subscriptions/users/{subscriptionId}"): "requires an upper-case root",
    # required: [UserDistanceSubscription] - upper case, the property is lower case
    ("get", "/subscriptions/distance/{subscriptionId}"): "requires an upper-case root",
}


def check(response: httpx.Response, method: str | None = None) -> Any:
    """The response's JSON, after checking it against the file (status and body)."""
    method = method or response.request.method
    path = response.request.url.path
    body: Any = response.json() if response.content else None
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith(PROBLEM), response.text
    template, _ = SPEC.operation(method, path)
    if response.status_code == 200 and (method.lower(), template) in FILE_DEFECTS:
        ((root, inner),) = body.items()
        schema = _resolve(
            SPEC.spec, SPEC.spec["components"]["schemas"][root[:1].upper() + root[1:]]
        )
        jsonschema.Draft202012Validator(schema).validate(inner)
        SPEC.response_schema(method, path, 200)  # the status is documented
        return body
    SPEC.check(method, path, response.status_code, body)
    return body


def problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    detail = check(response)["detail"]
    assert isinstance(detail, str)
    return detail


def notification_schema(template: str) -> dict[str, Any]:
    """The body schema the file gives the notifications of a subscription POST."""
    callbacks = SPEC.spec["paths"][template]["post"]["callbacks"]["notification"]
    ((_, callback),) = callbacks.items()
    body = callback["post"]["requestBody"]["content"]["application/json"]["schema"]
    resolved: dict[str, Any] = _resolve(SPEC.spec, body)
    return resolved


def request_schema(template: str, method: str = "post") -> dict[str, Any]:
    return SPEC.request_schema(method, template)


def zone_body(name: str, *access_points: str) -> dict[str, Any]:
    return {
        "apiVersion": "mec.dev/v1alpha1",
        "kind": "Zone",
        "metadata": {"name": name},
        "spec": {
            "description": "test zone",
            "accessPoints": [access_point(ap, i) for i, ap in enumerate(access_points)],
        },
    }


def access_point(ap: str, i: int = 0) -> dict[str, Any]:
    return {
        "id": ap,
        "location": {"latitude": -37.81 + i / 100, "longitude": 144.96},
        "connectionType": "5G NR" if i % 2 == 0 else "LTE",
        "probeReflector": f"reflector-{i}.example:8620",
    }


@contextlib.contextmanager
def zones(kubectl: Kubectl, *bodies: dict[str, Any]) -> Iterator[list[str]]:
    """Zones created with kubectl, deleted afterwards."""
    names = [b["metadata"]["name"] for b in bodies]
    try:
        for body in bodies:
            create(kubectl, body)
        yield names
    finally:
        for name in names:
            kubectl("delete", "zone", name, "--ignore-not-found", "--wait=false", check=False)


def create(kubectl: Kubectl, body: dict[str, Any]) -> None:
    made = kubectl("create", "-f", "-", stdin=json.dumps(body), check=False)
    assert made.returncode == 0, made.stderr


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def storage_ready(crds_installed: ClusterInfo) -> ClusterInfo:
    """Zones and MecSubscriptions are served (a CRD's storage answers 429 while it starts)."""
    for plural in ("zones.mec.dev", "mecsubscriptions.mec.dev"):
        wait_until(f"{plural} served", partial(run_kubectl, crds_installed, "get", plural, "-A"))
    return crds_installed


@pytest.fixture
async def state(storage_ready: ClusterInfo) -> OperatorState:
    return OperatorState(
        OperatorSettings(standalone=True), from_kubeconfig(storage_ready.kubeconfig)
    )


@pytest.fixture
async def location(state: OperatorState, api: client.ApiClient) -> AsyncIterator[httpx.AsyncClient]:
    """The API without authentication, over the test's API client (no operator running)."""
    state.started(api)
    app = create_app(state, ApiSettings(auth=AuthMode.NONE))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as c:
        yield c


# -- queries -------------------------------------------------------------------------------------


async def test_zones_and_access_points_are_served_as_kubectl_created_them(
    location: httpx.AsyncClient, kubectl: Kubectl, namespace: str
) -> None:
    one, two = unique("zone"), unique("zone")
    with zones(kubectl, zone_body(one, "ap-1", "ap-2"), zone_body(two, "cell.9:x")):
        listed = check(await location.get(f"{ROOT}/queries/zones"))["zoneList"]
        assert listed["resourceURL"] == f"http://api{ROOT}/queries/zones"
        by_id = {z["zoneId"]: z for z in listed["zone"]}
        assert by_id[one] == {
            "zoneId": one,
            "numberOfAccessPoints": 2,
            "numberOfUnserviceableAccessPoints": 0,
            "numberOfUsers": 0,
            "resourceURL": f"http://api{ROOT}/queries/zones/{one}",
        }
        assert by_id[two]["numberOfAccessPoints"] == 1
        # zoneId filters; the namespaced root serves the same cluster-wide zones
        only = check(
            await location.get(f"/namespaces/{namespace}{ROOT}/queries/zones?zoneId={two}")
        )
        assert [z["zoneId"] for z in only["zoneList"]["zone"]] == [two]
        assert only["zoneList"]["resourceURL"].startswith(f"http://api/namespaces/{namespace}/")
        info = check(await location.get(f"{ROOT}/queries/zones/{one}"))["zoneInfo"]
        assert info == by_id[one]

        aps = check(await location.get(f"{ROOT}/queries/zones/{one}/accessPoints"))
        access_points = aps["accessPointList"]
        assert access_points["zoneId"] == one
        assert [a["accessPointId"] for a in access_points["accessPoint"]] == ["ap-1", "ap-2"]
        first = access_points["accessPoint"][0]
        assert first == {
            "accessPointId": "ap-1",
            "connectionType": "5G NR",
            "operationStatus": "Unknown",  # no edge host has measured it
            "numberOfUsers": 0,
            "resourceURL": f"http://api{ROOT}/queries/zones/{one}/accessPoints/ap-1",
            "locationInfo": {"latitude": [-37.81], "longitude": [144.96], "shape": 2},
        }
        assert access_points["accessPoint"][1]["connectionType"] == "LTE"
        filtered = check(
            await location.get(f"{ROOT}/queries/zones/{one}/accessPoints?accessPointId=ap-2")
        )
        assert [a["accessPointId"] for a in filtered["accessPointList"]["accessPoint"]] == ["ap-2"]
        single = check(await location.get(f"{ROOT}/queries/zones/{one}/accessPoints/ap-1"))
        assert single["accessPointInfo"] == first
        odd = check(await location.get(f"{ROOT}/queries/zones/{two}/accessPoints/cell.9:x"))
        assert odd["accessPointInfo"]["accessPointId"] == "cell.9:x"


async def test_unknown_zones_and_access_points_are_404(
    location: httpx.AsyncClient, kubectl: Kubectl
) -> None:
    name = unique("zone")
    with zones(kubectl, zone_body(name, "ap-1")):
        for path in (
            f"{ROOT}/queries/zones/no-such-zone",
            f"{ROOT}/queries/zones/Not_A_Name",
            f"{ROOT}/queries/zones/no-such-zone/accessPoints",
            f"{ROOT}/queries/zones/no-such-zone/accessPoints/ap-1",
            f"{ROOT}/queries/zones/{name}/accessPoints/ap-9",
        ):
            assert "does not exist" in problem(await location.get(path), 404)
        empty = check(await location.get(f"{ROOT}/queries/zones?zoneId=no-such-zone"))
        assert empty["zoneList"]["zone"] == []


async def test_users_are_an_empty_list_until_devices_attach(location: httpx.AsyncClient) -> None:
    for query in ("", "?zoneId=z1&zoneId=z2", "?accessPointId=ap-1", "?address=acr:10.0.0.1"):
        body = check(await location.get(f"{ROOT}/queries/users{query}"))
        assert body == {"userList": {"user": [], "resourceURL": f"http://api{ROOT}/queries/users"}}


async def test_distance_names_the_unknown_user_or_the_missing_parameter(
    location: httpx.AsyncClient,
) -> None:
    base = f"{ROOT}/queries/distance"
    detail = problem(await location.get(f"{base}?address=acr:1&latitude=1.5&longitude=2"), 404)
    assert "acr:1" in detail
    assert "acr:2" in problem(await location.get(f"{base}?address=acr:2&address=acr:3"), 404)
    assert "query.address" in problem(await location.get(base), 400)
    assert "query.address" in problem(await location.get(f"{base}?address=acr:1"), 400)
    three = "address=a&address=b&address=c"
    assert "query.address" in problem(await location.get(f"{base}?{three}"), 400)
    assert "query.location" in problem(await location.get(f"{base}?address=a&latitude=1"), 400)
    both = "address=a&address=b&latitude=1&longitude=2"
    assert "query.location" in problem(await location.get(f"{base}?{both}"), 400)
    assert "query.latitude" in problem(
        await location.get(f"{base}?address=a&latitude=91&longitude=2"), 400
    )


# -- subscriptions -------------------------------------------------------------------------------


def _later(seconds: float) -> dict[str, int]:
    at = datetime.now(UTC) + timedelta(seconds=seconds)
    return {"seconds": int(at.timestamp()), "nanoSeconds": 0}


def subscription_bodies(callback: str) -> dict[str, list[dict[str, Any]]]:
    """One request body of each type, per subscriptions resource."""
    return {
        "area": [
            {
                "userAreaSubscription": {
                    "subscriptionType": "UserAreaSubscription",
                    "clientCorrelator": "0123",
                    "callbackReference": callback,
                    "areaDefine": {
                        "shape": 1,
                        "points": [{"latitude": -37.81, "longitude": 144.96}],
                        "radius": 500,
                    },
                    "addressList": ["acr:10.0.0.1", "acr:10.0.0.2"],
                    "trackingAccuracy": 10.5,
                    "locationEventCriteria": ["ENTERING_AREA_EVENT"],
                    "expiryDeadline": _later(3600),
                }
            }
        ],
        "distance": [
            {
                "userDistanceSubscription": {
                    "subscriptionType": "UserDistanceSubscription",
                    "callbackReference": callback,
                    "referenceAddress": ["acr:10.0.0.3"],
                    "monitoredAddress": ["acr:10.0.0.1"],
                    "distance": 100,
                    "trackingAccuracy": 10,
                    "criteria": "AllWithinDistance",
                    "checkImmediate": True,
                }
            }
        ],
        "users": [
            {
                "userLocationEventSubscription": {
                    "subscriptionType": "UserLocationEventSubscription",
                    "callbackReference": callback,
                    "address": "acr:10.0.0.1",
                    "locationEventCriteria": ["ENTERING_AREA_EVENT", "LEAVING_AREA_EVENT"],
                    "userEventPara": {"zoneId": "zone01", "occurrenceInfo": "ONE_TIME_EVENT"},
                }
            },
            {
                "userLocationPeriodicSubscription": {
                    "subscriptionType": "UserLocationPeriodicSubscription",
                    "callbackReference": callback,
                    "address": "acr:10.0.0.2",
                    "periodicEventInfo": {"reportingAmount": 10, "reportingInterval": 60},
                }
            },
        ],
        "zones": [
            {
                "zoneLocationEventSubscription": {
                    "subscriptionType": "ZoneLocationEventSubscription",
                    "callbackReference": callback,
                    "zoneId": "zone01",
                    "locationEventCriteria": ["ENTERING_AREA_EVENT"],
                    "reportingCtrl": {"maximumCount": 5, "minimumInterval": 1},
                }
            },
            {
                "zoneStatusSubscription": {
                    "subscriptionType": "ZoneStatusSubscription",
                    "callbackReference": callback,
                    "zoneId": "zone01",
                    "operationStatus": ["Serviceable", "Unserviceable"],
                    "upperNumberOfUsersZoneThreshold": 10,
                    "expiryDeadline": _later(3600),
                }
            },
        ],
    }


async def test_every_subscription_type_is_kept_as_a_mec_subscription(  # noqa: PLR0915
    location: httpx.AsyncClient, kubectl: Kubectl, namespace: str
) -> None:
    api_root = f"/namespaces/{namespace}{ROOT}"
    callback = "http://127.0.0.1:9/notify"
    created: list[tuple[str, str, str]] = []  # (resource, id, type)
    for resource, bodies in subscription_bodies(callback).items():
        template = f"/subscriptions/{resource}"
        for body in bodies:
            jsonschema.Draft202012Validator(request_schema(template)).validate(body)
            answer = await location.post(f"{api_root}{template}", json=body)
            assert answer.status_code == 201, answer.text
            ((root, sent),) = body.items()
            served = check(answer)[root]
            href = answer.headers["location"]
            sid = href.rsplit("/", 1)[1]
            assert href == f"http://api{api_root}{template}/{sid}"
            assert served == {**sent, "_links": {"self": {"href": href}}}
            created.append((resource, sid, sent["subscriptionType"]))
            stored = json.loads(kubectl("get", "msub", sid, "-n", namespace, "-o", "json").stdout)
            assert stored["metadata"]["labels"]["mec.dev/api"] == "Location"
            assert stored["spec"]["api"] == "Location"
            assert stored["spec"]["subscriptionType"] == sent["subscriptionType"]
            assert stored["spec"]["callbackReference"] == callback
            assert stored["spec"]["body"] == served
            if "expiryDeadline" in sent:
                deadline = datetime.fromtimestamp(sent["expiryDeadline"]["seconds"], UTC)
                assert stored["spec"]["expiryDeadline"] == deadline.strftime("%Y-%m-%dT%H:%M:%SZ")
            got = check(await location.get(f"{api_root}{template}/{sid}"))
            assert got == {root: served}

    # A retry (same clientCorrelator, type and callback) answers the subscription made before
    area_body = subscription_bodies(callback)["area"][0]
    again = await location.post(f"{api_root}/subscriptions/area", json=area_body)
    assert again.status_code == 201, again.text
    area_id = next(i for r, i, _ in created if r == "area")
    assert again.headers["location"].endswith(f"/subscriptions/area/{area_id}")
    check(again)

    # Listings: per resource, filtered by subscription_type (and zoneId, address)
    for resource, _, _ in created:
        listing = check(await location.get(f"{api_root}/subscriptions/{resource}"))
        links = listing["notificationSubscriptionList"]
        assert links["resourceURL"] == {"href": f"http://api{api_root}/subscriptions/{resource}"}
        expected = sorted(
            (f"http://api{api_root}/subscriptions/{r}/{i}", t)
            for r, i, t in created
            if r == resource
        )
        assert sorted((s["href"], s["subscriptionType"]) for s in links["subscription"]) == expected
    status_only = check(
        await location.get(f"{api_root}/subscriptions/zones?subscription_type=status")
    )
    types = {
        s["subscriptionType"] for s in status_only["notificationSubscriptionList"]["subscription"]
    }
    assert types == {"ZoneStatusSubscription"}
    other_zone = check(await location.get(f"{api_root}/subscriptions/zones?zoneId=elsewhere"))
    assert other_zone["notificationSubscriptionList"]["subscription"] == []
    periodic = check(
        await location.get(
            f"{api_root}/subscriptions/users?subscription_type=periodic&address=acr:10.0.0.2"
        )
    )
    assert [
        s["subscriptionType"] for s in periodic["notificationSubscriptionList"]["subscription"]
    ] == ["UserLocationPeriodicSubscription"]
    nothing = check(await location.get(f"{api_root}/subscriptions/users?subscription_type=status"))
    assert nothing["notificationSubscriptionList"]["subscription"] == []  # names no type here

    # A TimeStamp spelled as the file's examples do (`nanoseconds`) is kept as the file's type
    seconds = _later(60)["seconds"]
    lower = {
        "zoneLocationEventSubscription": {
            "subscriptionType": "ZoneLocationEventSubscription",
            "callbackReference": callback,
            "zoneId": "zone03",
            "expiryDeadline": {"seconds": seconds, "nanoseconds": 5},
        }
    }
    answer = await location.post(f"{api_root}/subscriptions/zones", json=lower)
    kept = check(answer)["zoneLocationEventSubscription"]["expiryDeadline"]
    assert kept == {"seconds": seconds, "nanoSeconds": 5}
    gone = await location.delete(answer.headers["location"].removeprefix("http://api"))
    assert gone.status_code == 204
    # A root naming no possible namespace has no subscriptions (the file documents no 400 here)
    bad_root = f"/namespaces/Not_A_Name{ROOT}/subscriptions/zones"
    assert check(await location.get(bad_root))["notificationSubscriptionList"]["subscription"] == []
    problem(await location.get(f"{bad_root}/sub-x"), 404)
    problem(await location.delete(f"{bad_root}/sub-x"), 404)

    # PUT replaces (the type stays), DELETE removes; another resource's id is not found here
    zone_status = next(i for r, i, t in created if t == "ZoneStatusSubscription")
    path = f"{api_root}/subscriptions/zones/{zone_status}"
    replacement = {
        "zoneStatusSubscription": {
            "subscriptionType": "ZoneStatusSubscription",
            "callbackReference": "http://127.0.0.1:9/other",
            "zoneId": "zone02",
            "_links": {"self": {"href": f"http://api{path}"}},
        }
    }
    jsonschema.Draft202012Validator(
        request_schema("/subscriptions/zones/{subscriptionId}", "put")
    ).validate(replacement)
    updated = check(await location.put(path, json=replacement))["zoneStatusSubscription"]
    assert updated["zoneId"] == "zone02"
    assert "operationStatus" not in updated  # replaced whole, not merged
    stored = json.loads(kubectl("get", "msub", zone_status, "-n", namespace, "-o", "json").stdout)
    assert stored["spec"]["callbackReference"] == "http://127.0.0.1:9/other"
    assert "expiryDeadline" not in stored["spec"]
    assert stored["spec"]["filter"] == {"zoneId": "zone02"}
    as_event = {
        "zoneLocationEventSubscription": {
            "subscriptionType": "ZoneLocationEventSubscription",
            "callbackReference": callback,
            "zoneId": "zone02",
        }
    }
    assert "cannot change" in problem(await location.put(path, json=as_event), 400)
    area = next(i for r, i, _ in created if r == "area")
    problem(await location.get(f"{api_root}/subscriptions/zones/{area}"), 404)
    problem(await location.delete(f"{api_root}/subscriptions/zones/{area}"), 404)
    problem(
        await location.put(f"{api_root}/subscriptions/zones/sub-nothing", json=replacement), 404
    )
    for resource, sid, _ in created:
        gone = await location.delete(f"{api_root}/subscriptions/{resource}/{sid}")
        assert gone.status_code == 204
        check(gone)
        problem(await location.get(f"{api_root}/subscriptions/{resource}/{sid}"), 404)
        problem(await location.delete(f"{api_root}/subscriptions/{resource}/{sid}"), 404)


async def test_bad_subscription_bodies_are_400_naming_the_field(
    location: httpx.AsyncClient, namespace: str
) -> None:
    zones_path = f"/namespaces/{namespace}{ROOT}/subscriptions/zones"
    good = {
        "subscriptionType": "ZoneStatusSubscription",
        "callbackReference": "http://127.0.0.1:9/notify",
        "zoneId": "zone01",
    }

    async def refused(body: Any, path: str = zones_path) -> str:
        return problem(await location.post(path, json=body), 400)

    root = "body.zoneStatusSubscription"
    without_zone = {k: v for k, v in good.items() if k != "zoneId"}
    assert f"{root}.zoneId" in await refused({"zoneStatusSubscription": without_zone})
    no_callback = {k: v for k, v in good.items() if k != "callbackReference"}
    websocket_only = {**no_callback, "websockNotifConfig": {"requestWebsocketUri": True}}
    assert f"{root}.callbackReference" in await refused({"zoneStatusSubscription": websocket_only})
    for scheme in ("ftp://h/x", "mailto:a@b", "HTTP://h/x", "http:/no-host"):
        bad = {**good, "callbackReference": scheme}
        assert f"{root}.callbackReference" in await refused({"zoneStatusSubscription": bad})
    assert f"{root}.zoneID" in await refused({"zoneStatusSubscription": {**good, "zoneID": "z"}})
    wrong_type = {**good, "subscriptionType": "ZoneLocationEventSubscription"}
    assert f"{root}.subscriptionType" in await refused({"zoneStatusSubscription": wrong_type})
    bad_status = {**good, "operationStatus": ["Broken"]}
    assert f"{root}.operationStatus[0]" in await refused({"zoneStatusSubscription": bad_status})
    negative = {**good, "upperNumberOfUsersAPThreshold": -1}
    assert f"{root}.upperNumberOfUsersAPThreshold" in await refused(
        {"zoneStatusSubscription": negative}
    )
    past = {**good, "expiryDeadline": {"seconds": 1_000_000, "nanoSeconds": 0}}
    assert f"{root}.expiryDeadline" in await refused({"zoneStatusSubscription": past})
    bad_nanos = {**good, "expiryDeadline": {"seconds": 4_000_000_000, "nanoSeconds": 10**9}}
    assert f"{root}.expiryDeadline" in await refused({"zoneStatusSubscription": bad_nanos})
    event = {**good, "subscriptionType": "ZoneLocationEventSubscription"}
    both = {"zoneStatusSubscription": good, "zoneLocationEventSubscription": event}
    assert "exactly one of" in await refused(both)
    assert "exactly one of" in await refused({})
    assert "body.zoneStatus" in await refused({"zoneStatus": good})
    assert "body" in await refused([good])
    area = f"/namespaces/{namespace}{ROOT}/subscriptions/area"
    polygon = {
        "subscriptionType": "UserAreaSubscription",
        "callbackReference": "http://127.0.0.1:9/notify",
        "addressList": ["acr:1"],
        "trackingAccuracy": 1,
        "areaDefine": {"shape": 2, "points": [{"latitude": 1, "longitude": 2}]},
    }
    assert "body.userAreaSubscription.areaDefine" in await refused(
        {"userAreaSubscription": polygon}, area
    )
    far = {
        **polygon,
        "areaDefine": {"shape": 1, "points": [{"latitude": 95, "longitude": 0}], "radius": 1},
    }
    assert "body.userAreaSubscription.areaDefine.points[0].latitude" in await refused(
        {"userAreaSubscription": far}, area
    )
    distance = f"/namespaces/{namespace}{ROOT}/subscriptions/distance"
    lonely = {
        "subscriptionType": "UserDistanceSubscription",
        "callbackReference": "http://127.0.0.1:9/notify",
        "monitoredAddress": ["acr:1"],
        "distance": 10,
        "trackingAccuracy": 1,
        "criteria": "AllWithinDistance",
        "checkImmediate": False,
    }
    assert "monitoredAddress" in await refused({"userDistanceSubscription": lonely}, distance)
    users = f"/namespaces/{namespace}{ROOT}/subscriptions/users"
    periodic = {
        "subscriptionType": "UserLocationPeriodicSubscription",
        "callbackReference": "http://127.0.0.1:9/notify",
        "address": "acr:1",
        "periodicEventInfo": {"reportingAmount": 1000, "reportingInterval": 10000},
    }
    assert "body.userLocationPeriodicSubscription.periodicEventInfo" in await refused(
        {"userLocationPeriodicSubscription": periodic}, users
    )
    # The namespace must exist for a subscription to be kept in it
    missing = f"/namespaces/{unique('nowhere')}{ROOT}/subscriptions/zones"
    assert "does not exist" in problem(
        await location.post(missing, json={"zoneStatusSubscription": good}), 404
    )


# -- notifications -------------------------------------------------------------------------------


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[Receiver]:
    """A notification receiver, its own OS process (tests/callbacks/receiver.py)."""
    made = Receivers(tmp_path)
    try:
        yield await made.start()
    finally:
        for one in made.started:
            await one.kill()


@contextlib.asynccontextmanager
async def operator(state: OperatorState) -> AsyncIterator[None]:
    """The operator's kopf handlers, in this process and loop, until the block ends."""
    registry = kopf.OperatorRegistry()
    register(registry, state)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        kopf.operator(
            registry=registry, clusterwide=True, standalone=True, stop_flag=stop, ready_flag=ready
        )
    )
    try:
        async with asyncio.timeout(60):
            await ready.wait()  # after the start-up handlers, which start the state
        assert state.ready
        yield
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)


def _notified(records: list[dict[str, Any]], sid: str) -> list[dict[str, Any]]:
    """The ZoneStatusNotifications the receiver got for subscription sid, in order."""
    found = []
    for record in records:
        body = record["body"].get("zoneStatusNotification")
        if body is not None and body["_links"]["subscription"]["href"].endswith(f"/{sid}"):
            found.append(body)
    return found


async def test_zone_status_subscriptions_are_notified_when_access_points_change(  # noqa: PLR0915
    state: OperatorState, kubectl: Kubectl, namespace: str, receiver: Receiver
) -> None:
    old, new = unique("zone-old"), unique("zone-new")
    create(kubectl, zone_body(old, "ap-old"))
    # Zones created before the API started are learnt silently, but creation times are whole
    # seconds, and one created in the second the API starts counts as new: start a second later.
    await asyncio.sleep(1.0 - datetime.now(UTC).microsecond / 1e6 + 0.05)
    delivery = CallbackDelivery(
        DeliverySettings.model_validate(FAST), metrics=CallbackMetrics(CollectorRegistry())
    )
    app = create_app(state, ApiSettings(auth=AuthMode.NONE), delivery)
    transport = httpx.ASGITransport(app=app)
    root = f"/namespaces/{namespace}{ROOT}/subscriptions/zones"
    schema = notification_schema("/subscriptions/zones")
    try:
        async with (
            delivery,
            operator(state),
            httpx.AsyncClient(transport=transport, base_url="http://api") as http,
        ):

            async def subscribe(zone: str, **fields: Any) -> str:
                body = {
                    "zoneStatusSubscription": {
                        "subscriptionType": "ZoneStatusSubscription",
                        "callbackReference": receiver.url,
                        "zoneId": zone,
                        **fields,
                    }
                }
                answer = await http.post(root, json=body)
                assert answer.status_code == 201, answer.text
                check(answer)
                return str(answer.headers["location"].rsplit("/", 1)[1])

            every = await subscribe(new)
            of_old = await subscribe(old)
            serviceable = await subscribe(new, operationStatus=["Serviceable"])
            expiring = await subscribe(new, expiryDeadline=_later(2))
            tested = await subscribe(old, requestTestNotification=True)
            records = await receiver.wait_for("test notification", lambda r: len(r) >= 1, 10)
            test_schema = _resolve(
                SPEC.spec, SPEC.spec["components"]["schemas"]["TestNotification"]
            )
            first = records[0]["body"]["testNotification"]
            jsonschema.Draft202012Validator(test_schema).validate(first)
            assert first["_links"]["subscription"]["href"].endswith(f"/{tested}")

            # A new zone: its access point appears (no edge host measured it: Unknown)
            create(kubectl, zone_body(new, "ap-1"))
            await receiver.wait_for("ap-1 added", lambda r: len(_notified(r, every)) >= 1, 20)
            expiry = datetime.fromtimestamp(_later(0)["seconds"] + 3, UTC)
            await asyncio.sleep((expiry - datetime.now(UTC)).total_seconds())  # let it expire
            started = time.monotonic()
            patch = [
                {"op": "add", "path": "/spec/accessPoints/-", "value": access_point("ap-2", 1)}
            ]
            kubectl("patch", "zone", new, "--type=json", "-p", json.dumps(patch))
            await receiver.wait_for("ap-2 added", lambda r: len(_notified(r, every)) >= 2, 20)
            latency = time.monotonic() - started
            removal = [{"op": "remove", "path": "/spec/accessPoints/0"}]
            kubectl("patch", "zone", new, "--type=json", "-p", json.dumps(removal))
            records = await receiver.wait_for(
                "ap-1 removed", lambda r: len(_notified(r, every)) >= 3, 20
            )

            got = _notified(records, every)
            assert [(n["accessPointId"], n["operationStatus"]) for n in got] == [
                ("ap-1", "Unknown"),
                ("ap-2", "Unknown"),
                ("ap-1", "Unserviceable"),
            ]
            for record in records:
                assert record["content_type"] == "application/json"
                assert record["id"]
                jsonschema.Draft202012Validator(schema).validate(record["body"])
            for notification in got:
                assert notification["notificationType"] == "ZoneStatusNotification"
                assert notification["zoneId"] == new
                href = f"http://api{root}/{every}"
                assert notification["_links"]["subscription"] == {"href": href}
            # Same callback URI, one queue: anything sent for these would have arrived before.
            assert _notified(records, of_old) == []  # the old zone did not change
            assert _notified(records, serviceable) == []  # it asks for Serviceable only
            expired = [n["accessPointId"] for n in _notified(records, expiring)]
            assert expired in ([], ["ap-1"])  # nothing once expired (ap-1: maybe, before)

            listing = check(await http.get(root))["notificationSubscriptionList"]
            listed = {s["href"].rsplit("/", 1)[1] for s in listing["subscription"]}
            assert expiring not in listed  # expired: no longer active
            assert {every, of_old, serviceable} <= listed
            print(f"notification {latency:.2f} s after the kubectl patch")
    finally:
        for name in (old, new):
            kubectl("delete", "zone", name, "--ignore-not-found", "--wait=false", check=False)


# -- RBAC ----------------------------------------------------------------------------------------


def _token(kubectl: Kubectl, namespace: str, account: str) -> str:
    return kubectl("create", "token", account, "-n", namespace, "--duration=10m").stdout.strip()


@pytest.fixture
async def rbac_location(
    state: OperatorState, api: client.ApiClient
) -> AsyncIterator[httpx.AsyncClient]:
    state.started(api)
    app = create_app(state, ApiSettings())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as c:
        yield c


async def test_rbac_zones_cluster_wide_subscriptions_in_the_namespace(
    rbac_location: httpx.AsyncClient, kubectl: Kubectl, namespace: str
) -> None:
    role = f"zone-reader-{namespace}"
    kubectl("create", "serviceaccount", "reader", "-n", namespace)
    kubectl("create", "serviceaccount", "stranger", "-n", namespace)
    try:
        kubectl("create", "clusterrole", role, "--verb=list", "--resource=zones.mec.dev")
        kubectl(
            "create", "clusterrolebinding", role, f"--clusterrole={role}",
            f"--serviceaccount={namespace}:reader",
        )  # fmt: skip
        kubectl(
            "create", "role", "subscriber", "-n", namespace,
            "--verb=get,list,create,update,delete", "--resource=mecsubscriptions.mec.dev",
        )  # fmt: skip
        kubectl(
            "create", "rolebinding", "subscriber", "-n", namespace, "--role=subscriber",
            f"--serviceaccount={namespace}:reader",
        )  # fmt: skip
        reader = {"authorization": f"Bearer {_token(kubectl, namespace, 'reader')}"}
        stranger = {"authorization": f"Bearer {_token(kubectl, namespace, 'stranger')}"}
        api_root = f"/namespaces/{namespace}{ROOT}"

        ok = await rbac_location.get(f"{api_root}/queries/zones", headers=reader)
        assert ok.status_code == 200, ok.text
        check(ok)
        denied = problem(
            await rbac_location.get(f"{api_root}/queries/zones", headers=stranger), 403
        )
        assert "list zones.mec.dev" in denied
        assert "in namespace" not in denied  # zones are cluster-scoped
        # users belong to the namespace's apps: the reader may not list its EdgeApps
        assert "list edgeapps.mec.dev" in problem(
            await rbac_location.get(f"{api_root}/queries/users", headers=reader), 403
        )
        body = {
            "zoneStatusSubscription": {
                "subscriptionType": "ZoneStatusSubscription",
                "callbackReference": "http://127.0.0.1:9/notify",
                "zoneId": "zone01",
            }
        }
        made = await rbac_location.post(
            f"{api_root}/subscriptions/zones", json=body, headers=reader
        )
        assert made.status_code == 201, made.text
        check(made)
        refused = await rbac_location.post(
            f"{api_root}/subscriptions/zones", json=body, headers=stranger
        )
        assert "create mecsubscriptions.mec.dev" in problem(refused, 403)
        # (the file documents no error of GET /subscriptions/zones: ask the users resource)
        elsewhere = f"/namespaces/{unique('other')}{ROOT}/subscriptions/users"
        problem(await rbac_location.get(elsewhere, headers=reader), 403)
        problem(await rbac_location.get(f"{api_root}/queries/zones"), 401)
    finally:
        kubectl("delete", "clusterrolebinding", role, "--ignore-not-found", check=False)
        kubectl("delete", "clusterrole", role, "--ignore-not-found", check=False)
