"""The Wayback Machine: find the snapshot of a URL closest to a date, and fetch its raw bytes.

The CDX index, filtered on status 200 so an archived 404 or redirect is never taken for content;
the `/web/{timestamp}/` redirect as a fallback when CDX fails; and `id_` replay for the archived
bytes without toolbar or rewriting, fetched through the `Capturer` so the snapshot is stored like
any capture. See docs/permacc.md.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from archiver.archives.protocol import Capturer, content_verdict, http_datetime, link_relations
from archiver.config import WaybackConfig
from archiver.errors import ArchiveAccessError, FetchFailure
from archiver.models import ArchiveKind, ArchiveRef, ArchiveVerdict, Memento
from archiver.net.http import AsyncClient, HTTPError, describe_error
from archiver.refs import wayback_uri

SECONDS_PER_DAY = 86400.0
_LOCATION_TIMESTAMP = re.compile(r"/web/(\d{4,14})(?:[a-z]{2}_)?/")
_MAX_HOPS = 10


def timestamp_datetime(timestamp: str) -> datetime:
    """A 4- to 14-digit Wayback timestamp as UTC; missing parts are the earliest (2025 -> Jan 1)."""
    digits = timestamp.ljust(14, "0")
    month = digits[4:6] if digits[4:6] != "00" else "01"
    day = digits[6:8] if digits[6:8] != "00" else "01"
    return datetime(
        int(digits[0:4]), int(month), int(day), int(digits[8:10]), int(digits[10:12]), int(digits[12:14]), tzinfo=UTC
    )


def datetime_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def days_between(a: datetime, b: datetime) -> float:
    return abs((a - b).total_seconds()) / SECONDS_PER_DAY


def _root_words(error: BaseException) -> str | None:
    """The sentence of the fetch failure under an archive error, if that is what caused it."""
    cause = error.__cause__
    return cause.sentence() if isinstance(cause, FetchFailure) else None


@dataclass(frozen=True)
class Snapshot:
    """One capture in the Wayback Machine's index."""

    timestamp: str
    original_url: str
    status: int | None
    mimetype: str | None = None
    digest: str | None = None

    @property
    def datetime(self) -> datetime:
        return timestamp_datetime(self.timestamp)


def parse_cdx_json(rows: Any) -> list[Snapshot]:
    """The CDX server's JSON answer (header row first) as snapshots; `[]` means no captures."""
    if not isinstance(rows, list):
        raise ValueError("the CDX answer is not a JSON array")
    if not rows:
        return []
    header = rows[0]
    if not isinstance(header, list) or "timestamp" not in header or "original" not in header:
        raise ValueError("the CDX answer has no header row with 'timestamp' and 'original'")
    found: list[Snapshot] = []
    for row in rows[1:]:
        if not isinstance(row, list) or len(row) != len(header):
            continue  # the blank separator row before a resume key, or the key itself
        fields = dict(zip(header, row, strict=True))
        status = fields.get("statuscode")
        found.append(
            Snapshot(
                timestamp=str(fields["timestamp"]),
                original_url=str(fields["original"]),
                status=int(status) if isinstance(status, str) and status.isdigit() else None,
                mimetype=fields.get("mimetype"),
                digest=fields.get("digest"),
            )
        )
    return found


def closest_snapshot(snapshots: list[Snapshot], when: datetime, max_days: float | None) -> Snapshot | None:
    """The status-200 snapshot nearest to `when` (earlier one on a tie), within `max_days` if given."""
    good = [s for s in snapshots if s.status == 200]
    if max_days is not None:
        good = [s for s in good if days_between(s.datetime, when) <= max_days]
    if not good:
        return None
    return min(good, key=lambda s: (days_between(s.datetime, when), s.timestamp))


