"""Archives behind one small protocol: `resolve` a reference, then `retrieve` its content.

Two steps because resolving (which URL was archived, and when) is cheap and alone decides `ok`
against `mismatch`, while retrieving is slower, may need a key and may fail on its own. Also here:
dispatch by `ArchiveKind`, the generic RFC 7089 Memento archive, and the helpers every archive
needs. Archives never raise for what an archive answered: why a copy could not be had is
provenance, an `ArchiveVerdict` with a reason. See docs/permacc.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

from archiver.errors import FetchFailure
from archiver.models import ArchiveKind, ArchiveRef, ArchiveVerdict, Capture, Memento
from archiver.net.http import SNIFF_BYTES, AsyncClient, HTTPError, describe_error, read_start

_LINK_VALUE = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,<]+)*)")
_LINK_PARAM = re.compile(r";\s*([A-Za-z0-9_*-]+)\s*=\s*(\"[^\"]*\"|[^;,\s]+)")
_CHALLENGE_MARKERS = (
    b"challenge-platform",
    b"cf-chl-",
    b"cf_chl_",
    b"<title>just a moment...</title>",
    b"attention required! | cloudflare",
    b"checking your browser before accessing",
    b"enable javascript and cookies to continue",
)


class Capturer(Protocol):
    """Fetches a URL and stores it as one of our captures (the capture engine implements it)."""

    async def capture(self, url: str) -> Capture: ...


class Archive(Protocol):
    """One archive service. Neither method raises for what the archive answered."""

    async def resolve(self, ref: ArchiveRef) -> Memento:
        """What the reference archived and when; the verdict says whether that could be learnt."""
        ...

    async def retrieve(self, memento: Memento) -> Memento:
        """The memento with `capture` filled, or with verdict metadata_only/unavailable and why."""
        ...


def link_relations(header: str | None) -> dict[str, str]:
    """RFC 8288 `Link` header to {rel: first target}; a multi-valued rel counts for each value.

    Perma writes `rel=original` unquoted, the Wayback Machine `rel="original"`: both are read.
    """
    found: dict[str, str] = {}
    if not header:
        return found
    for match in _LINK_VALUE.finditer(header):
        target, params = match.group(1).strip(), match.group(2)
        for name, value in _LINK_PARAM.findall(params):
            if name.lower() != "rel":
                continue
            for rel in value.strip('"').split():
                found.setdefault(rel.lower(), target)
    return found


def http_datetime(value: str | None) -> datetime | None:
    """An RFC 7231 HTTP date (as in `Memento-Datetime`) as aware UTC, or None when absent/invalid."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def is_challenge(status: int, headers: Mapping[str, str], body_start: bytes) -> bool:
    """A Cloudflare-style bot challenge: the service may be fine, we were just not let in.

    Cloudflare marks its managed challenges with `cf-mitigated: challenge`; older or other walls
    only show an HTML page (usually 403 or 503, sometimes 200), recognised by its markers.
    """
    mitigated = headers.get("cf-mitigated") or headers.get("Cf-Mitigated") or ""
    if mitigated.strip().lower() == "challenge":
        return True
    if status not in (200, 403, 429, 503):
        return False
    lowered = body_start[:SNIFF_BYTES].lower()
    return any(marker in lowered for marker in _CHALLENGE_MARKERS)


def unavailable(memento: Memento, reason: str) -> Memento:
    return dataclasses.replace(memento, verdict=ArchiveVerdict.UNAVAILABLE, reason=reason)


