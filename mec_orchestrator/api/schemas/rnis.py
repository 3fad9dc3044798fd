"""The part of GS MEC 012 (RNIS) the orchestrator receives: CellChangeNotification.

Read leniently (an RNIS may add attributes: unknown ones are ignored), but what the
orchestrator relies on is checked and a wrong value refused naming its field: the handover
status, the source and target cells, the devices' identifiers.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mec_orchestrator.decisions.users.cell_changes import HoStatus


class RnisModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class Plmn(RnisModel):
    mcc: Annotated[str, Field(min_length=1, max_length=3)]
    mnc: Annotated[str, Field(min_length=1, max_length=3)]


class Ecgi(RnisModel):
    plmn: Plmn
    cell_id: Annotated[str, Field(alias="cellId", min_length=1, max_length=32)]


class AssociateId(RnisModel):
    type: Annotated[int, Field(ge=0, le=255)]
    value: Annotated[str, Field(min_length=1, max_length=256)]


class CellChangeNotification(RnisModel):
    """CellChangeNotification (6.4.2), bare or in the generator's wrapper."""

    WRAPPER: ClassVar[str] = "CellChangeNotification"

    notification_type: str = Field(alias="notificationType")
    associate_id: Annotated[list[AssociateId], Field(max_length=64)] = Field(
        default_factory=list, alias="associateId"
    )
    src_ecgi: Ecgi = Field(alias="srcEcgi")
    trg_ecgi: Annotated[list[Ecgi], Field(max_length=16)] = Field(alias="trgEcgi")
    ho_status: HoStatus = Field(alias="hoStatus")

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: object) -> object:
        if (
            isinstance(data, dict)
            and set(data) == {cls.WRAPPER}
            and isinstance(data[cls.WRAPPER], dict)
        ):
            return data[cls.WRAPPER]
        return data

    @model_validator(mode="after")
    def _is_a_cell_change(self) -> CellChangeNotification:
        if self.notification_type != "CellChangeNotification":
            raise ValueError(
                f"notificationType: {self.notification_type!r}, not CellChangeNotification"
            )
        return self
