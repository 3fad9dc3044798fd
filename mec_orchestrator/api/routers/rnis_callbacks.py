"""Where the RNIS (MEC 012) delivers the cell changes the orchestrator subscribed to.

`POST /rnis_callbacks/v1/{token}/cell_change`: the path carries the secret token of this
process's subscription (an RNIS does not present the orchestrator's bearer tokens), so only
the RNIS it gave the callback to can post there; any other token is 404. A body that is not a
CellChangeNotification is answered 400 naming the field; a notification about a cell no Zone
names, or a device nobody attached, is accepted (204) and counted, not an error of the RNIS.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from mec_orchestrator.adapters.rnis.client import UE_IPV4_ADDRESS
from mec_orchestrator.api.problems import not_found
from mec_orchestrator.api.schemas.rnis import CellChangeNotification
from mec_orchestrator.decisions.users.cell_changes import CellChange
from mec_orchestrator.operator.cell_changes import CellChangeIntake

ROOT = "/rnis_callbacks/v1"


def callback_path(token: str) -> str:
    return f"{ROOT}/{token}/cell_change"


def router_for(intake: CellChangeIntake) -> APIRouter:
    router = APIRouter(prefix=ROOT, tags=["rnis callbacks"], include_in_schema=False)

    @router.post("/{token}/cell_change", status_code=204)
    async def cell_change(
        token: Annotated[str, Path(max_length=128)], body: Annotated[Any, Body()]
    ) -> Response:
        if token != intake.token:
            raise not_found("this callback")
        try:
            notification = CellChangeNotification.model_validate(body)
        except ValidationError as error:
            errors = [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
            raise RequestValidationError(errors) from None
        change = CellChange(
            addresses=tuple(
                a.value for a in notification.associate_id if a.type == UE_IPV4_ADDRESS
            ),
            source_cell=notification.src_ecgi.cell_id,
            target_cell=notification.trg_ecgi[0].cell_id if notification.trg_ecgi else None,
            status=notification.ho_status,
        )
        await intake.apply(change)
        return Response(status_code=204)

    return router
