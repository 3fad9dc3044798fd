"""The reference app registers with its host's agent over Mp1, as a real app instance would.

Both are real processes: the agent serving Mp1 (`--mp1-listen`) and `mec-reference-app
--mp1-url ...`. The agent learns the instance, its device endpoint and its UserContextService
address (what the handover will call), and that it is ready; when the app stops it deregisters.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal

import grpc
import httpx
import pytest
from mec.agent.v1 import session_pb2, session_pb2_grpc

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


async def test_the_agent_admits_and_releases_users_of_its_instance(
    processes: Processes,
) -> None:
    """SessionService: the agent tells the instance whom it serves; a released user is sent on."""
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
        device = f"http://{json.loads(line)['http']}"
        await wait_until(
            "the agent's registry says ready",
            lambda: "app instance anchors-a is ready" in agent.log_text(),
        )
        found = re.search(r"serving handover commands on \S+ \(port (\d+)\)", agent.log_text())
        assert found, agent.log_text()
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{found.group(1)}") as channel,
            httpx.AsyncClient(base_url=device, timeout=30, trust_env=False) as http,
        ):
            sessions = session_pb2_grpc.SessionServiceStub(channel)
            admitted = await sessions.AdmitUser(
                session_pb2.AdmitUserRequest(
                    app_instance_id="anchors-a", user_id="u1", record=b"{}"
                ),
                timeout=10,
            )
            assert admitted.users == 1
            update = await http.post("/users/u1/updates", json={"seq": 1, "payload": "a"})
            assert update.json()["applied"] is True
            released = await sessions.ReleaseUser(
                session_pb2.ReleaseUserRequest(
                    app_instance_id="anchors-a",
                    user_id="u1",
                    redirect_endpoint="http://198.18.0.9:8080",
                ),
                timeout=10,
            )
            assert released.released is True
            refused = await http.post("/users/u1/updates", json={"seq": 2, "payload": "b"})
            assert refused.status_code == 409
            assert refused.json() == {"servedHere": False, "redirect": "http://198.18.0.9:8080"}
            again = await sessions.ReleaseUser(
                session_pb2.ReleaseUserRequest(app_instance_id="anchors-a", user_id="u1"),
                timeout=10,
            )
            assert again.released is False  # idempotent: nothing left to release
            with pytest.raises(grpc.aio.AioRpcError) as unknown:
                await sessions.AdmitUser(
                    session_pb2.AdmitUserRequest(app_instance_id="nope", user_id="u1"), timeout=10
                )
            assert unknown.value.code() is grpc.StatusCode.NOT_FOUND
            # Admitted again (the user came back): served again, from a fresh context.
            await sessions.AdmitUser(
                session_pb2.AdmitUserRequest(app_instance_id="anchors-a", user_id="u1"),
                timeout=10,
            )
            back = await http.post("/users/u1/updates", json={"seq": 2, "payload": "b"})
            assert back.json()["applied"] is True
    finally:
        if app.returncode is None:
            app.kill()
            await app.wait()
