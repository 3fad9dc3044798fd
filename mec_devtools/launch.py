"""Starting an operator process and waiting for its /readyz probe.

Whoever starts an operator process (the demo, the benchmarks, the tests) builds its command line
here and waits with it until the operator serves.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx


def operator_command(
    kubeconfig: Path, http_port: int, *, standalone: bool = False, priority: int | None = None
) -> list[str]:
    """`mec-orchestrator run` with this interpreter, for a child process."""
    command = [
        sys.executable,
        "-m",
        "mec_orchestrator",
        "run",
        "--kubeconfig",
        str(kubeconfig),
        "--http-port",
        str(http_port),
    ]
    if standalone:
        command.append("--standalone")
    if priority is not None:
        command += ["--priority", str(priority)]
    return command


def wait_until_ready(
    port: int,
    *,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    host: str = "127.0.0.1",
) -> bool:
    """Poll /readyz until it answers 200; False after timeout or once `process` has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            if httpx.get(f"http://{host}:{port}/readyz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False
