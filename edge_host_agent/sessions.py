"""Which users each app instance on this host serves: the sessions that live on the agent.

The orchestrator decides where a user is served and tells the agent of that host
(`SessionService.AdmitUser`, `ReleaseUser`); the agent keeps the session here, tells the instance
(`UserContextService.ServeUser`, `StopServingUser`, when the instance serves it) and reports the
sessions with the host's app instances, so a new orchestrator leader learns who-is-where from
the agents. The orchestrator's record of each session is kept as opaque bytes and reported back
unchanged.

`HostInstances` is what the link reports: the Mp1 registry's instances, each with its users.
Sessions of an instance that is no longer registered are dropped with it.

Sessions are held in memory: an agent restart forgets them (the orchestrator then sees the
host's users vanish from the report). A journal on the host's disk arrives with the handover.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from mec.agent.v1 import session_pb2, session_pb2_grpc, user_context_pb2, user_context_pb2_grpc
from typing_extensions import override

from edge_host_agent.mp1.registry import AppInstance, AppInstanceRegistry
from edge_host_agent.versioned import Versioned
from mec_common.patterns import IDENTIFIER

log = logging.getLogger(__name__)

MAX_RECORD_BYTES = 4096
MAX_ID_LENGTH = 128
MAX_ENDPOINT_LENGTH = 2048
MAX_USERS_PER_INSTANCE = 100_000
INSTANCE_CALL_TIMEOUT_S = 5.0

_IDENTIFIER = re.compile(IDENTIFIER)


class SessionTable(Versioned):
    """(app instance id, user id) -> the orchestrator's record; `version` grows on each change."""

    def __init__(self) -> None:
        super().__init__()
        self._users: dict[str, dict[str, bytes]] = {}

    def admit(self, app_instance_id: str, user_id: str, record: bytes) -> int:
        """The instance serves the user (again); returns how many users it serves."""
        users = self._users.setdefault(app_instance_id, {})
        if user_id not in users and len(users) >= MAX_USERS_PER_INSTANCE:
            raise OverflowError(f"instance {app_instance_id} serves {len(users)} users already")
        if users.get(user_id) != record:
            users[user_id] = record
            self._changed()
        return len(users)

    def release(self, app_instance_id: str, user_id: str) -> bool:
        """The instance no longer serves the user; False when it did not."""
        users = self._users.get(app_instance_id)
        if users is None or user_id not in users:
            return False
        del users[user_id]
        if not users:
            del self._users[app_instance_id]
        self._changed()
        return True

    def users_of(self, app_instance_id: str) -> list[tuple[str, bytes]]:
        return sorted((self._users.get(app_instance_id) or {}).items())

    def keep_only(self, app_instance_ids: set[str]) -> None:
        """Drop the sessions of instances that are gone."""
        gone = [i for i in self._users if i not in app_instance_ids]
        for instance in gone:
            count = len(self._users.pop(instance))
            log.warning("instance %s is gone: its %d session(s) end with it", instance, count)
        if gone:
            self._changed()


@dataclass(frozen=True, slots=True)
class ReportedInstance:
    """One registered instance with the users it serves, as the link reports it."""

    instance: AppInstance
    users: Sequence[tuple[str, bytes]]

    @property
    def app_instance_id(self) -> str:
        return self.instance.app_instance_id

    @property
    def app_name(self) -> str:
        return self.instance.app_name

    @property
    def endpoint_uri(self) -> str | None:
        return self.instance.endpoint_uri

    @property
    def user_context_endpoint(self) -> str | None:
        return self.instance.user_context_endpoint

    @property
    def ready(self) -> bool:
        return self.instance.ready


RegisteredHook = Callable[[AppInstance], Coroutine[Any, Any, None]]
"""Told of an instance that registered (again: a restarted instance knows nothing)."""


