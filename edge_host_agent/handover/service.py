"""The agent's side of a handover: HandoverService, ContextTransferService, and the watchdog.

The orchestrator prepares both agents, asks the source to transfer, then commits the target and
the source (or aborts). The source agent moves the user's context with pre-copy: rounds of
unfenced copies while the source still serves the user (each round only what changed since the
last), then one fenced round with the rest, each streamed to the target agent, which imports it
into its instance as a staged copy. Nothing is served twice: the source is fenced before the
last round, and the target serves only once committed.

Who owns the user's context is decided in the target instance: `ServeUser(expected_version)`
commits the staged copy there (from then on the target owns it), and a release with
`only_staged` drops it only while it is not committed. So every agent can find out the truth
after any crash: a target agent that lost track asks its instance; a source agent whose
handover timed out asks the target agent, which commits or aborts, and the source then releases
(target committed) or unfences (target aborted) — never both owners, never none. Every state is
journalled before the agent acts on it (`HandoverJournal`), and replayed after a restart.

Every command is idempotent by handover id: a repeat answers the state reached, a command the
state contradicts answers FAILED_PRECONDITION naming the state.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from mec.agent.v1 import (
    context_pb2,
    context_transfer_pb2,
    context_transfer_pb2_grpc,
    handover_pb2,
    handover_pb2_grpc,
    user_context_pb2,
    user_context_pb2_grpc,
)

from edge_host_agent.handover.journal import HandoverJournal
from edge_host_agent.handover.records import (
    HandoverRecord,
    InstanceSide,
    Role,
    State,
    TransitionError,
)
from edge_host_agent.mp1.registry import AppInstance
from edge_host_agent.sessions import HostInstances
from edge_host_agent.settings import AgentSettings
from mec_common.patterns import HOST_PORT, IDENTIFIER

log = logging.getLogger(__name__)

MAX_TIMEOUT_S = 600.0
MAX_RECORD_BYTES = 4096
CALL_TIMEOUT_S = 10.0
TRANSFER_TIMEOUT_S = 120.0
WATCH_PERIOD_S = 0.5
CHUNK_BYTES = 262_144

STATES = {
    State.PREPARED: handover_pb2.HANDOVER_STATE_PREPARED,
    State.TRANSFERRING: handover_pb2.HANDOVER_STATE_TRANSFERRING,
    State.TRANSFERRED: handover_pb2.HANDOVER_STATE_TRANSFERRED,
    State.COMMITTED: handover_pb2.HANDOVER_STATE_COMMITTED,
    State.ABORTED: handover_pb2.HANDOVER_STATE_ABORTED,
}
_ROLES = {
    handover_pb2.HANDOVER_ROLE_SOURCE: Role.SOURCE,
    handover_pb2.HANDOVER_ROLE_TARGET: Role.TARGET,
}
_IDENTIFIER = re.compile(IDENTIFIER)
_HOST_PORT = re.compile(HOST_PORT)


class RefusedError(Exception):
    """A command refused with a gRPC status and a message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Piece:
    """One exported round: its metadata, its bytes, their digest."""

    metadata: context_pb2.ContextMetadata
    data: bytes
    sha256: bytes


def _check_id(value: str, field: str) -> None:
    if not value or len(value) > 128 or not _IDENTIFIER.match(value):
        raise RefusedError(grpc.StatusCode.INVALID_ARGUMENT, f"{field} must be an identifier")


def _side(ref: handover_pb2.AppInstanceRef, field: str, need_contexts: bool) -> InstanceSide:
    if not ref.host_name:
        raise RefusedError(grpc.StatusCode.INVALID_ARGUMENT, f"{field}.host_name is required")
    _check_id(ref.app_instance_id, f"{field}.app_instance_id")
    if need_contexts and not _HOST_PORT.match(ref.user_context_endpoint or ""):
        raise RefusedError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"{field}.user_context_endpoint must be host:port (the instance's UserContextService)",
        )
    if len(ref.endpoint) > 2048:
        raise RefusedError(grpc.StatusCode.INVALID_ARGUMENT, f"{field}.endpoint is too long")
    return InstanceSide(ref.host_name, ref.app_instance_id, ref.user_context_endpoint, ref.endpoint)


