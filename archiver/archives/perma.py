"""Perma.cc: which URL a Perma link archived, when, and its content where that can be had.

Perma closed its key-free detail and download routes in Dec 2025, so routes are tried in order:
the authenticated API (with PERMA_API_KEY), the legacy public API (when configured), the key-free
`{site_url}/{GUID}` page's Memento headers, and for content without a key a nearby Wayback
snapshot labelled as a substitute. A Cloudflare challenge is `unavailable`, never `not_found`; the
key never leaves the Authorization header. See docs/permacc.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from archiver.archives.downloads import ZIP_MAGIC, read_archive_file
from archiver.archives.protocol import http_datetime, is_challenge, link_relations
from archiver.archives.wayback import Wayback, days_between
from archiver.clock import parse_required_stamp
from archiver.config import DownloadsConfig, FetchConfig, PermaConfig
from archiver.errors import ArchiveAccessError, FetchFailure
from archiver.models import ArchiveRef, ArchiveVerdict, Memento
from archiver.net.http import AsyncClient, HTTPError, describe_error, read_start
from archiver.refs import canonical_guid

_PENDING_PAGE = re.compile(rb"capture (?:is )?(?:still )?(?:in progress|pending)", re.I)
_FAILED_PAGE = re.compile(rb"capture (?:has )?failed", re.I)
_RATE_LIMIT_PAGE = re.compile(rb"rate limit error", re.I)
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class PermaLink:
    """The fields of a Perma archive record (API JSON) that provenance needs."""

    guid: str
    url: str
    created: datetime
    title: str | None
    primary_url: str | None
    primary_status: str | None
    authenticated: bool


def parse_link(data: Any, *, authenticated: bool) -> PermaLink:
    """An archive record from Perma's JSON; ValueError when it is not one."""
    if not isinstance(data, dict):
        raise ValueError("the answer is not a JSON object")
    guid, url, created = data.get("guid"), data.get("url"), data.get("creation_timestamp")
    if not isinstance(guid, str) or not isinstance(url, str) or not isinstance(created, str):
        raise ValueError("the answer lacks guid, url or creation_timestamp")
    listed = data.get("captures")
    captures: list[Any] = listed if isinstance(listed, list) else []
    primary = next((c for c in captures if isinstance(c, dict) and c.get("role") == "primary"), None)
    title = data.get("title")
    return PermaLink(
        guid=guid,
        url=url,
        created=parse_required_stamp(created),
        title=title if isinstance(title, str) else None,
        primary_url=primary.get("url") if primary and isinstance(primary.get("url"), str) else None,
        primary_status=primary.get("status") if primary and isinstance(primary.get("status"), str) else None,
        authenticated=authenticated,
    )


def _detail_text(status: int, body: bytes) -> str:
    """`HTTP 403: You do not have permission...` from a DRF error body, or the status alone."""
    try:
        data = json.loads(body)
    except ValueError:
        return f"HTTP {status}"
    if isinstance(data, dict) and isinstance(data.get("detail"), str):
        return f"HTTP {status}: {data['detail']}"
    return f"HTTP {status}"


@dataclass(frozen=True)
class _Download:
    path: Path
    sha256: str
    replaced_by: str | None


