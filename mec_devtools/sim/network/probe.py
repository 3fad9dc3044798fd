"""Ping-like UDP probes to run inside nodes: an echo server and a pinger that reports each RTT.

Usage, inside a node's namespace:

    python -m mec_devtools.sim.network.probe echo --port 7007
    python -m mec_devtools.sim.network.probe ping --to 198.18.0.3 --port 7007 --count 50

The pinger prints one JSON object with every probe's payload digest (the key to the switch's
ground truth, see `frames.payload_digest`), its send time (CLOCK_REALTIME ns) and its round-trip
time, so tests can compare what the application saw with what the delay line did.
"""

from __future__ import annotations

import argparse
import json
import secrets
import select
import socket
import struct
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from mec_devtools.sim.network.frames import payload_digest

_HEADER = struct.Struct("!8sI")


@dataclass(frozen=True)
class Probe:
    seq: int
    digest: str
    sent_ns: int
    rtt_ns: int | None


@dataclass(frozen=True)
class PingResult:
    sent: int
    received: int
    probes: list[Probe]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PingResult:
        return cls(data["sent"], data["received"], [Probe(**p) for p in data["probes"]])

    def rtts_ms(self) -> list[float]:
        return [p.rtt_ns / 1e6 for p in self.probes if p.rtt_ns is not None]


def echo(port: int, bind: str = "0.0.0.0") -> None:  # noqa: S104 - inside a test namespace
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((bind, port))
        print(f"ready {sock.getsockname()[1]}", flush=True)
        while True:
            data, peer = sock.recvfrom(65535)
            sock.sendto(data, peer)


def ping(
    target: str, port: int, *, count: int, interval: float, size: int = 64, wait: float = 1.0
) -> PingResult:
    nonce = secrets.token_bytes(8)
    size = max(size, _HEADER.size)
    payloads = [_HEADER.pack(nonce, seq).ljust(size, b"\0") for seq in range(count)]
    sent_ns: list[int] = []
    started: list[int] = []
    rtts: dict[int, int] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((target, port))
        begin = time.perf_counter()
        deadline = begin + (count - 1) * interval + wait if count else begin
        while True:
            now = time.perf_counter()
            if len(started) < count and now >= begin + len(started) * interval:
                sent_ns.append(time.time_ns())
                started.append(time.perf_counter_ns())
                sock.send(payloads[len(started) - 1])
                continue
            if now >= deadline or len(rtts) == count:
                break
            next_send = begin + len(started) * interval if len(started) < count else deadline
            timeout = max(0.0, min(next_send, deadline) - now)
            readable, _, _ = select.select([sock], [], [], timeout)
            if readable:
                _receive(sock, nonce, started, rtts)
    probes = [
        Probe(seq, payload_digest(payloads[seq]), sent_ns[seq], rtts.get(seq))
        for seq in range(len(started))
    ]
    return PingResult(len(started), len(rtts), probes)


def _receive(sock: socket.socket, nonce: bytes, started: list[int], rtts: dict[int, int]) -> None:
    arrived = time.perf_counter_ns()
    try:
        data = sock.recv(65535)
    except ConnectionRefusedError:  # ICMP port unreachable before the echo server was up
        return
    if len(data) < _HEADER.size:
        return
    their_nonce, seq = _HEADER.unpack_from(data)
    if their_nonce == nonce and seq < len(started) and seq not in rtts:
        rtts[seq] = arrived - started[seq]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="UDP echo server and pinger")
    sub = parser.add_subparsers(dest="mode", required=True)
    server = sub.add_parser("echo")
    server.add_argument("--port", type=int, default=7007)
    server.add_argument("--bind", default="0.0.0.0")  # noqa: S104
    client = sub.add_parser("ping")
    client.add_argument("--to", required=True)
    client.add_argument("--port", type=int, default=7007)
    client.add_argument("--count", type=int, default=20)
    client.add_argument("--interval", type=float, default=0.05, help="seconds between probes")
    client.add_argument("--size", type=int, default=64, help="UDP payload bytes")
    client.add_argument("--wait", type=float, default=1.0, help="seconds to wait for replies")
    args = parser.parse_args(argv)
    if args.mode == "echo":
        echo(args.port, args.bind)
        return 0
    result = ping(
        args.to, args.port, count=args.count, interval=args.interval, size=args.size, wait=args.wait
    )
    json.dump(asdict(result), sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
