"""The emulated device as a process, against real reference-app instances and a fake MEC 016 side.

Judged from its record file through mec_devtools.ue.analysis, the way end-to-end tests will:
nothing lost, nothing applied twice, the switch to the instance the orchestrator names, the
stream going on there, and the app context deleted on SIGTERM. Waits are bounded and generous
(a loaded 2-core machine); nothing asserts how fast anything was.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from mec_devtools.ue.analysis import Analysis, analyse
from mec_devtools.ue.records import read_records
from tests.devtools.ue.conftest import (
    CONTEXT_ID,
    FakeOrchestrator,
    device,
    device_command,
    reference_app,
)
from tests.helpers import eventually

pytestmark = pytest.mark.timeout(180)


def analysis_of(records: Path) -> Analysis:
    return analyse(read_records(records))


async def acks_at(records: Path, target: str, count: int) -> Analysis:
    """Wait until `count` updates were acknowledged by target; the analysis then."""

    async def enough() -> Analysis | None:
        result = analysis_of(records)
        acked = [
            r
            for r in read_records(records)
            if r["kind"] == "answer" and r.get("target") == target and r.get("status") == 200
        ]
        return result if len(acked) >= count else None

    found: Analysis = await eventually(enough, within=60)
    return found


async def test_the_device_follows_the_orchestrator_to_another_instance(
    orchestrator: FakeOrchestrator, tmp_path: Path
) -> None:
    records = tmp_path / "ue.jsonl"
    async with reference_app() as a_url, reference_app() as b_url:
        orchestrator.instance = a_url
        async with device(orchestrator.url, records) as ue:
            assert ue.started["contextId"] == CONTEXT_ID
            assert ue.started["referenceURI"] == a_url
            request = orchestrator.created[0]
            assert request["associateDevAppId"] == "ue-0001"
            assert request["callbackReference"] == ue.started["callback"]
            assert request["appLocationUpdates"] is True
            assert request["appAutoInstantiation"] is False
            assert request["appInfo"]["userAppInstanceInfo"] == [{}]
            await acks_at(records, a_url, 25)
            update = {
                "notificationType": "ApplicationContextUpdateNotification",
                "contextId": CONTEXT_ID,
                "userAppInstanceInfo": [{"appInstanceId": "inst-b", "referenceURI": b_url}],
            }
            assert await orchestrator.notify(update) == 204
            await acks_at(records, b_url, 25)
            assert await ue.stop() == 0
    assert orchestrator.deleted == [CONTEXT_ID]
    items = read_records(records)
    assert [r["status"] for r in items if r["kind"] == "delete"] == [204]
    result = analysis_of(records)
    assert result.lost == ()
    assert result.duplicated == ()
    assert result.acknowledged == result.sent >= 50
    assert result.applied == result.acknowledged
    assert result.targets == (a_url, b_url)
    assert [(s.source, s.target, s.reason) for s in result.switches] == [
        (a_url, b_url, "notification")
    ]
    # Seqs are consecutive and each went to A until the switch, to B after.
    acked = sorted(result.latency_ns)
    assert acked == list(range(1, len(acked) + 1))
    moves = [i for i in result.interruptions if i.moved]
    assert len(moves) <= 1
    assert [r["kind"] for r in items].count("notification") == 1


async def test_a_409_redirect_resends_the_same_seq_there(
    orchestrator: FakeOrchestrator, tmp_path: Path
) -> None:
    records = tmp_path / "ue.jsonl"
    async with moving_instance(after=5) as fake, reference_app() as b_url:
        fake.redirect = b_url
        orchestrator.instance = fake.url
        async with device(orchestrator.url, records):
            await acks_at(records, b_url, 10)
    items = read_records(records)
    refused = [r for r in items if r["kind"] == "answer" and r["status"] == 409]
    assert refused, "the fake instance never redirected"
    first = refused[0]
    assert first["redirect"] == b_url
    sends_to_b = [r for r in items if r["kind"] == "send" and r["target"] == b_url]
    assert sends_to_b[0]["seq"] == first["seq"] == 6
    assert sends_to_b[0]["attempt"] == 2
    switches = [r for r in items if r["kind"] == "switch"]
    assert [(s["from"], s["to"], s["reason"]) for s in switches] == [(fake.url, b_url, "redirect")]
    result = analyse(items)
    assert result.lost_before_stop == ()
    assert result.duplicated == ()
    assert fake.seen == [1, 2, 3, 4, 5, 6]


async def test_a_null_redirect_waits_for_the_notification(
    orchestrator: FakeOrchestrator, tmp_path: Path
) -> None:
    records = tmp_path / "ue.jsonl"
    async with moving_instance(after=3) as fake, reference_app() as b_url:
        orchestrator.instance = fake.url
        async with device(orchestrator.url, records):

            async def refused_twice() -> bool:
                return fake.refused >= 2

            await eventually(refused_twice, within=30)
            update = {
                "notificationType": "AddressChangeNotification",
                "contextId": CONTEXT_ID,
                "appInstanceId": "inst-b",
                "referenceURI": b_url,
            }
            assert await orchestrator.notify(update) == 204
            await acks_at(records, b_url, 5)
    items = read_records(records)
    sends_to_b = [r for r in items if r["kind"] == "send" and r["target"] == b_url]
    assert sends_to_b[0]["seq"] == 4
    result = analyse(items)
    assert result.lost_before_stop == ()
    assert result.duplicated == ()
    assert [s.reason for s in result.switches] == ["address-change"]


async def test_a_deleted_context_stops_the_stream(
    orchestrator: FakeOrchestrator, tmp_path: Path
) -> None:
    records = tmp_path / "ue.jsonl"
    async with reference_app() as a_url:
        orchestrator.instance = a_url
        async with device(orchestrator.url, records) as ue:
            await acks_at(records, a_url, 5)
            deleted = {
                "notificationType": "ApplicationContextDeleteNotification",
                "contextId": CONTEXT_ID,
            }
            assert await orchestrator.notify(deleted) == 204

            async def stopped() -> bool:
                return any(r["kind"] == "stop" for r in read_records(records))

            await eventually(stopped, within=30)
            sent_then = analysis_of(records).sends
            await asyncio.sleep(0.3)
            assert analysis_of(records).sends == sent_then
            assert await ue.stop() == 0
    assert orchestrator.deleted == []  # the orchestrator deleted it already
    stops = [r for r in read_records(records) if r["kind"] == "stop"]
    assert [s["reason"] for s in stops] == ["context-deleted"]


async def test_server_errors_are_retried_and_a_4xx_is_fatal(
    orchestrator: FakeOrchestrator, tmp_path: Path
) -> None:
    orchestrator.instance = "http://127.0.0.1:9"
    orchestrator.failures = [503, 500]
    async with device(orchestrator.url, tmp_path / "retried.jsonl") as ue:
        assert ue.started["contextId"] == CONTEXT_ID
    errors = [r for r in read_records(tmp_path / "retried.jsonl") if r["kind"] == "error"]
    assert [e.get("status") for e in errors[:2]] == [503, 500]

    orchestrator.failures = [403]
    records = tmp_path / "refused.jsonl"
    process = await asyncio.create_subprocess_exec(
        *device_command(orchestrator.url, records),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert out == b""
    assert b"refused the app context: 403" in err
    fatal = [r for r in read_records(records) if r.get("fatal")]
    assert len(fatal) == 1


@dataclass
class MovingInstance:
    """An instance that applies the first `after` seqs, then answers 409 to everything."""

    after: int
    url: str = ""
    redirect: str | None = None
    seen: list[int] = field(default_factory=list)
    refused: int = 0

    async def update(self, request: web.Request) -> web.Response:
        body: Any = json.loads(await request.read())
        seq = int(body["seq"])
        if seq not in self.seen:
            self.seen.append(seq)
        if seq <= self.after:
            return web.json_response({"seq": seq, "applied": True, "version": seq})
        self.refused += 1
        return web.json_response({"servedHere": False, "redirect": self.redirect}, status=409)


@contextlib.asynccontextmanager
async def moving_instance(after: int) -> AsyncIterator[MovingInstance]:
    fake = MovingInstance(after)
    app = web.Application()
    app.router.add_post("/users/{user}/updates", fake.update)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield fake
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("flag", "words"),
    [
        ("--device-id=" + "d" * 33, b"at most 32"),
        ("--rate=0", b"--rate"),
        ("--callback-listen=0.0.0.0:0", b"--callback-host"),
    ],
)
async def test_bad_flags_are_refused(tmp_path: Path, flag: str, words: bytes) -> None:
    command = device_command("http://127.0.0.1:9", tmp_path / "r.jsonl", flag)
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert words in err
