"""`Mp1Service`: the registry, the Mp1 HTTP server and the agent's termination requests.

uvicorn runs as a task of the agent's event loop, without its signal handlers (the agent owns
SIGTERM and SIGINT), as the orchestrator runs its API server. `start` returns once the socket
listens (port 0: any, the bound one is returned); `stop` lets requests in flight finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn

from edge_host_agent.addresses import Address
from edge_host_agent.mp1.notify import Delivery, Notifier, termination_notification
from edge_host_agent.mp1.registry import AppInstanceRegistry
from edge_host_agent.mp1.routes import ROOT, build_app, subscription_href

log = logging.getLogger(__name__)

WILDCARDS = {"0.0.0.0", "::", ""}  # noqa: S104 (recognised, not bound)


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Mp1Service:
    """Serves Mp1 on `listen` (host:port) over `registry`."""

    def __init__(
        self,
        listen: str,
        registry: AppInstanceRegistry | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.address = Address.parse(listen)
        self.registry = registry if registry is not None else AppInstanceRegistry()
        self._notifier = notifier or Notifier()
        config = uvicorn.Config(
            build_app(self.registry),
            host=self.address.host,
            port=self.address.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None
        self.port = self.address.port

    @property
    def base_url(self) -> str:
        """The Mp1 root the agent names in notifications (a wildcard listen: the host name)."""
        host = self.address.host
        host = socket.gethostname() if host in WILDCARDS else host
        return f"http://{Address(host, self.port)}{ROOT}"

    async def start(self) -> int:
        """Serve; returns the bound port once the socket listens (OSError if it cannot)."""
        host, port = self.address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((host, port))
        except OSError as error:
            listener.close()
            raise OSError(
                error.errno, f"Mp1 cannot listen on {self.address}: {error.strerror}"
            ) from None
        self.port = int(listener.getsockname()[1])
        self._task = asyncio.create_task(self._server.serve([listener]), name="mp1-server")
        while not self._server.started:
            if self._task.done():
                listener.close()
                self._task.result()  # raises what made it stop
                raise OSError(f"the Mp1 server stopped before it listened on {self.address}")
            await asyncio.sleep(0.01)
        return self.port

    async def stop(self) -> None:
        if self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self._notifier.aclose()

    async def request_termination(self, app_instance_id: str, grace_seconds: int) -> list[Delivery]:
        """Ask an app instance to terminate within grace_seconds: notify its subscriptions.

        Raises `UnknownAppInstanceError` (a KeyError) for an instance not registered. The app
        answers with `confirm_termination`, which the registry records.
        """
        if grace_seconds < 1:
            raise ValueError("grace_seconds must be at least 1 (maxGracefulTimeout is non-zero)")
        subscriptions = self.registry.begin_termination(app_instance_id, grace_seconds)
        confirm = f"{self.base_url}/applications/{app_instance_id}/confirm_termination"
        log.info(
            "asking app instance %s to terminate within %d s (%d subscriptions)",
            app_instance_id,
            grace_seconds,
            len(subscriptions),
        )
        return list(
            await asyncio.gather(
                *(
                    self._notifier.post(
                        s,
                        termination_notification(
                            subscription_href(self.base_url, s),
                            confirm,
                            grace_seconds,
                        ),
                    )
                    for s in subscriptions
                )
            )
        )
