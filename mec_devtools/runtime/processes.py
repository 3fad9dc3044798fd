"""The real processes behind emulated containers: started in a host's namespace, watched, ended.

A container is one process started with `Network.popen` (``ip netns exec`` into the host's
namespace, which then execs the program, so the pid is the program's), in a session of its own,
with its output appended to the pod's log file. Ending it is the kubelet's: SIGTERM to its
process group, a grace period, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mec_devtools.sim.network import Network, Node

KILL_WAIT_S = 5.0


class ContainerProcess:
    """One running (or ended) container process."""

    def __init__(self, proc: subprocess.Popen[Any]) -> None:
        self._proc = proc

    @property
    def pid(self) -> int:
        return self._proc.pid

    def returncode(self) -> int | None:
        return self._proc.poll()

    async def wait(self) -> int:
        """Wait for the process to end; its return code (negative: the signal that ended it)."""
        if (code := self._proc.poll()) is not None:
            return code
        exited = asyncio.Event()
        loop = asyncio.get_running_loop()
        try:
            descriptor = os.pidfd_open(self._proc.pid)
        except ProcessLookupError:  # reaped meanwhile (by another waiter)
            return self._proc.wait()
        loop.add_reader(descriptor, exited.set)  # a pidfd is readable once the process ended
        try:
            await exited.wait()
        finally:
            loop.remove_reader(descriptor)
            os.close(descriptor)
        return self._proc.wait()

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signum)

    async def stop(self, grace_s: float) -> int:
        """SIGTERM the process group, wait up to grace_s, then SIGKILL; the return code."""
        if self._proc.poll() is None:
            self.signal_group(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(grace_s, 0.0)):
                    await self.wait()
        if self._proc.poll() is None:
            self.signal_group(signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(KILL_WAIT_S):
                    await self.wait()
        self.signal_group(signal.SIGKILL)  # anything the program left in its group
        code = self._proc.poll()
        return code if code is not None else -int(signal.SIGKILL)


def exit_code(returncode: int) -> tuple[int, int | None]:
    """The container exit code and signal for a Popen return code (a signal N gives 128 + N)."""
    if returncode < 0:
        return 128 - returncode, -returncode
    return returncode, None


def start_process(
    network: Network,
    node: Node,
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    log_path: Path,
    header: str,
    cwd: Path | None = None,
) -> ContainerProcess:
    """Start argv in the node's namespace, output appended to log_path after a header line."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"--- {header}\n".encode())
        log.flush()
        proc = network.popen(
            node,
            list(argv),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(cwd if cwd is not None else log_path.parent),
        )
    return ContainerProcess(proc)
