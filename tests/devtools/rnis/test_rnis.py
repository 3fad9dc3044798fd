"""The emulated RNIS as a process: ETSI MEC 012 answers and notifications, and its control API.

Every ETSI answer is checked against the vendored RniAPI.yaml (tests/etsi/conformance.py), and
every notification the receiver gets against the file's CellChangeNotification — with one
file defect: the file makes `_links` an array of self links (and adds a top-level
`subscription` array), where the GS text has `_links: {subscription: LinkType}`. The emulator
sends the GS's `_links` and the file's `subscription` array; `_links` is checked against the
GS shape, everything else against the file. A second defect: the file writes `Ecgi.cellId` as
`$ref: CellId` (a string) next to `type: object`, which no value meets; the cell identity is
sent as the string the GS and the CellId schema say, and checked as such.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import httpx
import jsonschema
import pytest

from mec_devtools.rnis.models import HoStatus, TimeStamp
from tests.devtools.rnis.conftest import Receiver
from tests.etsi.conformance import EtsiSpec, _resolve

pytestmark = pytest.mark.timeout(120)

SPEC = EtsiSpec("RniAPI.yaml")
PROBLEM = "application/problem+json"
UE = "10.20.0.7"
OTHER_UE = "10.20.0.8"
CELL_A = "0A1B2C3"
CELL_B = "0A1B2C4"


def _fix_cell_ids(node: Any) -> Any:
    """The schema with every `cellId` read as the CellId string (see the module docstring)."""
    if isinstance(node, list):
        return [_fix_cell_ids(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _fix_cell_ids(v) for k, v in node.items()}
    props = out.get("properties")
    if isinstance(props, dict) and isinstance(props.get("cellId"), dict):
        props["cellId"] = {**props["cellId"], "type": "string"}
    return out


def _schema(name: str) -> dict[str, Any]:
    resolved: dict[str, Any] = _resolve(SPEC.spec, SPEC.spec["components"]["schemas"][name])
    fixed: dict[str, Any] = _fix_cell_ids(resolved)
    return fixed


def _notification_schema() -> dict[str, Any]:
    schema = copy.deepcopy(_schema("CellChangeNotification"))
    schema["properties"]["_links"] = {  # the GS text's shape (see the module docstring)
        "type": "object",
        "properties": {"subscription": _schema("LinkType")},
        "required": ["subscription"],
    }
    return schema


NOTIFICATION = _notification_schema()


def check(response: httpx.Response) -> Any:
    """The answer's JSON after checking status and body against RniAPI.yaml."""
    body: Any = response.json() if response.content else None
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith(PROBLEM), response.text
    method, path = response.request.method, response.request.url.path
    schema = SPEC.response_schema(method, path, response.status_code)  # documented status
    if schema is None:
        assert body is None, body
    else:
        jsonschema.Draft202012Validator(_fix_cell_ids(schema)).validate(body)
    return body


def check_notification(body: Any) -> dict[str, Any]:
    jsonschema.Draft202012Validator(NOTIFICATION).validate(body)
    assert body["notificationType"] == "CellChangeNotification"
    assert body["subscription"] == [body["_links"]["subscription"]]
    assert isinstance(body, dict)
    return body


def subscription(callback: str, **criteria: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subscriptionType": "CellChangeSubscription",
        "callbackReference": callback,
        "filterCriteriaAssocHo": criteria,
    }
    # Our request bodies are what the file asks for (unwrapped, as the GS writes them).
    request = _fix_cell_ids(SPEC.request_schema("post", "/subscriptions"))
    jsonschema.Draft202012Validator(request).validate(body)
    return body


