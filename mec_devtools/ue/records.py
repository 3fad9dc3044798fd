"""The emulated device's record file: one JSON object per line, written as things happen.

Every line is flushed as it is written, so a device killed at any moment leaves a readable
file (at most its last line cut short; `read_records` skips such a line). Each record has
`kind` and `t_ns` (`time.time_ns()`, the wall clock every namespace shares); the other fields
depend on the kind (docs/devices.md lists them):

- `start`: `rate`, `interval_ns`, `deviceId`, `stateBytes`
- `context`: the app context was created: `contextId`, `target`, `status`
- `send`: `seq`, `target`, `attempt` (1 for the first send of a seq)
- `answer`: `seq`, `target`, `status`, `applied`, `duplicate`, `version`, `redirect`,
  `latency_ns` (since this send)
- `error`: `seq` (if sending), `target`, `error` (a connection error, a timeout, a fatal answer)
- `notification`: `notificationType`, `contextId`, `target` (the new referenceURI, if any)
- `switch`: `from`, `to`, `reason` (`notification`, `address-change` or `redirect`)
- `stop`: why sending stopped (`signal` or `context-deleted`)
- `delete`: the app context's DELETE on the way out: `status` (or `error`)
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import IO, Any


class RecordWriter:
    """Appends records to a file, one flushed line each."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        record: dict[str, Any] = {"kind": kind, "t_ns": time.time_ns()}
        record.update({k: v for k, v in fields.items() if v is not None})
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()
        return record

    def close(self) -> None:
        self._file.close()


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of a file, in order; a line that is not a JSON object is skipped."""
    out: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out
