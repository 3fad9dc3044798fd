"""The live view over HTTP: the page, a JSON snapshot, and an SSE stream of deltas.

Served only with `mec-orchestrator run --live-view` (`MEC_OPERATOR_LIVE_VIEW=true`), under
`/live/`: the page and its assets (`api/static/live`, no network needed: no CDN, no tiles),
`/live/snapshot` (the whole picture, as JSON) and `/live/events` (text/event-stream). A stream
starts with a `snapshot` event, then sends one `delta` event per batch of the feed; every
event's id is `<epoch>.<seq>`. A client that reconnects with `Last-Event-ID` (or `?after=`)
gets the batches it missed when the feed still has them, else a fresh snapshot (also after a
restart of the orchestrator: another epoch). The view is read-only and carries no
authentication of its own: whoever reaches the HTTP port sees every namespace's apps, hosts
and users (docs/live-view.md).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from mec_orchestrator.api.problems import ProblemError, not_found
from mec_orchestrator.decisions.liveview import Batch, Snapshot
from mec_orchestrator.operator.live_feed import LiveFeed, TooManyClientsError

ROOT = "/live"
EVENT_ID = r"^[0-9a-f]{1,16}\.[0-9]{1,18}$"
"""An event id: the feed's epoch (hex) and a snapshot number."""
RETRY_MS = 1000
"""How soon a browser reconnects after its stream ended."""

ASSET_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def _assets() -> dict[str, tuple[bytes, str]]:
    """The page's files (name -> bytes, content type), read once from the package."""
    folder = resources.files("mec_orchestrator.api").joinpath("static", "live")
    found = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in ASSET_TYPES:
            found[entry.name] = (entry.read_bytes(), ASSET_TYPES[suffix])
    if "index.html" not in found:
        raise RuntimeError("the live view's page (api/static/live/index.html) is not installed")
    return found


def _encoded(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), allow_nan=False)


def _snapshot_event(feed: LiveFeed, snapshot: Snapshot) -> ServerSentEvent:
    return ServerSentEvent(
        event="snapshot",
        id=feed.board.event_id(snapshot.seq),
        raw_data=_encoded(snapshot.json()),
        retry=RETRY_MS,
    )


def _delta_event(feed: LiveFeed, batch: Batch) -> ServerSentEvent:
    return ServerSentEvent(
        event="delta", id=feed.board.event_id(batch.seq), raw_data=_encoded(batch.json())
    )


def router_for(feed: LiveFeed) -> APIRouter:
    """The live view's routes over feed."""
    router = APIRouter(prefix=ROOT, tags=["live view"])
    assets = _assets()
    uncached = {"Cache-Control": "no-cache"}

    @router.get("/", response_class=HTMLResponse, summary="The live map (an HTML page)")
    async def page() -> Response:
        body, media_type = assets["index.html"]
        return Response(body, media_type=media_type, headers=uncached)

    @router.get("/assets/{name}", summary="A file of the page (script, style)")
    async def asset(
        name: Annotated[str, Path(pattern=r"^[a-z0-9-]{1,40}\.(js|css|svg)$")],
    ) -> Response:
        found = assets.get(name)
        if found is None:
            raise not_found(f"the live view's asset {name}")
        return Response(found[0], media_type=found[1], headers=uncached)

    @router.get("/snapshot", summary="Everything the map shows now (JSON)")
    async def snapshot() -> JSONResponse:
        current = feed.board.snapshot
        body = {"id": feed.board.event_id(current.seq), **current.json()}
        return JSONResponse(body, headers=uncached)

    def room() -> None:
        if feed.clients >= feed.max_clients:
            raise ProblemError(
                503,
                "Service Unavailable",
                f"the live view serves at most {feed.max_clients} streams at once",
                {"Retry-After": "5"},
            )

    @router.get(
        "/events",
        response_class=EventSourceResponse,
        dependencies=[Depends(room)],
        summary="The picture's changes as server-sent events (a snapshot first)",
    )
    async def events(
        after: Annotated[
            str | None,
            Query(
                pattern=EVENT_ID,
                description="The id of the last event the client applied (as Last-Event-ID).",
            ),
        ] = None,
        last_event_id: Annotated[
            str | None, Header(alias="Last-Event-ID", pattern=EVENT_ID)
        ] = None,
    ) -> AsyncIterator[ServerSentEvent]:
        resume = last_event_id or after
        async for event in _stream(feed, None if resume is None else feed.board.seq_of(resume)):
            yield event

    return router


async def _stream(feed: LiveFeed, resume: int | None) -> AsyncIterator[ServerSentEvent]:
    """One client's events: what it missed (or a snapshot), then every batch until dropped."""
    try:
        client = feed.subscribe()
    except TooManyClientsError:
        return
    try:
        missed = None if resume is None else feed.board.since(resume)
        if missed is None:
            current = feed.board.snapshot
            sent = current.seq
            yield _snapshot_event(feed, current)
        else:
            sent = resume if resume is not None else 0
            for old in missed:
                yield _delta_event(feed, old)
                sent = old.seq
        while True:
            batch = await client.next()
            if batch is None:
                return  # dropped (too slow) or the feed stopped: the browser reconnects
            if batch.seq <= sent:
                continue  # already sent with what the client missed
            yield _delta_event(feed, batch)
            sent = batch.seq
    finally:
        feed.unsubscribe(client)
