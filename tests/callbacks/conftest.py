"""Fixtures of the delivery tests: receiver processes, a delivery with its own metrics, outcomes.

`receivers` starts `receiver.py` processes (each its own OS process on 127.0.0.1) and kills
them at the end; `outcomes` collects what `CallbackDelivery` reports, and lets a test wait for a
notification's outcome with a bound.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from mec_orchestrator.adapters.callbacks import (
    CallbackDelivery,
    CallbackMetrics,
    DeliverySettings,
    Outcome,
)

RECEIVER = Path(__file__).with_name("receiver.py")
START_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's choice, released at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Receiver:
    """One receiver process: its URL, what it recorded, and control over its life."""

    def __init__(self, log: Path, port: int, options: dict[str, object]) -> None:
        self.log = log
        self.port = port
        self.options = options
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notify"

    async def start(self) -> None:
        args = [sys.executable, str(RECEIVER), "--port", str(self.port), "--log", str(self.log)]
        for name, value in self.options.items():
            args += [f"--{name.replace('_', '-')}", str(value)]
        self.process = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), START_TIMEOUT)
        assert line.startswith(b"ready "), line
        self.port = int(line.split()[1])

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await asyncio.wait_for(self.process.wait(), START_TIMEOUT)
        self.process = None

    def records(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line]

    def ids(self) -> list[str]:
        return [r["id"] for r in self.records()]

    async def wait_for(
        self, what: str, done: Callable[[list[dict[str, Any]]], bool], within: float = 5.0
    ) -> list[dict[str, Any]]:
        """The records once done(records) holds; AssertionError after `within` seconds."""
        deadline = time.monotonic() + within
        while True:
            records = self.records()
            if done(records):
                return records
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {within} s; received {records}")
            await asyncio.sleep(0.01)


class Receivers:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[Receiver] = []

    def make(self, port: int = 0, **options: object) -> Receiver:
        """A receiver not started yet (port 0: any free port, known once started)."""
        receiver = Receiver(self.directory / f"received-{len(self.started)}.jsonl", port, options)
        self.started.append(receiver)
        return receiver

    async def start(self, port: int = 0, **options: object) -> Receiver:
        receiver = self.make(port, **options)
        await receiver.start()
        return receiver


@pytest.fixture
async def receivers(tmp_path: Path) -> AsyncIterator[Receivers]:
    made = Receivers(tmp_path)
    try:
        yield made
    finally:
        for receiver in made.started:
            await receiver.kill()


class Outcomes:
    """Every outcome the delivery reported, by notification id, with bounded waits."""

    def __init__(self) -> None:
        self.by_id: dict[str, Outcome] = {}
        self._changed = asyncio.Event()

    def __call__(self, outcome: Outcome) -> None:
        self.by_id[outcome.notification_id] = outcome
        self._changed.set()

    async def wait(self, notification_id: str, within: float = 5.0) -> Outcome:
        async with asyncio.timeout(within):
            while notification_id not in self.by_id:
                self._changed.clear()
                await self._changed.wait()
        return self.by_id[notification_id]


@pytest.fixture
def outcomes() -> Outcomes:
    return Outcomes()


@pytest.fixture
def metrics() -> CallbackMetrics:
    return CallbackMetrics(CollectorRegistry())


FAST = {
    "timeout_seconds": 2.0,
    "backoff_base_seconds": 0.05,
    "backoff_max_seconds": 0.2,
    "jitter": 0.0,
    "max_age_seconds": 30.0,
    "stop_grace_seconds": 0.0,
    "use_env_proxy": False,
}


@pytest.fixture
def make_delivery(metrics: CallbackMetrics, outcomes: Outcomes) -> Callable[..., CallbackDelivery]:
    """CallbackDelivery with fast retries, the test's metrics and outcomes; settings overridable."""

    def make(**settings: Any) -> CallbackDelivery:
        return CallbackDelivery(
            DeliverySettings(**{**FAST, **settings}), metrics=metrics, on_outcome=outcomes
        )

    return make