class HandoverAgent:
    """The handovers of this agent: one owner of their records (see the module)."""

    def __init__(
        self,
        settings: AgentSettings,
        host: HostInstances | None,
        journal: HandoverJournal | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._host = host
        self._journal = journal or HandoverJournal(settings.state_dir)
        self._clock = clock
        self._monotonic = monotonic
        self.records: dict[str, HandoverRecord] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._instances: dict[str, grpc.aio.Channel] = {}
        self._peers: dict[str, grpc.aio.Channel] = {}
        self._watchdog: asyncio.Task[None] | None = None
        if host is not None:
            host.on_registered(self._registered)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Replay the journal, finish what a previous run left half done, watch deadlines."""
        self.records = self._journal.load()
        for record in list(self.records.values()):
            if record.state is State.COMMITTED:
                await self._apply_commit(record, replay=True)
            elif record.state is State.ABORTED:
                await self._apply_abort(record, replay=True)
        open_ = [r.handover_id for r in self.records.values() if not r.ended]
        if open_:
            log.info("%d handover(s) in flight from before the restart", len(open_))
        self._watchdog = asyncio.create_task(self._watch(), name="handover-watchdog")

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        for channel in [*self._instances.values(), *self._peers.values()]:
            await channel.close()
        self._journal.close()

    async def _registered(self, instance: AppInstance) -> None:
        """A target instance (re)registered: users of handovers aborted here go back.

        A restarted instance knows nothing of a handover that was aborted while it was down or
        hung; a device the source's fence had sent to it is told to go back to the source.
        """
        endpoint = instance.user_context_endpoint
        if not endpoint:
            return
        for record in list(self.records.values()):
            if (
                record.role is not Role.TARGET
                or record.target.app_instance_id != instance.app_instance_id
                or record.state is not State.ABORTED
            ):
                continue
            try:
                await self._instance(endpoint).ReleaseContext(
                    user_context_pb2.ReleaseContextRequest(
                        handover_id=record.handover_id,
                        user_id=record.user_id,
                        redirect_endpoint=record.source.endpoint,
                        only_staged=True,
                    ),
                    timeout=CALL_TIMEOUT_S,
                    wait_for_ready=True,  # the channel to its last process may be reconnecting
                )
            except grpc.aio.AioRpcError as error:
                log.warning(
                    "%s: the restarted instance was not told: %s", record.handover_id, error
                )

    def _lock(self, handover_id: str) -> asyncio.Lock:
        return self._locks.setdefault(handover_id, asyncio.Lock())

    def _save(self, record: HandoverRecord) -> HandoverRecord:
        self._journal.write(record)
        self.records[record.handover_id] = record
        return record

    def _move(self, record: HandoverRecord, state: State, reason: str = "") -> HandoverRecord:
        try:
            return self._save(record.moved_to(state, reason))
        except TransitionError as error:
            raise RefusedError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"handover {record.handover_id} is {record.state}: {error}",
            ) from None

    # -- channels ---------------------------------------------------------------------------

    def _instance(self, endpoint: str) -> user_context_pb2_grpc.UserContextServiceStub:
        channel = self._instances.get(endpoint)
        if channel is None:  # the instances are on this host: plaintext, as the SDK serves
            channel = grpc.aio.insecure_channel(
                endpoint, options=[("grpc.max_receive_message_length", 4 * CHUNK_BYTES)]
            )
            self._instances[endpoint] = channel
        return user_context_pb2_grpc.UserContextServiceStub(channel)

    def _peer(self, endpoint: str) -> grpc.aio.Channel:
        channel = self._peers.get(endpoint)
        if channel is None:
            options: list[tuple[str, Any]] = [
                ("grpc.max_send_message_length", 4 * CHUNK_BYTES),
                ("grpc.max_receive_message_length", 4 * CHUNK_BYTES),
            ]
            files = self._settings.tls_files()
            if files is None:
                channel = grpc.aio.insecure_channel(endpoint, options=options)
            else:
                ca, cert, key = files.read()
                if self._settings.peer_server_name:
                    options.append(
                        ("grpc.ssl_target_name_override", self._settings.peer_server_name)
                    )
                credentials = grpc.ssl_channel_credentials(ca, key, cert)
                channel = grpc.aio.secure_channel(endpoint, credentials, options=options)
            self._peers[endpoint] = channel
        return channel

    # -- commands ---------------------------------------------------------------------------

    async def prepare(self, request: handover_pb2.PrepareHandoverRequest) -> State:
        _check_id(request.handover_id, "handover_id")
        _check_id(request.user_id, "user_id")
        role = _ROLES.get(request.role)
        if role is None:
            raise RefusedError(grpc.StatusCode.INVALID_ARGUMENT, "role must be SOURCE or TARGET")
        mode = request.context_transfer
        if mode == handover_pb2.CONTEXT_TRANSFER_MODE_UNSPECIFIED:
            raise RefusedError(grpc.StatusCode.INVALID_ARGUMENT, "context_transfer is required")
        moves_context = mode == handover_pb2.CONTEXT_TRANSFER_MODE_MEC_ASSISTED
        source = _side(request.source, "source", moves_context)
        target = _side(request.target, "target", moves_context)
        timeout = request.timeout.seconds + request.timeout.nanos / 1e9
        if not 0 < timeout <= MAX_TIMEOUT_S:
            raise RefusedError(
                grpc.StatusCode.INVALID_ARGUMENT, f"timeout must be in (0, {MAX_TIMEOUT_S:g}] s"
            )
        if len(request.session_record) > MAX_RECORD_BYTES:
            raise RefusedError(
                grpc.StatusCode.INVALID_ARGUMENT, f"session_record is over {MAX_RECORD_BYTES} bytes"
            )
        if (
            role is Role.SOURCE
            and moves_context
            and not _HOST_PORT.match(request.target_agent_endpoint)
        ):
            raise RefusedError(
                grpc.StatusCode.INVALID_ARGUMENT, "target_agent_endpoint must be host:port"
            )
        async with self._lock(request.handover_id):
            known = self.records.get(request.handover_id)
            if known is not None:
                if (known.role, known.user_id) != (role, request.user_id):
                    raise RefusedError(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"handover {request.handover_id} is known here as another "
                        f"({known.role} of {known.user_id})",
                    )
                return known.state
            ours = source if role is Role.SOURCE else target
            if self._host is not None and self._host.registry.find(ours.app_instance_id) is None:
                raise RefusedError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"no app instance {ours.app_instance_id} is registered on this host",
                )
            record = HandoverRecord(
                handover_id=request.handover_id,
                role=role,
                user_id=request.user_id,
                source=source,
                target=target,
                target_agent_endpoint=request.target_agent_endpoint,
                context_transfer=int(mode),
                deadline_s=self._clock() + timeout,
                session_record=bytes(request.session_record),
            )
            self._save(record)
            log.info("handover %s prepared (%s of %s)", record.handover_id, role, record.user_id)
            return record.state

    def _get(self, handover_id: str) -> HandoverRecord:
        record = self.records.get(handover_id)
        if record is None:
            raise RefusedError(
                grpc.StatusCode.NOT_FOUND, f"no handover {handover_id} on this agent"
            )
        return record

    async def transfer(
        self, request: handover_pb2.TransferContextRequest
    ) -> handover_pb2.TransferContextResponse:
        _check_id(request.handover_id, "handover_id")
        async with self._lock(request.handover_id):
            record = self._get(request.handover_id)
            if record.role is not Role.SOURCE:
                raise RefusedError(
                    grpc.StatusCode.FAILED_PRECONDITION, "TransferContext goes to the source agent"
                )
            if record.state in (State.TRANSFERRED, State.COMMITTED):
                return self._transferred(record)
            record = self._move(record, State.TRANSFERRING)
            try:
                if request.precopy_only:
                    record = self._save(await self._precopy(record))
                    return self._transferred(record)
                record = await self._copy(record)
            except grpc.aio.AioRpcError as error:
                raise RefusedError(
                    grpc.StatusCode.UNAVAILABLE
                    if error.code()
                    in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
                    else grpc.StatusCode.ABORTED,
                    f"the transfer failed: {error.code().name}: {error.details()}",
                ) from None
            record = self._move(record, State.TRANSFERRED)
            return self._transferred(record)

    def _transferred(self, record: HandoverRecord) -> handover_pb2.TransferContextResponse:
        stats = record.stats
        fenced = Duration()
        fenced.FromNanoseconds(int(stats.get("fenced_s", 0.0) * 1e9))
        return handover_pb2.TransferContextResponse(
            state=STATES[record.state],
            context_bytes=int(stats.get("bytes", 0)),
            context_sha256=b"",
            fenced_for=fenced,
            precopy_rounds=int(stats.get("rounds", 0)),
            fenced_bytes=int(stats.get("fenced_bytes", 0)),
            version=int(stats.get("version", 0)),
        )

    async def _export(self, record: HandoverRecord, since: int, precopy: bool) -> Piece:
        stub = self._instance(record.source.user_context_endpoint)
        request = user_context_pb2.ExportContextRequest(
            handover_id=record.handover_id,
            user_id=record.user_id,
            redirect_endpoint=record.target.endpoint,
            precopy=precopy,
            since_version=since,
        )
        metadata: context_pb2.ContextMetadata | None = None
        parts: list[bytes] = []
        trailer = b""
        async for message in stub.ExportContext(request, timeout=TRANSFER_TIMEOUT_S):
            part = message.WhichOneof("part")
            if part == "metadata":
                metadata = message.metadata
            elif part == "chunk":
                parts.append(message.chunk.data)
            elif part == "trailer":
                trailer = message.trailer.sha256
        if metadata is None:
            raise RefusedError(grpc.StatusCode.DATA_LOSS, "the instance's export had no metadata")
        data = b"".join(parts)
        if hashlib.sha256(data).digest() != trailer:
            raise RefusedError(
                grpc.StatusCode.DATA_LOSS, "the instance's export does not match its trailer"
            )
        return Piece(metadata, data, trailer)

    async def _send(
        self, record: HandoverRecord, piece: Piece
    ) -> context_transfer_pb2.SendContextResponse:
        stub = context_transfer_pb2_grpc.ContextTransferServiceStub(
            self._peer(record.target_agent_endpoint)
        )

        async def parts() -> AsyncIterator[context_transfer_pb2.SendContextRequest]:
            yield context_transfer_pb2.SendContextRequest(
                header=context_transfer_pb2.ContextTransferHeader(
                    handover_id=record.handover_id,
                    source_host_name=self._settings.host_name,
                    metadata=piece.metadata,
                )
            )
            for offset in range(0, len(piece.data), CHUNK_BYTES):
                yield context_transfer_pb2.SendContextRequest(
                    chunk=context_pb2.ContextChunk(
                        offset=offset, data=piece.data[offset : offset + CHUNK_BYTES]
                    )
                )
            yield context_transfer_pb2.SendContextRequest(
                trailer=context_pb2.ContextTrailer(sha256=piece.sha256)
            )

        answer: context_transfer_pb2.SendContextResponse = await stub.SendContext(
            parts(), timeout=TRANSFER_TIMEOUT_S
        )
        if answer.version != piece.metadata.version:
            raise RefusedError(
                grpc.StatusCode.DATA_LOSS,
                f"the target holds version {answer.version}, the source sent "
                f"{piece.metadata.version}",
            )
        return answer

    async def _precopy(self, record: HandoverRecord) -> HandoverRecord:
        """Copy rounds while the source serves, from where an earlier call stopped."""
        since = int(record.stats.get("since", 0))
        rounds, total = int(record.stats.get("rounds", 0)), int(record.stats.get("bytes", 0))
        limit = rounds + self._settings.precopy_max_rounds
        while rounds < limit:
            piece = await self._export(record, since, precopy=True)
            await self._send(record, piece)
            rounds += 1
            total += len(piece.data)
            since = piece.metadata.version
            if len(piece.data) <= self._settings.precopy_threshold_bytes:
                break
        return record.with_stats(since=since, rounds=rounds, bytes=total)

    async def _copy(self, record: HandoverRecord) -> HandoverRecord:
        """Pre-copy rounds while the source serves, then the fenced rest (module docstring)."""
        record = await self._precopy(record)
        since, rounds = int(record.stats["since"]), int(record.stats["rounds"])
        total = int(record.stats["bytes"])
        fenced_at = self._monotonic()
        piece = await self._export(record, since, precopy=False)
        answer = await self._send(record, piece)
        fenced_s = self._monotonic() - fenced_at
        total += len(piece.data)
        log.info(
            "handover %s: %d bytes in %d pre-copy round(s), then %d bytes fenced for %.1f ms",
            record.handover_id,
            total - len(piece.data),
            rounds,
            len(piece.data),
            fenced_s * 1000,
        )
        return record.with_stats(
            bytes=total,
            rounds=rounds,
            since=piece.metadata.version,
            fenced_bytes=len(piece.data),
            fenced_s=fenced_s,
            version=answer.version,
        )

    async def receive(
        self, messages: AsyncIterator[context_transfer_pb2.SendContextRequest]
    ) -> context_transfer_pb2.SendContextResponse:
        """A piece of a context from the source agent, into the target instance (staged).

        Under the handover's lock, so an abort (the watchdog's, or the source's) waits for an
        import in flight and then drops what it staged; the import is bounded by the
        handover's deadline, so a hung instance holds the lock no longer than that.
        """
        first = await anext(aiter(messages), None)
        if first is None or first.WhichOneof("part") != "header":
            raise RefusedError(
                grpc.StatusCode.INVALID_ARGUMENT, "a transfer starts with its header"
            )
        header = first.header
        _check_id(header.handover_id, "header.handover_id")
        async with self._lock(header.handover_id):
            record = self._get(header.handover_id)
            if record.role is not Role.TARGET:
                raise RefusedError(
                    grpc.StatusCode.FAILED_PRECONDITION, "this agent is not the target"
                )
            if header.metadata.user_id != record.user_id:
                raise RefusedError(
                    grpc.StatusCode.INVALID_ARGUMENT, "the context is another user's"
                )
            if record.ended:
                raise RefusedError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"handover {record.handover_id} is {record.state}",
                )
            if record.state is State.PREPARED:
                record = self._move(record, State.TRANSFERRING)
            if header.metadata.base_version == 0:
                await self._clear_orphans(record)
            return await self._import(record, header, messages)

    async def _import(
        self,
        record: HandoverRecord,
        header: context_transfer_pb2.ContextTransferHeader,
        messages: AsyncIterator[context_transfer_pb2.SendContextRequest],
    ) -> context_transfer_pb2.SendContextResponse:
        received = 0
        digest = hashlib.sha256()

        async def relay() -> AsyncIterator[user_context_pb2.ImportContextRequest]:
            nonlocal received
            yield user_context_pb2.ImportContextRequest(
                header=user_context_pb2.ImportContextHeader(
                    handover_id=record.handover_id, metadata=header.metadata
                )
            )
            async for message in messages:
                part = message.WhichOneof("part")
                if part == "chunk":
                    received += len(message.chunk.data)
                    digest.update(message.chunk.data)
                    yield user_context_pb2.ImportContextRequest(chunk=message.chunk)
                elif part == "trailer":
                    yield user_context_pb2.ImportContextRequest(trailer=message.trailer)

        stub = self._instance(record.target.user_context_endpoint)
        left = max(record.deadline_s - self._clock(), 0.5)
        answer = await stub.ImportContext(relay(), timeout=min(left, TRANSFER_TIMEOUT_S))
        current = self.records[record.handover_id]
        self._save(
            current.with_stats(
                version=answer.version, bytes=current.stats.get("bytes", 0) + received
            )
        )
        return context_transfer_pb2.SendContextResponse(
            handover_id=record.handover_id,
            received_bytes=received,
            sha256=digest.digest(),
            version=answer.version,
            context_sha256=answer.context_sha256,
        )

    async def _clear_orphans(self, record: HandoverRecord) -> None:
        """Drop copies of the user that earlier, aborted handovers may have left staged here.

        An instance that hung while a handover was aborted may have staged its copy after the
        abort's release; the next handover to it would be refused by that copy.
        """
        for old in list(self.records.values()):
            if (
                old.handover_id == record.handover_id
                or old.role is not Role.TARGET
                or old.user_id != record.user_id
                or old.state is not State.ABORTED
            ):
                continue
            try:
                await self._instance(record.target.user_context_endpoint).ReleaseContext(
                    user_context_pb2.ReleaseContextRequest(
                        handover_id=old.handover_id,
                        user_id=old.user_id,
                        redirect_endpoint=old.source.endpoint,
                        only_staged=True,
                    ),
                    timeout=CALL_TIMEOUT_S,
                )
            except grpc.aio.AioRpcError as error:
                log.debug("no orphan of %s dropped: %s", old.handover_id, error.code().name)

    async def commit(self, request: handover_pb2.CommitHandoverRequest) -> State:
        _check_id(request.handover_id, "handover_id")
        async with self._lock(request.handover_id):
            record = self._get(request.handover_id)
            if record.state is State.COMMITTED:
                return record.state
            if record.state is State.ABORTED:
                raise RefusedError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"handover {record.handover_id} is ABORTED ({record.reason})",
                )
            if record.role is Role.TARGET:
                await self._commit_target(record, request.version)
            else:
                record = self._move(record, State.COMMITTED)
                await self._apply_commit(record)
            return self.records[record.handover_id].state

    async def _commit_target(self, record: HandoverRecord, version: int) -> None:
        """The commit point: the target instance serves the copy (if it holds that version)."""
        if record.context_transfer == handover_pb2.CONTEXT_TRANSFER_MODE_MEC_ASSISTED:
            stub = self._instance(record.target.user_context_endpoint)
            try:
                await stub.ServeUser(
                    user_context_pb2.ServeUserRequest(
                        user_id=record.user_id, expected_version=version
                    ),
                    timeout=CALL_TIMEOUT_S,
                )
            except grpc.aio.AioRpcError as error:
                raise RefusedError(
                    grpc.StatusCode.FAILED_PRECONDITION
                    if error.code() == grpc.StatusCode.FAILED_PRECONDITION
                    else grpc.StatusCode.UNAVAILABLE,
                    f"the target instance did not commit: {error.details()}",
                ) from None
        record = self._move(record, State.COMMITTED)
        await self._apply_commit(record)

    async def _apply_commit(self, record: HandoverRecord, replay: bool = False) -> None:
        """After COMMITTED is journalled: the source releases, the target keeps the session."""
        try:
            if record.role is Role.SOURCE:
                if record.context_transfer == handover_pb2.CONTEXT_TRANSFER_MODE_MEC_ASSISTED:
                    await self._instance(record.source.user_context_endpoint).ReleaseContext(
                        user_context_pb2.ReleaseContextRequest(
                            handover_id=record.handover_id, user_id=record.user_id
                        ),
                        timeout=CALL_TIMEOUT_S,
                    )
                if self._host is not None:
                    self._host.sessions.release(record.source.app_instance_id, record.user_id)
            else:
                if replay and record.context_transfer == (
                    handover_pb2.CONTEXT_TRANSFER_MODE_MEC_ASSISTED
                ):
                    await self._instance(record.target.user_context_endpoint).ServeUser(
                        user_context_pb2.ServeUserRequest(user_id=record.user_id),
                        timeout=CALL_TIMEOUT_S,
                    )
                if self._host is not None and self._host.registry.find(
                    record.target.app_instance_id
                ):
                    self._host.sessions.admit(
                        record.target.app_instance_id, record.user_id, record.session_record
                    )
        except grpc.aio.AioRpcError as error:
            # Journalled: the next start (or the watchdog) applies it again.
            log.warning("handover %s committed; applying it failed: %s", record.handover_id, error)

    async def abort(self, request: handover_pb2.AbortHandoverRequest) -> State:
        _check_id(request.handover_id, "handover_id")
        async with self._lock(request.handover_id):
            record = self.records.get(request.handover_id)
            if record is None:
                return State.ABORTED  # nothing here to undo
            await self._abort_record(record, request.reason or "aborted by the orchestrator")
            return self.records[record.handover_id].state

    async def _abort_record(self, record: HandoverRecord, reason: str) -> None:
        if record.state is State.ABORTED:
            return
        if record.state is State.COMMITTED:
            raise RefusedError(
                grpc.StatusCode.FAILED_PRECONDITION, f"handover {record.handover_id} is COMMITTED"
            )
        if record.role is Role.TARGET:
            if record.context_transfer == handover_pb2.CONTEXT_TRANSFER_MODE_MEC_ASSISTED:
                try:
                    await self._instance(record.target.user_context_endpoint).ReleaseContext(
                        user_context_pb2.ReleaseContextRequest(
                            handover_id=record.handover_id,
                            user_id=record.user_id,
                            redirect_endpoint=record.source.endpoint,
                            only_staged=True,
                        ),
                        timeout=CALL_TIMEOUT_S,
                    )
                except grpc.aio.AioRpcError as error:
                    if error.code() == grpc.StatusCode.ALREADY_EXISTS:
                        # The instance committed it (this agent crashed before journalling):
                        # the handover is committed, and stays so.
                        committed = self._move(record, State.COMMITTED)
                        await self._apply_commit(committed)
                        raise RefusedError(
                            grpc.StatusCode.FAILED_PRECONDITION,
                            f"handover {record.handover_id} is COMMITTED (the instance serves it)",
                        ) from None
                    # FAILED_PRECONDITION: the instance holds no copy of this handover (another
                    # handover's, or the user served there anyway): nothing of ours to drop.
                    # UNAVAILABLE, DEADLINE_EXCEEDED: the instance is gone or hung; a copy it
                    # may still stage is dropped by the next handover to it (`_clear_orphans`).
                    log.info(
                        "handover %s: the target instance did not drop a copy (%s): aborted",
                        record.handover_id,
                        error.code().name,
                    )
            self._move(record, State.ABORTED, reason)
            return
        # The source gives the user back only once its target cannot commit any more.
        if record.state in (State.TRANSFERRING, State.TRANSFERRED):
            target_state = await self._abort_peer(record, reason)
            if target_state is State.COMMITTED:
                committed = self._move(record, State.COMMITTED)
                await self._apply_commit(committed)
                raise RefusedError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"handover {record.handover_id} is COMMITTED (the target committed)",
                )
        aborted = self._move(record, State.ABORTED, reason)
        await self._apply_abort(aborted)

    async def _abort_peer(self, record: HandoverRecord, reason: str) -> State:
        """Abort the target first; its answer says whether it had committed."""
        stub = handover_pb2_grpc.HandoverServiceStub(self._peer(record.target_agent_endpoint))
        try:
            await stub.AbortHandover(
                handover_pb2.AbortHandoverRequest(handover_id=record.handover_id, reason=reason),
                timeout=CALL_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.FAILED_PRECONDITION and "COMMITTED" in (
                error.details() or ""
            ):
                return State.COMMITTED
            raise RefusedError(
                grpc.StatusCode.UNAVAILABLE,
                f"the target agent did not abort ({error.code().name}): the user stays fenced",
            ) from None
        return State.ABORTED

    async def _apply_abort(self, record: HandoverRecord, replay: bool = False) -> None:
        """After ABORTED is journalled at the source: the user is served there again."""
        if record.role is not Role.SOURCE:
            return
        if record.context_transfer != handover_pb2.CONTEXT_TRANSFER_MODE_MEC_ASSISTED:
            return
        try:
            await self._instance(record.source.user_context_endpoint).UnfenceContext(
                user_context_pb2.UnfenceContextRequest(
                    handover_id=record.handover_id, user_id=record.user_id
                ),
                timeout=CALL_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:  # never fenced: nothing to lift
                log.warning("handover %s aborted; unfencing failed: %s", record.handover_id, error)

    def state_of(self, handover_id: str) -> HandoverRecord:
        _check_id(handover_id, "handover_id")
        return self._get(handover_id)

    # -- the watchdog -----------------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_PERIOD_S)
            now = self._clock()
            for record in list(self.records.values()):
                if record.ended or record.deadline_s > now:
                    continue
                lock = self._lock(record.handover_id)
                if lock.locked():
                    continue
                async with lock:
                    current = self.records[record.handover_id]
                    if current.ended:
                        continue
                    try:
                        await self._abort_record(current, "timed out on the agent")
                        log.warning("handover %s timed out: aborted", current.handover_id)
                    except RefusedError as refused:
                        log.info("handover %s timed out: %s", current.handover_id, refused.message)
