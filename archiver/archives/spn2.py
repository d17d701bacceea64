"""The Wayback Machine's Save Page Now 2: ask for a capture, poll it, classify how it ended.

Follows the public SPN2 API docs (rev. 2025-10): `POST {wayback}/save` with archive.org S3 keys
from the environment, then `GET /save/status/{job_id}` promptly (results live about an hour).
Requests are spaced and capped because SPN2 limits sessions and captures a minute; `status_ext`
codes are split into the service's trouble, the target's transient trouble, and permanent
refusals. See docs/permacc.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from typing import Any

from archiver.archives.create import CreateResult, CreateVerdict, Poll, json_body, poll_until, service_call
from archiver.archives.protocol import is_challenge
from archiver.archives.wayback import timestamp_datetime
from archiver.config import ArchivingConfig, WaybackConfig
from archiver.net.http import AsyncClient, Response
from archiver.refs import parse_archive_ref, wayback_uri

SERVICE = "wayback"
KEY_ENV = "ARCHIVER_WAYBACK_S3_KEY"
SECRET_ENV = "ARCHIVER_WAYBACK_S3_SECRET"

QUOTA = frozenset(
    {
        "error:too-many-daily-captures",
        "error:max-daily-bandwidth",
        "error:max-daily-bandwidth-from-ip",
        "error:max-daily-bandwidth-host",
        "error:too-many-daily-captures-host",
    }
)
SERVICE_TROUBLE = frozenset(
    {
        "error:capture-location-error",
        "error:cannot-fetch",
        "error:celery",
        "error:internal-server-error",
        "error:job-failed",
        "error:no-browsers-available",
        "error:proxy-error",
    }
)
TARGET_TRANSIENT = frozenset(
    {
        "error:bad-gateway",
        "error:bandwidth-limit-exceeded",
        "error:browsing-timeout",
        "error:gateway-timeout",
        "error:invalid-server-response",
        "error:protocol-error",
        "error:read-timeout",
        "error:service-unavailable",
        "error:soft-time-limit-exceeded",
        "error:too-many-requests",
    }
)
REJECTED = frozenset({"error:blocked-url", "error:blocked-client-ip", "error:invalid-url-syntax"})
SESSION_LIMIT = "error:user-session-limit"


def classify(status_ext: str, message: str, url: str, job: str | None) -> CreateResult:
    """The verdict of an SPN2 error object; unknown codes are failures that are not retried."""
    said = f"Save Page Now: {status_ext}" + (f" ({message})" if message else "")
    if status_ext in QUOTA or status_ext == SESSION_LIMIT:
        return CreateResult(SERVICE, url, CreateVerdict.QUOTA, f"{said}; try again tomorrow", job=job, retryable=True)
    if status_ext in SERVICE_TROUBLE:
        return CreateResult(
            SERVICE, url, CreateVerdict.UNAVAILABLE, f"{said}; try again later", job=job, retryable=True
        )
    if status_ext in TARGET_TRANSIENT:
        return CreateResult(SERVICE, url, CreateVerdict.FAILED, f"{said}; try again later", job=job, retryable=True)
    if status_ext in REJECTED:
        return CreateResult(SERVICE, url, CreateVerdict.REJECTED, said, job=job)
    return CreateResult(SERVICE, url, CreateVerdict.FAILED, said, job=job)


class SavePageNow:
    """Save Page Now 2 with one pair of S3 keys; `request_deadline` bounds every single HTTP call."""

    name = SERVICE

    def __init__(
        self,
        client: AsyncClient,
        wayback: WaybackConfig,
        archiving: ArchivingConfig,
        *,
        access_key: str | None,
        secret: str | None,
        request_deadline: float,
    ) -> None:
        self._client = client
        self._base = wayback.url.rstrip("/")
        self._auth = f"LOW {access_key}:{secret}" if access_key and secret else None
        self._deadline = request_deadline
        self._poll = Poll(archiving.poll_interval, archiving.poll_timeout)
        self._interval = archiving.wayback_interval
        self._slots = asyncio.Semaphore(archiving.wayback_concurrency)
        self._gate = asyncio.Lock()
        self._next_start = 0.0

    async def create(self, urls: Sequence[str]) -> list[CreateResult]:
        if self._auth is None:
            reason = f"no Save Page Now keys: set {KEY_ENV} and {SECRET_ENV} (archive.org S3 keys)"
            return [CreateResult(SERVICE, url, CreateVerdict.NO_KEY, reason) for url in urls]
        return list(await asyncio.gather(*(self._one(url) for url in urls)))

    def _headers(self) -> dict[str, str]:
        assert self._auth is not None
        return {"Accept": "application/json", "Authorization": self._auth}

    async def _call(self, method: str, path: str, data: dict[str, str] | None = None) -> Response | str:
        return await service_call(
            self._client,
            "Save Page Now",
            self._deadline,
            method,
            f"{self._base}{path}",
            data=data,
            headers=self._headers(),
        )

    async def _spaced(self) -> None:
        """Wait for this request's turn: starts are `wayback_interval` apart (7 a minute)."""
        async with self._gate:
            now = time.monotonic()
            wait = self._next_start - now
            self._next_start = max(now, self._next_start) + self._interval
        if wait > 0:
            await asyncio.sleep(wait)

    async def _one(self, url: str) -> CreateResult:
        async with self._slots:
            started = time.monotonic()
            while True:
                await self._spaced()
                response = await self._call("POST", "/save", {"url": url, "skip_first_archive": "1"})
                refused = _refusal(url, response)
                if refused is not None:
                    return refused
                assert isinstance(response, Response)
                data = json_body(response)
                job = data.get("job_id") if isinstance(data, dict) else None
                if isinstance(job, str) and job:
                    return await self._wait(url, job)
                status_ext = str(data.get("status_ext") or "") if isinstance(data, dict) else ""
                message = str(data.get("message") or "") if isinstance(data, dict) else ""
                if (
                    status_ext == SESSION_LIMIT
                    and time.monotonic() - started + self._poll.interval < self._poll.timeout
                ):
                    await asyncio.sleep(self._poll.interval)  # our sessions are full: wait for one to end
                    continue
                if status_ext:
                    return classify(status_ext, message, url, None)
                return CreateResult(
                    SERVICE,
                    url,
                    CreateVerdict.UNAVAILABLE,
                    f"Save Page Now answered without a job id ({message or 'no message'})",
                    retryable=True,
                )

    async def _wait(self, url: str, job: str) -> CreateResult:
        last: dict[str, Any] = {}

        async def check() -> dict[str, Any] | None:
            response = await self._call("GET", f"/save/status/{job}")
            if isinstance(response, str) or response.status_code != 200:
                return None
            data = json_body(response)
            if isinstance(data, dict):
                last.update(data)
                if data.get("status") in ("success", "error"):
                    return data
            return None

        done, polls = await poll_until(check, self._poll)
        if done is None:
            return CreateResult(
                SERVICE,
                url,
                CreateVerdict.TIMEOUT,
                f"Save Page Now job {job} was still {last.get('status', 'pending')} after {self._poll.timeout:g} s; "
                "its status is kept about an hour: raise [archiving] poll_timeout or try again",
                job=job,
                retryable=True,
                polls=polls,
            )
        if done.get("status") == "error":
            result = classify(str(done.get("status_ext") or "error:unknown"), str(done.get("message") or ""), url, job)
            return dataclasses.replace(result, polls=polls)
        timestamp, original = done.get("timestamp"), done.get("original_url") or url
        if not isinstance(timestamp, str) or not timestamp.isdigit() or len(timestamp) != 14:
            return CreateResult(
                SERVICE,
                url,
                CreateVerdict.UNAVAILABLE,
                f"Save Page Now job {job} succeeded without a timestamp",
                job=job,
            )
        archive_url = wayback_uri(timestamp, str(original), self._base)
        return CreateResult(
            SERVICE,
            url,
            CreateVerdict.CREATED,
            f"Save Page Now captured {archive_url}",
            ref=parse_archive_ref(archive_url, wayback_url=self._base),
            archive_url=archive_url,
            datetime=timestamp_datetime(timestamp),
            job=job,
            polls=polls,
        )


