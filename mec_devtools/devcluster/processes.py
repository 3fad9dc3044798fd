"""Start, identify and stop the processes of the local control plane.

A process is recorded with its PID and executable; it is only ever signalled when
/proc/<pid>/exe is still that executable, so a recycled PID is never killed by mistake.
Each process leads its own session, so stopping it stops whatever it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessRecord:
    """A started component: enough to find, check and stop it from another process."""

    name: str
    pid: int
    executable: str
    argv: tuple[str, ...]
    log: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ProcessRecord:
        argv = data["argv"]
        if not isinstance(argv, list):
            raise TypeError("malformed process record: argv")
        return cls(
            name=str(data["name"]),
            pid=int(str(data["pid"])),
            executable=str(data["executable"]),
            argv=tuple(str(a) for a in argv),
            log=str(data["log"]),
        )


def start(
    name: str, argv: list[str], log: Path, env: dict[str, str] | None = None
) -> ProcessRecord:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    return ProcessRecord(name, process.pid, str(Path(argv[0]).resolve()), tuple(argv), str(log))


def _state(pid: int) -> str | None:
    """The process state letter from /proc, or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def is_running(record: ProcessRecord) -> bool:
    """True when the PID is alive (not a zombie) and still runs the recorded executable."""
    state = _state(record.pid)
    if state is None or state in {"Z", "X"}:
        return False
    try:
        exe = Path(f"/proc/{record.pid}/exe").readlink()
    except OSError:
        return False
    return str(exe).removesuffix(" (deleted)") == record.executable


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop(record: ProcessRecord, timeout: float = 10.0) -> bool:
    """SIGTERM the process group, SIGKILL after timeout; True if something was stopped."""
    if not is_running(record):
        _reap(record.pid)
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(record.pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(record.pid)
            if _state(record.pid) in {None, "Z", "X"}:
                return True
            time.sleep(0.05)
    return True


def group_members(pgid: int) -> list[int]:
    """PIDs whose process group is pgid (to prove nothing is left behind)."""
    members: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in {"Z", "X"}:
            members.append(int(entry.name))
    return members
