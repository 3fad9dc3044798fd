"""GS MEC 021 application mobility service (`/amsi/v1`), every answer and every notification
checked against the ETSI file (tests/etsi/specs/MEC021_AppMobilityService.yaml).

The API runs in process over the real operator state and users' directory (tests/operator/
test_users.py builds them: app `ar` in namespace `city` on edge-a, edge-b and edge-c, access
points ap1 and ap2). Registrations and queries need no API server; subscriptions are
MecSubscriptions, so those tests (marked `cluster`) run over the real one, and the moves they
are told of are made by the users' directory and delivered to a receiver in its own process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from prometheus_client import CollectorRegistry

from mec_devtools.devcluster import ClusterInfo
from mec_orchestrator.adapters.callbacks import CallbackDelivery, CallbackMetrics, DeliverySettings
from mec_orchestrator.adapters.kube.auth import Access, Identity
from mec_orchestrator.adapters.kube.connection import from_kubeconfig
from mec_orchestrator.api.app import create_app
from mec_orchestrator.api.settings import ApiSettings, AuthMode
from mec_orchestrator.operator.settings import OperatorSettings
from mec_orchestrator.operator.state import OperatorState
from tests.api.test_location import storage_ready
from tests.callbacks.conftest import FAST, Receivers
from tests.decisions.handover.mec021_spec import (
    ADJACENT_APP_INFO_NOTIFICATION,
    MOBILITY_PROCEDURE_NOTIFICATION,
    SPEC,
    TEST_NOTIFICATION,
    component,
)
from tests.operator.test_users import DEVICE, FakeAgents, Scene, agent, attached_at, edge_app, scene

__all__ = ["storage_ready"]  # a fixture of the location tests, used here

ROOT = "/amsi/v1"
CITY = f"/namespaces/city{ROOT}"  # the scene's app is in namespace city
PROBLEM = "application/problem+json"
EDGE_A, EDGE_B, EDGE_C = "city.ar-edge-a", "city.ar-edge-b", "city.ar-edge-c"
DEVICE_ID = {"type": 1, "value": DEVICE}


def check(response: httpx.Response) -> Any:
    """The response's JSON, after checking it against the file (status and body)."""
    body: Any = response.json() if response.content else None
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith(PROBLEM), response.text
    SPEC.check(response.request.method, response.request.url.path, response.status_code, body)
    if isinstance(body, dict) and body.get("subscriptionType") == "AdjacentAppInfoSubscription":
        # The file's answers name MobilityProcedureSubscription only: check the type sent too.
        jsonschema.Draft202012Validator(component("AdjacentAppInfoSubscription")).validate(body)
    return body


def problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    detail = check(response)["detail"]
    assert isinstance(detail, str)
    return detail


def registration(instance: str = EDGE_C, state: int = 0, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "serviceConsumerId": {"appInstanceId": instance},
        "deviceInformation": [
            {
                "associateId": DEVICE_ID,
                "appMobilityServiceLevel": {"appMobilityServiceLevel": 3},
                "contextTransferState": state,
            }
        ],
        "expiryTime": 0,
    }
    body.update(changes)
    return body


