"""The live page in a real browser: Debian's headless chromium, driven by playwright-core.

The server is its own process on a real socket (tests/liveview/live_server.py: the product's
operator state, users' directory, feed and router); a device's cell change hands its user
over and the page must draw it. The delay is printed, not asserted: bench/live_view.py
measures it (docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any

from tests.liveview.browser import drive, serving
from tests.liveview.live_server import DEVICES


def test_the_page_shows_the_hosts_and_draws_a_handover_as_it_happens() -> None:
    moves = [{"device": DEVICES[0], "ap": "ap2"}, {"device": DEVICES[0], "ap": "ap1"}]
    with serving() as url:
        result = drive(url, moves)
    assert result["errors"] == []
    assert result["hosts"] == ["edge-a", "edge-b", "edge-c"]
    assert result["instances"] == 3
    assert result["devices"] == len(DEVICES)
    there, back = result["moves"]
    for move, (source, target) in ((there, ("edge-a", "edge-c")), (back, ("edge-c", "edge-a"))):
        assert move["outcome"] == ["moved"]
        assert (move["source"], move["target"]) == (source, target)
        assert move["arrow_state"] == "completed"  # the arrow from source to target host
        assert move["arrow_label"] == "2.0 ms"  # the user's interruption, as the agents said
        assert move["listed"]
        print(
            f"handover {source} -> {target}: on the page {move['received_after_end_ms']:.1f} ms "
            f"after it completed (drawn {move['drawn_after_answer_ms']} ms after the move's "
            f"answer); page loaded in {result['load_ms']} ms"
        )


def test_a_page_whose_stream_ended_catches_up_from_its_last_event() -> None:
    # The page's stream ends, and a user is moved while the page is away.
    moves: list[dict[str, Any]] = [{"drop": True}, {"device": DEVICES[1], "ap": "ap2"}]
    with serving() as url:
        result = drive(url, moves)
    assert result["errors"] == []
    dropped, move = result["moves"]
    assert dropped == {"drop": True}
    assert move["outcome"] == ["moved"]
    assert move["arrow_state"] == "completed"
    assert result["snapshots"] == 1  # it resumed with Last-Event-ID: the batches it missed
    print(f"caught up {move['drawn_after_answer_ms']} ms after the move (reconnect after 1 s)")


def test_a_failed_handover_is_drawn_as_failed_and_counted() -> None:
    moves = [{"device": DEVICES[2], "ap": "ap2", "fail": True}]
    with serving() as url:
        result = drive(url, moves)
    assert result["errors"] == []
    (move,) = result["moves"]
    assert move["outcome"] == ["failed"]
    assert (move["source"], move["target"]) == ("edge-a", "edge-c")
    assert move["arrow_state"] == "failed"
    assert move["arrow_label"] == "failed"
    assert move["listed"]
