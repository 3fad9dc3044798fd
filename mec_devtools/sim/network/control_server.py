"""The switch's side of the control socket, written so that answering never stalls forwarding.

Everything runs on the switch's single loop. Sockets are non-blocking; answers are queued and
written when the socket is writable. A large answer (ground truth: thousands of records) is a
stream of chunks that the loop serialises a few dozen records at a time, only when the next frame
is not due soon (or when the stream has waited too long), so a test reading ground truth while
traffic flows does not add milliseconds to the frames in flight. Requests of one connection are
answered in order: a connection with a stream in progress waits before its next request.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mec_devtools.sim.network import control

MAX_QUEUED_BYTES = 1 << 20
FLUSH_TIMEOUT_S = 1.0
Reply = dict[str, Any] | Iterator[bytes]
Executor = Callable[[control.Command], Reply]


@dataclass
class _Connection:
    sock: socket.socket
    inbox: bytearray = field(default_factory=bytearray)
    outbox: bytearray = field(default_factory=bytearray)
    stream: Iterator[bytes] | None = None
    closing: bool = False


class ControlServer:
    """Listener and connections of the control socket; `execute` carries out commands."""

    def __init__(self, path: Path, execute: Executor) -> None:
        self._path = path
        self._execute = execute
        self._connections: dict[int, _Connection] = {}
        self.requests = 0
        self.errors = 0
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen(16)
        self._listener.setblocking(False)

    # -- what the loop waits for ---------------------------------------------------------
    def readers(self) -> list[int]:
        return [self._listener.fileno(), *self._connections]

    def writers(self) -> list[int]:
        return [fd for fd, c in self._connections.items() if c.outbox]

    def owns(self, fd: int) -> bool:
        return fd == self._listener.fileno() or fd in self._connections

    def has_work(self) -> bool:
        return any(
            c.stream is not None and len(c.outbox) < MAX_QUEUED_BYTES
            for c in self._connections.values()
        )

    # -- events --------------------------------------------------------------------------
    def on_readable(self, fd: int) -> None:
        if fd == self._listener.fileno():
            self._accept()
            return
        connection = self._connections.get(fd)
        if connection is None:
            return
        try:
            data = connection.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(connection)
            return
        if not data:
            self._drop(connection)
            return
        if connection.closing:
            return
        connection.inbox += data
        self._serve_requests(connection)

    def on_writable(self, fd: int) -> None:
        connection = self._connections.get(fd)
        if connection is None or not connection.outbox:
            return
        try:
            sent = connection.sock.send(connection.outbox)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(connection)
            return
        del connection.outbox[:sent]
        if not connection.outbox and connection.closing:
            self._drop(connection)
        elif connection.stream is None:
            self._serve_requests(connection)

    def work(self) -> None:
        """Serialise one chunk of one pending stream."""
        for connection in self._connections.values():
            if connection.stream is None or len(connection.outbox) >= MAX_QUEUED_BYTES:
                continue
            chunk = next(connection.stream, None)
            if chunk is None:
                connection.stream = None
                self._serve_requests(connection)
            else:
                connection.outbox += chunk
            return

    # -- internals -----------------------------------------------------------------------
    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.setblocking(False)
        self._connections[sock.fileno()] = _Connection(sock)

    def _serve_requests(self, connection: _Connection) -> None:
        while connection.stream is None and not connection.closing:
            end = connection.inbox.find(b"\n")
            if end < 0:
                if len(connection.inbox) > control.MAX_LINE_BYTES:
                    connection.outbox += control.refusal("request line too long")
                    connection.inbox.clear()
                    connection.closing = True
                return
            line = bytes(connection.inbox[:end])
            del connection.inbox[: end + 1]
            if line.strip():
                self._answer(connection, line)

    def _answer(self, connection: _Connection, line: bytes) -> None:
        self.requests += 1
        try:
            reply = self._execute(control.parse_command(line))
        except (control.ControlError, KeyError, ValueError) as error:
            self.errors += 1
            connection.outbox += control.refusal(str(error))
            return
        except Exception as error:  # a bug must not take the switch down
            self.errors += 1
            print(f"switch: internal error on {line[:200]!r}: {error!r}", file=sys.stderr)
            connection.outbox += control.refusal(f"internal error: {error!r}")
            return
        if isinstance(reply, dict):
            connection.outbox += control.answer(reply)
        else:
            connection.stream = reply

    def _drop(self, connection: _Connection) -> None:
        self._connections.pop(connection.sock.fileno(), None)
        connection.sock.close()

    def close(self) -> None:
        """Flush queued answers (the one to "shutdown" among them), then close everything."""
        for connection in list(self._connections.values()):
            if connection.outbox:
                with contextlib.suppress(OSError):
                    connection.sock.settimeout(FLUSH_TIMEOUT_S)
                    connection.sock.sendall(connection.outbox)
            self._drop(connection)
        self._listener.close()
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
