"""Running the UDP probe tools inside nodes and matching their probes to ground truth."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from mec_devtools.sim.network import FrameRecord, Network, Node
from mec_devtools.sim.network.probe import PingResult

PROBE = [sys.executable, "-m", "mec_devtools.sim.network.probe"]
ECHO_PORT = 7007
MS = 1_000_000


def start_echo(net: Network, node: Node, port: int = ECHO_PORT) -> subprocess.Popen[str]:
    proc: subprocess.Popen[str] = net.popen(
        node, [*PROBE, "echo", "--port", str(port)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    ready = proc.stdout.readline()
    assert ready.startswith("ready"), f"echo server did not start: {ready!r}"
    return proc


def ping_command(
    target: Node, *, count: int, interval_s: float, wait_s: float = 1.0, port: int = ECHO_PORT
) -> list[str]:
    return [
        *PROBE,
        "ping",
        "--to",
        target.ip,
        "--port",
        str(port),
        "--count",
        str(count),
        "--interval",
        str(interval_s),
        "--wait",
        str(wait_s),
    ]


def ping(
    net: Network, source: Node, target: Node, *, count: int, interval_s: float, **kw: Any
) -> PingResult:
    done = net.run(
        source,
        ping_command(target, count=count, interval_s=interval_s, **kw),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return PingResult.from_json(json.loads(done.stdout))


def ping_in_background(
    net: Network, source: Node, target: Node, *, count: int, interval_s: float
) -> subprocess.Popen[str]:
    command = ping_command(target, count=count, interval_s=interval_s)
    return net.popen(source, command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 60.0) -> PingResult:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return PingResult.from_json(json.loads(out))


def warm_up(net: Network, source: Node, target: Node) -> None:
    """Resolve ARP in both directions so measured probes carry no ARP round trip."""
    result = ping(net, source, target, count=3, interval_s=0.01, wait_s=2.0)
    assert result.received >= 1, "no echo reply at all"


def records_by_probe(
    truth: Sequence[FrameRecord], result: PingResult
) -> dict[int, list[FrameRecord]]:
    """Ground-truth records of each probe (request and reply carry the same payload)."""
    seq_of = {p.digest: p.seq for p in result.probes}
    found: dict[int, list[FrameRecord]] = {p.seq: [] for p in result.probes}
    for record in truth:
        if record.payload_digest in seq_of:
            found[seq_of[record.payload_digest]].append(record)
    return found


def errors_us(records: Sequence[FrameRecord]) -> list[float]:
    return [r.error_ns / 1000 for r in records if r.error_ns is not None]


def quantile(values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
