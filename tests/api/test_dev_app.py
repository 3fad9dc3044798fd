"""GS MEC 016 device application interface (`/dev_app/v1`), every answer checked against the
ETSI file (tests/etsi/specs/UEAppInterfaceApi.yaml).

The API runs in process over the real operator state and users' directory (tests/operator/
test_users.py builds them: three hosts, two cells, measured RTTs); the device's address is the
request's client address, as it is for a real device. The agents are the recording stand-in of
those tests; the real ones are in tests/e2e/test_users_move.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mec_orchestrator.api.app import create_app
from mec_orchestrator.api.settings import ApiSettings, AuthMode
from tests.etsi.conformance import EtsiSpec
from tests.operator.test_users import DEVICE, Scene, scene

SPEC = EtsiSpec("UEAppInterfaceApi.yaml")
ROOT = "/dev_app/v1"
PROBLEM = "application/problem+json"


def check(response: httpx.Response) -> Any:
    body: Any = response.json() if response.content else None
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith(PROBLEM), response.text
    SPEC.check(response.request.method, response.request.url.path, response.status_code, body)
    return body


def context_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "associateDevAppId": "dev-app-1",
        "callbackReference": f"http://{DEVICE}:9000/notifications",
        "appLocationUpdates": True,
        "appAutoInstantiation": False,
        "appInfo": {
            "appName": "ar",
            "appProvider": "city",
            "appDVersion": "1.0",
            "userAppInstanceInfo": [{}],
        },
    }
    body.update(changes)
    return body


@pytest.fixture
async def world() -> AsyncIterator[tuple[Scene, httpx.AsyncClient]]:
    s = scene()
    s.state.started(object())  # type: ignore[arg-type]  # ready; no API server call is made
    app = create_app(
        s.state, ApiSettings(auth=AuthMode.NONE, default_namespace="city"), users=s.users
    )
    transport = httpx.ASGITransport(app=app, client=(DEVICE, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://orchestrator") as http:
        yield s, http


async def test_the_app_list_shows_started_apps_with_their_round_trip(
    world: tuple[Scene, httpx.AsyncClient],
) -> None:
    _, http = world
    listed = check(await http.get(f"{ROOT}/app_list"))
    ((entry,),) = [listed["appList"]]
    info = entry["appInfo"]
    assert (info["appName"], info["appProvider"], info["appDId"]) == ("ar", "city", "ar-d")
    assert info["appCharcs"] == {"latency": 10}  # the 5 ms one-way budget as a round trip
    assert len(info["appLocation"]) == 3  # an area around each host serving it
    assert check(await http.get(f"{ROOT}/app_list", params={"appname": "other"})) == {"appList": []}


async def test_a_device_gets_the_nearest_instance_and_can_change_its_callback_and_leave(
    world: tuple[Scene, httpx.AsyncClient],
) -> None:
    s, http = world
    await s.users.device_moved(DEVICE, "ap2")  # the RNIS put the device in ap2's cell
    created = await http.post(f"{ROOT}/app_contexts", json=context_body())
    assert created.status_code == 201, created.text
    body = check(created)
    context_id = body["contextId"]
    assert created.headers["location"] == f"http://orchestrator{ROOT}/app_contexts/{context_id}"
    (instance,) = body["appInfo"]["userAppInstanceInfo"]
    assert instance == {
        "appInstanceId": "city.ar-edge-c",
        "referenceURI": "http://edge-c.pods:8080",
    }
    assert s.users.get(context_id).device_address == DEVICE

    changed = context_body(contextId=context_id, callbackReference="http://10.45.0.7:9100/n")
    assert (await http.put(f"{ROOT}/app_contexts/{context_id}", json=changed)).status_code == 204
    assert s.users.get(context_id).callback_reference == "http://10.45.0.7:9100/n"
    other = context_body(contextId=context_id, associateDevAppId="another")
    refused = await http.put(f"{ROOT}/app_contexts/{context_id}", json=other)
    assert refused.status_code == 400
    assert "body.associateDevAppId" in check(refused)["detail"]

    assert (await http.delete(f"{ROOT}/app_contexts/{context_id}")).status_code == 204
    gone = await http.delete(f"{ROOT}/app_contexts/{context_id}")
    assert gone.status_code == 404
    check(gone)
    assert s.agents.holders(context_id) == []


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        (context_body(associateDevAppId=None), 400, "body.associateDevAppId"),
        (context_body(associateDevAppId="x" * 33), 400, "body.associateDevAppId"),
        (context_body(contextId="mine"), 400, "body.contextId"),
        (context_body(callbackReference="ftp://x"), 400, "body.callbackReference"),
        (context_body(appInfo={"appName": "ar"}), 400, "body.appInfo.appProvider"),
        ({"AppContext": context_body(appInfo=None)}, 400, "body.appInfo"),
        ([1, 2], 400, "body"),
        (
            context_body(
                appInfo={
                    "appName": "nope",
                    "appProvider": "city",
                    "appDVersion": "1",
                    "userAppInstanceInfo": [],
                }
            ),
            404,
            "nope",
        ),
    ],
)
async def test_a_wrong_request_is_refused_naming_what_is_wrong(
    world: tuple[Scene, httpx.AsyncClient], body: Any, status: int, named: str
) -> None:
    s, http = world
    await s.users.device_moved(DEVICE, "ap1")
    answer = await http.post(f"{ROOT}/app_contexts", json=body)
    assert answer.status_code == status, answer.text
    assert named in check(answer)["detail"]
    assert len(s.users) == 0


async def test_a_device_in_no_known_cell_is_told_so(world: tuple[Scene, httpx.AsyncClient]) -> None:
    _, http = world
    answer = await http.post(f"{ROOT}/app_contexts", json=context_body())
    assert answer.status_code == 404
    assert "cell of device 10.45.0.7 is not known" in check(answer)["detail"]


async def test_where_an_app_could_serve_the_device(world: tuple[Scene, httpx.AsyncClient]) -> None:
    _, http = world
    app_info: dict[str, str] = {"appName": "ar", "appProvider": "city", "appDVersion": "1.0"}
    asked = {"associateDevAppId": "dev-app-1", "appInfo": app_info}
    body = check(await http.post(f"{ROOT}/obtain_app_loc_availability", json=asked))
    areas = body["appInfo"]["availableLocations"]
    assert len(areas) == 3
    ring = areas[0]["appLocation"]["area"]["coordinates"][0]
    assert ring[0] == ring[-1]  # a closed polygon
    app_info["appName"] = "nope"
    missing = await http.post(f"{ROOT}/obtain_app_loc_availability", json=asked)
    assert missing.status_code == 404
    check(missing)
