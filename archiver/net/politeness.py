"""Politeness: when to retry, how long to wait, and how hard one host may be asked.

Pure, or given its clock and sleep, so the rules are tested without a network or real waiting
(lychee's `retry.rs` and `ratelimit/host` are the model): `retryable_status` / `retryable_error`,
`retry_delay` (a capped Retry-After, else exponential backoff) and `HostLimiter` (per-host
concurrency and interval; a 429 defers the whole host). See docs/politeness.md.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from archiver.config import FetchConfig
from archiver.models import ErrorKind

RETRY_STATUSES = frozenset({408, 429})
RETRY_ERRORS = frozenset({ErrorKind.TIMEOUT})

Sleep = Callable[[float], Awaitable[None]]
Monotonic = Callable[[], float]


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry and how long to wait between tries (all in seconds)."""

    retries: int = 2
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 60.0

    @classmethod
    def from_config(cls, config: FetchConfig) -> RetryPolicy:
        return cls(
            retries=config.retries,
            backoff_base=config.backoff_base,
            backoff_max=config.backoff_max,
            retry_after_max=config.retry_after_max,
        )


def retryable_status(status: int) -> bool:
    """408 and 429 (come back later) and every 5xx (the server may recover); no other status."""
    return status in RETRY_STATUSES or 500 <= status <= 599


def retryable_error(kind: ErrorKind) -> bool:
    """Only timeouts: DNS, refused connections, TLS and blocked addresses give the same answer again."""
    return kind in RETRY_ERRORS


def backoff_delay(policy: RetryPolicy, retry_number: int) -> float:
    """Delay before retry `retry_number` (0 for the first retry): base, doubling, capped at max."""
    if retry_number < 0:
        raise ValueError("retry_number counts from 0")
    # Cap the exponent first: 2**1000 as a float overflows long before the cap would apply.
    exponent = min(retry_number, 62)
    return min(policy.backoff_base * (2.0**exponent), policy.backoff_max)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` value (RFC 9110 §10.2.3), or None when absent or invalid.

    Two forms: a non-negative integer of seconds, or an HTTP-date (a date in the past means 0).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are GMT; email.utils leaves "-0000" zones naive.
        when = when.replace(tzinfo=UTC)
    seconds = (when - now).total_seconds()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def retry_delay(policy: RetryPolicy, retry_number: int, retry_after: str | None, now: datetime) -> float:
    """Seconds to wait before retry `retry_number`: the server's Retry-After (capped) or backoff."""
    asked = parse_retry_after(retry_after, now)
    if asked is not None:
        return min(asked, policy.retry_after_max)
    return backoff_delay(policy, retry_number)


class _HostState:
    __slots__ = ("in_flight", "next_start", "semaphore")

    def __init__(self, concurrency: int) -> None:
        self.semaphore = asyncio.Semaphore(concurrency)
        self.next_start = -math.inf
        self.in_flight = 0


class HostLimiter:
    """Per-host concurrency and start interval for asyncio tasks, with an injected clock and sleep.

    Each request start reserves its time slot at once (no await between reading and writing the
    host's next start), so concurrent tasks get distinct, evenly spaced slots.
    """

    def __init__(
        self,
        concurrency: int,
        interval: float,
        *,
        clock: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if concurrency < 1:
            raise ValueError("host concurrency must be at least 1")
        self.concurrency = concurrency
        self.interval = max(0.0, interval)
        self._clock = clock
        self._sleep = sleep
        self._hosts: dict[str, _HostState] = {}

    def _state(self, host: str) -> _HostState:
        state = self._hosts.get(host)
        if state is None:
            state = self._hosts[host] = _HostState(self.concurrency)
        return state

    def defer(self, host: str, seconds: float) -> None:
        """Let no new request start on `host` for `seconds` (a 429 or 503 with Retry-After)."""
        state = self._state(host)
        state.next_start = max(state.next_start, self._clock() + max(0.0, seconds))

    def waits(self) -> dict[str, float]:
        """Seconds until each host may start its next request, for the hosts that must still wait."""
        now = self._clock()
        return {host: state.next_start - now for host, state in self._hosts.items() if state.next_start > now}

    def in_flight(self, host: str) -> int:
        state = self._hosts.get(host)
        return 0 if state is None else state.in_flight

    def slot(self, host: str) -> _Slot:
        """Hold one of the host's slots (`async with`); yields the seconds waited for the start interval."""
        return _Slot(self, self._state(host))


class _Slot:
    """One request's hold on a host: a plain object, not a generator-based context manager (one per fetch)."""

    __slots__ = ("_limiter", "_state")

    def __init__(self, limiter: HostLimiter, state: _HostState) -> None:
        self._limiter = limiter
        self._state = state

    async def __aenter__(self) -> float:
        state, limiter = self._state, self._limiter
        await state.semaphore.acquire()
        try:
            waited = 0.0
            # Loop because `defer` may push the start later while we sleep.
            while True:
                now = limiter._clock()
                start = max(now, state.next_start)
                if start <= now:
                    state.next_start = now + limiter.interval
                    break
                await limiter._sleep(start - now)
                waited += start - now
        except BaseException:
            state.semaphore.release()
            raise
        state.in_flight += 1
        return waited

    async def __aexit__(self, *exc: object) -> None:
        self._state.in_flight -= 1
        self._state.semaphore.release()
