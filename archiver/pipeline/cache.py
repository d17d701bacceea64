"""`check --cache`: reuse what the archive already holds instead of fetching it again.

A live URL reuses its newest capture younger than the age; its fingerprint is re-read from the
WARC and its final response headers from the record, so it is judged exactly as a fresh fetch.
Failed or transient answers (no response, an error, 408, 429, 5xx) and pages that may redirect by
meta refresh or script (kind `empty`) are fetched again. The soft-404 probe reuses a recent capture
of a made-up URL of the same shape in the same directory. An archive reference reuses its newest
recorded memento that settled the question. See docs/pipeline.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from archiver.content.fingerprint import fingerprint
from archiver.errors import ArchiverError
from archiver.jsonform import memento_from_dict
from archiver.models import ArchiveRef, ArchiveVerdict, Capture, Memento, PageKind
from archiver.pipeline.capture import CaptureResult
from archiver.store.index import Index
from archiver.warc.read import payload_at, response_headers

# Mementos that settled the question (as the nightly run keeps them); others are asked again.
SETTLED = frozenset(
    {ArchiveVerdict.OK, ArchiveVerdict.MISMATCH, ArchiveVerdict.METADATA_ONLY, ArchiveVerdict.NOT_FOUND}
)
_PROBE_LEAF = re.compile(r"[a-z0-9]{16}")  # the shape of `judge.live.probe_url`'s made-up names


@dataclass(frozen=True)
class Cached:
    """A result read from the archive, and how old it is."""

    result: CaptureResult
    age: timedelta


@dataclass(frozen=True)
class CachedMemento:
    memento: Memento
    age: timedelta


def age_text(age: timedelta) -> str:
    """`42s`, `17m`, `5h`, `2d`: the largest whole unit."""
    seconds = max(0, int(age.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def reusable(capture: Capture) -> bool:
    """A capture whose answer would be the same again: a response, stored, no failure, not transient."""
    return (
        capture.error is None
        and capture.status is not None
        and capture.warc is not None
        and capture.payload_sha256 is not None
        and capture.status not in (408, 429)
        and capture.status < 500
        and capture.page_kind is not PageKind.EMPTY  # may be a meta refresh the fresh path follows
    )


class ResultsCache:
    """Reads recent captures and mementos back from the index and the WARCs."""

    def __init__(
        self, index: Index, root: Path, *, now: datetime, max_age: timedelta, max_decoded_bytes: int, main_text: bool
    ) -> None:
        self.index = index
        self.root = root
        self.now = now
        self.since = now - max_age
        self.max_decoded_bytes = max_decoded_bytes
        self.main_text = main_text

    def _fresh(self, moment: datetime) -> bool:
        return self.since < moment <= self.now

    def live(self, url: str) -> Cached | None:
        """The newest reusable capture asked for as `url`, younger than the age, read back for judging."""
        for capture in self.index.history(url):
            if capture.url != url or not self._fresh(capture.fetched_at):
                continue
            if not reusable(capture):
                return None  # the newest answer failed or may change: ask again
            result = self._read(capture)
            return None if result is None else Cached(result, self.now - capture.fetched_at)
        return None

    def probe(self, final_url: str) -> Cached | None:
        """A recent capture of a made-up URL in `final_url`'s directory with its extension (a past probe)."""
        parts = urlsplit(final_url)
        directory, _, leaf = parts.path.rpartition("/")
        extension = leaf[leaf.rindex(".") :] if "." in leaf and not leaf.startswith(".") else ""
        prefix = urlunsplit((parts.scheme, parts.netloc, f"{directory}/", "", ""))
        for capture in self.index.captures_since(prefix, self.since):
            name = capture.url[len(prefix) :]
            if not name.endswith(extension) or not _PROBE_LEAF.fullmatch(name[: len(name) - len(extension)]):
                continue
            if capture.error is not None or capture.status is None or not self._fresh(capture.fetched_at):
                continue
            result = self._read(capture)
            if result is not None:
                return Cached(result, self.now - capture.fetched_at)
        return None

    def memento(self, ref: ArchiveRef) -> CachedMemento | None:
        """The newest recorded memento of `ref` if it settled the question within the age."""
        found = self.index.latest_memento(ref.uri)
        if found is None:
            return None
        document, recorded_at = found
        if ArchiveVerdict(document["verdict"]) not in SETTLED or not self._fresh(recorded_at):
            return None
        memento = memento_from_dict(document, ref)
        if memento.capture is not None and memento.capture.error is not None:
            return None
        return CachedMemento(memento, self.now - recorded_at)

    def _read(self, capture: Capture) -> CaptureResult | None:
        """The capture with its fingerprint and final headers read back; None if the WARC cannot give them."""
        assert capture.warc is not None
        try:
            headers = response_headers(self.root, capture.warc)
            payload = payload_at(self.root, capture.warc)
        except (ArchiverError, OSError):
            return None  # a missing or damaged record: fetch again rather than judge without it
        with payload:
            if payload.body.sha256 != capture.payload_sha256:
                return None
            fp = fingerprint(
                payload.body,
                content_type=payload.content_type or capture.content_type,
                content_encoding=payload.content_encoding,
                max_decoded_bytes=self.max_decoded_bytes,
                with_main_text=self.main_text,
            )
        return CaptureResult(capture, fp, headers)
