"""The handover between two real agents and two real app instances, with a device writing.

Real processes on loopback: two `edge-host-agent run` (each serving Mp1 and its gRPC server,
journalling in its own state directory) and two `mec-reference-app` registered with them. The
test drives the handover as the orchestrator does, with the orchestrator's own client
(`AgentSessions`), while a device in the test sends sequence-numbered updates, follows the
"not served here" answers and counts what was applied where. After every story: each update
applied exactly once, and exactly one instance serves the user.

The crash stories stop the driving at a step and let the agents finish alone: the orchestrator
vanishing after the transfer (the source's watchdog aborts both), vanishing after the target's
commit (the source learns the target committed and releases), the target agent killed (-9)
after the transfer and restarted from its journal (the handover is undone).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from mec.agent.v1 import handover_pb2, handover_pb2_grpc

from mec_orchestrator.adapters.agent_link.commands import (
    AgentClientSettings,
    AgentSessions,
)
from tests.agents.conftest import Processes, processes
from tests.agents.handover_world import Host, new_host, start_agent, start_app
from tests.mp1.conftest import wait_until

__all__ = ["processes"]

USER = "u-1"
RATE = 200.0  # updates per second, one at a time


@dataclass
class Device:
    """Sends updates one at a time, follows redirects, counts what each answer applied."""

    url: str
    applied: Counter[int] = field(default_factory=Counter)
    served_by: dict[int, str] = field(default_factory=dict)
    sent: int = 0
    gaps: list[float] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        seq, last_ok = 1, time.monotonic()
        async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
            while not self.stop.is_set():
                try:
                    answer = await http.post(
                        f"{self.url}/users/{USER}/updates",
                        json={"seq": seq, "payload": {"anchor": f"a{seq % 5}", "n": seq}},
                    )
                except httpx.HTTPError:
                    await asyncio.sleep(0.01)
                    continue
                if answer.status_code == 409:
                    redirect = answer.json().get("redirect")
                    if redirect:
                        self.url = redirect
                    await asyncio.sleep(0.002)
                    continue
                assert answer.status_code == 200, answer.text
                body = answer.json()
                if body.get("applied"):
                    self.applied[seq] += 1
                    self.served_by[seq] = self.url
                now = time.monotonic()
                self.gaps.append(now - last_ok)
                last_ok = now
                self.sent = seq
                seq += 1
                await asyncio.sleep(1 / RATE)

    def check(self) -> None:
        """Every update up to the last answered one applied exactly once, nowhere twice."""
        assert self.sent > 0
        missing = [s for s in range(1, self.sent + 1) if self.applied[s] == 0]
        twice = [s for s, n in self.applied.items() if n > 1]
        assert missing == [], f"updates lost: {missing[:10]}"
        assert twice == [], f"updates applied twice: {twice[:10]}"


@pytest.fixture
async def pair(processes: Processes, tmp_path: Path) -> AsyncIterator[tuple[Host, Host]]:
    hosts = (new_host("edge-a", tmp_path, ()), new_host("edge-b", tmp_path, ()))
    yield hosts
    for host in hosts:
        if host.app is not None and host.app.returncode is None:
            host.app.kill()
            await host.app.wait()


async def world(
    processes: Processes, pair: tuple[Host, Host], state_bytes: int
) -> tuple[Host, Host, AgentSessions, Device, asyncio.Task[None]]:
    source, target = pair
    for host in pair:
        await start_agent(processes, host)
        await start_app(host, state_bytes)
    agents = AgentSessions(AgentClientSettings(tls=None))
    await agents.admit(source.grpc, source.instance_id, USER, b"{}")  # served at the source
    device = Device(source.http)
    task = asyncio.create_task(device.run())
    await asyncio.sleep(0.4)
    return source, target, agents, device, task


async def prepare(
    agents: AgentSessions, source: Host, target: Host, hid: str, timeout_s: float
) -> None:
    common: dict[str, Any] = {
        "handover_id": hid,
        "user_id": USER,
        "source": source.side(),
        "target": target.side(),
        "target_agent_endpoint": target.grpc,
        "mec_assisted": True,
        "timeout_s": timeout_s,
    }
    await agents.prepare_handover(target.grpc, source_role=False, session_record=b"{}", **common)
    await agents.prepare_handover(source.grpc, source_role=True, **common)


async def state_on(host: Host, hid: str) -> int:
    async with grpc.aio.insecure_channel(host.grpc) as channel:
        answer = await handover_pb2_grpc.HandoverServiceStub(channel).GetHandover(
            handover_pb2.GetHandoverRequest(handover_id=hid), timeout=5
        )
    return int(answer.state)


async def finish(device: Device, task: asyncio.Task[None], seconds: float = 0.5) -> None:
    await asyncio.sleep(seconds)
    device.stop.set()
    await asyncio.wait_for(task, 30)
    device.check()


async def owner(host: Host) -> bool:
    """The instance serves the user (its GET answers 200)."""
    async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
        answer = await http.get(f"{host.http}/users/{USER}")
    return answer.status_code == 200


@pytest.mark.parametrize("state_bytes", [4096, 1 << 20])
async def test_a_user_moves_with_its_context_while_it_writes(
    processes: Processes, pair: tuple[Host, Host], state_bytes: int
) -> None:
    source, target, agents, device, task = await world(processes, pair, state_bytes)
    try:
        await prepare(agents, source, target, "h-1", 30)
        moved = await agents.transfer(source.grpc, "h-1")
        await agents.commit(target.grpc, "h-1", moved.version)
        await agents.commit(source.grpc, "h-1")
        await agents.commit(source.grpc, "h-1")  # a repeat: the same answer, nothing twice
        await finish(device, task)
    finally:
        await agents.close()
    assert moved.precopy_rounds >= 1
    if state_bytes > 65536:
        # The megabyte moved while the source served; under the fence, only what changed.
        assert moved.fenced_bytes < 4096, moved
    assert device.url == target.http
    assert await owner(target)
    assert not await owner(source)
    assert await state_on(source, "h-1") == handover_pb2.HANDOVER_STATE_COMMITTED
    assert await state_on(target, "h-1") == handover_pb2.HANDOVER_STATE_COMMITTED
    print(
        f"{state_bytes} B: {moved.context_bytes} B in {moved.precopy_rounds} pre-copy round(s), "
        f"{moved.fenced_bytes} B fenced for {moved.fenced_s * 1000:.1f} ms; longest gap between "
        f"answers {max(device.gaps) * 1000:.1f} ms"
    )


async def test_a_copy_made_while_the_radio_prepares_is_finished_by_the_switch(
    processes: Processes, pair: tuple[Host, Host]
) -> None:
    source, target, agents, device, task = await world(processes, pair, 1 << 20)
    try:
        await prepare(agents, source, target, "h-6", 30)
        ahead = await agents.transfer(source.grpc, "h-6", precopy_only=True)
        assert await owner(source)  # the source still serves while the radio prepares
        await asyncio.sleep(0.3)  # the device keeps writing
        moved = await agents.transfer(source.grpc, "h-6")  # the radio completed
        await agents.commit(target.grpc, "h-6", moved.version)
        await agents.commit(source.grpc, "h-6")
        await finish(device, task)
    finally:
        await agents.close()
    assert ahead.precopy_rounds >= 1
    assert moved.precopy_rounds > ahead.precopy_rounds  # went on from the early copy
    assert moved.fenced_bytes < 4096  # the megabyte was already there
    assert await owner(target)


async def test_an_orchestrator_gone_after_the_transfer_leaves_the_user_at_the_source(
    processes: Processes, pair: tuple[Host, Host]
) -> None:
    source, target, agents, device, task = await world(processes, pair, 4096)
    try:
        await prepare(agents, source, target, "h-2", 2.0)
        await agents.transfer(source.grpc, "h-2")  # fenced; then nobody commits
        await wait_until(
            "the source's watchdog ends it",
            lambda: "timed out: aborted" in (source.agent.log_text() if source.agent else ""),
            within=20,
        )
        await finish(device, task)
    finally:
        await agents.close()
    assert await state_on(target, "h-2") == handover_pb2.HANDOVER_STATE_ABORTED
    assert await state_on(source, "h-2") == handover_pb2.HANDOVER_STATE_ABORTED
    assert await owner(source)
    assert not await owner(target)
    assert device.url == source.http  # sent to the target by the fence, sent back by its abort


async def test_a_target_that_committed_keeps_the_user_though_the_orchestrator_is_gone(
    processes: Processes, pair: tuple[Host, Host]
) -> None:
    source, target, agents, device, task = await world(processes, pair, 4096)
    try:
        await prepare(agents, source, target, "h-3", 2.0)
        moved = await agents.transfer(source.grpc, "h-3")
        await agents.commit(target.grpc, "h-3", moved.version)  # then nobody tells the source
        await wait_until(
            "the source learns the target committed",
            lambda: (
                "COMMITTED (the target committed)"
                in (source.agent.log_text() if source.agent else "")
            ),
            within=20,
        )
        await finish(device, task)
    finally:
        await agents.close()
    assert await state_on(source, "h-3") == handover_pb2.HANDOVER_STATE_COMMITTED
    assert await owner(target)
    assert not await owner(source)


async def test_a_target_agent_killed_after_the_transfer_undoes_the_handover_from_its_journal(
    processes: Processes, pair: tuple[Host, Host]
) -> None:
    source, target, agents, device, task = await world(processes, pair, 4096)
    try:
        await prepare(agents, source, target, "h-4", 3.0)
        await agents.transfer(source.grpc, "h-4")
        assert target.agent is not None
        target.agent.process.send_signal(signal.SIGKILL)
        await target.agent.process.wait()
        await start_agent(processes, target)  # same state directory: the journal is replayed
        await wait_until(
            "the source's watchdog ends it",
            lambda: "timed out: aborted" in (source.agent.log_text() if source.agent else ""),
            within=30,
        )
        await finish(device, task)
    finally:
        await agents.close()
    assert await state_on(target, "h-4") == handover_pb2.HANDOVER_STATE_ABORTED
    assert await owner(source)
    assert not await owner(target)


async def test_commands_that_contradict_the_state_are_refused(
    processes: Processes, pair: tuple[Host, Host]
) -> None:
    source, target, agents, device, task = await world(processes, pair, 4096)
    try:
        await prepare(agents, source, target, "h-5", 30)
        await agents.abort(target.grpc, "h-5", "test")
        await agents.abort(source.grpc, "h-5", "test")
        async with grpc.aio.insecure_channel(target.grpc) as channel:
            stub = handover_pb2_grpc.HandoverServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.CommitHandover(
                    handover_pb2.CommitHandoverRequest(handover_id="h-5"), timeout=5
                )
            assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
            assert "ABORTED" in (refused.value.details() or "")
        await finish(device, task)
    finally:
        await agents.close()
    assert await owner(source)  # an aborted handover changed nothing
