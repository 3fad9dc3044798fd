"""The reference app registers with its host's agent over Mp1, as a real app instance would.

Both are real processes: the agent serving Mp1 (`--mp1-listen`) and `mec-reference-app
--mp1-url ...`. The agent learns the instance, its device endpoint and its UserContextService
address (what the handover will call), and that it is ready; when the app stops it deregisters.
"""

from __future__ import annotations

import asyncio
import json
import signal

import httpx

from tests.agents.conftest import Processes, processes
from tests.mp1.conftest import start_agent_with_mp1, wait_until
from tests.sdk.test_reference_handover import _command

ROOT = "/mec_app_support/v1"
__all__ = ["processes"]  # the agent tests' fixture, used here


async def test_the_reference_app_registers_with_its_agent_and_leaves(
    processes: Processes,
) -> None:
    agent, url = await start_agent_with_mp1(processes)
    app = await asyncio.create_subprocess_exec(
        *_command(),
        "--listen=127.0.0.1:0",
        "--context-listen=127.0.0.1:0",
        f"--mp1-url={url}",
        "--instance-id=anchors-a",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert app.stdout is not None
        line = await asyncio.wait_for(app.stdout.readline(), 60)
        assert line, "mec-reference-app exited before listening"
        ports = json.loads(line)
        async with httpx.AsyncClient(base_url=url + ROOT, timeout=30, trust_env=False) as mp1:
            registered = await mp1.get("/registrations/anchors-a")
            assert registered.status_code == 200, registered.text
            info = registered.json()
            assert info["appName"] == "mec-reference-app"
            assert info["appProfile"]["userContextEndpoint"] == ports["context"]
            assert info["endpoint"]["uris"] == [f"http://{ports['http']}"]
            await wait_until(
                "the agent's registry says ready",
                lambda: "app instance anchors-a is ready" in agent.log_text(),
            )
            app.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(app.wait(), 30) == 0
            gone = await mp1.get("/registrations/anchors-a")
            assert gone.status_code == 404  # deregistered on the way out
    finally:
        if app.returncode is None:
            app.kill()
            await app.wait()
