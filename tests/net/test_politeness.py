"""Retry decisions, backoff, Retry-After and the per-host limiter, with a fake clock (no real waits)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from archiver.config import FetchConfig
from archiver.models import ErrorKind
from archiver.net.politeness import (
    HostLimiter,
    RetryPolicy,
    backoff_delay,
    parse_retry_after,
    retry_delay,
    retryable_error,
    retryable_status,
)

NOW = datetime(2025, 4, 26, 12, 0, 0, tzinfo=UTC)
POLICY = RetryPolicy(retries=3, backoff_base=0.5, backoff_max=30.0, retry_after_max=60.0)


class FakeTime:
    """A monotonic clock that only moves when someone sleeps; concurrent sleeps overlap, as in real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake = self.now + seconds
        await asyncio.sleep(0)
        self.now = max(self.now, wake)


@pytest.mark.parametrize(
    ("status", "retry"),
    [(408, True), (429, True), (500, True), (502, True), (503, True), (599, True)]
    + [(200, False), (301, False), (400, False), (401, False), (403, False), (404, False), (410, False)],
)
def test_retryable_status(status: int, retry: bool) -> None:
    assert retryable_status(status) is retry


def test_only_timeouts_are_retried_among_errors() -> None:
    assert retryable_error(ErrorKind.TIMEOUT)
    for kind in (
        ErrorKind.DNS,
        ErrorKind.CONNECT,
        ErrorKind.TLS,
        ErrorKind.BLOCKED_ADDRESS,
        ErrorKind.INVALID_URL,
        ErrorKind.DEADLINE,
        ErrorKind.PROTOCOL,
    ):
        assert not retryable_error(kind), kind


def test_backoff_doubles_then_caps() -> None:
    assert [backoff_delay(POLICY, n) for n in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff_delay(POLICY, 10_000) == 30.0  # no float overflow for absurd retry counts
    with pytest.raises(ValueError):
        backoff_delay(POLICY, -1)


def test_policy_from_config() -> None:
    config = FetchConfig(retries=5, backoff_base=0.1, backoff_max=2.0, retry_after_max=7.0)
    assert RetryPolicy.from_config(config) == RetryPolicy(5, 0.1, 2.0, 7.0)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        ("Sat, 26 Apr 2025 12:01:00 GMT", 60.0),
        (format_datetime(NOW - timedelta(hours=1), usegmt=True), 0.0),  # a date in the past: go now
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_retry_delay_honours_and_caps_retry_after() -> None:
    assert retry_delay(POLICY, 0, "120", NOW) == 60.0
    assert retry_delay(POLICY, 0, "999999999", NOW) == 60.0
    assert retry_delay(POLICY, 2, "3", NOW) == 3.0  # the server's word beats backoff, even when shorter
    assert retry_delay(POLICY, 2, None, NOW) == 2.0
    assert retry_delay(POLICY, 1, "garbage", NOW) == 1.0


def test_limiter_spaces_request_starts_per_host() -> None:
    fake = FakeTime()
    limiter = HostLimiter(4, 1.0, clock=fake.clock, sleep=fake.sleep)
    starts: list[tuple[str, float]] = []

    async def one(host: str) -> None:
        async with limiter.slot(host):
            starts.append((host, fake.now))

    async def main() -> None:
        await asyncio.gather(*(one("a") for _ in range(4)), *(one("b") for _ in range(2)))

    asyncio.run(main())
    assert sorted(t for h, t in starts if h == "a") == [0.0, 1.0, 2.0, 3.0]
    assert sorted(t for h, t in starts if h == "b") == [0.0, 1.0]  # hosts do not wait on each other


def test_limiter_caps_requests_in_flight_per_host() -> None:
    limiter = HostLimiter(2, 0.0)
    peak = 0

    async def one() -> None:
        nonlocal peak
        async with limiter.slot("a"):
            peak = max(peak, limiter.in_flight("a"))
            await asyncio.sleep(0.01)

    async def main() -> None:
        await asyncio.gather(*(one() for _ in range(7)))

    asyncio.run(main())
    assert peak == 2
    assert limiter.in_flight("a") == 0


def test_defer_holds_back_the_whole_host() -> None:
    fake = FakeTime()
    limiter = HostLimiter(4, 0.0, clock=fake.clock, sleep=fake.sleep)

    async def main() -> list[float]:
        waits = []
        async with limiter.slot("a") as waited:
            waits.append(waited)
        limiter.defer("a", 5.0)
        async with limiter.slot("a") as waited:
            waits.append(waited)
        async with limiter.slot("b") as waited:
            waits.append(waited)
        return waits

    assert asyncio.run(main()) == [0.0, 5.0, 0.0]
    assert fake.now == 5.0


def test_limiter_rejects_zero_concurrency() -> None:
    with pytest.raises(ValueError):
        HostLimiter(0, 0.0)