class HostInstances:
    """The link's instance source: registered instances with their sessions.

    Hooks (`on_registered`) are told of every new registration, so what the agent knows of an
    instance that restarted is told to it again (its admitted users, handovers it must not
    serve).
    """

    def __init__(self, registry: AppInstanceRegistry, sessions: SessionTable) -> None:
        self.registry = registry
        self.sessions = sessions
        self._seen: dict[str, AppInstance] = {}
        self._hooks: list[RegisteredHook] = []
        self._tasks: set[asyncio.Task[None]] = set()
        registry.watch(self._registry_changed)

    def on_registered(self, hook: RegisteredHook) -> None:
        self._hooks.append(hook)

    def _registry_changed(self) -> None:
        current = {i.app_instance_id: i for i in self.registry.instances()}
        self.sessions.keep_only(set(current))
        fresh = [i for key, i in current.items() if self._seen.get(key) is not i]
        self._seen = current
        if not fresh or not self._hooks:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a unit test of the registry alone): nobody to tell
        for instance in fresh:
            for hook in self._hooks:
                task = loop.create_task(hook(instance), name=f"tell {instance.app_instance_id}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    @property
    def version(self) -> int:
        """Grows with every change of either part (both only grow)."""
        return self.registry.version + self.sessions.version

    def instances(self) -> list[ReportedInstance]:
        return [
            ReportedInstance(i, self.sessions.users_of(i.app_instance_id))
            for i in self.registry.instances()
        ]

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        undo_registry = self.registry.watch(callback)
        undo_sessions = self.sessions.watch(callback)

        def remove() -> None:
            undo_registry()
            undo_sessions()

        return remove


def _check_id(value: str, field: str) -> str | None:
    if not value:
        return f"{field} is required"
    if len(value) > MAX_ID_LENGTH or not _IDENTIFIER.match(value):
        return f"{field} must be an identifier of at most {MAX_ID_LENGTH} characters"
    return None


class SessionCommands(session_pb2_grpc.SessionServiceServicer):
    """SessionService: the orchestrator's admissions and releases, applied here and told on."""

    def __init__(self, host: HostInstances | None) -> None:
        self._host = host
        self._channels: dict[str, grpc.aio.Channel] = {}
        if host is not None:
            host.on_registered(self._registered)

    async def _registered(self, instance: AppInstance) -> None:
        """An instance (re)registered: tell it the users it serves (a restart forgot them)."""
        endpoint = instance.user_context_endpoint
        if self._host is None or not endpoint:
            return
        for user, _ in self._host.sessions.users_of(instance.app_instance_id):
            try:
                served = await self._instance_service(endpoint).ServeUser(
                    user_context_pb2.ServeUserRequest(user_id=user),
                    timeout=INSTANCE_CALL_TIMEOUT_S,
                    wait_for_ready=True,  # the channel to its last process may be reconnecting
                )
                if served.version == 0:
                    log.warning(
                        "instance %s restarted without user %s's context: it goes on afresh",
                        instance.app_instance_id,
                        user,
                    )
            except grpc.aio.AioRpcError as error:
                log.warning("could not tell %s it serves %s: %s", endpoint, user, error)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    def _instance_service(self, endpoint: str) -> user_context_pb2_grpc.UserContextServiceStub:
        channel = self._channels.get(endpoint)
        if channel is None:  # the instance is on this host: plaintext, as the SDK serves it
            channel = grpc.aio.insecure_channel(endpoint)
            self._channels[endpoint] = channel
        return user_context_pb2_grpc.UserContextServiceStub(channel)

    async def _refuse(self, context: Any, code: grpc.StatusCode, message: str) -> None:
        log.info("session command refused (%s): %s", code.name, message)
        await context.abort(code, message)

    async def _instance(
        self, context: Any, app_instance_id: str
    ) -> tuple[HostInstances, AppInstance]:
        if self._host is None:
            await self._refuse(
                context,
                grpc.StatusCode.FAILED_PRECONDITION,
                "this agent serves no Mp1 (--mp1-listen): it knows no app instances",
            )
            raise AssertionError("unreachable")
        instance = self._host.registry.find(app_instance_id)
        if instance is None:
            await self._refuse(
                context,
                grpc.StatusCode.NOT_FOUND,
                f"no app instance {app_instance_id} is registered on this host",
            )
            raise AssertionError("unreachable")
        return self._host, instance

    async def _tell_instance(
        self, context: Any, instance: AppInstance, call: str, **kw: Any
    ) -> Any:
        endpoint = instance.user_context_endpoint
        if not endpoint:
            return None
        stub = self._instance_service(endpoint)
        request_type = {
            "ServeUser": user_context_pb2.ServeUserRequest,
            "StopServingUser": user_context_pb2.StopServingUserRequest,
        }[call]
        try:
            return await getattr(stub, call)(request_type(**kw), timeout=INSTANCE_CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            code = error.code()
            passed_on = (
                code
                if code in (grpc.StatusCode.ABORTED, grpc.StatusCode.FAILED_PRECONDITION)
                else grpc.StatusCode.UNAVAILABLE
            )
            await self._refuse(
                context,
                passed_on,
                f"instance {instance.app_instance_id} at {endpoint} refused {call}: "
                f"{code.name}: {error.details()}",
            )
            raise AssertionError("unreachable") from error

    async def _check_ids(self, context: Any, app_instance_id: str, user_id: str) -> None:
        for value, field in ((app_instance_id, "app_instance_id"), (user_id, "user_id")):
            problem = _check_id(value, field)
            if problem:
                await self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT, problem)

    @override
    async def AdmitUser(
        self, request: session_pb2.AdmitUserRequest, context: Any
    ) -> session_pb2.AdmitUserResponse:
        await self._check_ids(context, request.app_instance_id, request.user_id)
        if len(request.record) > MAX_RECORD_BYTES:
            await self._refuse(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"record is {len(request.record)} bytes, at most {MAX_RECORD_BYTES}",
            )
        host, instance = await self._instance(context, request.app_instance_id)
        await self._tell_instance(context, instance, "ServeUser", user_id=request.user_id)
        try:
            users = host.sessions.admit(request.app_instance_id, request.user_id, request.record)
        except OverflowError as error:
            await self._refuse(context, grpc.StatusCode.RESOURCE_EXHAUSTED, str(error))
            raise AssertionError("unreachable") from error
        return session_pb2.AdmitUserResponse(users=users)

    @override
    async def ReleaseUser(
        self, request: session_pb2.ReleaseUserRequest, context: Any
    ) -> session_pb2.ReleaseUserResponse:
        await self._check_ids(context, request.app_instance_id, request.user_id)
        if len(request.redirect_endpoint) > MAX_ENDPOINT_LENGTH:
            await self._refuse(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"redirect_endpoint is longer than {MAX_ENDPOINT_LENGTH} characters",
            )
        if self._host is None or self._host.registry.find(request.app_instance_id) is None:
            # The instance is gone, and its sessions with it: nothing to release.
            return session_pb2.ReleaseUserResponse(released=False)
        instance = self._host.registry.get(request.app_instance_id)
        await self._tell_instance(
            context,
            instance,
            "StopServingUser",
            user_id=request.user_id,
            redirect_endpoint=request.redirect_endpoint,
        )
        released = self._host.sessions.release(request.app_instance_id, request.user_id)
        return session_pb2.ReleaseUserResponse(released=released)
