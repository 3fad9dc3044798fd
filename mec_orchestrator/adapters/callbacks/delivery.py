"""Notifications POSTed to subscribers' callbacks (ETSI MEC 010-2, 013, 021 callbackReference).

`CallbackDelivery` runs in the operator's asyncio loop. The caller builds each notification's
body (with the notification id in it where the ETSI type has one) and `submit`s it; delivery
POSTs it as application/json with the header `X-Notification-Id`, and retries.

What is guaranteed, and what is not:

- **At least once, while the process lives.** A notification is sent until the subscriber answers
  2xx, is retried on connection errors, timeouts, 408, 429 and 5xx (with exponential backoff and
  jitter, at least the Retry-After the subscriber asks for, up to `retry_after_max_seconds`), and
  is resent with the same id and the same bytes — a subscriber may therefore see a notification
  twice (a 2xx lost on the way back) and should de-duplicate by id. Another 4xx (or a 3xx:
  redirects are not followed) is the subscriber refusing it: not retried, counted `rejected`.
  After `max_attempts`, or when the next attempt would start more than `max_age_seconds` after
  submission, it is given up (`gave_up`).
- **Order per callback URI**: one queue and one worker per URI, one request in flight, so a
  subscriber receives its notifications in submission order (a retried one holds those behind
  it). A slow or dead subscriber delays only its own queue, never another's.
- **Bounded memory**: at most `queue_size` notifications wait per URI (plus the one being sent),
  and at most `max_subscribers` URIs have notifications pending. When a subscriber's queue is
  full, the **oldest waiting** notification is dropped (`dropped_full`): notifications report
  state changes, the newest carries the most current state, and the oldest is the nearest to
  being given up anyway; refusing the newest instead would leave the subscriber with a stale
  picture. A notification for one URI more than `max_subscribers` is refused (`submit` returns
  False, counted `dropped_full`).
- **Expiry**: a notification whose subscription has expired (`expires_at` passed) is not sent:
  dropped at submission, before any attempt, or when it would expire before its next retry
  (`dropped_expired`).
- **Not durable**: queues are in memory. Notifications pending when the process stops (after
  `stop_grace_seconds`) or crashes are lost; `stop` counts them as `gave_up`. Subscriptions
  themselves are durable (MecSubscription objects); a notification is not.

Every outcome is counted in `mec_notifications_total{api,result}`, and given to the optional
`on_outcome` callback (for the MecSubscription status counters).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import TracebackType
from typing import Any, Self

import httpx

from mec_orchestrator.adapters.callbacks.metrics import CallbackMetrics, default_metrics
from mec_orchestrator.adapters.callbacks.policy import (
    Verdict,
    delay_before_retry,
    gives_up,
    retry_after_seconds,
    verdict_for_status,
)
from mec_orchestrator.adapters.callbacks.settings import DeliverySettings
from mec_orchestrator.model.subscription import SubscriptionApi, check_callback_reference

log = logging.getLogger(__name__)

NOTIFICATION_ID_HEADER = "X-Notification-Id"
ANSWER_READ_LIMIT = 64 * 1024
"""Bytes of a subscriber's answer body read (and ignored); the rest is not read."""
MAX_ID_LENGTH = 256