class MementoArchive:
    """Any RFC 7089 Memento (URI-M): `GET` it and read `Memento-Datetime` and `Link rel="original"`.

    The GET follows redirects because a URI-M may forward to the nearest memento (the datetime
    and original of the landing page are what counts). Only the start of the body is read, to
    recognise a challenge page; the content itself is fetched through the capturer on retrieve.
    """

    def __init__(self, client: AsyncClient, capturer: Capturer) -> None:
        self._client = client
        self._capturer = capturer

    async def resolve(self, ref: ArchiveRef) -> Memento:
        base = Memento(ref=ref, verdict=ArchiveVerdict.OK, original_url=None, datetime=None, obtained_via="memento")
        try:
            async with self._client.stream("GET", ref.uri, follow_redirects=True) as response:
                start = await read_start(response)
        except (HTTPError, FetchFailure) as exc:
            return unavailable(base, f"{ref.uri} could not be fetched ({describe_error(exc)})")
        if is_challenge(response.status_code, response.headers, start):
            return unavailable(base, f"{ref.uri} answered with a bot challenge (HTTP {response.status_code})")
        if response.status_code in (404, 410):
            return dataclasses.replace(
                base, verdict=ArchiveVerdict.NOT_FOUND, reason=f"{ref.uri} answered HTTP {response.status_code}"
            )
        if response.status_code >= 400:
            return unavailable(base, f"{ref.uri} answered HTTP {response.status_code}")
        moment = http_datetime(response.headers.get("memento-datetime"))
        original = link_relations(response.headers.get("link")).get("original")
        if moment is None or original is None:
            return unavailable(
                base,
                f'{ref.uri} is not a Memento: it sent no Memento-Datetime and Link rel="original" headers, '
                "so what it archived and when cannot be told",
            )
        return dataclasses.replace(base, original_url=original, datetime=moment)

    async def retrieve(self, memento: Memento) -> Memento:
        if memento.verdict is not ArchiveVerdict.OK:
            return memento
        capture = await self._capturer.capture(memento.ref.uri)
        return content_verdict(memento, capture, memento.ref.uri)


def content_verdict(memento: Memento, capture: Capture, what: str) -> Memento:
    """A memento with the capture of its content: `ok` on a 2xx response, else why not."""
    with_capture = dataclasses.replace(memento, capture=capture)
    if capture.error is not None:
        return unavailable(with_capture, f"{what} could not be fetched: {capture.error.message}")
    if capture.status is None or not 200 <= capture.status < 300:
        if capture.status in (404, 410):
            return dataclasses.replace(
                with_capture, verdict=ArchiveVerdict.NOT_FOUND, reason=f"{what} answered HTTP {capture.status}"
            )
        return unavailable(with_capture, f"{what} answered HTTP {capture.status}")
    return with_capture


class Archives:
    """Dispatch by `ArchiveKind` to the archive that handles it.

    `deadline` bounds each resolve and each retrieve in seconds, as `[fetch] deadline` bounds a
    fetch: the archives' API calls read with a per-read timeout only, so an archive that drip-feeds
    its answer would otherwise hold a check or a nightly run for ever.
    """

    def __init__(self, archives: Mapping[ArchiveKind, Archive], *, deadline: float | None = None) -> None:
        self._archives = dict(archives)
        self._deadline = deadline

    def _for(self, kind: ArchiveKind) -> Archive | None:
        return self._archives.get(kind)

    async def resolve(self, ref: ArchiveRef) -> Memento:
        archive = self._for(ref.kind)
        base = Memento(
            ref=ref, verdict=ArchiveVerdict.UNAVAILABLE, original_url=None, datetime=None, obtained_via="none"
        )
        if archive is None:
            return dataclasses.replace(base, reason=f"no archive is configured for {ref.kind.value} references")
        try:
            async with asyncio.timeout(self._deadline):
                return await archive.resolve(ref)
        except TimeoutError:
            return dataclasses.replace(base, reason=self._too_slow(ref.uri))

    async def retrieve(self, memento: Memento) -> Memento:
        archive = self._for(memento.ref.kind)
        if archive is None:
            return memento
        try:
            async with asyncio.timeout(self._deadline):
                return await archive.retrieve(memento)
        except TimeoutError:
            return unavailable(memento, self._too_slow(memento.ref.uri))

    def _too_slow(self, uri: str) -> str:
        return (
            f"{uri} did not answer within the {self._deadline:g} s deadline; "
            "try again later, or raise [fetch] deadline (archives get twice a fetch's)"
        )

    async def mirror(self, ref: ArchiveRef) -> Memento:
        """Resolve, then retrieve the content when resolving succeeded."""
        memento = await self.resolve(ref)
        if memento.verdict is not ArchiveVerdict.OK:
            return memento
        return await self.retrieve(memento)
