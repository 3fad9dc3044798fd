"""The emulated device of bench.handover: sequence-numbered updates, every answer recorded.

    python -m bench.handover_device --url http://198.18.0.3:8080 --user u-1 --rate 100 \
        --out device.jsonl

Runs inside the device's network namespace until SIGTERM. One update at a time (HTTP/1.1
keep-alive, one connection per instance), at most `rate` a second: the next update leaves a
period after the previous one was sent, or at once if that time has passed (never in a burst).
It follows the reference app's protocol (mec_app_sdk/reference/app.py): an answer 409
`{"servedHere": false, "redirect": URL}` sends the same update to URL at once; with
`"redirect": null` (the user is staged at this instance, the handover not committed yet) the
same update is sent again to the same URL after `--retry-ms` (2 ms). An update answered 200
(applied, or a duplicate) is done and the next one gets the next sequence number.

Every answer is one JSON line in --out: `{"seq", "url", "sent", "recv", "status", "applied",
"redirect"}` with `sent`/`recv` from time.time_ns() (CLOCK_REALTIME, the same in every
namespace) just before the request was written and just after the answer was read; status 0
is a connection error (retried after 10 ms). Prints `{"ready": true}` once started.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import socket
import sys
import time
import urllib.parse
from typing import Any

ERROR_RETRY_S = 0.01


class Connections:
    """One keep-alive HTTP connection per instance URL (scheme http, host:port)."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout = timeout_s
        self._open: dict[str, http.client.HTTPConnection] = {}

    def get(self, url: str) -> http.client.HTTPConnection:
        connection = self._open.get(url)
        if connection is None:
            parsed = urllib.parse.urlsplit(url)
            connection = http.client.HTTPConnection(
                parsed.hostname or "127.0.0.1", parsed.port or 80, timeout=self._timeout
            )
            connection.connect()
            if connection.sock is not None:
                connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._open[url] = connection
        return connection

    def drop(self, url: str) -> None:
        connection = self._open.pop(url, None)
        if connection is not None:
            connection.close()

    def close(self) -> None:
        for url in list(self._open):
            self.drop(url)


def post(
    connections: Connections, url: str, path: str, body: bytes
) -> tuple[int, dict[str, Any], int, int]:
    """(status, answer, sent_ns, recv_ns); status 0 on a connection error."""
    sent = time.time_ns()
    try:
        connection = connections.get(url)
        # A bytes body is sent in the same write as the headers (no Nagle/delayed-ACK stall).
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        data = response.read()
        status = response.status
    except (OSError, http.client.HTTPException):
        connections.drop(url)
        return 0, {}, sent, time.time_ns()
    recv = time.time_ns()
    try:
        answer: Any = json.loads(data) if data else {}
    except json.JSONDecodeError:
        answer = {}
    return status, answer if isinstance(answer, dict) else {}, sent, recv


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="the instance serving the user first")
    parser.add_argument("--user", required=True)
    parser.add_argument("--rate", type=float, default=100.0, help="updates per second, at most")
    parser.add_argument("--retry-ms", type=float, default=2.0, help="wait after a null redirect")
    parser.add_argument("--start-seq", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    parser.add_argument("--out", required=True, help="JSON lines, one per answer")
    args = parser.parse_args(argv)

    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    connections = Connections(args.timeout)
    period = 1.0 / args.rate
    retry = args.retry_ms / 1000.0
    path = f"/users/{args.user}/updates"
    url, seq = args.url.rstrip("/"), args.start_seq
    next_at = time.monotonic()
    with open(args.out, "w", buffering=1 << 20) as out:  # noqa: PTH123
        sys.stdout.write(json.dumps({"ready": True}) + "\n")
        sys.stdout.flush()
        while not stopping:
            wait = next_at - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, 0.05))
                continue
            body = json.dumps(
                {"seq": seq, "payload": {"anchor": f"a{seq % 5}", "n": seq}},
                separators=(",", ":"),
            ).encode()
            started = time.monotonic()
            status, answer, sent, recv = post(connections, url, path, body)
            record: dict[str, Any] = {
                "seq": seq,
                "url": url,
                "sent": sent,
                "recv": recv,
                "status": status,
                "applied": status == 200 and bool(answer.get("applied")),
            }
            if status == 409:
                redirect = answer.get("redirect")
                record["redirect"] = redirect
                if isinstance(redirect, str) and redirect:
                    url = redirect.rstrip("/")  # follow at once
                else:
                    next_at = time.monotonic() + retry
            elif status == 200:
                seq += 1
                next_at = max(started + period, time.monotonic())
            else:  # a connection error or an unexpected answer: the same update, shortly
                next_at = time.monotonic() + ERROR_RETRY_S
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
        connections.close()


if __name__ == "__main__":
    main()
