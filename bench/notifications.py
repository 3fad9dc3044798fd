"""Notification delivery delay with 100 subscribers, one of them dead, beside none dead.

    python -m bench.notifications [--subscribers 100] [--rounds 30]

One receiver process (tests/callbacks/receiver.py, a separate process as a subscriber would
be) serves every live subscriber, each under its own callback path, so each has its own queue
and worker in the delivery. The dead subscriber's callback is a closed port on 127.0.0.1: every
attempt is refused and retried with backoff. Each round submits one notification to every
subscriber at once and waits until every live one has arrived; the delay is arrival minus
submission on the machine's monotonic clock (the same in both processes). Rounds with and
without the dead subscriber alternate in one run, so both see the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.records import machine, save
from mec_orchestrator.adapters.callbacks import CallbackDelivery, DeliverySettings

RECEIVER = Path(__file__).resolve().parents[1] / "tests" / "callbacks" / "receiver.py"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def _round(  # noqa: PLR0917 - one round's inputs
    delivery: CallbackDelivery,
    base: str,
    live: int,
    dead_uri: str | None,
    log: Path,
    seen: int,
) -> tuple[list[float], int]:
    submitted: dict[str, float] = {}
    for i in range(live):
        nid = uuid.uuid4().hex
        submitted[nid] = time.monotonic()
        delivery.submit(
            f"{base}/s/{i}", {"notificationId": nid}, notification_id=nid,
            subscription_id=f"sub-{i}", api="bench",
        )  # fmt: skip
    if dead_uri is not None:
        nid = uuid.uuid4().hex
        delivery.submit(
            dead_uri, {"notificationId": nid}, notification_id=nid,
            subscription_id="dead", api="bench",
        )  # fmt: skip
    delays: dict[str, float] = {}
    deadline = time.monotonic() + 30
    while len(delays) < live and time.monotonic() < deadline:
        text = log.read_text()  # noqa: ASYNC240 - the benchmark's own reader
        lines = text.split("\n")[:-1][seen:]  # after the last newline a line may be half written
        for line in lines:
            entry: dict[str, Any] = json.loads(line)
            if entry["id"] in submitted and entry["id"] not in delays:
                delays[entry["id"]] = entry["monotonic"] - submitted[entry["id"]]
        seen += len(lines)
        await asyncio.sleep(0.002)
    if len(delays) < live:
        raise RuntimeError(f"only {len(delays)}/{live} notifications arrived within 30 s")
    return list(delays.values()), seen


def start_receiver(log: Path) -> subprocess.Popen[str]:
    log.touch()
    return subprocess.Popen(
        [sys.executable, str(RECEIVER), "--port", "0", "--log", str(log)],
        stdout=subprocess.PIPE,
        text=True,
    )


async def run(
    subscribers: int, rounds: int, log: Path, receiver: subprocess.Popen[str]
) -> dict[str, Any]:
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline().split()[1])
        base = f"http://127.0.0.1:{port}"
        dead = f"http://127.0.0.1:{_closed_port()}/dead"
        settings = DeliverySettings(max_subscribers=max(1000, subscribers * 2))
        results: dict[str, list[float]] = {"none dead": [], "one dead": []}
        seen = 0
        async with CallbackDelivery(settings) as delivery:
            # A warm-up round opens every subscriber's connection and worker (not counted).
            _, seen = await _round(delivery, base, subscribers, None, log, seen)
            for n in range(rounds * 2):
                kind = "one dead" if n % 2 else "none dead"
                delays, seen = await _round(
                    delivery,
                    base,
                    subscribers - (1 if kind == "one dead" else 0),
                    dead if kind == "one dead" else None,
                    log,
                    seen,
                )
                results[kind] += delays
            dead_pending = delivery.pending(dead)
        summary = {
            kind: {
                "notifications": len(values),
                "p50_ms": round(statistics.median(values) * 1000, 2),
                "p99_ms": round(_percentile(values, 99) * 1000, 2),
                "max_ms": round(max(values) * 1000, 2),
            }
            for kind, values in results.items()
        }
        return {
            "subscribers": subscribers,
            "rounds_each": rounds,
            "dead_subscriber_backlog_at_end": dead_pending,
            "results": summary,
        }
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=30)
    options = parser.parse_args()

    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "received.jsonl"
        receiver = start_receiver(log)
        document = asyncio.run(run(options.subscribers, options.rounds, log, receiver))
    document = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), **document}
    print(json.dumps(document, indent=2))
    print(f"saved to {save('notifications', document, started)}")


if __name__ == "__main__":
    main()
