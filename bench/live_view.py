"""The live view: how soon a handover is on the page, and what a publication costs.

    python -m bench.live_view [--moves 40] [--devices 2000] [--hosts 200]

1. In the browser: the test server (tests/liveview/live_server.py, the product's state, users'
   directory, feed and router, in a process of its own) and Debian's headless chromium driven
   by playwright-core (tests/liveview/browser.py). Each move hands a user over between two
   hosts; for each, the delay from the handover's completion (its event's time, the server's
   wall clock) to the page holding it (the page's wall clock, same machine), and from the
   move's HTTP answer to the app's handover counter changed in the DOM.
2. The board alone (pure): one publication (picture + diff) with `--hosts` hosts, as many
   access points, `--devices` devices, one of which moved since the last publication.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from bench.records import machine, save
from mec_orchestrator.decisions.liveview import Device, Host, Instance, LiveBoard, LiveFacts, Site
from mec_orchestrator.decisions.liveview.board import AppFacts
from tests.liveview.browser import drive, serving
from tests.liveview.live_server import DEVICES


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)],
        "max": ordered[-1],
    }


def in_the_browser(moves: int) -> dict[str, Any]:
    plan = [
        {
            "device": DEVICES[i % len(DEVICES)],
            "ap": "ap2" if (i // len(DEVICES)) % 2 == 0 else "ap1",
        }
        for i in range(moves)
    ]
    with serving() as url:
        result = drive(url, plan, timeout_s=600)
    done = [m for m in result["moves"] if m.get("arrow_state") == "completed"]
    return {
        "moves": len(plan),
        "drawn": len(done),
        "page_load_ms": result["load_ms"],
        "on_page_after_completion_ms": _summary([m["received_after_end_ms"] for m in done]),
        "in_dom_after_answer_ms": _summary([float(m["drawn_after_answer_ms"]) for m in done]),
        "errors": result["errors"],
    }


def the_board(hosts: int, devices: int, rounds: int = 50) -> dict[str, Any]:
    apps = [AppFacts("city", f"app{i}", 10.0) for i in range(5)]
    sites = [Site(f"ap{i}", "z", -37.8 + i / 1000, 144.9 + i / 1000) for i in range(hosts)]
    host_items = [Host(f"edge-{i}", -37.8 + i / 900, 144.9, True, False) for i in range(hosts)]
    instances = [Instance("city", a.name, h.name, True) for a in apps for h in host_items[:20]]
    users = [
        Device(f"u{i:06d}", "city", f"app{i % 5}", f"edge-{i % 20}", f"ap{i % hosts}")
        for i in range(devices)
    ]
    board = LiveBoard("bench")
    board.publish(LiveFacts(sites, host_items, instances, users, apps))
    timings = []
    for r in range(rounds):
        moved = list(users)
        moved[r] = Device(moved[r].context_id, "city", moved[r].app, "edge-0", "ap0")
        started = time.perf_counter()
        board.publish(LiveFacts(sites, host_items, instances, moved, apps))
        timings.append((time.perf_counter() - started) * 1000)
        users = moved
    return {"hosts": hosts, "devices": devices, "publish_ms": _summary(timings)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=40)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=200)
    args = parser.parse_args()
    started = time.time()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
    browser = in_the_browser(args.moves)
    board = the_board(args.hosts, args.devices)
    document = {"machine": machine(), "started": when, "browser": browser, "board": board}
    path = save("live-view", document, started)
    print(f"{document['machine']}; {when}")
    print(
        f"page loaded in {browser['page_load_ms']} ms; {browser['drawn']}/{browser['moves']} drawn"
    )
    for name in ("on_page_after_completion_ms", "in_dom_after_answer_ms"):
        s = browser[name]
        print(f"{name}: p50 {s['p50']:.1f}, p95 {s['p95']:.1f}, max {s['max']:.1f} (n={s['n']})")
    s = board["publish_ms"]
    print(
        f"board publish, {board['hosts']} hosts, {board['devices']} devices: "
        f"p50 {s['p50']:.2f} ms, p95 {s['p95']:.2f} ms, max {s['max']:.2f} ms"
    )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
