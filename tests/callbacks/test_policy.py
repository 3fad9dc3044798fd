"""The pure rules of callback delivery, property-tested: backoff, retry decision, Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from mec_orchestrator.adapters.callbacks.policy import (
    Verdict,
    backoff_delay,
    delay_before_retry,
    gives_up,
    jittered,
    retry_after_seconds,
    verdict_for_status,
)
from mec_orchestrator.adapters.callbacks.settings import DeliverySettings
from mec_orchestrator.model import check_callback_reference

bases = st.floats(min_value=0.001, max_value=60)
caps = st.floats(min_value=0.001, max_value=3600)
failures = st.integers(min_value=1, max_value=10_000)
unit = st.floats(min_value=0, max_value=1)
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@given(bases, caps, failures)
def test_backoff_never_exceeds_the_cap_and_never_decreases(base: float, cap: float, n: int) -> None:
    assume(base <= cap)
    delay, following = backoff_delay(n, base, cap), backoff_delay(n + 1, base, cap)
    assert 0 < delay <= cap
    assert following >= delay
    if following < cap:  # before the cap it doubles
        assert following == pytest.approx(2 * delay)


@given(bases, caps)
def test_backoff_starts_at_the_base_and_reaches_the_cap(base: float, cap: float) -> None:
    assume(base <= cap)
    assert backoff_delay(1, base, cap) == base
    assert backoff_delay(64, base, cap) == cap


@given(st.integers(max_value=0), bases)
def test_backoff_needs_a_failure(n: int, base: float) -> None:
    with pytest.raises(ValueError, match="failures"):
        backoff_delay(n, base, base)


@given(st.floats(min_value=0, max_value=3600), unit, unit)
def test_jitter_only_shortens_and_by_at_most_its_fraction(
    delay: float, fraction: float, draw: float
) -> None:
    result = jittered(delay, fraction, draw)
    assert delay * (1 - fraction) - 1e-9 <= result <= delay


@given(
    n=failures,
    base=bases,
    cap=caps,
    jitter=unit,
    draw=unit,
    retry_after=st.none() | st.floats(min_value=0, max_value=1e6),
    retry_after_max=st.floats(min_value=0, max_value=3600),
)
def test_the_delay_honours_retry_after_within_its_bound(
    *,
    n: int,
    base: float,
    cap: float,
    jitter: float,
    draw: float,
    retry_after: float | None,
    retry_after_max: float,
) -> None:
    assume(base <= cap)
    delay = delay_before_retry(
        n,
        base=base,
        cap=cap,
        jitter=jitter,
        draw=draw,
        retry_after=retry_after,
        retry_after_max=retry_after_max,
    )
    assert delay <= max(cap, retry_after_max)
    if retry_after is not None:
        assert delay >= min(retry_after, retry_after_max)
    else:
        assert delay <= cap


@given(st.integers(min_value=100, max_value=599))
def test_every_status_has_one_verdict(status: int) -> None:
    verdict = verdict_for_status(status)
    if 200 <= status < 300:
        assert verdict is Verdict.DELIVERED
    elif status >= 500 or status in (408, 429):
        assert verdict is Verdict.RETRY
    else:
        assert verdict is Verdict.REJECTED


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (301, Verdict.REJECTED),
        (400, Verdict.REJECTED),
        (404, Verdict.REJECTED),
        (408, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
    ],
)
def test_status_examples(status: int, verdict: Verdict) -> None:
    assert verdict_for_status(status) is verdict


@given(st.integers(min_value=0, max_value=10**6))
def test_retry_after_in_seconds(seconds: int) -> None:
    assert retry_after_seconds(f" {seconds} ", NOW) == seconds


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_retry_after_as_an_http_date(seconds: int) -> None:
    header = format_datetime(NOW + timedelta(seconds=seconds), usegmt=True)
    assert retry_after_seconds(header, NOW) == max(0, seconds)


@given(st.text(max_size=40))
def test_retry_after_never_fails_nor_goes_negative(header: str) -> None:
    wait = retry_after_seconds(header, NOW)
    assert wait is None or wait >= 0


def test_unreadable_retry_after_is_ignored() -> None:
    assert retry_after_seconds(None, NOW) is None
    assert retry_after_seconds("soon", NOW) is None
    assert retry_after_seconds("-5", NOW) is None
    assert retry_after_seconds("1.5", NOW) is None


@given(
    st.integers(min_value=1, max_value=100),
    st.integers(min_value=1, max_value=100),
    st.floats(min_value=0, max_value=1000),
    st.floats(min_value=0, max_value=100),
    st.floats(min_value=0.001, max_value=1000),
)
def test_once_given_up_always_given_up(
    attempts: int, max_attempts: int, age: float, delay: float, max_age: float
) -> None:
    def stop(attempts: int, age: float, next_delay: float) -> bool:
        return gives_up(
            attempts, max_attempts=max_attempts, age=age, next_delay=next_delay, max_age=max_age
        )

    if stop(attempts, age, delay):
        assert stop(attempts + 1, age, delay)
        assert stop(attempts, age + 1, delay)
        assert stop(attempts, age, delay + 1)
    if attempts >= max_attempts:
        assert stop(attempts, 0, 0)


_host = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){0,2}", fullmatch=True)
_path = st.from_regex(r"(/[A-Za-z0-9._~-]{0,12}){0,4}(\?[a-z]=[a-z0-9]{0,8})?", fullmatch=True)


@given(st.sampled_from(["http", "https"]), _host, st.none() | st.integers(1, 65535), _path)
def test_http_and_https_callbacks_are_accepted(
    scheme: str, host: str, port: int | None, path: str
) -> None:
    uri = f"{scheme}://{host}{f':{port}' if port else ''}{path}"
    assert check_callback_reference(uri) == uri


@given(st.from_regex(r"[a-z][a-z0-9+.-]{0,10}", fullmatch=True), _host, _path)
def test_other_schemes_are_refused(scheme: str, host: str, path: str) -> None:
    assume(scheme not in ("http", "https"))
    with pytest.raises(ValueError, match=r"http:// or https://"):
        check_callback_reference(f"{scheme}://{host}{path}")


def test_settings_refuse_a_cap_below_the_base() -> None:
    with pytest.raises(ValueError, match="backoff_max_seconds"):
        DeliverySettings(backoff_base_seconds=10, backoff_max_seconds=1)
    with pytest.raises(ValueError, match="queue_size"):
        DeliverySettings(queue_size=0)
    assert DeliverySettings().max_attempts >= 1
