"""Two real `mec-reference-app` processes; the test plays the device and the agents.

Updates go to the source over HTTP; the handover goes through the UserContextService of each
(export with a redirect, import, release) as the agents will drive it. Waits are bounded and
generous (a loaded 2-core machine); nothing asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from mec.agent.v1 import context_pb2, user_context_pb2, user_context_pb2_grpc

from tests.helpers import eventually

START_S = 60.0
CALL_S = 30.0
STATE_BYTES = 4096
CHUNK_BYTES = 1000

pytestmark = pytest.mark.timeout(300)


@dataclass
class RunningApp:
    process: asyncio.subprocess.Process
    url: str
    http: httpx.AsyncClient
    channel: grpc.aio.Channel
    contexts: Any  # UserContextServiceStub over the channel

    async def update(self, user: str, seq: int) -> httpx.Response:
        payload = {"anchor": f"a{seq % 3}", "pose": [seq, seq, seq]}
        return await self.http.post(f"/users/{user}/updates", json={"seq": seq, "payload": payload})

    async def export(self, handover: str, user: str, redirect: str) -> list[Any]:
        request = user_context_pb2.ExportContextRequest(
            handover_id=handover, user_id=user, redirect_endpoint=redirect
        )
        return [m async for m in self.contexts.ExportContext(request, timeout=CALL_S)]

    async def import_(self, handover: str, exported: list[Any]) -> Any:
        return await self.contexts.ImportContext(_as_import(handover, exported), timeout=CALL_S)


def _command() -> list[str]:
    script = Path(sys.executable).parent / "mec-reference-app"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "mec_app_sdk.reference.cli"]


def _as_import(handover: str, exported: list[Any]) -> list[Any]:
    """The export stream as an import stream (what the agents will relay)."""
    messages = []
    for message in exported:
        part = message.WhichOneof("part")
        if part == "metadata":
            header = user_context_pb2.ImportContextHeader(
                handover_id=handover, metadata=message.metadata
            )
            messages.append(user_context_pb2.ImportContextRequest(header=header))
        elif part == "chunk":
            messages.append(user_context_pb2.ImportContextRequest(chunk=message.chunk))
        else:
            messages.append(user_context_pb2.ImportContextRequest(trailer=message.trailer))
    return messages


@contextlib.asynccontextmanager
async def reference_app() -> AsyncIterator[RunningApp]:
    process = await asyncio.create_subprocess_exec(
        *_command(),
        "--listen=127.0.0.1:0",
        "--context-listen=127.0.0.1:0",
        f"--state-bytes={STATE_BYTES}",
        f"--chunk-bytes={CHUNK_BYTES}",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), START_S)
        assert line, "mec-reference-app exited before listening"
        ports = json.loads(line)
        url = f"http://{ports['http']}"
        async with (
            httpx.AsyncClient(base_url=url, timeout=CALL_S) as http,
            grpc.aio.insecure_channel(ports["context"]) as channel,
        ):

            async def ready() -> bool:
                return (await http.get("/readyz")).status_code == 200

            await eventually(ready, within=START_S)
            stub = user_context_pb2_grpc.UserContextServiceStub(channel)
            yield RunningApp(process, url, http, channel, stub)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


def _parts(exported: list[Any]) -> list[str]:
    return [m.WhichOneof("part") for m in exported]


async def test_a_user_moves_between_processes_without_losing_or_repeating_an_update() -> None:
    async with reference_app() as source, reference_app() as target:
        user, sent = "device-1", 0
        for seq in range(1, 21):
            answer = (await source.update(user, seq)).json()
            assert answer == {"seq": seq, "applied": True, "version": seq}
            sent += 1
        duplicate = (await source.update(user, 20)).json()
        assert duplicate == {"seq": 20, "applied": False, "duplicate": True, "version": 20}

        exported = await source.export("h1", user, target.url)
        parts = _parts(exported)
        assert parts[0] == "metadata"
        assert parts[-1] == "trailer"
        assert parts.count("chunk") == -(-STATE_BYTES // CHUNK_BYTES)
        assert exported[0].metadata.version == 20
        assert exported[0].metadata.size_bytes == STATE_BYTES
        assert await source.export("h1", user, target.url) == exported  # a repeat: same stream

        refused = await source.update(user, 21)  # fenced: the device is sent to the target
        assert refused.status_code == 409
        assert refused.json() == {"servedHere": False, "redirect": target.url}

        imported = await target.import_("h1", exported)
        assert imported.version == 20
        assert (await target.import_("h1", exported)).version == 20  # a repeat: not twice
        early = await target.update(user, 21)  # staged: not served before the commit
        assert early.status_code == 409
        assert early.json() == {"servedHere": False, "redirect": None}
        serve = user_context_pb2.ServeUserRequest(user_id=user)  # the handover's commit
        assert (await target.contexts.ServeUser(serve, timeout=CALL_S)).version == 20

        release = user_context_pb2.ReleaseContextRequest(handover_id="h1", user_id=user)
        assert (await source.contexts.ReleaseContext(release, timeout=CALL_S)).released
        assert (await source.contexts.ReleaseContext(release, timeout=CALL_S)).released

        gone = await source.http.get(f"/users/{user}")
        assert gone.status_code == 409
        assert gone.json() == {"servedHere": False, "redirect": target.url}
        assert (await source.update(user, 21)).json()["redirect"] == target.url

        assert (await target.update(user, 20)).json()["duplicate"] is True  # a device's retry
        moved = (await target.update(user, 21)).json()
        assert moved == {"seq": 21, "applied": True, "version": 21}
        sent += 1
        state = (await target.http.get(f"/users/{user}")).json()
        assert state == {
            "user": user,
            "lastSeq": 21,
            "applied": sent,  # every update applied once, across both instances
            "version": 21,
            "servedHere": True,
        }


async def test_unfence_after_an_export_readmits_writes_at_the_source() -> None:
    async with reference_app() as source:
        user = "device-2"
        assert (await source.update(user, 1)).status_code == 200
        exported = await source.export("h2", user, "http://elsewhere:1")
        assert (await source.update(user, 2)).status_code == 409
        with pytest.raises(grpc.aio.AioRpcError) as busy:
            await source.export("h9", user, "http://other:1")  # another handover meanwhile
        assert busy.value.code() is grpc.StatusCode.ABORTED
        with pytest.raises(grpc.aio.AioRpcError) as held:
            await source.import_("h9", exported)  # the user is held here
        assert held.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        unfence = user_context_pb2.UnfenceContextRequest(handover_id="h2", user_id=user)
        assert (await source.contexts.UnfenceContext(unfence, timeout=CALL_S)).version == 1
        assert (await source.contexts.UnfenceContext(unfence, timeout=CALL_S)).version == 1
        assert (await source.update(user, 2)).json() == {"seq": 2, "applied": True, "version": 2}
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await source.export("h2", user, "http://elsewhere:1")  # the aborted handover
        assert ended.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert (await source.update(user, 3)).status_code == 200


async def test_an_import_with_a_corrupt_trailer_or_missing_bytes_is_refused() -> None:
    async with reference_app() as source, reference_app() as target:
        user = "device-3"
        for seq in (1, 2, 3):
            await source.update(user, seq)
        exported = await source.export("h3", user, target.url)
        corrupt = list(exported)
        corrupt[-1] = user_context_pb2.ExportContextResponse(
            trailer=context_pb2.ContextTrailer(sha256=b"\0" * 32)
        )
        truncated = [m for i, m in enumerate(exported) if i != 1]  # the first chunk lost
        for broken in (corrupt, truncated, exported[:-1]):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await target.import_("h3", broken)
            assert refused.value.code() in {
                grpc.StatusCode.DATA_LOSS,
                grpc.StatusCode.INVALID_ARGUMENT,  # a gap in the offsets
            }
        assert (await target.http.get(f"/users/{user}")).status_code == 404
        assert (await target.import_("h3", exported)).version == 3  # the intact one is taken


async def test_exporting_an_unknown_user_is_not_found() -> None:
    async with reference_app() as source:
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await source.export("h4", "nobody", "http://elsewhere:1")
        assert unknown.value.code() is grpc.StatusCode.NOT_FOUND
        release = user_context_pb2.ReleaseContextRequest(handover_id="h4", user_id="nobody")
        assert not (await source.contexts.ReleaseContext(release, timeout=CALL_S)).released
