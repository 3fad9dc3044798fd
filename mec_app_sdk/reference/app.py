"""The reference app's two servers: devices' HTTP JSON and the UserContextService.

Device protocol (one port):

- `POST /users/{user}/updates` `{"seq": n, "payload": ...}` applies the update to the user's
  record and answers `{"seq": n, "applied": true, "version": v}`; a seq not above the last one
  applied is answered `{"seq": n, "applied": false, "duplicate": true, "version": v}` without
  applying it. A user fenced by a handover, or released here after one, is answered 409
  `{"servedHere": false, "redirect": "<endpoint>" | null}`: the device retries there.
- `GET /users/{user}`: `{"user", "lastSeq", "applied", "version", "servedHere": true}`; 409 as
  above when not served here, 404 for a user never seen.
- `GET /healthz` (the process runs), `GET /readyz` (both servers listen).

Without an agent (no Mp1 URL), a user the instance has never seen starts here with their first
update. With one, only the users the agent admitted (`ServeUser`) are served: any other is
answered 409 "not served here". A user a handover brings is staged until the handover commits
(`ServeUser`), answered 409 without a redirect meanwhile (the device waits for its notification).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import httpx
from aiohttp import web

from mec_app_sdk.contexts.service import context_serving
from mec_app_sdk.contexts.store import ContextStore, MovedError
from mec_app_sdk.mp1 import Mp1Client, Mp1Error, Mp1Settings, app_info
from mec_app_sdk.reference.anchors import AnchorRecord, apply_update
from mec_app_sdk.reference.settings import ReferenceSettings, split_listen
from mec_common.grpc_serving import MIB, GrpcServing, ServingOptions
from mec_common.patterns import IDENTIFIER

CONTENT_TYPE = "application/vnd.mec.reference-anchors+json"
APP_NAME = "mec-reference-app"

_USER = re.compile(IDENTIFIER)

log = logging.getLogger(__name__)


def _moved(redirect: str | None) -> web.Response:
    return web.json_response({"servedHere": False, "redirect": redirect}, status=409)


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def _parse_update(request: web.Request) -> tuple[str, int, Any] | web.Response:
    """(user, seq, payload) of an update, or the 400 answer to a malformed one."""
    user = request.match_info["user"]
    if not _USER.match(user) or len(user) > 128:
        return _bad(f"not a user id: {user!r}")
    try:
        body: Any = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _bad("the body is not JSON")
    if not isinstance(body, dict):
        return _bad("the body is a JSON object")
    seq = body.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return _bad("seq is an integer of 1 or more")
    return user, seq, body.get("payload")


class ReferenceApp:
    """The app instance: one store, the devices' HTTP server, the UserContextService."""

    def __init__(self, settings: ReferenceSettings) -> None:
        self.settings = settings
        # With an agent, the orchestrator decides who is served here: only admitted users are.
        self.store = ContextStore(
            content_type=CONTENT_TYPE, admission_required=bool(settings.mp1_url)
        )
        self.ready = False
        self.http_port = 0
        self.context_port = 0
        self._serving: GrpcServing | None = None
        self._runner: web.AppRunner | None = None
        self._mp1: Mp1Client | None = None

    def web_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/users/{user}/updates", self._post_update)
        app.router.add_get("/users/{user}", self._get_user)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        return app

    async def start(self) -> None:
        settings = self.settings
        options = ServingOptions(
            settings.context_listen, settings.tls_files(), max_message_bytes=2 * MIB
        )
        self._serving = context_serving(self.store, options, settings.chunk_bytes)
        self.context_port = await self._serving.start()
        self._runner = web.AppRunner(self.web_app(), access_log=None)
        await self._runner.setup()
        host, port = split_listen(settings.listen)
        await web.TCPSite(self._runner, host, port).start()
        self.http_port = int(self._runner.addresses[0][1])
        if settings.mp1_url:
            await self._register()
        self.ready = True

    def advertised(self, listen: str, port: int) -> str:
        """host:port at which this instance is reached (see ReferenceSettings.advertise_host)."""
        host = self.settings.advertise_host or split_listen(listen)[0]
        if host in {"0.0.0.0", "::", ""}:  # noqa: S104 - "every address" is no address to reach
            host = "127.0.0.1"
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    async def _register(self) -> None:
        """Register with the local agent over Mp1, with the UserContextService's address."""
        settings = self.settings
        client = Mp1Client(
            Mp1Settings(mp1_url=settings.mp1_url, app_instance_id=settings.instance_id)
        )
        try:
            await client.register(
                app_info(
                    APP_NAME,
                    app_instance_id=settings.instance_id,
                    endpoint_uri=f"http://{self.advertised(settings.listen, self.http_port)}",
                    user_context_endpoint=self.advertised(
                        settings.context_listen, self.context_port
                    ),
                )
            )
            await client.confirm_ready()
        except BaseException:
            await client.aclose()
            raise
        self._mp1 = client

    async def stop(self) -> None:
        self.ready = False
        if self._mp1 is not None:
            try:
                await self._mp1.deregister()
            except (Mp1Error, httpx.HTTPError) as error:  # the agent may be gone first
                log.warning("could not deregister from the agent: %s", error)
            finally:
                await self._mp1.aclose()
                self._mp1 = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._serving is not None:
            await self._serving.stop(1.0)
            self._serving = None

    async def _post_update(self, request: web.Request) -> web.Response:
        parsed = await _parse_update(request)
        if isinstance(parsed, web.Response):
            return parsed
        user, seq, payload = parsed
        state_bytes = self.settings.state_bytes
        try:
            outcome = self.store.update(
                user, lambda current: apply_update(current, seq, payload, state_bytes)
            )
        except MovedError as moved:
            return _moved(moved.redirect)
        if outcome.applied:
            return web.json_response({"seq": seq, "applied": True, "version": outcome.version})
        return web.json_response(
            {"seq": seq, "applied": False, "duplicate": True, "version": outcome.version}
        )

    async def _get_user(self, request: web.Request) -> web.Response:
        user = request.match_info["user"]
        if not self.store.serves(user):
            return _moved(self.store.redirect_for(user))
        snapshot = self.store.get(user)
        if snapshot is None:
            return web.json_response({"error": f"no user {user} here"}, status=404)
        record = AnchorRecord.decode(snapshot.data)
        return web.json_response(
            {
                "user": user,
                "lastSeq": record.last_seq,
                "applied": record.applied,
                "version": snapshot.version,
                "servedHere": True,
            }
        )

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _request: web.Request) -> web.Response:
        if self.ready:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "starting"}, status=503)
