"""Mp1 served from the test's loop (the code the agent runs), the SDK and a callback process.

The whole life of an app instance, including the agent asking it to terminate
(`Mp1Service.request_termination`), which nothing outside the agent process can trigger yet:
register -> confirm_ready -> the registry shows it ready -> subscribe termination with a
callback to a receiver process -> request termination -> the receiver gets an
AppTerminationNotification valid against the file -> confirm_termination -> deregister -> 404.
"""

from __future__ import annotations

import httpx
import jsonschema
import pytest
from pydantic import ValidationError

from edge_host_agent.mp1 import Mp1Service
from edge_host_agent.mp1.registry import UnknownAppInstanceError
from edge_host_agent.settings import AgentSettings
from mec_app_sdk.mp1 import (
    Mp1Client,
    Mp1ConflictError,
    Mp1NotFoundError,
    Mp1Settings,
    Mp1UnavailableError,
    app_info,
    parse_termination_notification,
)
from tests.callbacks.conftest import Receivers
from tests.mp1.conftest import Recorder, check_answer, client, free_port, schema

NOTIFY_WITHIN_S = 30.0


async def test_an_app_is_asked_to_terminate_and_confirms(
    service: Mp1Service, receivers: Receivers
) -> None:
    receiver = await receivers.start()
    recorder = Recorder()
    async with client(f"http://127.0.0.1:{service.port}", recorder, "anchors-1") as mp1:
        registration = await mp1.register(
            app_info(
                "anchors",
                endpoint_uri="http://127.0.0.1:9000",
                user_context_endpoint="127.0.0.1:50070",
                appProvider="mec.dev",
            )
        )
        assert registration.app_instance_id == "anchors-1"
        assert registration.location.endswith("/mec_app_support/v1/registrations/anchors-1")
        instance = service.registry.get("anchors-1")
        assert (instance.ready, instance.user_context_endpoint) == (False, "127.0.0.1:50070")

        await mp1.confirm_ready()
        assert service.registry.get("anchors-1").ready
        subscription = await mp1.subscribe_termination(receiver.url)

        deliveries = await service.request_termination("anchors-1", grace_seconds=20)
        assert [d.status for d in deliveries] == [204]
        records = await receiver.wait_for("the notification", bool, within=NOTIFY_WITHIN_S)
        (record,) = records
        jsonschema.Draft202012Validator(schema("AppTerminationNotification")).validate(
            record["body"]
        )
        assert record["content_type"].startswith("application/json")
        notification = parse_termination_notification(record["body"])
        assert notification.operation_action == "TERMINATING"
        assert notification.max_graceful_timeout_s == 20
        assert notification.subscription_href == subscription.href
        confirm = notification.confirm_termination_href
        assert confirm == f"{service.base_url}/applications/anchors-1/confirm_termination"

        await mp1.confirm_termination()
        assert service.registry.get("anchors-1").termination_confirmed
        await mp1.deregister()
        with pytest.raises(Mp1NotFoundError, match="anchors-1 is not registered") as gone:
            await mp1.registration()
        assert gone.value.status == 404
        assert gone.value.problem["instance"] == "/mec_app_support/v1/registrations/anchors-1"
        with pytest.raises(UnknownAppInstanceError):
            await service.request_termination("anchors-1", grace_seconds=20)
    assert recorder.check_all() == 6


async def test_a_termination_reaches_every_subscription_and_a_dead_callback_is_reported(
    service: Mp1Service, receivers: Receivers
) -> None:
    first, second = await receivers.start(), await receivers.start()
    recorder = Recorder()
    async with client(f"http://127.0.0.1:{service.port}", recorder) as mp1:
        await mp1.register(app_info("anchors"))
        assert mp1.app_instance_id is not None
        for receiver in (first, second):
            await mp1.subscribe_termination(receiver.url)
        dead = await mp1.subscribe_termination(f"http://127.0.0.1:{free_port()}/nobody")
        with pytest.raises(Mp1ConflictError, match="not asked to terminate"):
            await mp1.confirm_termination()
        deliveries = await service.request_termination(mp1.app_instance_id, grace_seconds=5)
        outcome = {d.subscription_id: d for d in deliveries}
        assert not outcome[dead.subscription_id].delivered
        assert outcome[dead.subscription_id].error
        assert sum(d.delivered for d in deliveries) == 2
        for receiver in (first, second):
            await receiver.wait_for("the notification", bool, within=NOTIFY_WITHIN_S)
        await mp1.unsubscribe(dead)
        with pytest.raises(Mp1NotFoundError, match=dead.subscription_id):
            await mp1.unsubscribe(dead)
    recorder.check_all()


async def test_the_timing_resources_answer_as_the_file_says(service: Mp1Service) -> None:
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        base = f"http://127.0.0.1:{service.port}/mec_app_support/v1"
        for path in ("/timing/current_time", "/timing/timing_caps"):
            answer = await http.get(base + path)
            assert answer.status_code == 200
            check_answer(answer)


async def test_an_agent_that_cannot_be_reached_is_an_error_with_a_detail() -> None:
    settings = Mp1Settings(
        mp1_url=f"http://127.0.0.1:{free_port()}", app_instance_id="x", mp1_timeout_s=5
    )
    async with Mp1Client(settings) as mp1:
        with pytest.raises(Mp1UnavailableError, match="POST /applications/x/confirm_ready"):
            await mp1.confirm_ready()


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEC_MP1_URL", "http://10.0.0.1:8090/")
    monkeypatch.setenv("MEC_APP_INSTANCE_ID", "anchors-7")
    settings = Mp1Settings()
    assert settings.api_root == "http://10.0.0.1:8090/mec_app_support/v1"
    assert settings.app_instance_id == "anchors-7"
    same = Mp1Settings(mp1_url="http://10.0.0.1:8090/mec_app_support/v1")
    assert same.api_root == settings.api_root


async def test_a_port_in_use_is_an_oserror_naming_the_address(service: Mp1Service) -> None:
    taken = Mp1Service(f"127.0.0.1:{service.port}")
    with pytest.raises(OSError, match=f"Mp1 cannot listen on 127.0.0.1:{service.port}"):
        await taken.start()
    await taken.stop()


def test_mp1_is_off_unless_asked_and_its_address_is_checked() -> None:
    assert AgentSettings(host_name="edge-a", insecure=True).mp1_listen is None
    with pytest.raises(ValidationError, match="mp1_listen"):
        AgentSettings(host_name="edge-a", insecure=True, mp1_listen="nowhere")
