"""Client side of the switch's control socket, and the typed ground-truth record it returns."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from mec_devtools.sim.network.links import NS_PER_MS

TRUTH_PAGE = 20_000


class SwitchError(RuntimeError):
    """The switch refused a request (its error text is the message) or could not be reached."""


@dataclass(frozen=True)
class FrameRecord:
    """Ground truth of one forwarded copy of a frame; times are CLOCK_REALTIME nanoseconds.

    ``enter_ns`` is the kernel's receive timestamp on the ingress port, ``due_ns`` when the copy
    was scheduled to leave (enter + nominal delay + drawn jitter, never before an earlier copy of
    the same pair), ``release_ns`` when the switch started the send to the egress port and
    ``leave_ns`` when it returned — by then the receiving stack has taken the frame — (both None
    unless sent; the switch starts sends early by their average cost so `leave_ns` meets `due_ns`).
    ``outcome`` is "sent", "lost" (dropped by the loss setting), "pending" or "send-error".
    """

    seq: int
    ingress: str
    egress: str
    enter_ns: int
    nominal_ns: int
    due_ns: int
    release_ns: int | None
    leave_ns: int | None
    outcome: str
    error: str | None
    length: int
    frame_digest: str
    ethertype: int
    src_ip: str | None
    dst_ip: str | None
    protocol: int | None
    src_port: int | None
    dst_port: int | None
    payload_digest: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FrameRecord:
        return cls(**{f.name: data[f.name] for f in fields(cls)})

    @property
    def delay_ns(self) -> int | None:
        """How long the copy really spent in the delay line."""
        return None if self.leave_ns is None else self.leave_ns - self.enter_ns

    @property
    def error_ns(self) -> int | None:
        """Actual delay minus the nominal (configured) delay."""
        delay = self.delay_ns
        return None if delay is None else delay - self.nominal_ns

    @property
    def delay_ms(self) -> float | None:
        delay = self.delay_ns
        return None if delay is None else delay / NS_PER_MS


class SwitchClient:
    """One connection to the switch; requests are answered in order."""

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = path
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = bytearray()

    def connect(self, *, within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self._timeout)
            try:
                sock.connect(str(self.path))
            except OSError as error:
                sock.close()
                if time.monotonic() > deadline:
                    raise SwitchError(f"switch control socket not reachable: {error}") from None
                time.sleep(0.02)
                continue
            self._sock = sock
            return

    def close(self) -> None:
        """Close the connection; the next request opens a new one."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buffer.clear()

    def exchange(self, line: bytes) -> dict[str, Any]:
        """Send one raw request line and return the decoded answer, whatever it says."""
        sock = self._sock
        if sock is None:
            self.connect()
            sock = self._sock
        if sock is None:
            raise SwitchError("not connected")
        try:
            sock.sendall(line if line.endswith(b"\n") else line + b"\n")
            scanned = 0
            while (end := self._buffer.find(b"\n", scanned)) < 0:
                scanned = len(self._buffer)
                chunk = sock.recv(1 << 20)
                if not chunk:
                    raise ConnectionResetError("switch closed the control connection")
                self._buffer += chunk
        except OSError as error:
            self.close()
            raise SwitchError(f"control connection failed: {error}") from None
        reply = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        decoded = json.loads(reply)
        if not isinstance(decoded, dict):
            raise SwitchError(f"unexpected answer: {reply[:200]!r}")
        return decoded

    def request(self, cmd: str, **params: Any) -> dict[str, Any]:
        """Send a command; raise SwitchError with the switch's text if it was refused."""
        reply = self.exchange(json.dumps({"cmd": cmd, **params}).encode())
        if not reply.get("ok"):
            raise SwitchError(str(reply.get("error")))
        return reply

    def truth(self, since: int = 0) -> list[FrameRecord]:
        records: list[FrameRecord] = []
        while True:
            reply = self.request("truth", since=since, limit=TRUTH_PAGE)
            page = reply["frames"]
            records.extend(FrameRecord.from_json(item) for item in page)
            since = int(reply["next"])
            if len(page) < TRUTH_PAGE:
                return records
