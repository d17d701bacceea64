"""Perma.cc: make new links (reference/permacc.md §1c, errors §6), and wait for their capture.

One URL is a `POST /v1/archives/`, several a `POST /v1/archives/batches`; each capture job is
polled until it settles, then the link record gives the archive's date. Errors are read as DRF
writes them (quota, rejected URL, bad key, rate limit, unavailable). The key goes only into the
Authorization header, never into a reason. See docs/permacc.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

from archiver.archives.create import CreateResult, CreateVerdict, Poll, drf_message, json_body, poll_until, service_call
from archiver.archives.protocol import is_challenge
from archiver.clock import parse_stamp
from archiver.config import ArchivingConfig, PermaConfig
from archiver.net.http import AsyncClient, Response
from archiver.refs import canonical_guid, parse_archive_ref

SERVICE = "perma"
FINISHED = frozenset({"completed", "failed", "invalid", "deleted"})


class PermaCreator:
    """Creates Perma.cc links with one API key; `request_deadline` bounds every single HTTP call."""

    name = SERVICE

    def __init__(
        self,
        client: AsyncClient,
        perma: PermaConfig,
        archiving: ArchivingConfig,
        *,
        api_key: str | None,
        request_deadline: float,
    ) -> None:
        self._client = client
        self._api = perma.api_url.rstrip("/")
        self._site = perma.site_url.rstrip("/")
        self._config = archiving
        self._key = api_key or None
        self._deadline = request_deadline
        self._poll = Poll(archiving.poll_interval, archiving.poll_timeout)

    async def create(self, urls: Sequence[str]) -> list[CreateResult]:
        if self._key is None:
            reason = "no Perma.cc API key: set PERMA_API_KEY to create Perma.cc links"
            return [CreateResult(SERVICE, url, CreateVerdict.NO_KEY, reason) for url in urls]
        if len(urls) == 1:
            return [await self._one(urls[0])]
        size = self._config.perma_batch_size
        chunks = [list(urls[i : i + size]) for i in range(0, len(urls), size)]
        results = await asyncio.gather(*(self._batch(chunk) for chunk in chunks))
        return [result for chunk in results for result in chunk]

    # -- requests ---------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Accept": "application/json", "Authorization": f"ApiKey {self._key}"}

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Response | str:
        """The response, or why there was none (a string)."""
        return await service_call(
            self._client, "Perma.cc", self._deadline, method, f"{self._api}{path}", json=body, headers=self._headers()
        )

    def _refusal(self, url: str, response: Response | str) -> CreateResult:
        """The verdict of a request that did not start a capture."""
        if isinstance(response, str):
            return CreateResult(SERVICE, url, CreateVerdict.UNAVAILABLE, f"{response}; try again later", retryable=True)
        status = response.status_code
        if is_challenge(status, response.headers, response.content[:65536]):
            return CreateResult(
                SERVICE, url, CreateVerdict.UNAVAILABLE, "Perma.cc answered with a Cloudflare challenge", retryable=True
            )
        words = drf_message(json_body(response)) or f"HTTP {status}"
        if status in (401, 403):
            return CreateResult(
                SERVICE,
                url,
                CreateVerdict.BAD_KEY,
                f"Perma.cc refused the API key (HTTP {status}: {words}); check PERMA_API_KEY and the folder",
            )
        if status == 429:
            return CreateResult(
                SERVICE, url, CreateVerdict.QUOTA, f"Perma.cc rate limit (HTTP 429: {words})", retryable=True
            )
        if status == 400:
            if "limit" in words.lower():
                return CreateResult(SERVICE, url, CreateVerdict.QUOTA, f"Perma.cc: {words}", retryable=True)
            return CreateResult(SERVICE, url, CreateVerdict.REJECTED, f"Perma.cc refused the URL: {words}")
        return CreateResult(
            SERVICE, url, CreateVerdict.UNAVAILABLE, f"Perma.cc answered HTTP {status} ({words})", retryable=True
        )

    async def _one(self, url: str) -> CreateResult:
        body: dict[str, Any] = {"url": url}
        if self._config.perma_folder:
            body["folder"] = self._config.perma_folder
        response = await self._call("POST", "/v1/archives/", body)
        if isinstance(response, str) or response.status_code != 201:
            return self._refusal(url, response)
        data = json_body(response)
        guid = data.get("guid") if isinstance(data, dict) else None
        if not isinstance(guid, str):
            return CreateResult(
                SERVICE, url, CreateVerdict.UNAVAILABLE, "Perma.cc's answer names no GUID", retryable=True
            )
        return await self._wait(url, guid, "pending")

    async def _batch(self, urls: list[str]) -> list[CreateResult]:
        body: dict[str, Any] = {"urls": urls}
        if self._config.perma_folder:
            body["target_folder"] = self._config.perma_folder
        response = await self._call("POST", "/v1/archives/batches", body)
        if isinstance(response, str) or response.status_code != 201:
            return [self._refusal(url, response) for url in urls]
        data = json_body(response)
        jobs = data.get("capture_jobs") if isinstance(data, dict) else None
        jobs = jobs if isinstance(jobs, list) else []
        by_url: dict[str, dict[str, Any]] = {}
        for job in jobs:
            if isinstance(job, dict) and isinstance(job.get("submitted_url"), str):
                by_url.setdefault(job["submitted_url"], job)
        waits = []
        for url in urls:
            job = by_url.get(url)
            if job is None or not isinstance(job.get("guid"), str):
                message = job.get("message") if job else None
                waits.append(self._finished(url, None, str((job or {}).get("status") or "invalid"), message))
            else:
                waits.append(self._wait(url, job["guid"], str(job.get("status") or "pending"), job.get("message")))
        return list(await asyncio.gather(*waits))

    # -- polling ----------------------------------------------------------------------------------

    async def _wait(self, url: str, guid: str, status: str, message: Any = None) -> CreateResult:
        if status in FINISHED:
            return await self._finished(url, guid, status, message)
        last: dict[str, Any] = {}

        async def check() -> dict[str, Any] | None:
            response = await self._call("GET", f"/v1/capture_jobs/{guid}/")
            if isinstance(response, str) or response.status_code != 200:
                return None  # a status poll that fails is asked again until the deadline
            data = json_body(response)
            if isinstance(data, dict):
                last.update(data)
                if data.get("status") in FINISHED:
                    return data
            return None

        done, polls = await poll_until(check, self._poll)
        if done is None:
            seen = last.get("status", "pending")
            return CreateResult(
                SERVICE,
                url,
                CreateVerdict.TIMEOUT,
                f"Perma.cc's capture {guid} was still {seen} after {self._poll.timeout:g} s; "
                "check it later or raise [archiving] poll_timeout",
                job=guid,
                retryable=True,
                polls=polls,
            )
        result = await self._finished(url, guid, str(done["status"]), done.get("message"))
        return dataclasses.replace(result, polls=polls)

    async def _finished(self, url: str, guid: str | None, status: str, message: Any) -> CreateResult:
        words = _message(message)
        if status != "completed":
            if "limit" in words.lower():
                return CreateResult(SERVICE, url, CreateVerdict.QUOTA, f"Perma.cc: {words}", job=guid, retryable=True)
            verdict = CreateVerdict.REJECTED if status == "invalid" else CreateVerdict.FAILED
            reason = f"Perma.cc's capture {'of ' + url} {status}" + (f": {words}" if words else "")
            return CreateResult(SERVICE, url, verdict, reason, job=guid)
        assert guid is not None
        guid = canonical_guid(guid)
        created = None
        response = await self._call("GET", f"/v1/archives/{guid}/")
        if not isinstance(response, str) and response.status_code == 200:
            data = json_body(response)
            if isinstance(data, dict) and isinstance(data.get("creation_timestamp"), str):
                try:
                    created = parse_stamp(data["creation_timestamp"])
                except ValueError:
                    created = None
        archive_url = f"{self._site}/{guid}"
        return CreateResult(
            SERVICE,
            url,
            CreateVerdict.CREATED,
            f"Perma.cc made {archive_url}",
            ref=parse_archive_ref(archive_url, perma_site_url=self._site),
            archive_url=archive_url,
            datetime=created,
            job=guid,
        )


def _message(message: Any) -> str:
    if isinstance(message, str):
        return message.strip()
    if isinstance(message, list | dict):
        return str(message)
    return ""