def _refusal(url: str, response: Response | str) -> CreateResult | None:
    """The verdict of a submission that got no usable answer; None when the body is to be read."""
    if isinstance(response, str):
        return CreateResult(SERVICE, url, CreateVerdict.UNAVAILABLE, f"{response}; try again later", retryable=True)
    status = response.status_code
    if is_challenge(status, response.headers, response.content[:65536]):
        return CreateResult(SERVICE, url, CreateVerdict.UNAVAILABLE, "Save Page Now answered with a challenge page")
    data = json_body(response)
    message = str(data.get("message") or "") if isinstance(data, dict) else ""
    if status in (401, 403):
        return CreateResult(
            SERVICE,
            url,
            CreateVerdict.BAD_KEY,
            f"Save Page Now refused the S3 keys (HTTP {status}{': ' + message if message else ''}); "
            f"check {KEY_ENV} and {SECRET_ENV}",
        )
    if status == 429:
        return CreateResult(
            SERVICE, url, CreateVerdict.QUOTA, "Save Page Now rate limit (HTTP 429); try again later", retryable=True
        )
    if status >= 400 and not (isinstance(data, dict) and data.get("status_ext")):
        return CreateResult(
            SERVICE,
            url,
            CreateVerdict.UNAVAILABLE,
            f"Save Page Now answered HTTP {status}; try again later",
            retryable=True,
        )
    if data is None:
        return CreateResult(
            SERVICE, url, CreateVerdict.UNAVAILABLE, f"Save Page Now sent no JSON (HTTP {status})", retryable=True
        )
    return None
