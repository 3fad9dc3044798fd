"""The agent's gRPC servicers of a handover: HandoverService and ContextTransferService.

Thin: each RPC calls the `HandoverAgent` (handover/service.py), which owns the records, and
turns its `RefusedError` into the gRPC status and message it names.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import grpc
from mec.agent.v1 import (
    context_transfer_pb2,
    context_transfer_pb2_grpc,
    handover_pb2,
    handover_pb2_grpc,
)
from typing_extensions import override

from edge_host_agent.handover.records import Role
from edge_host_agent.handover.service import STATES, HandoverAgent, RefusedError

log = logging.getLogger(__name__)


async def abort(context: Any, refused: RefusedError) -> NoReturn:
    log.info("handover command refused (%s): %s", refused.code.name, refused.message)
    await context.abort(refused.code, refused.message)
    raise AssertionError("grpc.aio.ServicerContext.abort returned")


class HandoverCommands(handover_pb2_grpc.HandoverServiceServicer):
    """HandoverService over a `HandoverAgent`."""

    def __init__(self, agent: HandoverAgent) -> None:
        self._agent = agent

    @override
    async def PrepareHandover(
        self, request: handover_pb2.PrepareHandoverRequest, context: Any
    ) -> handover_pb2.PrepareHandoverResponse:
        try:
            state = await self._agent.prepare(request)
        except RefusedError as refused:
            await abort(context, refused)
        return handover_pb2.PrepareHandoverResponse(state=STATES[state])

    @override
    async def TransferContext(
        self, request: handover_pb2.TransferContextRequest, context: Any
    ) -> handover_pb2.TransferContextResponse:
        try:
            return await self._agent.transfer(request)
        except RefusedError as refused:
            await abort(context, refused)

    @override
    async def CommitHandover(
        self, request: handover_pb2.CommitHandoverRequest, context: Any
    ) -> handover_pb2.CommitHandoverResponse:
        try:
            state = await self._agent.commit(request)
        except RefusedError as refused:
            await abort(context, refused)
        return handover_pb2.CommitHandoverResponse(state=STATES[state])

    @override
    async def AbortHandover(
        self, request: handover_pb2.AbortHandoverRequest, context: Any
    ) -> handover_pb2.AbortHandoverResponse:
        try:
            state = await self._agent.abort(request)
        except RefusedError as refused:
            await abort(context, refused)
        return handover_pb2.AbortHandoverResponse(state=STATES[state])

    @override
    async def GetHandover(
        self, request: handover_pb2.GetHandoverRequest, context: Any
    ) -> handover_pb2.GetHandoverResponse:
        try:
            record = self._agent.state_of(request.handover_id)
        except RefusedError as refused:
            await abort(context, refused)
        role = (
            handover_pb2.HANDOVER_ROLE_SOURCE
            if record.role is Role.SOURCE
            else handover_pb2.HANDOVER_ROLE_TARGET
        )
        return handover_pb2.GetHandoverResponse(state=STATES[record.state], role=role)


class ContextTransfers(context_transfer_pb2_grpc.ContextTransferServiceServicer):
    """ContextTransferService over a `HandoverAgent` (the target's end of a transfer)."""

    def __init__(self, agent: HandoverAgent) -> None:
        self._agent = agent

    @override
    async def SendContext(
        self,
        request_iterator: AsyncIterator[context_transfer_pb2.SendContextRequest],
        context: Any,
    ) -> context_transfer_pb2.SendContextResponse:
        try:
            return await self._agent.receive(request_iterator)
        except RefusedError as refused:
            await abort(context, refused)
        except grpc.aio.AioRpcError as error:
            await abort(
                context,
                RefusedError(
                    error.code()
                    if error.code()
                    in (
                        grpc.StatusCode.DATA_LOSS,
                        grpc.StatusCode.FAILED_PRECONDITION,
                        grpc.StatusCode.INVALID_ARGUMENT,
                    )
                    else grpc.StatusCode.UNAVAILABLE,
                    f"the target instance refused the import: {error.details()}",
                ),
            )
