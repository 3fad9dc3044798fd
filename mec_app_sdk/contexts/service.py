"""UserContextService (user_context.proto) over a `ContextStore`, served by `GrpcServing`.

The agent on the app's host is the client. Export streams metadata, the context (or, with
`since_version`, only what changed after it: a delta) in chunks of `chunk_bytes`, and a trailer
with the SHA-256 of what was sent; it fences the user unless `precopy` (pre-copy rounds let the
user be served meanwhile). Import checks the pieces (`mec_app_sdk.contexts.transfer`) before the
store sees anything, stages the copy (or applies the delta to the staged copy), and answers the
SHA-256 of the whole context it holds; `ServeUser` commits it. Every call is
idempotent by handover id (the store remembers what each handover did).

Status codes (the proto names NOT_FOUND and DATA_LOSS; the rest is decided here):

- NOT_FOUND: export or unfence of a user the instance holds no context for.
- ABORTED: another handover holds the user (its fence is in place); retry once it ends.
- FAILED_PRECONDITION: the call does not fit the user's state: an import into an instance that
  already holds the user (release first), a repeated export of a handover that already ended
  (released or unfenced), a release of a user served here outside that handover.
- DATA_LOSS: an import whose bytes do not match its metadata's size or its trailer's digest, or
  a stream that ends without a trailer.
- ALREADY_EXISTS: a release with `only_staged` of a copy its handover already committed here.
- INVALID_ARGUMENT: a missing handover or user id, a stream not opened by a header, chunks out
  of order or over 256 KiB, a version of 0.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import grpc
from mec.agent.v1 import context_pb2, user_context_pb2, user_context_pb2_grpc
from typing_extensions import override

from mec_app_sdk.contexts.store import ContextError, ContextStore, Delta, ErrorKind
from mec_app_sdk.contexts.transfer import (
    DEFAULT_CHUNK_BYTES,
    Assembler,
    TransferError,
    TransferFault,
    check_chunk_bytes,
    chunks,
)
from mec_common.grpc_serving import GrpcServing, ServingOptions

SERVICE_NAME = user_context_pb2.DESCRIPTOR.services_by_name["UserContextService"].full_name

_CODES = {
    ErrorKind.UNKNOWN_USER: grpc.StatusCode.NOT_FOUND,
    ErrorKind.CONFLICT: grpc.StatusCode.ABORTED,
    ErrorKind.PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorKind.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.COMMITTED: grpc.StatusCode.ALREADY_EXISTS,
}
_FAULTS = {
    TransferFault.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    TransferFault.DATA_LOSS: grpc.StatusCode.DATA_LOSS,
}

log = logging.getLogger(__name__)


async def _abort(context: Any, code: grpc.StatusCode, message: str) -> NoReturn:
    log.info("user context call refused (%s): %s", code.name, message)
    await context.abort(code, message)
    raise AssertionError("grpc.aio.ServicerContext.abort returned")  # it always raises


class UserContexts(user_context_pb2_grpc.UserContextServiceServicer):
    """The servicer: one store, contexts exported in chunks of `chunk_bytes`."""

    def __init__(self, store: ContextStore, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
        self.store = store
        self.chunk_bytes = check_chunk_bytes(chunk_bytes)

    @override
    async def ExportContext(
        self, request: user_context_pb2.ExportContextRequest, context: Any
    ) -> AsyncIterator[user_context_pb2.ExportContextResponse]:
        try:
            delta = self.store.export_delta(
                request.handover_id,
                request.user_id,
                request.since_version,
                fence=not request.precopy,
                redirect=request.redirect_endpoint,
            )
        except ContextError as error:
            await _abort(context, _CODES[error.kind], str(error))
        response = user_context_pb2.ExportContextResponse
        yield response(
            metadata=context_pb2.ContextMetadata(
                user_id=delta.user_id,
                content_type=self.store.content_type,
                size_bytes=len(delta.tail),
                version=delta.version,
                base_version=delta.base_version,
                delta_offset=delta.offset,
                delta_suffix=delta.suffix,
            )
        )
        for offset, data in chunks(delta.tail, self.chunk_bytes):
            yield response(chunk=context_pb2.ContextChunk(offset=offset, data=data))
        yield response(
            trailer=context_pb2.ContextTrailer(sha256=hashlib.sha256(delta.tail).digest())
        )

    @override
    async def ImportContext(
        self,
        request_iterator: AsyncIterator[user_context_pb2.ImportContextRequest],
        context: Any,
    ) -> user_context_pb2.ImportContextResponse:
        handover_id = ""
        assembler: Assembler | None = None
        try:
            async for message in request_iterator:
                part = message.WhichOneof("part")
                if assembler is None:
                    if part != "header":
                        await _abort(
                            context,
                            grpc.StatusCode.INVALID_ARGUMENT,
                            "an import stream starts with its header",
                        )
                    handover_id = message.header.handover_id
                    meta = message.header.metadata
                    base_version, delta_offset = meta.base_version, meta.delta_offset
                    delta_suffix = meta.delta_suffix
                    assembler = Assembler(
                        meta.user_id, meta.size_bytes, meta.version, meta.content_type
                    )
                elif part == "chunk":
                    assembler.chunk(message.chunk.offset, message.chunk.data)
                elif part == "trailer":
                    assembler.trailer(message.trailer.sha256)
                else:
                    await _abort(
                        context, grpc.StatusCode.INVALID_ARGUMENT, f"an unexpected {part} message"
                    )
            if assembler is None:
                await _abort(
                    context, grpc.StatusCode.INVALID_ARGUMENT, "an import stream without a header"
                )
            snapshot = assembler.finish()
            delta = Delta(
                snapshot.user_id,
                base_version,
                snapshot.version,
                delta_offset,
                snapshot.data,
                delta_suffix,
            )
            version = self.store.import_delta(handover_id, delta, snapshot.content_type)
        except TransferError as error:
            await _abort(context, _FAULTS[error.fault], str(error))
        except ContextError as error:
            await _abort(context, _CODES[error.kind], str(error))
        held = self.store.get(snapshot.user_id)
        digest = held.sha256 if held is not None else b""
        return user_context_pb2.ImportContextResponse(version=version, context_sha256=digest)

    @override
    async def ReleaseContext(
        self, request: user_context_pb2.ReleaseContextRequest, context: Any
    ) -> user_context_pb2.ReleaseContextResponse:
        try:
            released = self.store.release(
                request.handover_id,
                request.user_id,
                request.redirect_endpoint or None,
                only_staged=request.only_staged,
            )
        except ContextError as error:
            await _abort(context, _CODES[error.kind], str(error))
        return user_context_pb2.ReleaseContextResponse(released=released)

    @override
    async def ServeUser(
        self, request: user_context_pb2.ServeUserRequest, context: Any
    ) -> user_context_pb2.ServeUserResponse:
        try:
            version = self.store.serve(request.user_id, request.expected_version)
        except ContextError as error:
            await _abort(context, _CODES[error.kind], str(error))
        return user_context_pb2.ServeUserResponse(version=version)

    @override
    async def StopServingUser(
        self, request: user_context_pb2.StopServingUserRequest, context: Any
    ) -> user_context_pb2.StopServingUserResponse:
        try:
            released = self.store.stop_serving(request.user_id, request.redirect_endpoint or None)
        except ContextError as error:
            await _abort(context, _CODES[error.kind], str(error))
        return user_context_pb2.StopServingUserResponse(released=released)

    @override
    async def UnfenceContext(
        self, request: user_context_pb2.UnfenceContextRequest, context: Any
    ) -> user_context_pb2.UnfenceContextResponse:
        try:
            version = self.store.unfence(request.handover_id, request.user_id)
        except ContextError as error:
            await _abort(context, _CODES[error.kind], str(error))
        return user_context_pb2.UnfenceContextResponse(version=version)


def context_serving(
    store: ContextStore, options: ServingOptions, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> GrpcServing:
    """A `GrpcServing` (not started) for UserContextService over the store."""
    servicer = UserContexts(store, chunk_bytes)

    def add(server: grpc.aio.Server) -> None:
        user_context_pb2_grpc.add_UserContextServiceServicer_to_server(servicer, server)

    return GrpcServing(options, (SERVICE_NAME,), add)
