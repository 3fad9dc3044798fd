"""The pure rules of callback delivery: what an answer means and how long to wait before retrying.

No I/O here, so each rule is property-tested on its own (tests/callbacks/test_policy.py):

- `verdict_for_status`: 2xx is delivered; 408, 429 and 5xx are worth retrying (the subscriber
  or something in front of it is overloaded, restarting or timing out); any other answer (1xx,
  3xx — redirects are not followed —, other 4xx) is the subscriber refusing the notification,
  and sending the same bytes again would be refused again.
- `backoff_delay`: exponential, `base * 2**(failures-1)`, capped at `cap`: it never decreases
  and never exceeds the cap. `jittered` takes up to a fraction of it away at random, so
  subscribers that failed together do not all retry at the same instant (the result stays
  within the cap).
- `retry_after_seconds`: the Retry-After header (delay-seconds or HTTP-date), or None.
- `delay_before_retry`: the jittered backoff, or the subscriber's Retry-After if longer (bounded,
  so a subscriber cannot park a notification for ever).
- `gives_up`: after `max_attempts`, or when the next attempt would start after `max_age`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

MAX_EXPONENT = 62
"""2**62 times any sensible base exceeds any sensible cap; bounds the arithmetic."""


class Verdict(StrEnum):
    """What one attempt's answer means for the notification."""

    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"


RETRYABLE_CLIENT_ERRORS = frozenset({408, 429})
"""4xx answers that say "not now" rather than "not this": Request Timeout, Too Many Requests."""


def verdict_for_status(status: int) -> Verdict:
    """The meaning of an HTTP status code answered to a notification."""
    if 200 <= status <= 299:
        return Verdict.DELIVERED
    if status in RETRYABLE_CLIENT_ERRORS or 500 <= status <= 599:
        return Verdict.RETRY
    return Verdict.REJECTED


def backoff_delay(failures: int, base: float, cap: float) -> float:
    """Seconds to wait after the `failures`-th failed attempt: base * 2**(failures-1), <= cap."""
    if failures < 1:
        raise ValueError("failures counts failed attempts: at least 1")
    if not 0 < base <= cap:
        raise ValueError("need 0 < base <= cap")
    return min(cap, base * 2.0 ** min(failures - 1, MAX_EXPONENT))


def jittered(delay: float, fraction: float, draw: float) -> float:
    """The delay less up to `fraction` of it: delay * (1 - fraction * draw), draw in [0, 1]."""
    if not 0 <= fraction <= 1 or not 0 <= draw <= 1:
        raise ValueError("fraction and draw must be in [0, 1]")
    return delay * (1.0 - fraction * draw)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """The wait a Retry-After header asks for, in seconds (>= 0); None if absent or unreadable.

    RFC 9110 allows a number of seconds or an HTTP-date; a date in the past means no wait.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdecimal() and text.isascii():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is GMT; a zone-less parse means "-0000"
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def delay_before_retry(
    failures: int,
    *,
    base: float,
    cap: float,
    jitter: float,
    draw: float,
    retry_after: float | None,
    retry_after_max: float,
) -> float:
    """Seconds before the next attempt: jittered backoff, or a longer Retry-After (bounded)."""
    delay = jittered(backoff_delay(failures, base, cap), jitter, draw)
    if retry_after is not None:
        delay = max(delay, min(retry_after, retry_after_max))
    return delay


def gives_up(
    attempts: int, *, max_attempts: int, age: float, next_delay: float, max_age: float
) -> bool:
    """True when no further attempt is made: attempts used up, or the next would start too late.

    `age` is the time since the notification was submitted; an attempt may start at most
    `max_age` after it.
    """
    return attempts >= max_attempts or age + next_delay > max_age
