"""Lifecycle operations outlive the orchestrator: the next one finishes or fails them.

An orchestrator readies two EdgeApps and is killed (SIGKILL). Two operation occurrences are then
recorded, PROCESSING, while no orchestrator runs — as the REST API records them: an instantiate
of the app that is already Ready, and a stop of the other whose (1 s) timeout has passed while
its instance still runs. Nothing judges them until a new orchestrator starts: it completes the
first from the EdgeApp's conditions and fails the second (FAILED_TEMP) saying why.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client

from mec_devtools.devcluster import ClusterInfo
from mec_orchestrator.adapters.kube import lcm_ops
from mec_orchestrator.model import (
    AppLcmOpOcc,
    AppLcmOpOccSpec,
    AppLcmOpOccStatus,
    LcmOperation,
    LcmOperationState,
    ObjectMeta,
    OperationalState,
)
from tests.helpers import eventually
from tests.operator.apps import condition, create_app, edge_app, get_app
from tests.operator.conftest import OperatorProcess, Topology

ENV = {"MEC_LCM_POLL_SECONDS": "0.3"}


async def record(
    api: client.ApiClient,
    namespace: str,
    app: str,
    operation: LcmOperation,
    started: datetime,
    **spec: Any,
) -> str:
    """An occurrence as the REST API records it: created, then its first status, PROCESSING."""
    occ = AppLcmOpOcc(
        metadata=ObjectMeta(generate_name=f"{app}-{operation.value.lower()}-"),
        spec=AppLcmOpOccSpec(app_instance_id=app, lcm_operation=operation, **spec),
    )
    created = await lcm_ops.create_op_occ(api, namespace, occ)
    name = created.metadata.name or ""
    first = AppLcmOpOccStatus(
        operation_state=LcmOperationState.PROCESSING, start_time=started, state_entered_time=started
    )
    await lcm_ops.write_op_occ_status(api, namespace, name, first)
    return name


async def state_of(api: client.ApiClient, namespace: str, name: str) -> AppLcmOpOccStatus:
    occ = await lcm_ops.get_op_occ(api, namespace, name)
    assert occ is not None
    assert occ.status is not None
    return occ.status


async def test_an_operation_in_flight_is_finished_by_the_next_orchestrator(
    api: client.ApiClient,
    namespace: str,
    crds_installed: ClusterInfo,
    topology: Topology,
    operator_logs: Path,
) -> None:
    first = OperatorProcess(crds_installed, operator_logs, priority=300, env=ENV).start()
    try:
        for name in ("ready-app", "running-app"):
            await create_app(api, namespace, edge_app(name))

            async def ready(name: str = name) -> bool:
                app = await get_app(api, namespace, name)
                return condition(app, "Ready").get("status") == "True"

            await eventually(ready)
    finally:
        first.kill()  # SIGKILL: it says nothing and leaves nothing behind

    now = datetime.now(UTC).replace(microsecond=0)
    instantiate = await record(api, namespace, "ready-app", LcmOperation.INSTANTIATE, now)
    stop = await record(
        api,
        namespace,
        "running-app",
        LcmOperation.OPERATE,
        now - timedelta(seconds=10),
        change_state_to=OperationalState.STOPPED,
        timeout_seconds=1,
    )
    await asyncio.sleep(1.5)  # nobody judges them meanwhile
    for name in (instantiate, stop):
        status = await state_of(api, namespace, name)
        assert status.operation_state is LcmOperationState.PROCESSING

    second = OperatorProcess(crds_installed, operator_logs, priority=301, env=ENV).start()
    try:

        async def judged() -> tuple[AppLcmOpOccStatus, AppLcmOpOccStatus] | None:
            done = await state_of(api, namespace, instantiate)
            failed = await state_of(api, namespace, stop)
            if LcmOperationState.PROCESSING in (done.operation_state, failed.operation_state):
                return None
            return done, failed

        done, failed = await eventually(judged)
    finally:
        second.stop()
    assert done.operation_state is LcmOperationState.COMPLETED
    assert done.start_time == now
    assert done.error is None
    assert failed.operation_state is LcmOperationState.FAILED_TEMP
    assert failed.error is not None
    assert failed.error.status == 504
    assert failed.error.detail.startswith("OPERATE to STOPPED not completed within 1 s")
    assert "instance(s) still running: running-app-edge-b" in failed.error.detail
