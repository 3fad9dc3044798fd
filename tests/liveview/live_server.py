"""A real orchestrator state served with the live view, for the browser test and benchmark.

Run as its own process (`python -m tests.liveview.live_server`): an `OperatorState` and a
`UserDirectory` (the product's own) over three edge hosts, four access points and the
agents' session and handover calls answered in memory (the test fakes of tests/operator),
with the live view's feed and router in the product's FastAPI app, served by uvicorn on a
free port of 127.0.0.1 (printed as `LISTENING <port>`). Besides the product's routes it has
two of its own:

- `POST /test/move?device=<address>&ap=<access point>[&fail=true]` moves a device to a cell
  as the RNIS would say it, so the directory hands its users over (MecAssisted: prepare,
  transfer, commit; with fail, the transfer fails and the user stays) and the feed hears of
  it as in production;
- `POST /test/drop-streams` ends every live stream, as a dropped client's would end.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import uvicorn
from fastapi import Query

from mec_orchestrator.api.app import create_app
from mec_orchestrator.api.settings import ApiSettings, AuthMode
from mec_orchestrator.operator.live_feed import LiveFeed
from tests.operator.test_users import Scene, edge_app, scene

DEVICES = ("10.45.0.7", "10.45.0.8", "10.45.0.9")
ACCESS_POINTS = {  # id -> (cell, latitude, longitude): ap1 near edge-a, ap2 near edge-c
    "ap1": ("00000a1", -37.815, 144.940),
    "ap2": ("00000a2", -37.815, 144.985),
    "ap3": ("00000a3", -37.800, 144.955),
    "ap4": ("00000a4", -37.830, 144.965),
}


def zone() -> dict[str, Any]:
    return {
        "metadata": {"name": "cbd"},
        "spec": {
            "accessPoints": [
                {
                    "id": ap,
                    "cellId": cell,
                    "location": {"latitude": lat, "longitude": lon},
                    "probeReflector": f"{ap}.example:8620",
                }
                for ap, (cell, lat, lon) in ACCESS_POINTS.items()
            ]
        },
    }


async def world() -> Scene:
    """The scene of tests/operator/test_users.py with a MecAssisted app and three users."""
    s = scene(app=edge_app(transfer="MecAssisted"))
    s.state.zone_seen("cbd", zone())
    for address in DEVICES:
        await s.users.device_moved(address, "ap1")
        await s.users.attach(s.request(address))
    return s


async def serve() -> None:
    s = await world()
    feed = LiveFeed(s.state)
    await feed.start()
    app = create_app(
        s.state, ApiSettings(enabled=False, auth=AuthMode.NONE), users=s.users, live=feed
    )

    @app.post("/test/move")
    async def move(
        device: str = Query(...),
        ap: str = Query(..., pattern=r"^ap[0-9]$"),
        fail: bool = Query(False),
    ) -> dict[str, Any]:
        s.agents.failing_transfer = fail  # the target's agent unreachable during the transfer
        try:
            results = await s.users.device_moved(device, ap)
        finally:
            s.agents.failing_transfer = False
        return {
            "at_s": time.time(),
            "moves": [
                {"user": r.context_id, "outcome": r.outcome.value, "target": r.target}
                for r in results
            ],
        }

    @app.post("/test/drop-streams")
    async def drop_streams() -> dict[str, int]:
        streams = feed.clients
        feed.close_streams()
        return {"dropped": streams}

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    print(f"LISTENING {port}", flush=True)
    try:
        await task
    finally:
        await feed.stop()


if __name__ == "__main__":
    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        sys.exit(0)
