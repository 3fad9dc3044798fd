"""GS MEC 013 users: devices attached over MEC 016 are the location API's users, and their
moves fire user-location and zonal-presence notifications.

The API runs in process over the real API server (subscriptions are MecSubscriptions); the
users' directory is the one of tests/operator/test_users.py (its world: three hosts, one zone
`cbd` with access points ap1 and ap2); notifications go to a receiver in its own process and
are checked against the ETSI file's callback schemas.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import jsonschema
import pytest
from kubernetes_asyncio import client
from prometheus_client import CollectorRegistry

from mec_devtools.devcluster import ClusterInfo
from mec_orchestrator.adapters.callbacks import CallbackDelivery, CallbackMetrics, DeliverySettings
from mec_orchestrator.adapters.kube.connection import from_kubeconfig
from mec_orchestrator.api.app import create_app
from mec_orchestrator.api.settings import ApiSettings, AuthMode
from mec_orchestrator.operator.settings import OperatorSettings
from mec_orchestrator.operator.state import OperatorState
from tests.api.test_location import check, notification_schema, receiver, storage_ready
from tests.callbacks.conftest import FAST, Receiver
from tests.operator.test_users import DEVICE, attached_at, scene

pytestmark = pytest.mark.cluster
__all__ = ["receiver", "storage_ready"]  # fixtures of the location tests, used here

ROOT = "/location/v2"
ADDRESS = f"acr:{DEVICE}"
USERS = f"/namespaces/city{ROOT}/queries/users"  # the scene's app is in namespace city


def _bodies(records: list[dict[str, Any]], root: str) -> list[dict[str, Any]]:
    return [r["body"][root] for r in records if root in r["body"]]


async def test_attached_devices_are_users_and_their_moves_are_notified(
    storage_ready: ClusterInfo, api: client.ApiClient, namespace: str, receiver: Receiver
) -> None:
    state = OperatorState(
        OperatorSettings(standalone=True), from_kubeconfig(storage_ready.kubeconfig)
    )
    state.started(api)
    s = scene(state=state)
    delivery = CallbackDelivery(
        DeliverySettings.model_validate(FAST), metrics=CallbackMetrics(CollectorRegistry())
    )
    settings = ApiSettings(auth=AuthMode.NONE, default_namespace=namespace)
    app = create_app(state, settings, delivery, users=s.users)
    transport = httpx.ASGITransport(app=app)
    async with (
        delivery,
        httpx.AsyncClient(transport=transport, base_url="http://api") as http,
    ):
        assert check(await http.get(USERS))["userList"].get("user", []) == []
        user_sub = {
            "userLocationEventSubscription": {
                "subscriptionType": "UserLocationEventSubscription",
                "callbackReference": receiver.url,
                "address": ADDRESS,
            }
        }
        created = await http.post(f"{ROOT}/subscriptions/users", json=user_sub)
        assert created.status_code == 201, created.text
        zone_sub = {
            "zoneLocationEventSubscription": {
                "subscriptionType": "ZoneLocationEventSubscription",
                "callbackReference": receiver.url,
                "zoneId": "cbd",
                "locationEventCriteria": ["LEAVING_AREA_EVENT"],
            }
        }
        created = await http.post(f"{ROOT}/subscriptions/zones", json=zone_sub)
        assert created.status_code == 201, created.text

        session = await attached_at(s, "ap1")  # enters: ap1 of cbd
        listed = check(await http.get(USERS))["userList"]["user"]
        assert [(u["address"], u["accessPointId"], u["zoneId"]) for u in listed] == [
            (ADDRESS, "ap1", "cbd")
        ]
        await s.users.device_moved(DEVICE, "ap2")  # within the zone: enters ap2
        await s.users.leave(session.context_id, "dev")  # leaves cbd
        records = await receiver.wait_for(
            "the zone's LEAVING_AREA_EVENT",
            lambda r: len(_bodies(r, "zoneLocationEventNotification")) >= 1,
            20,
        )
        await asyncio.sleep(0.5)  # anything else sent would have arrived (one queue per URI)
        records = receiver.records()
        users = _bodies(records, "userLocationEventNotification")
        zones = _bodies(records, "zoneLocationEventNotification")
        assert [(n["userLocationEvent"], n["accessPointId"]) for n in users] == [
            ("ENTERING_AREA_EVENT", "ap1"),
            ("ENTERING_AREA_EVENT", "ap2"),
            ("LEAVING_AREA_EVENT", "ap2"),
        ]
        assert [(n["userLocationEvent"], n["zoneId"], n["address"]) for n in zones] == [
            ("LEAVING_AREA_EVENT", "cbd", ADDRESS)  # ENTERING is not asked for
        ]
        user_schema = notification_schema("/subscriptions/users")
        zone_schema = notification_schema("/subscriptions/zones")
        for record in records:
            body = record["body"]
            schema = user_schema if "userLocationEventNotification" in body else zone_schema
            jsonschema.Draft202012Validator(schema).validate(body)
        assert check(await http.get(USERS))["userList"].get("user", []) == []
