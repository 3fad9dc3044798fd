"""Running the live page in Debian's headless chromium (playwright-core) against a real server.

Shared by the browser test and the benchmark: `serving()` starts `tests.liveview.live_server`
as its own process and yields its root URL; `drive(url, moves)` runs
`browser/live_page.cjs` with node and returns what it measured. The browser tooling is
installed by scripts/browser-deps.sh (bootstrap runs it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PLAYWRIGHT_CORE = ROOT / ".venv" / "browser" / "node_modules" / "playwright-core"
CHROMIUM = Path("/usr/bin/chromium")
SCRIPT = Path(__file__).with_name("browser") / "live_page.cjs"


def check_tools() -> None:
    """Fail with what to run when the browser or its driver is missing."""
    missing = [str(p) for p in (PLAYWRIGHT_CORE, CHROMIUM) if not p.exists()]
    if missing:
        raise RuntimeError(f"missing {', '.join(missing)}: run scripts/browser-deps.sh")


@contextmanager
def serving(timeout_s: float = 30.0) -> Iterator[str]:
    """The live-view test server, as its own process on a real socket: its root URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.liveview.live_server"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the server prints its port once it listens
        if not line.startswith("LISTENING "):
            raise RuntimeError(f"the live-view server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def drive(url: str, moves: list[dict[str, Any]], timeout_s: float = 120.0) -> dict[str, Any]:
    """Load the page in chromium, make the moves, and return what the driver measured."""
    check_tools()
    with tempfile.TemporaryDirectory(prefix="live-view-chromium-") as profile:
        env = {
            **os.environ,
            "LIVE_URL": url,
            "PLAYWRIGHT_CORE": str(PLAYWRIGHT_CORE),
            "CHROMIUM": str(CHROMIUM),
            "USER_DATA_DIR": profile,
            "MOVES": json.dumps(moves),
        }
        done = subprocess.run(
            ["node", str(SCRIPT)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"the browser driver failed ({done.returncode}): {done.stderr}")
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
            return result
    raise RuntimeError(f"the browser driver printed no result: {done.stdout!r}")
