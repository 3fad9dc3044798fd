"""What an RNIS cell-change notification (MEC 012 CellChangeNotification) means here.

Pure: the notification's handover status, and which devices (by IPv4 address) it names. The
orchestrator acts on a COMPLETED change (the device is in the target cell now); the earlier
statuses are counted (and will start a handover's preparation), the failed ones change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class HoStatus(IntEnum):
    """CellChangeNotification.hoStatus."""

    IN_PREPARATION = 1
    IN_EXECUTION = 2
    COMPLETED = 3
    REJECTED = 4
    CANCELLED = 5


@dataclass(frozen=True, slots=True)
class CellChange:
    """One notification: the devices it names, their source and target cells, its status."""

    addresses: tuple[str, ...]
    source_cell: str
    target_cell: str | None
    status: HoStatus

    @property
    def completed(self) -> bool:
        return self.status is HoStatus.COMPLETED
