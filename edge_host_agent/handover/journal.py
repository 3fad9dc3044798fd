"""The handover journal: every state a handover reaches on this agent, on the host's disk.

Sessions of users in flight must survive the agent (the design's "what lives where"): each
change of a handover's record is appended as one JSON line and fsynced before the agent acts on
it, so an agent that restarts knows every handover it was part of and where each stood. On
start the journal is replayed (the last line of each handover wins) and rewritten compactly:
handovers still open, and ended ones for `keep_ended_s` (so repeated commands are still answered
from the first). Without a directory the journal is kept in memory only (said at start).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from edge_host_agent.handover.records import HandoverRecord

log = logging.getLogger(__name__)

FILE_NAME = "handovers.jsonl"
KEEP_ENDED_S = 3600.0


class HandoverJournal:
    """Append-only, fsynced; `load` replays it."""

    def __init__(
        self,
        directory: Path | None,
        keep_ended_s: float = KEEP_ENDED_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = None if directory is None else directory / FILE_NAME
        self._keep_ended_s = keep_ended_s
        self._clock = clock
        self._file: int | None = None

    def load(self) -> dict[str, HandoverRecord]:
        """Every handover the journal knows (the last state of each), and compact the file."""
        records: dict[str, HandoverRecord] = {}
        if self.path is None:
            log.info("no --state-dir: handovers are journalled in memory only")
            return records
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            for number, line in enumerate(self.path.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    record = HandoverRecord.from_json(line)
                except (ValueError, KeyError, TypeError) as error:
                    # A line cut by a crash mid-write is the last one: nothing after it counts.
                    log.warning("journal line %d unreadable (%s): ignored", number, error)
                    continue
                records[record.handover_id] = record
        now = self._clock()
        kept = {
            hid: r
            for hid, r in records.items()
            if not r.ended or now - r.deadline_s < self._keep_ended_s
        }
        temporary = self.path.with_suffix(".tmp")
        with temporary.open("w") as out:
            for record in kept.values():
                out.write(record.to_json() + "\n")
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(self.path)
        self._file = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        return kept

    def write(self, record: HandoverRecord) -> None:
        """Append record durably (returns once it is on disk)."""
        if self._file is None:
            return
        os.write(self._file, (record.to_json() + "\n").encode())
        os.fsync(self._file)

    def close(self) -> None:
        if self._file is not None:
            os.close(self._file)
            self._file = None
