"""The live view's HTTP routes, served by uvicorn on a real socket over a real operator state."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from mec_orchestrator.api.app import create_app
from mec_orchestrator.api.settings import ApiSettings, AuthMode
from mec_orchestrator.operator.live_feed import LiveFeed
from mec_orchestrator.operator.users import UserDirectory
from tests.liveview.live_server import DEVICES, world

PROBLEM = "application/problem+json"


@dataclass
class Served:
    url: str
    feed: LiveFeed
    users: UserDirectory
    http: httpx.AsyncClient


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    s = await world()
    feed = LiveFeed(s.state, min_interval_s=0.01, poll_s=10, max_clients=2)
    await feed.start()
    app = create_app(
        s.state, ApiSettings(enabled=False, auth=AuthMode.NONE), users=s.users, live=feed
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server stopped before it listened"
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        yield Served(url, feed, s.users, http)
    await feed.stop()
    server.should_exit = True
    await task


@dataclass
class Event:
    event: str
    id: str
    data: dict[str, Any]
    retry: int | None


async def events(lines: AsyncIterator[str], count: int) -> list[Event]:
    """The next count events of an SSE stream's lines (keep-alive comments skipped)."""
    found: list[Event] = []
    fields: dict[str, str] = {}
    async for line in lines:
        if line == "":
            if "data" in fields:
                retry = fields.get("retry")
                found.append(
                    Event(
                        fields.get("event", "message"),
                        fields.get("id", ""),
                        json.loads(fields["data"]),
                        None if retry is None else int(retry),
                    )
                )
                if len(found) == count:
                    return found
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
    raise AssertionError(f"the stream ended after {len(found)} of {count} events")


async def test_the_page_and_its_assets_are_served_without_network(served: Served) -> None:
    page = await served.http.get("/live/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'src="assets/live.js"' in page.text
    assert "http" not in page.text.replace('xmlns="http', "")  # no CDN, no remote asset
    redirect = await served.http.get("/live")
    assert redirect.status_code == 307
    assert redirect.headers["location"].endswith("/live/")
    script = await served.http.get("/live/assets/live.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "EventSource" in script.text
    style = await served.http.get("/live/assets/live.css")
    assert style.headers["content-type"].startswith("text/css")


async def test_unknown_or_malformed_assets_are_problems(served: Served) -> None:
    missing = await served.http.get("/live/assets/nothing.js")
    assert (missing.status_code, missing.headers["content-type"]) == (404, PROBLEM)
    assert "nothing.js" in missing.json()["detail"]
    bad = await served.http.get("/live/assets/..%2Fapp.py")
    assert bad.status_code in (400, 404)
    assert bad.headers["content-type"] == PROBLEM


async def test_the_snapshot_is_the_picture_with_its_event_id(served: Served) -> None:
    answer = await served.http.get("/live/snapshot")
    assert answer.status_code == 200
    body = answer.json()
    assert body["id"] == served.feed.board.event_id(body["seq"])
    assert [h["name"] for h in body["hosts"]] == ["edge-a", "edge-b", "edge-c"]
    assert [s["id"] for s in body["sites"]] == ["ap1", "ap2", "ap3", "ap4"]
    assert len(body["devices"]) == len(DEVICES)
    (app,) = body["apps"]
    assert app == {
        "namespace": "city", "name": "ar", "slo_ms": 5.0, "slo_met": None, "users": 3,
        "instances": 3, "ready_instances": 3, "handovers": 0, "failures": 0, "moving": 0,
    }  # fmt: skip
    assert body["handovers"] == []


async def test_a_stream_starts_with_a_snapshot_then_sends_each_batch(served: Served) -> None:
    async with served.http.stream("GET", "/live/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        first = await anext(lines)
        assert first == "event: snapshot"
        fields = {}
        async for line in lines:
            if line == "":
                break
            name, _, value = line.partition(": ")
            fields[name] = value
        snapshot = json.loads(fields["data"])
        assert fields["id"] == served.feed.board.event_id(snapshot["seq"])
        assert fields["retry"] == "1000"
        await served.users.device_moved(DEVICES[0], "ap2")
        deltas = await events(lines, 1)
        while not _ended_handovers(deltas[-1]):  # its start may have come on its own
            deltas += await events(lines, 1)
    for number, delta in enumerate(deltas, start=snapshot["seq"] + 1):
        assert delta.event == "delta"
        assert delta.id == served.feed.board.event_id(number)
        assert delta.data["seq"] == number
    (put,) = _ended_handovers(deltas[-1])
    assert put["op"] == "put"
    assert put["item"]["state"] == "completed"
    assert (put["item"]["source"], put["item"]["target"]) == ("edge-a", "edge-c")
    assert put["item"]["interruption_ms"] == 2.0


def _ended_handovers(delta: Event) -> list[dict[str, Any]]:
    return [
        d
        for d in delta.data["deltas"]
        if d["table"] == "handovers" and d["item"]["state"] != "started"
    ]


async def test_a_client_that_reconnects_gets_what_it_missed(served: Served) -> None:
    seen = (await served.http.get("/live/snapshot")).json()["id"]
    watcher = served.feed.subscribe()
    for ap in ("ap2", "ap1"):  # two moves, each published apart
        await served.users.device_moved(DEVICES[0], ap)
        assert await asyncio.wait_for(watcher.next(), 2) is not None
    served.feed.unsubscribe(watcher)
    headers = {"Last-Event-ID": seen}
    async with served.http.stream("GET", "/live/events", headers=headers) as response:
        missed = await events(response.aiter_lines(), 2)
    assert [e.event for e in missed] == ["delta", "delta"]
    epoch, _, number = seen.partition(".")
    assert [e.id for e in missed] == [f"{epoch}.{int(number) + 1}", f"{epoch}.{int(number) + 2}"]
    # The same through the query (for clients that cannot set the header).
    async with served.http.stream("GET", f"/live/events?after={seen}") as response:
        assert [e.event for e in await events(response.aiter_lines(), 2)] == ["delta", "delta"]


async def test_an_id_of_another_process_gets_a_fresh_snapshot(served: Served) -> None:
    headers = {"Last-Event-ID": "0badcafe.7"}
    async with served.http.stream("GET", "/live/events", headers=headers) as response:
        (first,) = await events(response.aiter_lines(), 1)
    assert first.event == "snapshot"
    assert first.id == served.feed.board.event_id(served.feed.board.snapshot.seq)


@pytest.mark.parametrize(
    ("query", "headers", "named"),
    [
        ("?after=latest", {}, "query.after"),
        ("?after=abc.-1", {}, "query.after"),
        ("", {"Last-Event-ID": "not an id"}, "header.Last-Event-ID"),
    ],
)
async def test_bad_resumption_ids_are_400_problems(
    served: Served, query: str, headers: dict[str, str], named: str
) -> None:
    answer = await served.http.get(f"/live/events{query}", headers=headers)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["detail"].startswith(named)


async def test_streams_beyond_the_limit_are_refused_with_503(served: Served) -> None:
    async with (
        served.http.stream("GET", "/live/events") as one,
        served.http.stream("GET", "/live/events") as two,
    ):
        await events(one.aiter_lines(), 1)
        await events(two.aiter_lines(), 1)
        third = await served.http.get("/live/events")
        assert third.status_code == 503
        assert third.headers["content-type"] == PROBLEM
        assert third.headers["retry-after"] == "5"
        assert "at most 2 streams" in third.json()["detail"]