class Wayback:
    """The Wayback Machine as an `Archive`, plus the closest-snapshot lookup Perma uses."""

    def __init__(self, client: AsyncClient, config: WaybackConfig, capturer: Capturer, *, cdx_limit: int = 100) -> None:
        self._client = client
        self._base = config.url.rstrip("/")
        self._capturer = capturer
        self._cdx_limit = cdx_limit

    def raw_url(self, timestamp: str, url: str) -> str:
        return wayback_uri(timestamp, url, self._base, modifier="id_")

    def replay_url(self, timestamp: str, url: str) -> str:
        return wayback_uri(timestamp, url, self._base)

    async def cdx(self, url: str, when: datetime, *, max_days: float | None = None) -> list[Snapshot]:
        """Status-200 captures of `url`, nearest to `when` first when the server sorts them."""
        params: dict[str, str | int] = {
            "url": url,
            "output": "json",
            "filter": "statuscode:200",
            "closest": datetime_timestamp(when),
            "sort": "closest",
            "limit": self._cdx_limit,
        }
        if max_days is not None:
            span = max_days * SECONDS_PER_DAY
            start = datetime.fromtimestamp(max(when.timestamp() - span, 0), UTC)
            params["from"] = datetime_timestamp(start)
            params["to"] = datetime_timestamp(datetime.fromtimestamp(when.timestamp() + span, UTC))
        endpoint = f"{self._base}/cdx/search/cdx"
        try:
            response = await self._client.get(endpoint, params=params, follow_redirects=True)
        except (HTTPError, FetchFailure) as exc:
            raise ArchiveAccessError(f"the Wayback CDX server could not be asked ({describe_error(exc)})") from exc
        if response.status_code != 200:
            raise ArchiveAccessError(f"the Wayback CDX server answered HTTP {response.status_code}")
        try:
            return parse_cdx_json(response.json() if response.content.strip() else [])
        except ValueError as exc:
            raise ArchiveAccessError(f"the Wayback CDX server sent an unreadable answer: {exc}") from exc

    async def via_redirect(self, url: str, when: datetime) -> tuple[Snapshot | None, str]:
        """The capture `/web/{timestamp}/{url}` lands on, and a sentence on what happened."""
        target = self.replay_url(datetime_timestamp(when), url)
        for _ in range(_MAX_HOPS):
            try:
                async with self._client.stream("GET", target, follow_redirects=False) as response:
                    status, headers = response.status_code, response.headers
            except (HTTPError, FetchFailure) as exc:
                raise ArchiveAccessError(f"{target} could not be fetched ({describe_error(exc)})") from exc
            location = headers.get("location")
            if 300 <= status < 400 and location:
                target = urljoin(target, location)
                continue
            moment = http_datetime(headers.get("memento-datetime"))
            match = _LOCATION_TIMESTAMP.search(target)
            timestamp = datetime_timestamp(moment) if moment else (match.group(1) if match else None)
            original = link_relations(headers.get("link")).get("original") or url
            if status == 200 and timestamp is not None:
                return Snapshot(timestamp=timestamp, original_url=original, status=200), f"redirect to {target}"
            if moment is not None:
                return None, f"the nearest capture ({target}) is an archived HTTP {status} response, not content"
            if status in (404, 410):
                return None, f"the Wayback Machine has not archived {url} ({target} answered HTTP {status})"
            raise ArchiveAccessError(f"{target} answered HTTP {status}")
        raise ArchiveAccessError(
            f"{self.replay_url(datetime_timestamp(when), url)} redirected more than {_MAX_HOPS} times"
        )

    async def closest(
        self, url: str, when: datetime, *, max_days: float | None = None
    ) -> tuple[Snapshot | None, str, str]:
        """The status-200 snapshot nearest to `when`: (snapshot or None, route used, why none).

        CDX first; its failure (not an empty answer, which is authoritative) falls back to the
        `Location` of `/web/{timestamp}/{url}`. Raises ArchiveAccessError when both fail.
        """
        try:
            snapshots = await self.cdx(url, when, max_days=max_days)
        except ArchiveAccessError as cdx_error:
            try:
                snapshot, note = await self.via_redirect(url, when)
            except ArchiveAccessError as redirect_error:
                cdx_cause, redirect_cause = _root_words(cdx_error), _root_words(redirect_error)
                if cdx_cause is not None and cdx_cause == redirect_cause:
                    # One cause (offline: the host does not resolve) is said once, not once per route.
                    raise ArchiveAccessError(
                        f"the Wayback Machine could not be asked ({cdx_cause})"
                    ) from redirect_error
                raise ArchiveAccessError(f"{cdx_error}; fallback: {redirect_error}") from redirect_error
            if snapshot is not None and max_days is not None and days_between(snapshot.datetime, when) > max_days:
                return None, "wayback-redirect", f"the nearest Wayback capture is more than {max_days:g} days away"
            return snapshot, "wayback-redirect", f"CDX failed ({cdx_error}); {note}"
        found = closest_snapshot(snapshots, when, max_days)
        if found is None:
            within = f" within {max_days:g} days of {when.date().isoformat()}" if max_days is not None else ""
            return None, "wayback-cdx", f"the Wayback Machine has no archived 200 response for {url}{within}"
        return found, "wayback-cdx", ""

    def snapshot_ref(self, snapshot: Snapshot) -> ArchiveRef:
        uri = self.replay_url(snapshot.timestamp, snapshot.original_url)
        return ArchiveRef(
            kind=ArchiveKind.WAYBACK,
            raw=uri,
            uri=uri,
            timestamp=snapshot.timestamp,
            original_url=snapshot.original_url,
        )

    async def resolve(self, ref: ArchiveRef) -> Memento:
        base = Memento(
            ref=ref, verdict=ArchiveVerdict.OK, original_url=ref.original_url, datetime=None, obtained_via=""
        )
        if ref.timestamp is None or ref.original_url is None:
            return dataclasses.replace(
                base, verdict=ArchiveVerdict.UNAVAILABLE, reason=f"{ref.uri} names no timestamp and original URL"
            )
        cited = timestamp_datetime(ref.timestamp)
        try:
            snapshot, route, why = await self.closest(ref.original_url, cited)
        except ArchiveAccessError as exc:
            return dataclasses.replace(
                base, verdict=ArchiveVerdict.UNAVAILABLE, obtained_via="wayback-cdx", reason=str(exc)
            )
        if snapshot is None:
            return dataclasses.replace(base, verdict=ArchiveVerdict.NOT_FOUND, obtained_via=route, reason=why)
        reason = None
        if len(ref.timestamp) == 14 and snapshot.timestamp != ref.timestamp:
            reason = (
                f"no archived 200 response at {ref.timestamp}; the nearest is {snapshot.timestamp} "
                f"({days_between(snapshot.datetime, cited):.1f} days away)"
            )
        return dataclasses.replace(
            base,
            original_url=snapshot.original_url,
            datetime=snapshot.datetime,
            obtained_via=route,
            reason=reason,
        )

    async def retrieve(self, memento: Memento) -> Memento:
        """The raw `id_` bytes of the resolved snapshot, captured and stored like any fetch."""
        if memento.verdict is not ArchiveVerdict.OK or memento.datetime is None or memento.original_url is None:
            return memento
        raw = self.raw_url(datetime_timestamp(memento.datetime), memento.original_url)
        capture = await self._capturer.capture(raw)
        retrieved = content_verdict(memento, capture, raw)
        via = f"{memento.obtained_via}+wayback-id" if memento.obtained_via else "wayback-id"
        return dataclasses.replace(retrieved, obtained_via=via)