class Perma:
    """Perma.cc as an `Archive`. `wayback` supplies the substitute content; None disables it."""

    def __init__(
        self,
        client: AsyncClient,
        config: PermaConfig,
        fetch: FetchConfig,
        *,
        api_key: str | None,
        mirrors_dir: Path,
        wayback: Wayback | None,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        downloads: DownloadsConfig | None = None,
    ) -> None:
        self._client = client
        self._downloads = downloads or DownloadsConfig()
        self._config = config
        self._fetch = fetch
        self._api_key = api_key or None
        self._mirrors = mirrors_dir
        self._wayback = wayback
        self._new_id = new_id
        self._api = config.api_url.rstrip("/")
        self._site = config.site_url.rstrip("/")
        self._links: dict[str, PermaLink] = {}
        self._resolved: set[str] = set()

    # -- resolve -------------------------------------------------------------------------------

    async def resolve(self, ref: ArchiveRef) -> Memento:
        guid = canonical_guid(ref.guid or ref.uri.rstrip("/").rsplit("/", 1)[-1])
        base = Memento(ref=ref, verdict=ArchiveVerdict.OK, original_url=None, datetime=None, obtained_via="")
        self._resolved.add(guid)
        notes: list[str] = []
        api_says_missing = False
        routes: list[tuple[str, bool]] = []
        if self._api_key:
            routes.append((f"{self._api}/v1/archives/{guid}/", True))
        if self._config.legacy_public_api:
            routes.append((f"{self._api}/v1/public/archives/{guid}/", False))
        for url, authenticated in routes:
            found = await self._detail(url, authenticated, notes)
            if isinstance(found, PermaLink):
                self._links[guid] = found
                return self._from_link(base, found, notes)
            api_says_missing = api_says_missing or found
        memento = await self._from_site(base, guid, notes)
        if memento.verdict is ArchiveVerdict.UNAVAILABLE and api_says_missing and self._api_key:
            return dataclasses.replace(memento, verdict=ArchiveVerdict.NOT_FOUND)
        return memento

    async def _detail(self, url: str, authenticated: bool, notes: list[str]) -> PermaLink | bool:
        """The archive record, or whether the API said it does not exist (a note says why not)."""
        route = "the Perma API" if authenticated else "the public Perma API"
        try:
            response = await self._client.get(url, headers=self._headers(authenticated), follow_redirects=False)
        except (HTTPError, FetchFailure) as exc:
            notes.append(f"{route} could not be reached ({describe_error(exc)})")
            return False
        if is_challenge(response.status_code, response.headers, response.content):
            notes.append(f"{route} answered with a Cloudflare challenge (HTTP {response.status_code})")
            return False
        if response.status_code == 200:
            try:
                return parse_link(response.json(), authenticated=authenticated)
            except ValueError as exc:
                notes.append(f"{route} sent an unreadable record ({exc})")
                return False
        detail = _detail_text(response.status_code, response.content)
        if response.status_code in (401, 403) and authenticated:
            notes.append(f"{route} refused the API key ({detail}); using the key-free routes")
        else:
            notes.append(f"{route} answered {detail}")
        is_json_404 = response.status_code == 404 and detail.endswith("Not found.")
        return is_json_404

    def _headers(self, authenticated: bool) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if authenticated and self._api_key:
            headers["Authorization"] = f"ApiKey {self._api_key}"
        return headers

    def _from_link(self, base: Memento, link: PermaLink, notes: list[str]) -> Memento:
        memento = dataclasses.replace(
            base,
            original_url=link.url,
            datetime=link.created,
            title=link.title,
            obtained_via="perma-api" if link.authenticated else "perma-public-api",
            reason="; ".join(notes) or None,
        )
        if link.primary_status == "pending":
            return dataclasses.replace(
                memento, verdict=ArchiveVerdict.PENDING, reason=_join(notes, "Perma.cc's capture is still pending")
            )
        if link.primary_status == "failed":
            return dataclasses.replace(
                memento, verdict=ArchiveVerdict.FAILED, reason=_join(notes, "Perma.cc's capture of the page failed")
            )
        return memento

    async def _from_site(self, base: Memento, guid: str, notes: list[str]) -> Memento:
        url = f"{self._site}/{guid}"
        memento = dataclasses.replace(base, obtained_via="perma-memento-headers")
        try:
            for _ in range(self._fetch.max_redirects + 1):
                async with self._client.stream("GET", url, follow_redirects=False) as response:
                    start = await read_start(response)
                location = response.headers.get("location")
                if response.status_code in (301, 302, 303, 307, 308) and location:
                    target = str(response.url.join(location))
                    if response.status_code != 301:
                        notes.append(f"{url} is replaced by {target}")
                    url = target
                    continue
                break
            else:
                return _with(memento, ArchiveVerdict.UNAVAILABLE, notes, f"{url} redirected too many times")
        except (HTTPError, FetchFailure) as exc:
            return _with(
                memento, ArchiveVerdict.UNAVAILABLE, notes, f"{url} could not be fetched ({describe_error(exc)})"
            )
        status = response.status_code
        if is_challenge(status, response.headers, start):
            return _with(
                memento,
                ArchiveVerdict.UNAVAILABLE,
                notes,
                f"{url} answered with a Cloudflare challenge (HTTP {status}); try later, or set PERMA_API_KEY",
            )
        if status == 404:
            return _with(memento, ArchiveVerdict.NOT_FOUND, notes, f"Perma.cc has no link {guid} (HTTP 404)")
        if status == 410:
            return _with(memento, ArchiveVerdict.NOT_FOUND, notes, f"Perma.cc link {guid} has been deleted (HTTP 410)")
        if status == 403:
            return _with(memento, ArchiveVerdict.UNAVAILABLE, notes, f"Perma.cc link {guid} is private (HTTP 403)")
        if status != 200:
            return _with(memento, ArchiveVerdict.UNAVAILABLE, notes, f"{url} answered HTTP {status}")
        moment = http_datetime(response.headers.get("memento-datetime"))
        original = link_relations(response.headers.get("link")).get("original")
        if moment is not None and original is not None:
            return dataclasses.replace(memento, original_url=original, datetime=moment, reason=_join(notes))
        if _RATE_LIMIT_PAGE.search(start):
            return _with(memento, ArchiveVerdict.UNAVAILABLE, notes, "Perma.cc answered with its rate-limit page")
        if _PENDING_PAGE.search(start):
            return _with(memento, ArchiveVerdict.PENDING, notes, "Perma.cc's capture is still pending")
        if _FAILED_PAGE.search(start):
            return _with(memento, ArchiveVerdict.FAILED, notes, "Perma.cc's capture of the page failed")
        return _with(
            memento,
            ArchiveVerdict.UNAVAILABLE,
            notes,
            f"{url} sent no Memento headers (an unlisted or unplayable link), so what it archived is unknown",
        )

    # -- retrieve ------------------------------------------------------------------------------

    async def retrieve(self, memento: Memento) -> Memento:
        if memento.verdict is not ArchiveVerdict.OK:
            return memento
        guid = canonical_guid(memento.ref.guid or memento.ref.uri.rstrip("/").rsplit("/", 1)[-1])
        notes = [memento.reason] if memento.reason else []
        link = self._links.get(guid)
        if link is None and guid not in self._resolved and (self._api_key or self._config.legacy_public_api):
            await self.resolve(memento.ref)  # resolved elsewhere (another run, the index): learn the record
            link = self._links.get(guid)
        downloads: list[tuple[str, str, bool]] = []
        if link is not None and link.authenticated:
            route = f"{self._api}/v1/archives/{guid}/download"
            downloads = [(f"{route}?file_format=wacz", "wacz", True), (f"{route}?file_format=warc", "warc", True)]
        elif self._config.legacy_public_api:
            downloads = [(f"{self._api}/v1/public/archives/{guid}/download", "warc", False)]
        for url, fmt, authenticated in downloads:
            got = await self._download(url, guid, fmt, authenticated, notes)
            if got is not None:
                return await self._read(memento, link, got, notes)
        return await self._substitute(memento, notes)

    async def _download(self, url: str, guid: str, fmt: str, authenticated: bool, notes: list[str]) -> _Download | None:
        folder = self._mirrors / "perma"
        part = folder / f".{guid}.{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        size = 0
        try:
            folder.mkdir(parents=True, exist_ok=True)
            async with self._client.stream(
                "GET", url, headers=self._headers(authenticated), follow_redirects=True
            ) as response:
                if response.status_code != 200:
                    start = await read_start(response)
                    if is_challenge(response.status_code, response.headers, start):
                        notes.append(f"the {fmt} download answered with a Cloudflare challenge")
                    else:
                        notes.append(f"the {fmt} download answered {_detail_text(response.status_code, start)}")
                    return None
                # A replaced link's download redirects (302) to its replacement's download.
                replaced_by = str(response.url) if response.history else None
                with part.open("wb") as out:
                    async for chunk in response.aiter_bytes(_CHUNK):
                        size += len(chunk)
                        if size > self._fetch.max_body_bytes:
                            notes.append(
                                f"the {fmt} download is larger than fetch.max_body_bytes "
                                f"({self._fetch.max_body_bytes} bytes); raise it to mirror this link"
                            )
                            return None
                        digest.update(chunk)
                        out.write(chunk)
            return _Download(self._keep(part, guid, digest.hexdigest()), digest.hexdigest(), replaced_by)
        except (HTTPError, FetchFailure) as exc:
            notes.append(f"the {fmt} download failed ({describe_error(exc)})")
            return None
        except OSError as exc:
            notes.append(f"the {fmt} download could not be stored in {folder} ({exc})")
            return None
        finally:
            part.unlink(missing_ok=True)

    def _keep(self, part: Path, guid: str, sha256: str) -> Path:
        """Move a finished download to its name; an existing file with other bytes is never replaced."""
        with part.open("rb") as handle:
            extension = ".wacz" if handle.read(4) == ZIP_MAGIC else ".warc.gz"
        final = part.parent / f"{guid}{extension}"
        if final.exists():
            if _sha256_file(final) == sha256:
                return final
            final = part.parent / f"{guid}-{sha256[:12]}{extension}"
            if final.exists():
                return final
        os.replace(part, final)
        return final

    async def _read(self, memento: Memento, link: PermaLink | None, got: _Download, notes: list[str]) -> Memento:
        archive_dir = self._mirrors.parent
        targets = [u for u in (link.primary_url if link else None, memento.original_url) if u]
        if got.replaced_by:
            notes.append(f"Perma.cc served the archive of its replacement ({got.replaced_by})")
        mirrored = dataclasses.replace(
            memento,
            mirror_file=got.path.relative_to(archive_dir).as_posix(),
            mirror_sha256=got.sha256,
            obtained_via=f"{memento.obtained_via}+{'wacz' if got.path.suffix == '.wacz' else 'warc'}-download",
        )
        try:
            reading = await asyncio.to_thread(
                read_archive_file,
                got.path,
                archive_dir=archive_dir,
                target_urls=targets,
                capture_id=self._new_id(),
                max_decoded_bytes=self._fetch.max_decoded_bytes,
                bounds=self._downloads,
            )
        except ArchiveAccessError as exc:
            return _with(mirrored, ArchiveVerdict.UNAVAILABLE, notes, str(exc))
        notes.extend(reading.notes)
        if reading.capture is None:
            return dataclasses.replace(
                _with(mirrored, ArchiveVerdict.UNAVAILABLE, notes, *reading.problems), problems=reading.problems
            )
        return dataclasses.replace(
            mirrored, capture=reading.capture, problems=reading.problems, reason=_join(notes, *reading.problems)
        )

    async def _substitute(self, memento: Memento, notes: list[str]) -> Memento:
        if not self._api_key and not self._config.legacy_public_api:
            notes.append("Perma.cc gives content only with an API key (set PERMA_API_KEY)")
        if self._wayback is None:
            return _with(memento, ArchiveVerdict.METADATA_ONLY, notes, "no substitute archive is configured")
        if memento.original_url is None or memento.datetime is None:
            return _with(memento, ArchiveVerdict.METADATA_ONLY, notes, "the original URL or date is unknown")
        max_days = self._config.max_substitute_days
        try:
            snapshot, route, why = await self._wayback.closest(
                memento.original_url, memento.datetime, max_days=max_days
            )
        except ArchiveAccessError as exc:
            return _with(memento, ArchiveVerdict.METADATA_ONLY, notes, f"no Wayback substitute: {exc}")
        if snapshot is None:
            return _with(memento, ArchiveVerdict.METADATA_ONLY, notes, f"no Wayback substitute: {why}")
        ref = self._wayback.snapshot_ref(snapshot)
        found = Memento(
            ref=ref,
            verdict=ArchiveVerdict.OK,
            original_url=snapshot.original_url,
            datetime=snapshot.datetime,
            obtained_via=route,
        )
        fetched = await self._wayback.retrieve(found)
        if fetched.verdict is not ArchiveVerdict.OK or fetched.capture is None:
            return _with(
                dataclasses.replace(memento, capture=fetched.capture),
                ArchiveVerdict.METADATA_ONLY,
                notes,
                f"the Wayback substitute {ref.uri} could not be had: {fetched.reason}",
            )
        days = round(days_between(snapshot.datetime, memento.datetime), 3)
        return dataclasses.replace(
            memento,
            capture=fetched.capture,
            substitute_for=ref,
            substitute_days=days,
            obtained_via=f"{memento.obtained_via}+wayback-substitute",
            reason=_join(
                notes,
                f"content is a substitute: the Wayback Machine snapshot {ref.uri}, {days:g} days from Perma's capture",
            ),
        )


def _join(notes: list[str], *more: str) -> str | None:
    parts = [n for n in (*notes, *more) if n]
    return "; ".join(dict.fromkeys(parts)) or None


def _with(memento: Memento, verdict: ArchiveVerdict, notes: list[str], *more: str) -> Memento:
    return dataclasses.replace(memento, verdict=verdict, reason=_join(notes, *more))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