@pytest.fixture
async def world() -> AsyncIterator[tuple[Scene, httpx.AsyncClient]]:
    s = scene(edge_app(transfer="AppSelfControlled"))
    s.state.started(object())  # type: ignore[arg-type]  # ready; no API server call is made
    app = create_app(
        s.state, ApiSettings(auth=AuthMode.NONE, default_namespace="city"), users=s.users
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://orchestrator") as http:
        yield s, http


# -- registrations -------------------------------------------------------------------------------


async def test_registrations_are_created_read_listed_replaced_and_deregistered(
    world: tuple[Scene, httpx.AsyncClient],
) -> None:
    _, http = world
    assert check(await http.get(f"{ROOT}/app_mobility_services")) == []
    created = await http.post(
        f"{ROOT}/app_mobility_services", json={"RegistrationInfo": registration()}
    )  # the file's wrapper is accepted
    assert created.status_code == 201, created.text
    info = check(created)
    rid = info["appMobilityServiceId"]
    assert created.headers["location"] == f"http://orchestrator{ROOT}/app_mobility_services/{rid}"
    assert info == {**registration(), "appMobilityServiceId": rid}
    assert check(await http.get(f"{CITY}/app_mobility_services/{rid}")) == info  # same namespace
    other = check(
        await http.post(f"{ROOT}/app_mobility_services", json={"serviceConsumerId": {"mepId": "m"}})
    )
    listed = check(await http.get(f"{ROOT}/app_mobility_services"))
    assert sorted(r["appMobilityServiceId"] for r in listed) == sorted(
        [rid, other["appMobilityServiceId"]]
    )
    selected = check(
        await http.get(
            f"{ROOT}/app_mobility_services",
            params={"filter": f"(eq,serviceConsumerId/appInstanceId,{EDGE_C})"},
        )
    )
    assert [r["appMobilityServiceId"] for r in selected] == [rid]
    bare = check(
        await http.get(
            f"{ROOT}/app_mobility_services", params={"exclude_fields": "deviceInformation"}
        )
    )
    assert all("deviceInformation" not in r for r in bare)
    assert check(await http.get(f"/namespaces/elsewhere{ROOT}/app_mobility_services")) == []

    replaced = registration(state=0, expiryTime=60, appMobilityServiceId=rid)
    replaced["deviceInformation"].append({"associateId": {"type": 1, "value": "10.45.0.9"}})
    answered = check(await http.put(f"{ROOT}/app_mobility_services/{rid}", json=replaced))
    assert answered == replaced
    assert check(await http.get(f"{ROOT}/app_mobility_services/{rid}")) == replaced

    deregistered = await http.post(f"{ROOT}/app_mobility_services/{rid}/deregister_task")
    assert deregistered.status_code == 204
    check(deregistered)
    assert "does not exist" in problem(await http.get(f"{ROOT}/app_mobility_services/{rid}"), 404)
    problem(await http.post(f"{ROOT}/app_mobility_services/{rid}/deregister_task"), 404)
    problem(await http.delete(f"{ROOT}/app_mobility_services/{rid}"), 404)
    problem(await http.put(f"{ROOT}/app_mobility_services/{rid}", json=registration()), 404)
    deleted = await http.delete(f"{ROOT}/app_mobility_services/{other['appMobilityServiceId']}")
    assert deleted.status_code == 204
    check(deleted)
    assert check(await http.get(f"{ROOT}/app_mobility_services")) == []


async def test_a_registration_expires_after_its_expiry_time(
    world: tuple[Scene, httpx.AsyncClient],
) -> None:
    _, http = world
    created = check(
        await http.post(f"{ROOT}/app_mobility_services", json=registration(expiryTime=1))
    )
    rid = created["appMobilityServiceId"]
    assert check(await http.get(f"{ROOT}/app_mobility_services/{rid}"))["expiryTime"] == 1
    await asyncio.sleep(1.1)
    problem(await http.get(f"{ROOT}/app_mobility_services/{rid}"), 404)
    assert check(await http.get(f"{ROOT}/app_mobility_services")) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body.serviceConsumerId"),
        ({"serviceConsumerId": {}}, "body.serviceConsumerId"),
        ({"serviceConsumerId": {"appInstanceId": "a", "mepId": "m"}}, "body.serviceConsumerId"),
        (registration(appMobilityServiceId="mine"), "body.appMobilityServiceId"),
        (registration(state=1), "body.deviceInformation[0].contextTransferState"),
        (registration(state=2), "body.deviceInformation.0.contextTransferState"),
        (
            registration(deviceInformation=[{"associateId": {"type": 9, "value": DEVICE}}]),
            "body.deviceInformation.0.associateId.type",
        ),
        (
            registration(deviceInformation=[{"associateId": DEVICE}]),  # the file's string
            "body.deviceInformation.0.associateId",
        ),
        (registration(expiryTime=-1), "body.expiryTime"),
        (registration(unknown=1), "body.unknown"),
        ([], "body"),
    ],
)
async def test_bad_registrations_are_refused_naming_the_field(
    world: tuple[Scene, httpx.AsyncClient], body: Any, field: str
) -> None:
    _, http = world
    detail = problem(await http.post(f"{ROOT}/app_mobility_services", json=body), 400)
    assert field.replace(".0.", "[0].") in detail


