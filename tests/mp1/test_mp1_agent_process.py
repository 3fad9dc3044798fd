"""Mp1 served by a real agent process (`edge-host-agent run --mp1-listen ...`), used by the SDK.

The agent has no orchestrator to talk to (it retries in the background); Mp1 does not need one.
Every answer is checked against the ETSI file. Waits are bounded and generous (a loaded 2-core
machine); nothing is timed.
"""

from __future__ import annotations

import httpx
import pytest

from mec_app_sdk.mp1 import (
    Mp1ConflictError,
    Mp1NotFoundError,
    app_info,
)
from tests.agents.conftest import Processes
from tests.callbacks.conftest import Receivers
from tests.mp1.conftest import Recorder, client, start_agent_with_mp1, wait_until

ROOT = "/mec_app_support/v1"


async def test_an_app_registers_with_the_agent_process_and_leaves(
    processes: Processes, receivers: Receivers
) -> None:
    agent, url = await start_agent_with_mp1(processes)
    receiver = await receivers.start()
    recorder, raw = Recorder(), Recorder()
    async with client(url, recorder, "anchors-1") as mp1:
        info = app_info(
            "anchors", endpoint_uri="http://127.0.0.1:9000", user_context_endpoint="127.0.0.1:50070"
        )
        registration = await mp1.register(info)
        assert registration.location == f"{url}{ROOT}/registrations/anchors-1"
        assert registration.app_info["appProfile"] == {"userContextEndpoint": "127.0.0.1:50070"}
        await mp1.confirm_ready()
        await wait_until(
            "the agent's registry says ready",
            lambda: "app instance anchors-1 is ready" in agent.log_text(),
        )
        assert (await mp1.registration())["appName"] == "anchors"
        await mp1.update({**info, "appProvider": "mec.dev"})
        assert (await mp1.registration())["appProvider"] == "mec.dev"

        subscription = await mp1.subscribe_termination(receiver.url)
        async with httpx.AsyncClient(transport=raw, base_url=url + ROOT, timeout=30) as http:
            listed = await http.get("/applications/anchors-1/subscriptions")
            links = listed.json()["_links"]["subscriptions"]
            assert [link["href"] for link in links] == [subscription.href]
            one = await http.get(
                f"/applications/anchors-1/subscriptions/{subscription.subscription_id}"
            )
            assert one.json()["callbackReference"] == receiver.url
        with pytest.raises(Mp1ConflictError, match="not asked to terminate"):
            await mp1.confirm_termination()
        await mp1.unsubscribe(subscription)

        await mp1.deregister()
        with pytest.raises(Mp1NotFoundError, match="anchors-1 is not registered"):
            await mp1.registration()
        with pytest.raises(Mp1NotFoundError):
            await mp1.confirm_ready()
    assert (recorder.check_all(), raw.check_all()) == (11, 2)
    assert agent.process.returncode is None


BAD_BODIES = [
    ("/registrations", {"appProvider": "mec.dev"}, "body.appName"),
    ("/registrations", {"appName": "a", "appInstanceId": "no spaces"}, "body.appInstanceId"),
    (
        "/registrations",
        {"appName": "a", "appProfile": {"userContextEndpoint": "nowhere"}},
        "body.appProfile.userContextEndpoint",
    ),
    ("/registrations", {"appName": "a", "endpoint": {}}, "body.endpoint"),
    ("/applications/anchors-2/confirm_ready", {"indication": "SOON"}, "body.indication"),
    ("/applications/anchors-2/confirm_termination", {}, "body.operationAction"),
    (
        "/applications/anchors-2/subscriptions",
        {
            "subscriptionType": "AppTerminationNotificationSubscription",
            "callbackReference": "not a uri",
            "appInstanceId": "anchors-2",
        },
        "body.callbackReference",
    ),
    (
        "/applications/anchors-2/subscriptions",
        {
            "subscriptionType": "AppTerminationNotificationSubscription",
            "callbackReference": "http://127.0.0.1:9/cb",
            "appInstanceId": "someone-else",
        },
        "body.appInstanceId",
    ),
]


async def test_bad_bodies_are_400_naming_the_field_and_unknown_ids_404(
    processes: Processes,
) -> None:
    _, url = await start_agent_with_mp1(processes)
    recorder, raw = Recorder(), Recorder()
    async with client(url, recorder, "anchors-2") as mp1:
        await mp1.register(app_info("anchors"))
        await mp1.register(app_info("anchors"))  # registered again (it restarted): replaced
    async with httpx.AsyncClient(transport=raw, base_url=url + ROOT, timeout=30) as http:
        for path, body, field in BAD_BODIES:
            answer = await http.post(path, json=body)
            assert answer.status_code == 400, (path, body, answer.text)
            assert field in answer.json()["detail"], (field, answer.json())
        malformed = await http.post(
            "/registrations", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 400
        assert "body" in malformed.json()["detail"]
        for method, path in [
            ("GET", "/registrations/nobody"),
            ("PUT", "/registrations/nobody"),
            ("DELETE", "/registrations/nobody"),
            ("POST", "/applications/nobody/confirm_ready"),
            ("GET", "/applications/nobody/subscriptions"),
            ("GET", "/applications/anchors-2/subscriptions/none"),
            ("DELETE", "/applications/anchors-2/subscriptions/none"),
        ]:
            body = {"appName": "a"} if method == "PUT" else {"indication": "READY"}
            answer = await http.request(
                method, path, json=body if method in ("PUT", "POST") else None
            )
            assert answer.status_code == 404, (method, path, answer.text)
            assert "nobody" in answer.json()["detail"] or "none" in answer.json()["detail"]
    assert (recorder.check_all(), raw.check_all()) == (2, len(BAD_BODIES) + 8)
