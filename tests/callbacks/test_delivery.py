"""Callback delivery against real subscribers: receiver processes on 127.0.0.1 (receiver.py).

Each receiver is its own OS process that records what it receives (with the machine's monotonic
clock) and can answer 503, hang, or be killed and restarted on the same port. Every wait is
bounded; retries are fast (tens of milliseconds) so the tests take seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mec_orchestrator.adapters.callbacks import (
    CallbackDelivery,
    CallbackMetrics,
    NotificationResult,
)
from tests.callbacks.conftest import Outcomes, Receivers, free_port

MakeDelivery = Callable[..., CallbackDelivery]
API = "AppLcm"


def notification(n: str) -> dict[str, Any]:
    """An MEC 010-2 AppInstanceStateChangeNotification-like body with its id in it."""
    return {
        "notificationType": "AppInstanceStateChangeNotification",
        "id": n,
        "appInstanceId": "ar-navigator",
        "instantiationState": "INSTANTIATED",
    }


def send(delivery: CallbackDelivery, url: str, n: str, **kwargs: Any) -> bool:
    return delivery.submit(
        url, notification(n), notification_id=n, subscription_id="sub-1", api=API, **kwargs
    )


def count(metrics: CallbackMetrics, result: NotificationResult) -> float:
    return metrics.sample("mec_notifications_total", api=API, result=result.value)


async def test_delivers_to_a_live_receiver(
    receivers: Receivers, make_delivery: MakeDelivery, outcomes: Outcomes, metrics: CallbackMetrics
) -> None:
    receiver = await receivers.start()
    async with make_delivery() as delivery:
        assert send(delivery, receiver.url, "n1")
        outcome = await outcomes.wait("n1")
        assert delivery.pending() == 0
    assert (outcome.result, outcome.attempts, outcome.detail) == (
        NotificationResult.DELIVERED,
        1,
        "HTTP 204",
    )
    (record,) = receiver.records()
    assert record["id"] == "n1"
    assert record["body"] == notification("n1")
    assert record["content_type"] == "application/json"
    assert record["path"] == "/notify"
    assert count(metrics, NotificationResult.DELIVERED) == 1
    assert metrics.sample("mec_notification_backlog", api=API) == 0
    assert metrics.sample("mec_notification_delivery_seconds_count", api=API) == 1


async def test_503_twice_then_delivered_with_the_same_id_and_body(
    receivers: Receivers, make_delivery: MakeDelivery, outcomes: Outcomes, metrics: CallbackMetrics
) -> None:
    receiver = await receivers.start(fail_first=2)
    async with make_delivery() as delivery:
        send(delivery, receiver.url, "n1")
        outcome = await outcomes.wait("n1")
    assert outcome.result is NotificationResult.DELIVERED
    assert outcome.attempts == 3
    records = receiver.records()
    assert [(r["id"], r["status"]) for r in records] == [("n1", 503), ("n1", 503), ("n1", 204)]
    assert all(r["body"] == notification("n1") for r in records)
    assert count(metrics, NotificationResult.DELIVERED) == 1
    assert count(metrics, NotificationResult.GAVE_UP) == 0


async def test_retry_after_is_honoured(
    receivers: Receivers, make_delivery: MakeDelivery, outcomes: Outcomes
) -> None:
    receiver = await receivers.start(fail_first=1, fail_status=429, retry_after=1)
    async with make_delivery() as delivery:
        send(delivery, receiver.url, "n1")
        outcome = await outcomes.wait("n1", within=5)
    assert (outcome.result, outcome.attempts) == (NotificationResult.DELIVERED, 2)
    first, second = receiver.records()
    assert first["status"] == 429
    assert second["monotonic"] - first["monotonic"] >= 0.95  # not the 0.05 s backoff


async def test_a_timed_out_attempt_is_retried(
    receivers: Receivers, make_delivery: MakeDelivery, outcomes: Outcomes
) -> None:
    receiver = await receivers.start(hang_first=1, hang_seconds=10)
    async with make_delivery(timeout_seconds=0.3) as delivery:
        send(delivery, receiver.url, "n1")
        outcome = await outcomes.wait("n1")
    assert (outcome.result, outcome.attempts) == (NotificationResult.DELIVERED, 2)
    assert [r["mode"] for r in receiver.records()] == ["hang", "ok"]


async def test_a_receiver_not_yet_up_gets_the_notification_once_it_is(
    receivers: Receivers, make_delivery: MakeDelivery, outcomes: Outcomes
) -> None:
    receiver = receivers.make(free_port())  # nothing listens there yet: connection refused
    async with make_delivery(backoff_base_seconds=0.05, backoff_max_seconds=0.2) as delivery:
        send(delivery, receiver.url, "n1")
        await asyncio.sleep(0.3)  # a few refused attempts
        assert "n1" not in outcomes.by_id
        up = time.monotonic()
        await receiver.start()
        outcome = await outcomes.wait("n1", within=3)
    assert outcome.result is NotificationResult.DELIVERED
    assert outcome.attempts >= 3
    (record,) = receiver.records()
    assert record["id"] == "n1"
    assert record["monotonic"] >= up


async def test_a_killed_receiver_gets_the_notification_after_its_restart(
    receivers: Receivers, make_delivery: MakeDelivery, outcomes: Outcomes
) -> None:
    receiver = await receivers.start()
    async with make_delivery() as delivery:
        send(delivery, receiver.url, "n1")
        assert (await outcomes.wait("n1")).result is NotificationResult.DELIVERED
        await receiver.kill()  # the pooled keep-alive connection dies with it
        send(delivery, receiver.url, "n2")
        await asyncio.sleep(0.3)
        assert "n2" not in outcomes.by_id
        back = time.monotonic()
        await receiver.start()  # the same port
        outcome = await outcomes.wait("n2", within=3)
    assert outcome.result is NotificationResult.DELIVERED
    assert outcome.attempts >= 2
    assert receiver.ids() == ["n1", "n2"]
    assert receiver.records()[1]["monotonic"] >= back


async def test_a_dead_subscriber_does_not_delay_another(
    receivers: Receivers, make_delivery: MakeDelivery, outcomes: Outcomes
) -> None:
    hanging = await receivers.start(hang_first=1000, hang_seconds=30)  # accepts, never answers
    refused = f"http://127.0.0.1:{free_port()}/notify"  # nothing listens
    live = await receivers.start()
    async with make_delivery(timeout_seconds=2.0) as delivery:
        for i in range(5):
            send(delivery, hanging.url, f"hang-{i}")
            send(delivery, refused, f"refused-{i}")
        await asyncio.sleep(0.1)  # both dead subscribers are busy retrying now
        submitted = time.monotonic()
        send(delivery, live.url, "live")
        outcome = await outcomes.wait("live", within=2)
        (record,) = live.records()
        assert record["monotonic"] - submitted < 1.0
        assert outcome.result is NotificationResult.DELIVERED
        assert delivery.pending(hanging.url) == 5
        assert delivery.pending(refused) == 5
    assert hanging.ids() == ["hang-0"]  # still waiting for its first answer


async def test_a_full_queue_drops_the_oldest_and_counts(
    receivers: Receivers, make_delivery: MakeDelivery, outcomes: Outcomes, metrics: CallbackMetrics
) -> None:
    receiver = await receivers.start()
    async with make_delivery(queue_size=2) as delivery:
        # No await between the submissions: the worker has not taken any yet.
        assert all(send(delivery, receiver.url, f"n{i}") for i in range(1, 6))
        assert [outcomes.by_id[f"n{i}"].result for i in (1, 2, 3)] == [
            NotificationResult.DROPPED_FULL
        ] * 3
        assert metrics.sample("mec_notification_backlog", api=API) == 2
        await outcomes.wait("n5")
    assert receiver.ids() == ["n4", "n5"]
    assert count(metrics, NotificationResult.DROPPED_FULL) == 3
    assert count(metrics, NotificationResult.DELIVERED) == 2
    assert metrics.sample("mec_notification_backlog", api=API) == 0


async def test_the_notification_being_retried_is_not_the_one_dropped(
    receivers: Receivers, make_delivery: MakeDelivery, outcomes: Outcomes
) -> None:
    receiver = await receivers.start(fail_first=1)
    async with make_delivery(
        queue_size=2, backoff_base_seconds=0.3, backoff_max_seconds=0.3
    ) as delivery:
        send(delivery, receiver.url, "n1")
        await receiver.wait_for("n1 refused once", lambda r: len(r) == 1)
        for i in range(2, 6):
            send(delivery, receiver.url, f"n{i}")
        await outcomes.wait("n5")
    assert [outcomes.by_id[f"n{i}"].result for i in range(1, 6)] == [
        NotificationResult.DELIVERED,
        NotificationResult.DROPPED_FULL,
        NotificationResult.DROPPED_FULL,
        NotificationResult.DELIVERED,
        NotificationResult.DELIVERED,
    ]
    assert receiver.ids() == ["n1", "n1", "n4", "n5"]  # in submission order


async def test_more_subscribers_than_allowed_are_refused(
    receivers: Receivers, make_delivery: MakeDelivery, outcomes: Outcomes, metrics: CallbackMetrics
) -> None:
    first, second = await receivers.start(), await receivers.start()
    async with make_delivery(max_subscribers=1) as delivery:
        assert send(delivery, first.url, "n1")
        assert not send(delivery, second.url, "n2")
        assert outcomes.by_id["n2"].result is NotificationResult.DROPPED_FULL
        await outcomes.wait("n1")
        assert send(delivery, second.url, "n3")  # the first one's worker is gone: room again
        await outcomes.wait("n3")
    assert count(metrics, NotificationResult.DROPPED_FULL) == 1
    assert (first.ids(), second.ids()) == (["n1"], ["n3"])


async def test_an_expired_subscription_is_dropped_not_sent(
    receivers: Receivers, make_delivery: MakeDelivery, outcomes: Outcomes, metrics: CallbackMetrics
) -> None:
    receiver = await receivers.start()
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with make_delivery() as delivery:
        assert not send(delivery, receiver.url, "expired", expires_at=past)
        assert send(delivery, receiver.url, "valid")
        await outcomes.wait("valid")
    assert outcomes.by_id["expired"].result is NotificationResult.DROPPED_EXPIRED
    assert outcomes.by_id["expired"].attempts == 0
    assert receiver.ids() == ["valid"]  # per-URI order: the expired one would have come first
    assert count(metrics, NotificationResult.DROPPED_EXPIRED) == 1


async def test_a_subscription_expiring_during_retries_is_dropped(
    make_delivery: MakeDelivery, outcomes: Outcomes, metrics: CallbackMetrics
) -> None:
    refused = f"http://127.0.0.1:{free_port()}/notify"
    expires = datetime.now(UTC) + timedelta(seconds=0.5)
    async with make_delivery(backoff_base_seconds=0.05, backoff_max_seconds=0.1) as delivery:
        send(delivery, refused, "n1", expires_at=expires)
        outcome = await outcomes.wait("n1", within=2)
    assert outcome.result is NotificationResult.DROPPED_EXPIRED
    assert outcome.attempts >= 2
    assert outcome.at <= expires + timedelta(seconds=0.3)
    assert count(metrics, NotificationResult.DROPPED_EXPIRED) == 1
    assert metrics.sample("mec_notification_backlog", api=API) == 0


async def test_a_4xx_is_rejected_without_retry(
    receivers: Receivers, make_delivery: MakeDelivery, outcomes: Outcomes, metrics: CallbackMetrics
) -> None:
    receiver = await receivers.start(fail_first=1, fail_status=404)
    async with make_delivery() as delivery:
        send(delivery, receiver.url, "n1")
        send(delivery, receiver.url, "n2")
        await outcomes.wait("n2")
    assert outcomes.by_id["n1"].result is NotificationResult.REJECTED
    assert outcomes.by_id["n1"].detail == "HTTP 404"
    assert receiver.ids() == ["n1", "n2"]  # n1 once: a retry would have come before n2
    assert count(metrics, NotificationResult.REJECTED) == 1


async def test_gives_up_after_max_attempts(
    make_delivery: MakeDelivery, outcomes: Outcomes, metrics: CallbackMetrics
) -> None:
    refused = f"http://127.0.0.1:{free_port()}/notify"
    async with make_delivery(max_attempts=3) as delivery:
        send(delivery, refused, "n1")
        outcome = await outcomes.wait("n1", within=3)
    assert (outcome.result, outcome.attempts) == (NotificationResult.GAVE_UP, 3)
    assert "ConnectError" in outcome.detail
    assert count(metrics, NotificationResult.GAVE_UP) == 1


async def test_gives_up_when_the_next_attempt_would_be_too_old(
    make_delivery: MakeDelivery, outcomes: Outcomes
) -> None:
    refused = f"http://127.0.0.1:{free_port()}/notify"
    settings = {"max_age_seconds": 0.3, "backoff_max_seconds": 0.1, "max_attempts": 100}
    async with make_delivery(**settings) as delivery:
        started = time.monotonic()
        send(delivery, refused, "n1")
        outcome = await outcomes.wait("n1", within=2)
    assert outcome.result is NotificationResult.GAVE_UP
    assert outcome.attempts < 10  # not the 100 attempts allowed: the age bound
    assert time.monotonic() - started < 1.0


async def test_stop_gives_up_what_is_pending(
    make_delivery: MakeDelivery, outcomes: Outcomes, metrics: CallbackMetrics
) -> None:
    refused = f"http://127.0.0.1:{free_port()}/notify"
    delivery = make_delivery(stop_grace_seconds=0.1)
    await delivery.start()
    send(delivery, refused, "n1")
    send(delivery, refused, "n2")
    await asyncio.sleep(0.05)
    await asyncio.wait_for(delivery.stop(), 2)
    assert {outcomes.by_id[n].result for n in ("n1", "n2")} == {NotificationResult.GAVE_UP}
    assert outcomes.by_id["n2"].detail == "delivery stopped"
    assert metrics.sample("mec_notification_backlog", api=API) == 0
    with pytest.raises(RuntimeError, match="not running"):
        send(delivery, refused, "n3")


@pytest.mark.parametrize(
    "uri",
    [
        "ftp://127.0.0.1/notify",
        "mailto:someone@example.com",
        "file:///etc/passwd",
        "127.0.0.1:8080/notify",
        "http://",
        "http:///path-only",
        "https://host:port/",
        "http://host/a b",
        "HTTP://example.com/",
    ],
)
async def test_only_http_and_https_callbacks_are_accepted(
    make_delivery: MakeDelivery, uri: str
) -> None:
    async with make_delivery() as delivery:
        with pytest.raises(ValueError, match="refused") as refused:
            send(delivery, uri, "n1")
        assert delivery.pending() == 0
    assert "callback" in str(refused.value)


async def test_submit_refuses_bad_ids_and_naive_expiry(make_delivery: MakeDelivery) -> None:
    url = "http://127.0.0.1:9/notify"
    async with make_delivery() as delivery:
        with pytest.raises(ValueError, match="notification_id"):
            send(delivery, url, "bad\r\nid")
        with pytest.raises(ValueError, match="timezone"):
            send(delivery, url, "n1", expires_at=datetime(2030, 1, 1))
        with pytest.raises(TypeError):
            delivery.submit(
                url, {"when": datetime.now(UTC)}, notification_id="n2", subscription_id="s", api=API
            )
        assert delivery.pending() == 0
