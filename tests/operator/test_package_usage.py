"""An AppPackage's usageState follows the EdgeApps that name it, as the real operator writes it."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from mec_orchestrator.adapters.kube.connection import Connection
from mec_orchestrator.model import GROUP, VERSION, UsageState
from mec_orchestrator.operator.settings import OperatorSettings
from mec_orchestrator.operator.state import OperatorState
from tests.helpers import eventually
from tests.model.catalogue import example
from tests.operator.apps import create_app, edge_app
from tests.operator.conftest import OperatorProcess


def test_the_state_says_which_usage_states_are_due() -> None:
    state = OperatorState(
        OperatorSettings(standalone=True), Connection(server="https://127.0.0.1:1", ca_path=None)
    )
    state.package_seen(("ns", "video"), {"status": {"usageState": "NotInUse"}})
    state.package_seen(("ns", "unused"), {"status": {}})
    using = {"spec": {"appPackageRef": {"name": "video"}}, "metadata": {}}
    state.package_ref_seen(("ns", "cams"), using)
    assert state.package_usage_due() == {
        ("ns", "video"): UsageState.IN_USE,
        ("ns", "unused"): UsageState.NOT_IN_USE,
    }
    state.package_usage_written(("ns", "video"), UsageState.IN_USE)
    state.package_usage_written(("ns", "unused"), UsageState.NOT_IN_USE)
    assert state.package_usage_due() == {}
    deleting = {**using, "metadata": {"deletionTimestamp": "2026-11-30T00:00:00Z"}}
    state.package_ref_seen(("ns", "cams"), deleting)  # an app on its way out uses nothing
    assert state.package_usage_due() == {("ns", "video"): UsageState.NOT_IN_USE}


async def test_the_operator_keeps_usage_state_in_step_with_the_apps(
    api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    del operator
    custom = client.CustomObjectsApi(api)
    package = example("apppackage-video-analytics.yaml")
    package["metadata"] = {"name": "video-analytics"}
    await custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "apppackages", package)

    async def usage() -> Any:
        found = await custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "apppackages", "video-analytics"
        )
        return (found.get("status") or {}).get("usageState")

    async def is_(wanted: str) -> bool:
        return bool(await usage() == wanted)

    await eventually(lambda: is_("NotInUse"), within=30)
    app = edge_app("cams")
    del app["spec"]["template"]
    app["spec"]["appPackageRef"] = {"name": "video-analytics"}
    await create_app(api, namespace, app)
    await eventually(lambda: is_("InUse"), within=30)
    await custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "edgeapps", "cams")
    await eventually(lambda: is_("NotInUse"), within=30)