async def test_a_registration_is_of_its_namespace(world: tuple[Scene, httpx.AsyncClient]) -> None:
    _, http = world
    detail = problem(
        await http.post(f"/namespaces/elsewhere{ROOT}/app_mobility_services", json=registration()),
        400,
    )
    assert "body.serviceConsumerId.appInstanceId" in detail
    assert "namespace city" in detail
    rid = check(await http.post(f"{ROOT}/app_mobility_services", json=registration()))[
        "appMobilityServiceId"
    ]
    other = registration(appMobilityServiceId="ams-other")
    detail = problem(await http.put(f"{ROOT}/app_mobility_services/{rid}", json=other), 400)
    assert "body.appMobilityServiceId" in detail
    problem(await http.get(f"/namespaces/Not_A_Name{ROOT}/app_mobility_services"), 404)


async def test_a_completed_context_transfer_is_reported_to_the_directory(
    world: tuple[Scene, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    s, http = world
    session = await attached_at(s, "ap1")  # served on edge-a
    # A handover of this user to edge-c waits for edge-c's report (as the directory's own
    # handover sets it up), and every report is recorded with its answer.
    waiting = asyncio.Event()
    s.users._transfer_reports[(EDGE_C, session.context_id)] = waiting
    reports: list[tuple[str, str, bool]] = []
    real = s.users.context_transfer_reported

    def spy(instance: str, context_id: str) -> bool:
        answer = real(instance, context_id)
        reports.append((instance, context_id, answer))
        return answer

    monkeypatch.setattr(s.users, "context_transfer_reported", spy)
    rid = check(await http.post(f"{ROOT}/app_mobility_services", json=registration()))[
        "appMobilityServiceId"
    ]
    assert reports == []
    url = f"{ROOT}/app_mobility_services/{rid}"
    check(await http.put(url, json=registration(state=1, appMobilityServiceId=rid)))
    assert waiting.is_set()
    assert reports == [(EDGE_C, session.context_id, True)]
    check(await http.put(url, json=registration(state=1)))  # still completed: no new report
    assert len(reports) == 1
    del s.users._transfer_reports[(EDGE_C, session.context_id)]  # that handover has ended
    check(await http.put(url, json=registration(state=0)))
    check(await http.put(url, json=registration(state=1)))  # completed again: reported again
    assert reports[1:] == [(EDGE_C, session.context_id, False)]  # nothing waits any more


# -- adjacent instances --------------------------------------------------------------------------


async def test_adjacent_instances_are_the_other_serving_instances_of_the_app(
    world: tuple[Scene, httpx.AsyncClient],
) -> None:
    _, http = world
    url = f"{ROOT}/queries/adjacent_app_instances"
    everything = check(await http.get(url))
    assert [i["appInstanceId"] for i in everything] == [EDGE_A, EDGE_B, EDGE_C]
    found = check(await http.get(url, params={"filter": f"(eq,appInstanceId,{EDGE_A})"}))
    assert found == [
        {
            "appInstanceId": instance,
            "appDId": "ar-d",
            "appInstanceCommLink": [{"ipAddresses": [{"host": f"{host}.pods", "port": 8080}]}],
            "mecHostInformation": {"hostName": host, "hostId": {"name": host}},
        }
        for instance, host in ((EDGE_B, "edge-b"), (EDGE_C, "edge-c"))
    ]
    check(await http.post(f"{ROOT}/app_mobility_services", json=registration(EDGE_A)))
    narrowed = check(
        await http.get(
            url,
            params={
                "filter": f"(eq,appInstanceId,{EDGE_A});(eq,mecHostInformation/hostName,edge-c)"
            },
        )
    )
    assert [(i["appInstanceId"], i["registeredInstanceId"]) for i in narrowed] == [(EDGE_C, EDGE_A)]
    assert "app instance" in problem(
        await http.get(url, params={"filter": "(eq,appInstanceId,city.nothing)"}), 404
    )
    assert "filter: unknown attribute" in problem(
        await http.get(url, params={"filter": "(eq,nothing,1)"}), 400
    )
    assert check(await http.get(f"/namespaces/elsewhere{url}")) == []


# -- RBAC ----------------------------------------------------------------------------------------


class RefusingAuth:
    """Authenticates every token as one user and records, then refuses, every access asked."""

    def __init__(self) -> None:
        self.asked: list[Access] = []

    async def authenticate(self, token: str) -> Identity:
        del token
        return Identity(user="app", groups=("system:authenticated",))

    async def authorize(self, who: Identity, access: Access) -> tuple[bool, str]:
        del who
        self.asked.append(access)
        return False, ""


RBAC = [
    ("get", "/app_mobility_services", "list", "appmobilityservices"),
    ("post", "/app_mobility_services", "create", "appmobilityservices"),
    ("get", "/app_mobility_services/ams-1", "get", "appmobilityservices"),
    ("put", "/app_mobility_services/ams-1", "update", "appmobilityservices"),
    ("delete", "/app_mobility_services/ams-1", "delete", "appmobilityservices"),
    ("post", "/app_mobility_services/ams-1/deregister_task", "delete", "appmobilityservices"),
    ("get", "/queries/adjacent_app_instances", "list", "appmobilityservices"),
    ("get", "/subscriptions", "list", "mecsubscriptions"),
    ("post", "/subscriptions", "create", "mecsubscriptions"),
    ("get", "/subscriptions/sub-1", "get", "mecsubscriptions"),
    ("put", "/subscriptions/sub-1", "update", "mecsubscriptions"),
    ("delete", "/subscriptions/sub-1", "delete", "mecsubscriptions"),
]


@pytest.mark.parametrize(("method", "path", "verb", "resource"), RBAC)
async def test_every_operation_asks_rbac_in_the_namespace(
    method: str, path: str, verb: str, resource: str
) -> None:
    s = scene()
    s.state.started(object())  # type: ignore[arg-type]  # ready; no API server call is made
    app = create_app(s.state, ApiSettings(default_namespace="city"), users=s.users)
    auth = RefusingAuth()
    app.state.context.auth = auth
    body = registration() if "app_mobility" in path else mobility_subscription("http://x/cb")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://orchestrator"
    ) as http:
        answer = await http.request(
            method,
            f"/namespaces/team-a{ROOT}{path}",
            headers={"Authorization": "Bearer t"},
            json=body if method in {"post", "put"} else None,
        )
    detail = problem(answer, 403)
    assert f'user "app" may not {verb} {resource}.mec.dev in namespace "team-a"' in detail
    assert auth.asked == [Access(verb, "mec.dev", resource, "team-a")]


# -- subscriptions and notifications (the real API server) ---------------------------------------


def mobility_subscription(callback: str, **criteria: Any) -> dict[str, Any]:
    return {
        "subscriptionType": "MobilityProcedureSubscription",
        "callbackReference": callback,
        "filterCriteria": criteria,
    }


def adjacent_subscription(callback: str, instance: str | None = EDGE_A) -> dict[str, Any]:
    return {
        "subscriptionType": "AdjacentAppInfoSubscription",
        "callbackReference": callback,
        "filterCriteria": {} if instance is None else {"appInstanceId": instance},
    }


@pytest.fixture
async def receivers(tmp_path: Path) -> AsyncIterator[Receivers]:
    """Notification receivers, each its own OS process (tests/callbacks/receiver.py)."""
    made = Receivers(tmp_path)
    try:
        yield made
    finally:
        for one in made.started:
            await one.kill()


@pytest.fixture
def delivery() -> CallbackDelivery:
    return CallbackDelivery(
        DeliverySettings.model_validate(FAST), metrics=CallbackMetrics(CollectorRegistry())
    )


async def _api(
    info: ClusterInfo,
    api: client.ApiClient,
    namespace: str,
    delivery: CallbackDelivery,
    agents: FakeAgents | None = None,
) -> tuple[Scene, httpx.AsyncClient]:
    state = OperatorState(OperatorSettings(standalone=True), from_kubeconfig(info.kubeconfig))
    state.started(api)
    s = scene(state=state, agents=agents)
    settings = ApiSettings(auth=AuthMode.NONE, default_namespace=namespace)
    app = create_app(state, settings, delivery, users=s.users)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    return s, http


@pytest.mark.cluster
async def test_subscriptions_are_created_read_listed_replaced_and_deleted(
    storage_ready: ClusterInfo,
    api: client.ApiClient,
    namespace: str,
    receivers: Receivers,
    delivery: CallbackDelivery,
) -> None:
    receiver = await receivers.start()
    _, http = await _api(storage_ready, api, namespace, delivery)
    async with delivery, http:
        url = f"{ROOT}/subscriptions"
        empty = check(await http.get(url))
        assert empty == {"_links": {"self": {"href": f"http://api{url}"}}}
        sent = {
            **mobility_subscription(receiver.url, associateId=[DEVICE_ID]),
            "requestTestNotification": True,
        }
        created = await http.post(url, json={"MobilityProcedureSubscription": sent})
        assert created.status_code == 201, created.text
        mobility = check(created)
        href = created.headers["location"]
        assert href.startswith(f"http://api{url}/sub-")
        assert mobility == {
            **sent,
            "filterCriteria": {"associateId": [DEVICE_ID], "mobilityStatus": [1]},  # default
            "_links": {"self": {"href": href}},
        }
        records = await receiver.wait_for("the test notification", lambda r: len(r) >= 1, 10)
        assert records[0]["body"] == {
            "notificationType": "TestNotification",
            "_links": {"subscription": {"href": href}},
        }
        jsonschema.Draft202012Validator(TEST_NOTIFICATION).validate(records[0]["body"])

        adjacent = await http.post(url, json=adjacent_subscription(receiver.url))
        assert adjacent.status_code == 201, adjacent.text
        check(adjacent)
        adjacent_href = adjacent.headers["location"]
        listed = check(await http.get(url))["_links"]["subscription"]
        assert sorted((s["href"], s["subscriptionType"]) for s in listed) == sorted(
            [
                (href, "MobilityProcedureSubscription"),
                (adjacent_href, "AdjacentAppInfoSubscription"),
            ]
        )
        for query, expected in (("mobility_proc", href), ("adj_app_info", adjacent_href)):
            only = check(await http.get(url, params={"subscriptiontype": query}))
            assert [s["href"] for s in only["_links"]["subscription"]] == [expected]
        assert (
            "subscription"
            not in check(await http.get(url, params={"subscriptiontype": "x"}))["_links"]
        )
        sid = href.rsplit("/", 1)[1]
        assert check(await http.get(f"{url}/{sid}")) == mobility
        assert check(await http.get(f"/namespaces/{namespace}{url}/{sid}"))["_links"] == {
            "self": {"href": f"http://api/namespaces/{namespace}{url}/{sid}"}
        }
        changed = mobility_subscription(receiver.url, appInstanceId=EDGE_B, mobilityStatus=[2, 3])
        replaced = check(await http.put(f"{url}/{sid}", json=changed))
        assert replaced["filterCriteria"] == changed["filterCriteria"]
        assert check(await http.get(f"{url}/{sid}")) == replaced
        detail = problem(
            await http.put(f"{url}/{sid}", json=adjacent_subscription(receiver.url)), 400
        )
        assert "body.subscriptionType" in detail
        for one in (href, adjacent_href):
            deleted = await http.delete(one.removeprefix("http://api"))
            assert deleted.status_code == 204
            check(deleted)
        problem(await http.get(f"{url}/{sid}"), 404)
        problem(await http.delete(f"{url}/{sid}"), 404)
        problem(await http.put(f"{url}/{sid}", json=changed), 404)
        problem(await http.get(f"{url}/Not_A_Name"), 404)


@pytest.mark.cluster
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subscriptionType": "MobilityProcedureSubscription"}, "body.callbackReference"),
        (mobility_subscription("http://x/cb", mobilityStatus=[4]), "body.filterCriteria"),
        (mobility_subscription("ftp://x/cb"), "body.callbackReference"),
        (mobility_subscription("http://x/cb", associateId=[DEVICE]), "body.filterCriteria"),
        (mobility_subscription("http://x/cb", other=1), "body.filterCriteria.other"),
        (
            {
                **mobility_subscription("http://x/cb"),
                "expiryDeadline": {"seconds": 1, "nanoSeconds": 0},
            },
            "body.expiryDeadline",
        ),
        ({"subscriptionType": "Other", "callbackReference": "http://x/cb"}, "body"),
        (
            {"subscriptionType": "AdjacentAppInfoSubscription", "callbackReference": "http://x"},
            "body.filterCriteria",
        ),
    ],
)
async def test_bad_subscriptions_are_refused_naming_the_field(
    storage_ready: ClusterInfo,
    api: client.ApiClient,
    *,
    namespace: str,
    delivery: CallbackDelivery,
    body: dict[str, Any],
    field: str,
) -> None:
    _, http = await _api(storage_ready, api, namespace, delivery)
    async with http:
        detail = problem(await http.post(f"{ROOT}/subscriptions", json=body), 400)
        assert field in detail


