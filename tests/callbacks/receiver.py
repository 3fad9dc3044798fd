"""A notification receiver for the callback delivery tests, run as a separate process.

    python tests/callbacks/receiver.py --port 0 --log received.jsonl [--fail-first N]
        [--fail-status 503] [--retry-after SECONDS] [--hang-first N] [--hang-seconds S]

It listens on 127.0.0.1 (port 0: any free one), prints `ready <port>` once listening, and answers
every POST: the first `--hang-first` requests get no answer for `--hang-seconds` (a subscriber
that accepts connections but never answers), the next `--fail-first` get `--fail-status` (with
`Retry-After` if given), the rest 204. Each request is recorded, when it arrives, as one JSON
line: the X-Notification-Id header, the body, the content type, the status it is answered with,
and `time.monotonic()` (the same clock in every process on the machine) and `time.time()`.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, options: argparse.Namespace) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.options = options
        self.lock = threading.Lock()
        self.count = 0
        self.log = Path(options.log).open("a", encoding="utf-8")  # noqa: SIM115 - lives with us

    def next_answer(self) -> tuple[int, str]:
        """(status, mode) for the next request: mode is hang, fail or ok."""
        with self.lock:
            self.count += 1
            n = self.count
        hang = self.options.hang_first
        if n <= hang:
            return 204, "hang"
        if n <= hang + self.options.fail_first:
            return self.options.fail_status, "fail"
        return 204, "ok"

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.log.write(json.dumps(entry) + "\n")
            self.log.flush()


class Handler(BaseHTTPRequestHandler):
    server: Receiver
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        received = time.monotonic()
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        status, mode = self.server.next_answer()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.server.record(
            {
                "id": self.headers.get("X-Notification-Id"),
                "body": body,
                "content_type": self.headers.get("Content-Type"),
                "path": self.path,
                "status": status,
                "mode": mode,
                "monotonic": received,
                "time": time.time(),
            }
        )
        if mode == "hang":
            time.sleep(self.server.options.hang_seconds)
        self.send_response(status)
        if mode == "fail" and self.server.options.retry_after is not None:
            self.send_header("Retry-After", self.server.options.retry_after)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--fail-status", type=int, default=503)
    parser.add_argument("--retry-after", default=None)
    parser.add_argument("--hang-first", type=int, default=0)
    parser.add_argument("--hang-seconds", type=float, default=30.0)
    options = parser.parse_args()
    server = Receiver(options.port, options)
    print(f"ready {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.exit(0)


if __name__ == "__main__":
    main()
