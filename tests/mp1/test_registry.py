"""The registry of app instances on its own: the Mp1 operations as bookkeeping, no I/O."""

from __future__ import annotations

import pytest

from edge_host_agent.mp1.models import AppInfo
from edge_host_agent.mp1.registry import (
    AppInstanceRegistry,
    RegistryConflictError,
    UnknownAppInstanceError,
    UnknownSubscriptionError,
)


def info(**fields: object) -> AppInfo:
    return AppInfo.model_validate({"appName": "anchors", **fields})


def test_an_instance_lives_from_registration_to_deregistration() -> None:
    registry = AppInstanceRegistry(clock=lambda: 7.0)
    body = info(appInstanceId="i-1", appProfile={"userContextEndpoint": "10.0.0.5:50070"})
    instance = registry.register(body)
    assert (instance.app_instance_id, instance.ready, instance.registered_at) == ("i-1", False, 7.0)
    assert instance.user_context_endpoint == "10.0.0.5:50070"
    assert registry.confirm_ready("i-1").ready
    subscription = registry.subscribe_termination("i-1", "http://app/cb")
    assert registry.begin_termination("i-1", 10) == [subscription]
    with pytest.raises(RegistryConflictError, match="operationAction: STOPPING"):
        registry.confirm_termination("i-1", "STOPPING")
    assert registry.confirm_termination("i-1", "TERMINATING").termination_confirmed
    assert registry.instances() == [instance]
    registry.deregister("i-1")
    assert len(registry) == 0
    with pytest.raises(UnknownAppInstanceError):
        registry.get("i-1")


def test_an_instance_without_an_id_gets_one_and_one_that_registers_again_replaces_itself() -> None:
    registry = AppInstanceRegistry()
    given = registry.register(info())
    assert given.app_instance_id
    assert given.app_info()["appInstanceId"] == given.app_instance_id
    registry.confirm_ready(given.app_instance_id)
    again = registry.register(info(appInstanceId=given.app_instance_id))  # it restarted
    assert again is not given
    assert registry.get(given.app_instance_id) is again
    assert not again.ready  # the new process confirms ready itself
    assert len(registry) == 1


def test_update_keeps_readiness_and_subscriptions_and_refuses_another_id() -> None:
    registry = AppInstanceRegistry()
    registry.register(info(appInstanceId="i-1"))
    registry.confirm_ready("i-1")
    registry.subscribe_termination("i-1", "http://app/cb")
    updated = registry.update("i-1", info(appName="anchors-2"))
    assert (updated.info.app_name, updated.ready, len(updated.subscriptions)) == (
        "anchors-2",
        True,
        1,
    )
    with pytest.raises(RegistryConflictError, match="appInstanceId: i-2"):
        registry.update("i-1", info(appInstanceId="i-2"))


def test_termination_must_have_been_asked_for_and_unknown_ids_are_named() -> None:
    registry = AppInstanceRegistry()
    registry.register(info(appInstanceId="i-1"))
    with pytest.raises(RegistryConflictError, match="not asked"):
        registry.confirm_termination("i-1", "TERMINATING")
    with pytest.raises(UnknownSubscriptionError):
        registry.unsubscribe("i-1", "nope")
    for call in (registry.confirm_ready, registry.deregister, registry.get):
        with pytest.raises(UnknownAppInstanceError):
            call("i-9")


def test_what_the_agent_reports_bumps_the_version_and_calls_the_watchers() -> None:
    registry = AppInstanceRegistry()
    calls: list[int] = []
    registry.watch(lambda: calls.append(registry.version))

    def broken() -> None:
        raise RuntimeError("a watcher's bug")

    undo = registry.watch(broken)  # logged, and neither the call nor the others fail
    body = info(appInstanceId="i-1", endpoint={"uris": ["http://10.0.0.5:8080/ar"]})
    instance = registry.register(body)
    assert (instance.app_name, instance.endpoint_uri) == ("anchors", "http://10.0.0.5:8080/ar")
    undo()
    registry.confirm_ready("i-1")
    registry.confirm_ready("i-1")  # already ready: no change
    registry.subscribe_termination("i-1", "http://app/cb")  # not reported: no change
    registry.update("i-1", info(appProfile={"userContextEndpoint": "10.0.0.5:50070"}))
    assert registry.get("i-1").endpoint_uri is None
    registry.deregister("i-1")
    assert calls == [1, 2, 3, 4]
    assert registry.version == 4