class NotificationResult(StrEnum):
    """How a notification ended (the `result` label of `mec_notifications_total`)."""

    DELIVERED = "delivered"
    REJECTED = "rejected"
    DROPPED_FULL = "dropped_full"
    DROPPED_EXPIRED = "dropped_expired"
    GAVE_UP = "gave_up"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The end of one notification, as given to `on_outcome`."""

    notification_id: str
    subscription_id: str
    api: str
    callback_uri: str
    result: NotificationResult
    attempts: int
    detail: str
    """The last answer or error ("HTTP 204", "ConnectError: ...", "queue full", ...)."""
    at: datetime


@dataclass(slots=True, eq=False)
class _Notification:
    notification_id: str
    subscription_id: str
    api: str
    uri: str
    payload: bytes
    expires_at: datetime | None
    submitted: float  # loop time
    attempts: int = 0
    resolved: bool = False


@dataclass(slots=True, eq=False)
class _Subscriber:
    queue: deque[_Notification] = field(default_factory=deque)
    current: _Notification | None = None
    task: asyncio.Task[None] | None = None


def _check_id(value: str, what: str) -> str:
    if not 0 < len(value) <= MAX_ID_LENGTH or not all(" " <= c <= "~" for c in value):
        raise ValueError(f"{what} must be 1 to {MAX_ID_LENGTH} printable ASCII characters")
    return value


class CallbackDelivery:
    """POSTs notifications to callback URIs: a bounded queue and a worker per URI (see module)."""

    def __init__(
        self,
        settings: DeliverySettings | None = None,
        *,
        metrics: CallbackMetrics | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings or DeliverySettings()
        self._metrics = metrics or default_metrics()
        self._metrics.prime((api.value for api in SubscriptionApi), NotificationResult)
        self._on_outcome = on_outcome
        # Jitter needs no cryptographic randomness.
        self._rng = rng or random.Random()  # noqa: S311
        self._subscribers: dict[str, _Subscriber] = {}
        self._client: httpx.AsyncClient | None = None
        self._running = False

    @property
    def settings(self) -> DeliverySettings:
        return self._settings

    @property
    def running(self) -> bool:
        """Started and not stopped: `submit` is accepted."""
        return self._running

    async def start(self) -> None:
        """Open the HTTP client; `submit` is accepted from now until `stop`."""
        if self._client is not None:
            raise RuntimeError("callback delivery already started")
        s = self._settings
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(s.timeout_seconds),
            # One request in flight per subscriber: a connection each, never a wait for the pool.
            limits=httpx.Limits(
                max_connections=s.max_subscribers,
                max_keepalive_connections=min(s.max_subscribers, 100),
            ),
            follow_redirects=False,
            trust_env=s.use_env_proxy,
            headers={"User-Agent": "mec-orchestrator"},
        )
        self._running = True

    async def stop(self) -> None:
        """Stop accepting; give pending notifications `stop_grace_seconds`, then give them up."""
        if self._client is None:
            return
        self._running = False
        tasks = [sub.task for sub in self._subscribers.values() if sub.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self._settings.stop_grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._client.aclose()
        self._client = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def pending(self, callback_uri: str | None = None) -> int:
        """Notifications accepted and not yet resolved, for one callback URI or all."""
        if callback_uri is None:
            subscribers = list(self._subscribers.values())
        else:
            one = self._subscribers.get(callback_uri)
            subscribers = [one] if one is not None else []
        return sum(len(s.queue) + (s.current is not None) for s in subscribers)

    def submit(
        self,
        callback_uri: str,
        body: Mapping[str, Any],
        *,
        notification_id: str,
        subscription_id: str,
        api: str,
        expires_at: datetime | None = None,
    ) -> bool:
        """Queue body for callback_uri; True if queued, False if dropped at once (and counted).

        It is dropped when the subscription has expired (`expires_at` not after now) or when
        `max_subscribers` other URIs have notifications pending; when the URI's queue is full,
        the oldest waiting notification is dropped instead and this one is queued.

        ValueError for a callback that is not an absolute http:// or https:// URI, an id that
        is not printable ASCII, a naive `expires_at`, or a body JSON cannot represent (TypeError
        for a value of a type JSON does not know); RuntimeError when not started.
        """
        try:
            uri = check_callback_reference(callback_uri)
            httpx.URL(uri)  # what the client will parse
        except (ValueError, httpx.InvalidURL) as error:
            raise ValueError(f"callback {callback_uri!r} refused: {error}") from None
        _check_id(notification_id, "notification_id")
        _check_id(subscription_id, "subscription_id")
        if expires_at is not None and expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        payload = json.dumps(body, ensure_ascii=False, allow_nan=False).encode()
        if not self._running:
            raise RuntimeError("callback delivery is not running (start it first)")
        notification = _Notification(
            notification_id=notification_id,
            subscription_id=subscription_id,
            api=api,
            uri=uri,
            payload=payload,
            expires_at=expires_at,
            submitted=asyncio.get_running_loop().time(),
        )
        if expires_at is not None and expires_at <= datetime.now(UTC):
            self._resolve(notification, NotificationResult.DROPPED_EXPIRED, "expired", queued=False)
            return False
        subscriber = self._subscribers.get(uri)
        if subscriber is None:
            if len(self._subscribers) >= self._settings.max_subscribers:
                detail = f"{len(self._subscribers)} subscribers pending already"
                self._resolve(notification, NotificationResult.DROPPED_FULL, detail, queued=False)
                return False
            subscriber = self._subscribers[uri] = _Subscriber()
            subscriber.task = asyncio.create_task(
                self._work(uri, subscriber), name=f"callback {uri}"
            )
        if len(subscriber.queue) >= self._settings.queue_size:
            oldest = subscriber.queue.popleft()
            self._resolve(oldest, NotificationResult.DROPPED_FULL, "subscriber's queue full")
        subscriber.queue.append(notification)
        self._metrics.backlog.labels(api).inc()
        return True

    # -- the worker of one callback URI ------------------------------------------------------

    async def _work(self, uri: str, subscriber: _Subscriber) -> None:
        """Send the URI's notifications one at a time; end when its queue is empty."""
        try:
            while subscriber.queue:
                notification = subscriber.current = subscriber.queue.popleft()
                try:
                    await self._deliver(notification)
                except Exception:  # a bug here must not strand the queue behind it
                    log.exception("delivering notification %s failed", notification.notification_id)
                    self._resolve(notification, NotificationResult.GAVE_UP, "internal error")
                subscriber.current = None
        finally:
            # Only a cancellation (stop) leaves anything here.
            left = [subscriber.current] if subscriber.current is not None else []
            for notification in [*left, *subscriber.queue]:
                self._resolve(notification, NotificationResult.GAVE_UP, "delivery stopped")
            subscriber.queue.clear()
            if self._subscribers.get(uri) is subscriber:
                del self._subscribers[uri]

    async def _deliver(self, notification: _Notification) -> None:
        s = self._settings
        loop = asyncio.get_running_loop()
        while True:
            if self._expired(notification, datetime.now(UTC)):
                self._resolve(notification, NotificationResult.DROPPED_EXPIRED, "expired")
                return
            notification.attempts += 1
            verdict, detail, retry_after = await self._attempt(notification)
            if verdict is Verdict.DELIVERED:
                self._resolve(notification, NotificationResult.DELIVERED, detail)
                return
            if verdict is Verdict.REJECTED:
                self._resolve(notification, NotificationResult.REJECTED, detail)
                return
            delay = delay_before_retry(
                notification.attempts,
                base=s.backoff_base_seconds,
                cap=s.backoff_max_seconds,
                jitter=s.jitter,
                draw=self._rng.random(),
                retry_after=retry_after,
                retry_after_max=s.retry_after_max_seconds,
            )
            age = loop.time() - notification.submitted
            if gives_up(
                notification.attempts,
                max_attempts=s.max_attempts,
                age=age,
                next_delay=delay,
                max_age=s.max_age_seconds,
            ):
                detail = f"gave up after {notification.attempts} attempts: {detail}"
                self._resolve(notification, NotificationResult.GAVE_UP, detail)
                return
            if self._expired(notification, datetime.now(UTC) + timedelta(seconds=delay)):
                detail = f"expires before the next attempt; last: {detail}"
                self._resolve(notification, NotificationResult.DROPPED_EXPIRED, detail)
                return
            log.debug(
                "notification %s to %s: %s; attempt %d in %.2f s",
                notification.notification_id,
                notification.uri,
                detail,
                notification.attempts + 1,
                delay,
            )
            await asyncio.sleep(delay)

    async def _attempt(self, notification: _Notification) -> tuple[Verdict, str, float | None]:
        """One POST: its verdict, a description of the answer, the Retry-After it asked for."""
        assert self._client is not None  # noqa: S101 - workers run only between start and stop
        timeout = self._settings.timeout_seconds
        headers = {
            "Content-Type": "application/json",
            NOTIFICATION_ID_HEADER: notification.notification_id,
        }
        status: int | None = None
        retry_after: str | None = None
        failure = ""
        try:
            async with (
                asyncio.timeout(timeout),
                self._client.stream(
                    "POST", notification.uri, content=notification.payload, headers=headers
                ) as response,
            ):
                status, retry_after = response.status_code, response.headers.get("Retry-After")
                await _discard_answer(response)
        except (TimeoutError, httpx.TimeoutException):
            failure = f"no answer within {timeout:g} s"
        except httpx.TransportError as error:
            failure = f"{type(error).__name__}: {error}".removesuffix(": ")
        except (httpx.HTTPError, httpx.InvalidURL) as error:  # sending again will not help
            if status is None:
                return Verdict.REJECTED, f"{type(error).__name__}: {error}", None
        if status is None:  # an answer whose body broke off still counts as an answer
            return Verdict.RETRY, failure, None
        verdict = verdict_for_status(status)
        wait = retry_after_seconds(retry_after, datetime.now(UTC))
        return verdict, f"HTTP {status}", wait if verdict is Verdict.RETRY else None

    # -- bookkeeping ---------------------------------------------------------------------------

    @staticmethod
    def _expired(notification: _Notification, at: datetime) -> bool:
        return notification.expires_at is not None and notification.expires_at <= at

    def _resolve(
        self,
        notification: _Notification,
        result: NotificationResult,
        detail: str,
        *,
        queued: bool = True,
    ) -> None:
        """Count and report how a notification ended (once)."""
        if notification.resolved:
            return
        notification.resolved = True
        api = notification.api
        self._metrics.notifications.labels(api, result.value).inc()
        if queued:
            self._metrics.backlog.labels(api).dec()
        if result is NotificationResult.DELIVERED:
            elapsed = asyncio.get_running_loop().time() - notification.submitted
            self._metrics.delivery_seconds.labels(api).observe(elapsed)
        level = logging.DEBUG if result is NotificationResult.DELIVERED else logging.WARNING
        log.log(
            level,
            "notification %s of subscription %s to %s: %s (%s)",
            notification.notification_id,
            notification.subscription_id,
            notification.uri,
            result.value,
            detail,
        )
        if self._on_outcome is not None:
            outcome = Outcome(
                notification_id=notification.notification_id,
                subscription_id=notification.subscription_id,
                api=api,
                callback_uri=notification.uri,
                result=result,
                attempts=notification.attempts,
                detail=detail,
                at=datetime.now(UTC),
            )
            try:
                self._on_outcome(outcome)
            except Exception:
                log.exception("on_outcome failed for notification %s", outcome.notification_id)


async def _discard_answer(response: httpx.Response) -> None:
    """Read up to ANSWER_READ_LIMIT bytes of the answer (a small one keeps the connection)."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read > ANSWER_READ_LIMIT:
            return
