"""Why a request from an agent is refused, as exceptions that carry the gRPC status to answer.

Validation and authorisation code raises them without knowing about servicer contexts; the
services turn them into the call's status in one place (and count them).
"""

from __future__ import annotations

from typing import Any, NoReturn

import grpc


class RefusedError(Exception):
    """A request the orchestrator will not serve, with the status code and message to answer."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidFieldError(RefusedError):
    """A malformed field: INVALID_ARGUMENT, with a message that starts with the field's path."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {problem}")
        self.field = field


class WrongHostError(RefusedError):
    """The request speaks for a host other than the one the peer's certificate names."""

    def __init__(self, message: str) -> None:
        super().__init__(grpc.StatusCode.PERMISSION_DENIED, message)


class UnknownSessionError(RefusedError):
    """The session is not (or no longer) the host's live session: the agent must register."""

    def __init__(self, host: str) -> None:
        super().__init__(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"session_id: not the live session of host {host!r}; register again",
        )


class StandbyError(RefusedError):
    """The orchestrator replica is a standby: UNAVAILABLE, so the agent tries again.

    It does so on a new connection (through a Service, possibly to another replica) or at its
    next orchestrator address.
    """

    def __init__(self) -> None:
        super().__init__(
            grpc.StatusCode.UNAVAILABLE,
            "this orchestrator replica is a standby; register with the active replica",
        )


async def abort(context: Any, refusal: RefusedError) -> NoReturn:
    """End the call with the refusal's status (context is a grpc.aio.ServicerContext)."""
    await context.abort(refusal.code, refusal.message)
    raise AssertionError("grpc.aio.ServicerContext.abort returned")  # it always raises
