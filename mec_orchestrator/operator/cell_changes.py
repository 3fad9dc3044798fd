"""Cell changes from the RNIS (MEC 012), turned into users' moves.

The RNIS posts CellChangeNotifications to the orchestrator's callback (the subscription
`RnisLink` keeps). IN_PREPARATION starts handovers ahead of the radio (prepared and pre-copied
toward the likely target, in the background); CANCELLED or REJECTED undoes them; COMPLETED
decides and finishes the moves. `CellChangeIntake` maps the target cell to the access point a
Zone gives that `cellId`, and tells the `UserDirectory` that each device named is there now; the
directory asks each of its users' app's mobility policy. Every notification ends in a counted
outcome (`mec_cell_change_notifications_total{outcome}`): applied, a radio handover still under
way (preparing, executing), one that failed (rejected, cancelled), or a refusal (UnknownCell: no
Zone names the cell; NoDevice: no IPv4 address in it; NoUser: no device named has an application
context — its cell is remembered for when it attaches). A refusal is logged; nothing is lost.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from mec_orchestrator.decisions.users.cell_changes import CellChange, HoStatus
from mec_orchestrator.operator import metrics
from mec_orchestrator.operator.users import MoveResult, UserDirectory

log = logging.getLogger(__name__)

_PENDING = {
    HoStatus.IN_PREPARATION: "preparing",
    HoStatus.IN_EXECUTION: "executing",
    HoStatus.REJECTED: "rejected",
    HoStatus.CANCELLED: "cancelled",
}


@dataclass
class IntakeResult:
    outcome: str
    moves: list[MoveResult]


class CellChangeIntake:
    """Where the RNIS's notifications go; `token` is the secret part of the callback's path."""

    def __init__(
        self, users: UserDirectory, monotonic: Callable[[], float] = time.perf_counter
    ) -> None:
        self.users = users
        self.token = secrets.token_urlsafe(24)
        self._monotonic = monotonic
        self.last_seconds = 0.0

    async def apply(self, change: CellChange) -> IntakeResult:
        started = self._monotonic()
        try:
            return await self._apply(change)
        finally:
            self.last_seconds = self._monotonic() - started

    async def _apply(self, change: CellChange) -> IntakeResult:
        if not change.completed:
            outcome = _PENDING[change.status]
            metrics.CELL_CHANGES.labels(outcome).inc()
            if change.status is HoStatus.IN_PREPARATION and change.target_cell is not None:
                access_point = self.users.access_point_of_cell(change.target_cell)
                if access_point is not None:
                    for address in change.addresses:  # get ahead of the radio
                        await self.users.device_preparing(address, access_point)
            elif change.status in (HoStatus.CANCELLED, HoStatus.REJECTED):
                for address in change.addresses:
                    await self.users.device_handover_failed(
                        address, f"the radio handover was {outcome}"
                    )
            return IntakeResult(outcome, [])
        if not change.addresses:
            metrics.CELL_CHANGES.labels("NoDevice").inc()
            log.warning("a cell change names no device by IPv4 address: ignored")
            return IntakeResult("NoDevice", [])
        cell = change.target_cell
        access_point = None if cell is None else self.users.access_point_of_cell(cell)
        if access_point is None:
            metrics.CELL_CHANGES.labels("UnknownCell").inc()
            log.warning(
                "device(s) %s moved to cell %s, which no Zone's access point names: ignored",
                ", ".join(change.addresses),
                cell,
            )
            return IntakeResult("UnknownCell", [])
        moves: list[MoveResult] = []
        known = False
        for address in change.addresses:
            known = known or self.users.position(address) is not None
            moves += await self.users.device_moved(address, access_point)
        if not known:  # the cell is remembered, for when the device attaches
            metrics.CELL_CHANGES.labels("NoUser").inc()
            log.info("cell change of %s: no user attached", ", ".join(change.addresses))
            return IntakeResult("NoUser", moves)
        metrics.CELL_CHANGES.labels("applied").inc()
        return IntakeResult("applied", moves)