async def subscribe(rnis: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    answer = await rnis.post("/rni/v2/subscriptions", json=body)
    assert answer.status_code == 201, answer.text
    created = check(answer)
    assert answer.headers["location"] == created["_links"]["self"]["href"]
    assert isinstance(created, dict)
    return created


async def attach(rnis: httpx.AsyncClient, address: str, cell: str) -> None:
    answer = await rnis.put(f"/control/ues/{address}", json={"cell": cell})
    assert answer.status_code in (200, 201), answer.text
    assert answer.json()["cell"] == cell


async def handover(
    rnis: httpx.AsyncClient, address: str, target: str, radio_ms: float, outcome: str
) -> dict[str, Any]:
    answer = await rnis.post(
        f"/control/ues/{address}/handover",
        json={"targetCell": target, "radioHandoverMs": radio_ms, "outcome": outcome},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def cell_of(rnis: httpx.AsyncClient, address: str) -> str | None:
    """The UE's cell as a consumer learns it: RAB information filtered by its address."""
    answer = await rnis.get("/rni/v2/queries/rab_info", params={"ue_ipv4_address": address})
    assert answer.status_code == 200, answer.text
    info = check(answer)
    cells = [
        c["ecgi"]["cellId"]
        for c in info["cellUserInfo"]
        for ue in c["ueInfo"]
        if {"type": 1, "value": address} in ue["associateId"]
    ]
    assert len(cells) <= 1
    return cells[0] if cells else None


def ecgi(cell: str) -> dict[str, Any]:
    return {"plmn": {"mcc": "505", "mnc": "01"}, "cellId": cell}


async def test_completed_handover_notifies_preparation_then_completion(
    rnis: httpx.AsyncClient, receiver: Receiver
) -> None:
    await attach(rnis, UE, CELL_A)
    await subscribe(
        rnis,
        subscription(receiver.url, associateId=[{"type": 1, "value": UE}], hoStatus=[1, 3, 4, 5]),
    )
    assert await cell_of(rnis, UE) == CELL_A
    result = await handover(rnis, UE, CELL_B, 300, "COMPLETED")
    assert result["cell"] == CELL_B
    assert result["notifications"] == {
        "IN_PREPARATION": {"delivered": 1, "failed": 0},
        "COMPLETED": {"delivered": 1, "failed": 0},
    }
    first, second = await receiver.wait_for(2)
    notes = [check_notification(first.body), check_notification(second.body)]
    assert [n["hoStatus"] for n in notes] == [HoStatus.IN_PREPARATION, HoStatus.COMPLETED]
    for note in notes:
        assert note["srcEcgi"] == ecgi(CELL_A)
        assert note["trgEcgi"] == [ecgi(CELL_B)]
        assert note["associateId"] == [{"type": 1, "value": UE}]
    assert second.t - first.t >= 0.3
    stamps = [TimeStamp.model_validate(n["timeStamp"]).as_ns() for n in notes]
    assert stamps[1] - stamps[0] >= 300_000_000
    assert await cell_of(rnis, UE) == CELL_B


@pytest.mark.parametrize(("outcome", "status"), [("CANCELLED", 5), ("REJECTED", 4)])
async def test_a_handover_that_does_not_complete_leaves_the_ue_in_its_cell(
    rnis: httpx.AsyncClient, receiver: Receiver, outcome: str, status: int
) -> None:
    await attach(rnis, UE, CELL_A)
    await subscribe(rnis, subscription(receiver.url, hoStatus=[1, 2, 3, 4, 5]))
    result = await handover(rnis, UE, CELL_B, 50, outcome)
    assert result["cell"] == CELL_A
    assert result["outcome"] == outcome
    notes = [check_notification(r.body) for r in await receiver.wait_for(2)]
    assert [n["hoStatus"] for n in notes] == [1, status]
    assert await cell_of(rnis, UE) == CELL_A


async def test_filters_choose_the_subscribers(rnis: httpx.AsyncClient, receiver: Receiver) -> None:
    await attach(rnis, UE, CELL_A)
    await attach(rnis, OTHER_UE, CELL_A)
    # No hoStatus: COMPLETED only, as the GS says, and the answer says so.
    created = await subscribe(rnis, subscription(receiver.url))
    assert created["filterCriteriaAssocHo"]["hoStatus"] == [3]
    # Another UE's handovers, and a cell no handover touches: never notified here.
    await subscribe(rnis, subscription(receiver.url, associateId=[{"type": 1, "value": OTHER_UE}]))
    await subscribe(rnis, subscription(receiver.url, ecgi=[ecgi("0FFFFFF")], hoStatus=[1, 3]))
    await handover(rnis, UE, CELL_B, 10, "COMPLETED")
    (only,) = await receiver.wait_for(1)
    assert check_notification(only.body)["hoStatus"] == 3
    # A cell filter matches the source cell of a handover.
    await subscribe(rnis, subscription(receiver.url, ecgi=[ecgi(CELL_B)], hoStatus=[1]))
    await handover(rnis, UE, CELL_A, 10, "COMPLETED")
    notes = [check_notification(r.body) for r in await receiver.wait_for(3)]
    assert [n["hoStatus"] for n in notes[1:]] == [1, 3]
    stats = (await rnis.get("/control/stats")).json()
    assert stats["notificationsSent"] == 3
    assert stats["notificationsFailed"] == 0
    assert stats["handovers"] == 2


async def test_subscriptions_are_created_listed_read_and_deleted(
    rnis: httpx.AsyncClient, receiver: Receiver
) -> None:
    created = await subscribe(rnis, subscription(receiver.url, hoStatus=[1, 3]))
    href = created["_links"]["self"]["href"]
    path = httpx.URL(href).path
    # The file's wrapped form is read too.
    wrapped = await rnis.post(
        "/rni/v2/subscriptions",
        json={"CellChangeSubscription": subscription(receiver.url)},
    )
    assert wrapped.status_code == 201
    listing = check(await rnis.get("/rni/v2/subscriptions"))
    links = listing["_links"]["subscription"]
    assert {link["href"] for link in links} == {href, wrapped.headers["location"]}
    assert {link["subscriptionType"] for link in links} == {"CellChangeSubscription"}
    typed = check(
        await rnis.get("/rni/v2/subscriptions", params={"subscription_type": "cell_change"})
    )
    assert len(typed["_links"]["subscription"]) == 2
    other = check(await rnis.get("/rni/v2/subscriptions", params={"subscription_type": "rab_est"}))
    assert other["_links"].get("subscription", []) == []
    one = check(await rnis.get(path))
    assert one == created
    deleted = await rnis.delete(path)
    assert deleted.status_code == 204
    check(deleted)
    for gone in (await rnis.get(path), await rnis.delete(path)):
        assert gone.status_code == 404
        assert "no subscription" in check(gone)["detail"]


async def test_an_expired_subscription_is_gone(rnis: httpx.AsyncClient, receiver: Receiver) -> None:
    body = subscription(receiver.url)
    body["expiryDeadline"] = TimeStamp.from_ns(time.time_ns() + 300_000_000).body()
    created = await subscribe(rnis, body)
    path = httpx.URL(created["_links"]["self"]["href"]).path
    await _sleep(0.5)
    assert (await rnis.get(path)).status_code == 404


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def _bad_bodies() -> list[tuple[Any, str]]:
    good = {
        "subscriptionType": "CellChangeSubscription",
        "callbackReference": "http://127.0.0.1:9/cb",
        "filterCriteriaAssocHo": {},
    }
    past = TimeStamp.from_ns(time.time_ns() - 10**9).body()
    return [
        ([good], "CellChangeSubscription object"),
        ({**good, "subscriptionType": "RabEstSubscription"}, "subscriptionType"),
        ({k: v for k, v in good.items() if k != "subscriptionType"}, "subscriptionType"),
        ({k: v for k, v in good.items() if k != "callbackReference"}, "callbackReference"),
        ({**good, "callbackReference": "ftp://x/y"}, "callbackReference"),
        ({**good, "filterCriteriaAssocHo": {"hoStatus": [9]}}, "filterCriteriaAssocHo.hoStatus"),
        ({**good, "filterCriteriaAssocHo": {"ecgi": [{"cellId": "1"}]}}, "ecgi.0.plmn"),
        ({**good, "filterCriteriaAssocHo": {"associateId": [{"type": 1}]}}, "associateId.0.value"),
        ({**good, "color": "blue"}, "color"),
        ({**good, "expiryDeadline": past}, "expiryDeadline"),
    ]


@pytest.mark.parametrize(("body", "field"), _bad_bodies())
async def test_malformed_subscriptions_are_400_naming_the_field(
    rnis: httpx.AsyncClient, body: Any, field: str
) -> None:
    answer = await rnis.post("/rni/v2/subscriptions", json=body)
    assert answer.status_code == 400, answer.text
    problem = check(answer)
    assert field in problem["detail"], problem
    assert problem["status"] == 400


async def test_a_body_that_is_not_json_is_400(rnis: httpx.AsyncClient) -> None:
    answer = await rnis.post(
        "/rni/v2/subscriptions", content=b"{", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    assert "not JSON" in check(answer)["detail"]


async def test_rab_info_lists_the_ues_per_cell(rnis: httpx.AsyncClient) -> None:
    await attach(rnis, UE, CELL_A)
    await attach(rnis, OTHER_UE, CELL_B)
    everyone = check(await rnis.get("/rni/v2/queries/rab_info", params={"app_ins_id": "x1"}))
    assert everyone["appInstanceId"] == "x1"
    assert [c["ecgi"]["cellId"] for c in everyone["cellUserInfo"]] == [CELL_A, CELL_B]
    in_b = check(await rnis.get("/rni/v2/queries/rab_info", params={"cell_id": CELL_B}))
    assert [u["associateId"] for c in in_b["cellUserInfo"] for u in c["ueInfo"]] == [
        [{"type": 1, "value": OTHER_UE}]
    ]
    both = check(
        await rnis.get("/rni/v2/queries/rab_info", params={"ue_ipv4_address": f"{UE},{OTHER_UE}"})
    )
    assert len(both["cellUserInfo"]) == 2
    assert (await rnis.delete(f"/control/ues/{OTHER_UE}")).status_code == 204
    assert await cell_of(rnis, OTHER_UE) is None
    assert await cell_of(rnis, UE) == CELL_A
    listed = (await rnis.get("/control/ues")).json()["ues"]
    assert [(u["address"], u["cell"]) for u in listed] == [(UE, CELL_A)]
    bad = await rnis.get("/rni/v2/queries/rab_info", params={"ue_ipv4_address": "nope"})
    assert bad.status_code == 400
    check(bad)


async def test_failed_deliveries_are_retried_then_counted(
    rnis: httpx.AsyncClient, receiver: Receiver
) -> None:
    await attach(rnis, UE, CELL_A)
    await subscribe(rnis, subscription(receiver.url, hoStatus=[1, 3]))
    receiver.statuses = [503, 503]  # the first notification gets through at the third attempt
    result = await handover(rnis, UE, CELL_B, 0, "COMPLETED")
    assert result["notifications"]["IN_PREPARATION"] == {"delivered": 1, "failed": 0}
    notes = [check_notification(r.body) for r in await receiver.wait_for(2)]
    assert [n["hoStatus"] for n in notes] == [1, 3]
    receiver.statuses = [404]  # refused: not retried, counted as failed
    result = await handover(rnis, UE, CELL_A, 0, "COMPLETED")
    assert result["notifications"]["IN_PREPARATION"] == {"delivered": 0, "failed": 1}
    stats = (await rnis.get("/control/stats")).json()
    assert stats["notificationsSent"] == 3
    assert stats["notificationsFailed"] == 1
    assert stats["retries"] == 2


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        (f"/control/ues/{UE}/handover", {"targetCell": CELL_B}, 404, "no UE"),
        ("/control/ues/not-an-ip/handover", {"targetCell": CELL_B}, 400, "IPv4"),
        (
            f"/control/ues/{OTHER_UE}/handover",
            {"targetCell": CELL_B, "outcome": "FAILURE"},
            400,
            "outcome",
        ),
        (f"/control/ues/{OTHER_UE}/handover", {"targetCell": CELL_A}, 400, "already"),
        (
            f"/control/ues/{OTHER_UE}/handover",
            {"targetCell": CELL_B, "radioHandoverMs": -1},
            400,
            "radioHandoverMs",
        ),
        (f"/control/ues/{OTHER_UE}/handover", {"cell": CELL_B}, 400, "targetCell"),
    ],
)
async def test_control_errors_are_problem_details(
    rnis: httpx.AsyncClient, path: str, body: Any, status: int, words: str
) -> None:
    await attach(rnis, OTHER_UE, CELL_A)
    answer = await rnis.post(path, json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert words in answer.json()["detail"]
    assert (await rnis.put("/control/ues/10.1.1.1", json={"cell": ""})).status_code == 400
    assert (await rnis.delete(f"/control/ues/{UE}")).status_code == 404


def test_the_models_speak_the_files_enums() -> None:
    statuses = _schema("CellChangeNotification")["properties"]["hoStatus"]["enum"]
    assert statuses == [int(s) for s in HoStatus]
    assert TimeStamp.from_ns(1_700_000_000_123_456_789).body() == {
        "seconds": 1_700_000_000,
        "nanoSeconds": 123_456_789,
    }
    jsonschema.Draft202012Validator(_schema("TimeStamp")).validate(TimeStamp.now().body())


async def test_temp_ue_id_and_test_notifications(
    rnis: httpx.AsyncClient, receiver: Receiver
) -> None:
    temp = {"mmec": "1A", "mtmsi": "C0FFEE01"}
    answer = await rnis.put(f"/control/ues/{UE}", json={"cell": CELL_A, "tempUeId": temp})
    assert answer.status_code == 201
    body = subscription(receiver.url, hoStatus=[3])
    body["requestTestNotification"] = True
    created = await subscribe(rnis, body)
    (test,) = await receiver.wait_for(1)
    jsonschema.Draft202012Validator(
        _schema("TestNotification") | {"required": ["notificationType"]}
    ).validate(test.body)
    assert test.body == {
        "notificationType": "TestNotification",
        "_links": {"subscription": {"href": created["_links"]["self"]["href"]}},
    }
    await handover(rnis, UE, CELL_B, 0, "COMPLETED")
    _, done = await receiver.wait_for(2)
    assert check_notification(done.body)["tempUeId"] == temp
