"""The emulated device application: a MEC 016 client that streams updates to its app instance.

It stands for a user's phone in end-to-end tests and benchmarks. It asks the orchestrator for
an application context (`POST /dev_app/v1/app_contexts`), sends numbered updates to the
instance the answer names at a fixed rate, follows the instance changes the orchestrator
notifies (and the 409 redirects an instance answers), and records everything it did and saw
(mec_devtools.ue.records), so a test can tell from the file alone whether an update was lost,
applied twice or late, and how long each move interrupted the stream (mec_devtools.ue.analysis).

One update is in flight at a time: seq n+1 is sent only after seq n was applied or refused as a
duplicate, so "lost" and "duplicated" are well defined. A seq that could not be delivered (a
connection error, a timeout, a 409, a 5xx) is sent again, the same seq, to whichever instance
is current by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from mec_devtools.ue.records import RecordWriter

log = logging.getLogger(__name__)

NOTIFICATIONS_PATH = "/notifications"
CONTEXTS_PATH = "/dev_app/v1/app_contexts"
EXIT_FATAL = 2


class FatalError(Exception):
    """The orchestrator refused the app context (a 4xx): retrying would not help."""


@dataclass
class DeviceSettings:
    orchestrator: str
    app_name: str
    app_provider: str
    app_d_id: str
    app_soft_version: str
    device_id: str
    records: Path
    rate: float = 50.0
    callback_listen: str = "127.0.0.1:0"
    callback_host: str | None = None
    state_bytes: int = 0
    app_d_version: str | None = None
    token: str | None = None
    request_timeout_s: float = 2.0
    retry_delay_s: float = 0.05
    redirect_wait_s: float = 0.5
    create_timeout_s: float = 60.0
    log_level: str = "WARNING"

    @property
    def interval_s(self) -> float:
        return 1.0 / self.rate


def _split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"listen on host:port, not {listen!r}")
    return host.strip("[]"), int(port)


def _as_uri(target: str) -> str:
    """A redirect may be host:port; updates go to an http URI without a trailing slash."""
    uri = target if "://" in target else f"http://{target}"
    return uri.rstrip("/")


class Device:
    """One device: callback server, app context, update stream and record file."""

    def __init__(self, settings: DeviceSettings) -> None:
        self.settings = settings
        self.records = RecordWriter(settings.records)
        self.context_id: str | None = None
        self.target: str | None = None
        self.callback_uri = ""
        self.deleted = asyncio.Event()
        self.stopping = asyncio.Event()
        self._target_changed = asyncio.Event()
        self._early: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
        self._orchestrator = httpx.AsyncClient(
            base_url=settings.orchestrator.rstrip("/"),
            headers=headers,
            timeout=settings.request_timeout_s,
        )
        self._instances = httpx.AsyncClient(timeout=settings.request_timeout_s)

    # -- the callback server ----------------------------------------------------------------
    async def start_callbacks(self) -> str:
        app = web.Application()
        app.router.add_post(NOTIFICATIONS_PATH, self._notification)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        host, port = _split_listen(self.settings.callback_listen)
        await web.TCPSite(self._runner, host, port).start()
        bound = int(self._runner.addresses[0][1])
        shown = self.settings.callback_host or host
        if ":" in shown:
            shown = f"[{shown}]"
        self.callback_uri = f"http://{shown}:{bound}{NOTIFICATIONS_PATH}"
        return self.callback_uri

    async def _notification(self, request: web.Request) -> web.Response:
        try:
            body: Any = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"detail": "the body is not JSON"}, status=400)
        if not isinstance(body, dict) or not isinstance(body.get("notificationType"), str):
            return web.json_response({"detail": "not a notification"}, status=400)
        if self.context_id is None:
            self._early.append(body)  # came before the context's answer: applied after it
        else:
            self._apply(body)
        return web.Response(status=204)

    def _apply(self, body: dict[str, Any]) -> None:
        kind = body["notificationType"]
        context = body.get("contextId")
        target: str | None = None
        if kind == "ApplicationContextUpdateNotification":
            infos = body.get("userAppInstanceInfo") or [{}]
            target = infos[0].get("referenceURI") if isinstance(infos[0], dict) else None
        elif kind == "AddressChangeNotification":
            target = body.get("referenceURI")
        self.records.write("notification", notificationType=kind, contextId=context, target=target)
        if context != self.context_id:
            self.records.write("error", error=f"notification for another context: {context}")
            return
        if kind == "ApplicationContextDeleteNotification":
            self.deleted.set()
            self._target_changed.set()
        elif isinstance(target, str) and target:
            reason = "notification" if kind.startswith("ApplicationContext") else "address-change"
            self.switch(target, reason)

    def switch(self, target: str, reason: str) -> None:
        uri = _as_uri(target)
        if uri == self.target:
            return
        self.records.write("switch", **{"from": self.target, "to": uri, "reason": reason})
        self.target = uri
        self._target_changed.set()

    # -- the app context --------------------------------------------------------------------
    def context_request(self) -> dict[str, Any]:
        s = self.settings
        return {
            "associateDevAppId": s.device_id,
            "callbackReference": self.callback_uri,
            "appLocationUpdates": True,
            "appAutoInstantiation": False,
            "appInfo": {
                "appDId": s.app_d_id,
                "appName": s.app_name,
                "appProvider": s.app_provider,
                "appSoftVersion": s.app_soft_version,
                "appDVersion": s.app_d_version or s.app_soft_version,
                "userAppInstanceInfo": [{}],
            },
        }

    async def create_context(self) -> None:
        """POST the app context, retrying 5xx and connection errors with backoff."""
        deadline = time.monotonic() + self.settings.create_timeout_s
        delay = 0.1
        while True:
            try:
                answer = await self._orchestrator.post(CONTEXTS_PATH, json=self.context_request())
            except httpx.HTTPError as error:
                self.records.write("error", error=f"creating the app context: {error!r}")
            else:
                if answer.status_code == 201:
                    self._created(answer)
                    return
                self.records.write(
                    "error",
                    status=answer.status_code,
                    error=f"creating the app context: {answer.text[:500]}",
                )
                if 400 <= answer.status_code < 500:
                    raise FatalError(
                        f"the orchestrator refused the app context: {answer.status_code} "
                        f"{answer.text[:500]}"
                    )
            if self.stopping.is_set():
                raise FatalError("stopped before the app context was created")
            if time.monotonic() + delay > deadline:
                raise FatalError("no app context: the orchestrator did not answer in time")
            await self._sleep(delay)
            delay = min(delay * 2, 2.0)

    def _created(self, answer: httpx.Response) -> None:
        body = answer.json()
        context = body.get("AppContext", body) if isinstance(body, dict) else {}
        try:
            context_id = str(context["contextId"])
            uri = str(context["appInfo"]["userAppInstanceInfo"][0]["referenceURI"])
        except (KeyError, IndexError, TypeError) as error:
            raise FatalError(f"the app context has no contextId or referenceURI: {body}") from error
        self.context_id = context_id
        self.target = _as_uri(uri)
        self.records.write("context", contextId=context_id, target=self.target, status=201)
        for early in self._early:
            self._apply(early)
        self._early.clear()

    async def delete_context(self) -> None:
        if self.context_id is None or self.deleted.is_set():
            return
        try:
            answer = await self._orchestrator.delete(f"{CONTEXTS_PATH}/{self.context_id}")
        except httpx.HTTPError as error:
            self.records.write("delete", contextId=self.context_id, error=repr(error))
            return
        self.records.write("delete", contextId=self.context_id, status=answer.status_code)

    # -- the update stream ------------------------------------------------------------------
    def payload(self, seq: int) -> dict[str, Any]:
        payload: dict[str, Any] = {"anchor": "device", "seq": seq, "t_ns": time.time_ns()}
        if self.settings.state_bytes:
            payload["pad"] = "x" * self.settings.state_bytes
        return payload

    async def stream(self) -> None:
        """Send seq 1, 2, 3... at the rate, each until applied or refused as a duplicate."""
        seq = 1
        interval = self.settings.interval_s
        while not self._done():
            started = time.monotonic()
            if not await self._deliver(seq):
                return
            seq += 1
            pause = started + interval - time.monotonic()
            if pause > 0:
                await self._sleep(pause)

    def _done(self) -> bool:
        return self.stopping.is_set() or self.deleted.is_set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def _deliver(self, seq: int) -> bool:
        """True once seq is acknowledged; False when sending stops first."""
        attempt = 0
        payload = self.payload(seq)
        while not self._done():
            attempt += 1
            target = str(self.target)
            self._target_changed.clear()
            sent = self.records.write("send", seq=seq, target=target, attempt=attempt)
            try:
                answer = await self._instances.post(
                    f"{target}/users/{self.context_id}/updates",
                    json={"seq": seq, "payload": payload},
                )
            except httpx.HTTPError as error:
                self.records.write("error", seq=seq, target=target, error=repr(error))
                await self._sleep(self.settings.retry_delay_s)
                continue
            body = _json_object(answer)
            self.records.write(
                "answer",
                seq=seq,
                target=target,
                status=answer.status_code,
                applied=body.get("applied"),
                duplicate=body.get("duplicate"),
                version=body.get("version"),
                redirect=body.get("redirect"),
                servedHere=body.get("servedHere"),
                latency_ns=time.time_ns() - sent["t_ns"],
            )
            if answer.status_code == 200 and (body.get("applied") or body.get("duplicate")):
                return True
            if answer.status_code == 409:
                await self._redirected(body.get("redirect"))
            else:
                await self._sleep(self.settings.retry_delay_s)
        return False

    async def _redirected(self, redirect: Any) -> None:
        if isinstance(redirect, str) and redirect and _as_uri(redirect) != self.target:
            self.switch(redirect, "redirect")
            return
        # No redirect (or to here): wait for the orchestrator's notification, then try again.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._target_changed.wait(), self.settings.redirect_wait_s)

    # -- the whole life ---------------------------------------------------------------------
    async def run(self) -> int:
        """Create the context, stream until told to stop, delete the context; the exit code."""
        s = self.settings
        self.records.write(
            "start",
            rate=s.rate,
            interval_ns=round(1e9 / s.rate),
            deviceId=s.device_id,
            stateBytes=s.state_bytes,
        )
        try:
            await self.start_callbacks()
            try:
                await self.create_context()
            except FatalError as error:
                self.records.write("error", error=str(error), fatal=True)
                sys.stderr.write(f"device {self.settings.device_id}: {error}\n")
                return EXIT_FATAL
            _announce(
                {
                    "event": "started",
                    "contextId": self.context_id,
                    "referenceURI": self.target,
                    "callback": self.callback_uri,
                }
            )
            streaming = asyncio.create_task(self.stream())
            stop = asyncio.create_task(self.stopping.wait())
            await asyncio.wait({streaming, stop}, return_when=asyncio.FIRST_COMPLETED)
            if self.deleted.is_set() and not self.stopping.is_set():
                self.records.write("stop", reason="context-deleted")
                await self.stopping.wait()  # keep answering notifications until told to stop
            elif not self.deleted.is_set():
                self.records.write("stop", reason="signal")
            # No new seq after a stop; the one in flight may finish (its answer is recorded).
            await asyncio.wait({streaming}, timeout=s.request_timeout_s + 1.0)
            streaming.cancel()
            stop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await streaming
            await self.delete_context()
            return 0
        finally:
            await self.close()

    async def close(self) -> None:
        await self._orchestrator.aclose()
        await self._instances.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.records.close()


def _json_object(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _announce(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