@pytest.fixture
async def city(api: client.ApiClient) -> AsyncIterator[str]:
    """The scene's namespace, city, in the API server (made for the test if it is not there)."""
    core = client.CoreV1Api(api)
    try:
        await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="city")))
        made = True
    except ApiException as error:
        if error.status != 409:
            raise
        made = False
    try:
        yield "city"
    finally:
        if made:
            await core.delete_namespace("city")


def _bodies(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r["body"] for r in records if r["body"].get("notificationType") == kind]


async def _subscribe(http: httpx.AsyncClient, body: dict[str, Any]) -> str:
    created = await http.post(f"{CITY}/subscriptions", json=body)
    assert created.status_code == 201, created.text
    check(created)
    return created.headers["location"]


@pytest.mark.cluster
async def test_moves_are_notified_triggered_then_completed_or_failed(
    storage_ready: ClusterInfo,
    api: client.ApiClient,
    city: str,
    receivers: Receivers,
    delivery: CallbackDelivery,
) -> None:
    receiver, late = await receivers.start(), await receivers.start()
    agents = FakeAgents()
    s, http = await _api(storage_ready, api, city, delivery, agents)
    async with delivery, http:
        mobility = await _subscribe(
            http,
            mobility_subscription(receiver.url, associateId=[DEVICE_ID], mobilityStatus=[1, 2, 3]),
        )
        other_device = await _subscribe(
            http,
            mobility_subscription(receiver.url, associateId=[{"type": 1, "value": "10.9.9.9"}]),
        )
        adjacent = await _subscribe(http, adjacent_subscription(receiver.url))
        deadline = time.time() + 1.0
        expiring = await _subscribe(
            http,
            {
                **mobility_subscription(late.url, mobilityStatus=[1, 2, 3]),
                "expiryDeadline": {"seconds": int(deadline), "nanoSeconds": 0},
            },
        )
        await asyncio.sleep(max(0.0, int(deadline) - time.time()) + 0.2)  # it has expired

        session = await attached_at(s, "ap1")  # served on edge-a, nearest ap1
        assert session.app_instance_id == EDGE_A
        (moved,) = await s.users.device_moved(DEVICE, "ap2")  # a stateless app: moved now
        assert (moved.outcome.value, moved.target) == ("moved", "edge-c")
        await receiver.wait_for(
            "TRIGGERED, COMPLETED and the adjacent instances",
            lambda r: len(r) >= 3,
            20,
        )
        agents.failing.add(agent("edge-a"))  # edge-a's agent refuses the way back
        (failed,) = await s.users.device_moved(DEVICE, "ap1")
        assert (failed.outcome.value, failed.target) == ("failed", "edge-a")
        records = await receiver.wait_for(
            "TRIGGERED and FAILED", lambda r: len(_bodies(r, "MobilityProcedureNotification")) >= 4
        )
        await asyncio.sleep(0.5)  # anything else sent would have arrived (one queue per URI)
        records = receiver.records()

        moves = _bodies(records, "MobilityProcedureNotification")
        assert [(n["mobilityStatus"], n["targetAppInfo"]["appInstanceId"]) for n in moves] == [
            (1, EDGE_C),
            (2, EDGE_C),
            (1, EDGE_A),
            (3, EDGE_A),
        ]
        for body in moves:
            jsonschema.Draft202012Validator(MOBILITY_PROCEDURE_NOTIFICATION).validate(body)
            assert body["associateId"] == [DEVICE_ID]
            assert body["_links"] == {"subscription": {"href": mobility}}
        assert moves[0]["targetAppInfo"]["commInterface"] == {
            "ipAddresses": [{"host": "edge-c.pods", "port": 8080}]
        }
        # The instances adjacent to edge-a after the completed move; the failed one changed
        # nothing, so nothing more is sent.
        (told,) = _bodies(records, "AdjacentAppInfoNotification")
        jsonschema.Draft202012Validator(ADJACENT_APP_INFO_NOTIFICATION).validate(told)
        assert [a["appInstanceId"] for a in told["adjacentAppInfo"]] == [EDGE_B, EDGE_C]
        assert told["_links"] == {"subscription": {"href": adjacent}}
        assert len(records) == 5  # nothing for the other device's subscription
        assert late.records() == []  # nor for the expired one
        for one in (mobility, other_device, adjacent, expiring):
            await http.delete(one.removeprefix("http://api"))
