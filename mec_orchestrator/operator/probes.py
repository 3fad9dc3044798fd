"""The client side of the operator's /readyz probe.

Whoever starts an operator process (the demo, the benchmarks, the tests) waits with it until the
operator serves.
"""

from __future__ import annotations

import subprocess
import time

import httpx


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
