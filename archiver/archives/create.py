"""Asking an archive to make a new copy of a page: the outcomes, the record, and the polling rule.

Both services (Perma.cc in `perma_create`, Save Page Now 2 in `spn2`) work the same way: a request
starts a capture job, a status route says when it has finished. So one `Creator` protocol, one
closed `CreateVerdict`, one frozen `CreateResult` per URL, and one bounded polling loop
(`poll_until`) that both use. Every way a request can end is a verdict with a reason in words:
a bad or missing key, a quota, a service that is down, a capture that failed or never finished.
None of them raises, and none of them waits longer than `[archiving] poll_timeout`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from archiver.errors import FetchFailure
from archiver.models import ArchiveRef
from archiver.net.http import AsyncClient, HTTPError, Response, describe_error


class CreateVerdict(StrEnum):
    """How a request for a new archive ended (JSON contract of `archiver archive`)."""

    CREATED = "created"  # the service holds a finished capture of the URL
    FAILED = "failed"  # the service tried and its capture failed (the page, not us)
    QUOTA = "quota"  # a usage, daily or rate limit of the account or the URL
    BAD_KEY = "bad_key"  # the service refused the credentials
    NO_KEY = "no_key"  # no credentials in the environment: not asked
    REJECTED = "rejected"  # the service refused the request itself (an invalid URL, a blocked site)
    UNAVAILABLE = "unavailable"  # the service could not be reached or answered with an error
    TIMEOUT = "timeout"  # the capture had not finished when the poll limit ran out


@dataclass(frozen=True)
class CreateResult:
    """One URL asked of one service.

    `ref` and `archive_url` are set only when `verdict` is `created`; `job` is the service's own
    handle (Perma GUID, SPN2 job id) whenever one was issued, so a timeout can be looked up later.
    `retryable` says whether asking again later may succeed (quota, a service down, a timeout).
    """

    service: str
    url: str
    verdict: CreateVerdict
    reason: str
    ref: ArchiveRef | None = None
    archive_url: str | None = None
    datetime: datetime | None = None
    job: str | None = None
    retryable: bool = False
    polls: int = 0


class Creator(Protocol):
    """One service that makes new archives. `create` never raises for what the service answered."""

    name: str

    async def create(self, urls: Sequence[str]) -> list[CreateResult]: ...


T = TypeVar("T")


@dataclass(frozen=True)
class Poll:
    """Bounds of a polling loop: first wait, wait between polls, total time allowed."""

    interval: float
    timeout: float


async def poll_until(
    check: Callable[[], Awaitable[T | None]],
    poll: Poll,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> tuple[T | None, int]:
    """Call `check` until it returns a value or `poll.timeout` seconds have gone; (value, polls made).

    The first check comes after one interval (a capture never finishes at once), and the last one
    is made at the deadline, not skipped because a whole interval no longer fits.
    """
    deadline = clock() + poll.timeout
    polls = 0
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            return None, polls
        await sleep(min(poll.interval, remaining))
        polls += 1
        found = await check()
        if found is not None:
            return found, polls


async def service_call(
    client: AsyncClient, service: str, deadline: float, method: str, url: str, **kwargs: Any
) -> Response | str:
    """One request to an archiving service within `deadline` seconds: the response, or why there was none."""
    try:
        async with asyncio.timeout(deadline):
            return await client.request(method, url, follow_redirects=False, **kwargs)
    except TimeoutError:
        return f"{service} did not answer within {deadline:g} s"
    except (HTTPError, FetchFailure) as exc:
        return f"{service} could not be reached ({describe_error(exc)})"


def json_body(response: Response) -> Any:
    """The JSON answer, or None when the body is not JSON (an HTML error page, a proxy's text)."""
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return None


def drf_message(data: Any) -> str | None:
    """The words of a Django REST framework error body: `detail`, or the first message of a field."""
    if isinstance(data, dict):
        if isinstance(data.get("detail"), str):
            return str(data["detail"])
        for field, value in data.items():
            if isinstance(value, list) and value and isinstance(value[0], str):
                return f"{value[0]}" if field in ("error", "non_field_errors") else f"{field}: {value[0]}"
            if isinstance(value, str):
                return f"{field}: {value}"
    return None
