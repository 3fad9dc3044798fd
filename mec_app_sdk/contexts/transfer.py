"""A context in pieces and back (context.proto's rules), without I/O.

An export is metadata, chunks of at most `MAX_CHUNK_BYTES` in order without gaps, and a trailer
with the SHA-256 of the whole. `Assembler` takes the pieces of an import in that order and checks
them as they come: a chunk at the wrong offset or larger than allowed is `INVALID`, more bytes
than the metadata announced, a missing trailer, a size or digest that does not match is
`DATA_LOSS` (the proto's answer for a truncated or corrupted transfer). Nothing is imported
until the whole context has been checked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from enum import Enum

from mec_app_sdk.contexts.store import Snapshot

MAX_CHUNK_BYTES = 262_144
"""The largest chunk context.proto allows."""
DEFAULT_CHUNK_BYTES = 65_536


class TransferFault(Enum):
    INVALID = "invalid"
    DATA_LOSS = "data-loss"


class TransferError(Exception):
    def __init__(self, fault: TransferFault, message: str) -> None:
        super().__init__(message)
        self.fault = fault


def check_chunk_bytes(chunk_bytes: int) -> int:
    if not 1 <= chunk_bytes <= MAX_CHUNK_BYTES:
        raise ValueError(f"a chunk is 1 to {MAX_CHUNK_BYTES} bytes, not {chunk_bytes}")
    return chunk_bytes


def chunks(data: bytes, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[tuple[int, bytes]]:
    """(offset, piece) covering data in order; no chunk for empty data."""
    check_chunk_bytes(chunk_bytes)
    for offset in range(0, len(data), chunk_bytes):
        yield offset, data[offset : offset + chunk_bytes]


class Assembler:
    """The bytes of one import, checked piece by piece (see the module)."""

    def __init__(self, user_id: str, size: int, version: int, content_type: str) -> None:
        self.user_id = user_id
        self.size = size
        self.version = version
        self.content_type = content_type
        self._parts: list[bytes] = []
        self._received = 0
        self._digest = hashlib.sha256()
        self.snapshot: Snapshot | None = None

    def chunk(self, offset: int, data: bytes) -> None:
        if self.snapshot is not None:
            raise TransferError(TransferFault.INVALID, "a chunk after the trailer")
        if offset != self._received:
            raise TransferError(
                TransferFault.INVALID,
                f"a chunk at offset {offset}, expected {self._received} (in order, no gaps)",
            )
        if len(data) > MAX_CHUNK_BYTES:
            raise TransferError(
                TransferFault.INVALID, f"a chunk of {len(data)} bytes (at most {MAX_CHUNK_BYTES})"
            )
        if self._received + len(data) > self.size:
            raise TransferError(
                TransferFault.DATA_LOSS,
                f"more than the {self.size} bytes the metadata announced",
            )
        self._parts.append(data)
        self._received += len(data)
        self._digest.update(data)

    def trailer(self, sha256: bytes) -> Snapshot:
        if self.snapshot is not None:
            raise TransferError(TransferFault.INVALID, "a second trailer")
        if self._received != self.size:
            raise TransferError(
                TransferFault.DATA_LOSS,
                f"received {self._received} bytes, the metadata announced {self.size}",
            )
        if sha256 != self._digest.digest():
            raise TransferError(
                TransferFault.DATA_LOSS, "the context's SHA-256 does not match the trailer"
            )
        self.snapshot = Snapshot(
            self.user_id, b"".join(self._parts), self.version, self.content_type
        )
        return self.snapshot

    def finish(self) -> Snapshot:
        """The checked context, once the stream ended; DATA_LOSS without a trailer."""
        if self.snapshot is None:
            raise TransferError(TransferFault.DATA_LOSS, "the stream ended without a trailer")
        return self.snapshot
