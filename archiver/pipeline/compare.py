"""Use case `compare`: what are A and B, get the text of each, and judge the drift between them.

`parse_source` takes a side as the user has it: a URL (fetched now), a capture id or prefix, or an
archive reference (resolved and retrieved like `mirror`). Every side's text is read back from the
stored record through `warc/read`, never from memory, so the text compared is that of the
evidence kept, and its sha256 is checked against the index. See docs/pipeline.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from archiver.config import Config
from archiver.content.fingerprint import fingerprint
from archiver.errors import ArchiverError, UnknownCaptureError, UsageError, quoted
from archiver.jsonform import capture_to_dict, compared_to_dict, iso, memento_to_dict
from archiver.judge.drift import TextSide
from archiver.judge.drift import compare as compare_texts
from archiver.judge.pagekind import KIND_NOUNS
from archiver.models import (
    ArchiveKind,
    ArchiveRef,
    ArchiveVerdict,
    Capture,
    Comparison,
    DriftVerdict,
    Memento,
)
from archiver.pipeline.capture import CaptureEngine
from archiver.pipeline.mirror import mirror_refs, open_archives
from archiver.refs import looks_like_guid, parse_archive_ref
from archiver.warc.read import payload_at

ACCEPTED_FORMS = (
    "a URL (http:// or https://, fetched now), a capture id or unique prefix (or capture:<id>), "
    "a Perma.cc link or GUID (https://perma.cc/5UBL-GCVG, 5UBL-GCVG), a Wayback Machine URL "
    "(https://web.archive.org/web/20250426010203/http://example.com/), or memento:<URI-M>"
)
# Verdicts `archiver compare` exits 0 on: the text still says what it said.
ACCEPTABLE = frozenset({DriftVerdict.IDENTICAL, DriftVerdict.EQUIVALENT, DriftVerdict.MINOR})
_CAPTURE_ID = re.compile(r"^[0-9a-f]{4,64}$")
_CHUNK = 64 * 1024


class SourceKind(StrEnum):
    LIVE = "live"
    CAPTURE = "capture"
    ARCHIVE = "archive"


@dataclass(frozen=True)
class Source:
    """What the user named as one side. For a CAPTURE, `ref` is the Perma GUID it may also be."""

    text: str
    kind: SourceKind
    url: str | None = None
    capture_id: str | None = None
    ref: ArchiveRef | None = None


@dataclass(frozen=True)
class Side:
    """One side, resolved: its capture (and memento), the text compared, and what to know about it."""

    source: Source
    label: str
    capture: Capture | None
    memento: Memento | None
    text: TextSide | None
    note: str | None = None


@dataclass(frozen=True)
class Compared:
    a: Side
    b: Side
    comparison: Comparison
    quote: str | None = None

    @property
    def acceptable(self) -> bool:
        """True when B still says what A said: identical/equivalent/minor, and any quote in both."""
        if self.comparison.verdict not in ACCEPTABLE:
            return False
        return self.quote is None or (self.comparison.quote_in_a is True and self.comparison.quote_in_b is True)


def parse_source(text: str, *, perma_site_url: str, wayback_url: str) -> Source:
    """Which kind of side `text` names; UsageError, listing the accepted forms, when none."""
    raw = text.strip()
    if not raw:
        raise UsageError(f"an empty side was given; give {ACCEPTED_FORMS}")
    if raw.startswith("capture:"):
        capture_id = raw[len("capture:") :]
        if not capture_id:
            raise UsageError("'capture:' needs a capture id after it; `archiver history URL` lists them")
        return Source(raw, SourceKind.CAPTURE, capture_id=capture_id)
    if raw.startswith("memento:"):
        uri = raw[len("memento:") :]
        if not re.match(r"^https?://", uri, re.I):
            raise UsageError(f"{quoted(raw, 120)}: memento: needs an http(s) URI-M after it; give {ACCEPTED_FORMS}")
        return Source(raw, SourceKind.ARCHIVE, ref=ArchiveRef(kind=ArchiveKind.MEMENTO, raw=raw, uri=uri))
    if "/" not in raw and "." not in raw and ":" not in raw:
        guid = parse_archive_ref(raw, perma_site_url=perma_site_url, wayback_url=wayback_url)
        if _CAPTURE_ID.match(raw):
            return Source(raw, SourceKind.CAPTURE, capture_id=raw, ref=guid)
        if guid is not None and looks_like_guid(raw):
            return Source(raw, SourceKind.ARCHIVE, ref=guid)
        raise UsageError(f"{quoted(raw, 120)} is neither a capture id nor a Perma GUID; give {ACCEPTED_FORMS}")
    ref = parse_archive_ref(raw, perma_site_url=perma_site_url, wayback_url=wayback_url, bare_guid=False)
    if ref is not None and ref.kind in (ArchiveKind.PERMA, ArchiveKind.WAYBACK):
        return Source(raw, SourceKind.ARCHIVE, ref=ref)
    if re.match(r"^https?://", raw, re.I):
        return Source(raw, SourceKind.LIVE, url=raw)
    raise UsageError(f"{quoted(raw, 120)} is not something to compare; give {ACCEPTED_FORMS}")


# -- reading a stored capture's text back ---------------------------------------------------------


def text_of_capture(root: Path, capture: Capture, max_decoded_bytes: int) -> tuple[TextSide | None, str | None]:
    """The capture's text read back from its record, with main text; or None and why not."""
    if capture.warc is None:
        why = capture.error.message if capture.error else "nothing was stored"
        return None, f"capture {capture.id} has no stored payload: {why}"
    try:
        payload = payload_at(root, capture.warc)
    except ArchiverError as exc:
        # A missing or corrupt file is this one side's problem, never the whole run's.
        return None, f"capture {capture.id} could not be read back: {exc}"
    body = payload.body
    try:
        note = None
        if capture.payload_sha256 is not None and body.sha256 != capture.payload_sha256:
            note = (
                f"the payload read back from {capture.warc.file} has sha256 {body.sha256}, not "
                f"{capture.payload_sha256} as indexed; run `archiver verify`"
            )
        fp = fingerprint(
            body,
            content_type=payload.content_type or capture.content_type,
            content_encoding=payload.content_encoding,
            max_decoded_bytes=max_decoded_bytes,
            with_main_text=True,
        )
        side = TextSide.of(fp, body.sha256)
    finally:
        body.close()
    if fp.error:
        note = "; ".join(n for n in (note, f"no text: {fp.error}") if n)
    return side, note


# -- resolving a side ------------------------------------------------------------------------------


def _short(capture_id: str) -> str:
    return capture_id[:12]


def _status_note(capture: Capture) -> str | None:
    if capture.status is not None and not 200 <= capture.status < 300:
        return f"{capture.final_url or capture.url} answered HTTP {capture.status}: its page is what is compared"
    return None


async def _live(engine: CaptureEngine, source: Source) -> Side:
    assert source.url is not None
    result = await engine.capture_detailed(source.url, with_main_text=True, follow_page_redirects=True)
    capture = result.capture
    if not capture.ok:
        why = capture.error.message if capture.error else "no response"
        return Side(source, f"{source.url} (fetch failed)", capture, None, None, why)
    fp = result.fingerprint
    text = None if fp is None else TextSide.of(fp, capture.payload_sha256)
    label = f"{source.url} (fetched now: HTTP {capture.status}, capture {_short(capture.id)})"
    note = _status_note(capture) or (fp.error if fp is not None and fp.error else None)
    return Side(source, label, capture, None, text, note)


async def _stored(engine: CaptureEngine, source: Source, capture: Capture, memento: Memento | None) -> Side:
    if memento is None:
        label = f"capture {_short(capture.id)} of {capture.url} ({iso(capture.fetched_at)})"
    else:
        label = _memento_label(memento)
    text, note = await asyncio.to_thread(
        text_of_capture, engine.paths.root, capture, engine.config.fetch.max_decoded_bytes
    )
    note = "; ".join(n for n in (_status_note(capture), note) if n) or None
    return Side(source, label, capture, memento, text, note)


def _memento_label(memento: Memento) -> str:
    parts = [memento.verdict.value]
    if memento.original_url:
        parts.append(f"of {memento.original_url}")
    if memento.datetime:
        parts.append(iso(memento.datetime) or "")
    if memento.substitute_for is not None:
        parts.append(f"content from substitute {memento.substitute_for.uri}")
    return f"{memento.ref.kind.value} {memento.ref.uri} ({', '.join(parts)})"


async def _archived(engine: CaptureEngine, source: Source, ref: ArchiveRef) -> Side:
    async with open_archives(engine.config, engine) as archives:
        (memento,) = await mirror_refs(engine, archives, [ref])
    # Only `ok` has content: a metadata_only memento may carry the failed fetch of its substitute.
    if memento.capture is None or memento.verdict is not ArchiveVerdict.OK:
        why = memento.reason or f"the archive's verdict is {memento.verdict.value}"
        return Side(source, _memento_label(memento), memento.capture, memento, None, why)
    side = await _stored(engine, source, memento.capture, memento)
    problems = "; ".join(memento.problems) or None
    return Side(side.source, side.label, side.capture, memento, side.text, _join(side.note, problems))


def _join(*notes: str | None) -> str | None:
    return "; ".join(n for n in notes if n) or None


async def resolve_side(engine: CaptureEngine, source: Source) -> Side:
    """Fetch, read back or retrieve one side; `engine` must be open."""
    if source.kind is SourceKind.LIVE:
        return await _live(engine, source)
    if source.kind is SourceKind.ARCHIVE:
        assert source.ref is not None
        return await _archived(engine, source, source.ref)
    index = engine.index
    assert index is not None and source.capture_id is not None
    try:
        capture = index.get_capture(source.capture_id)
    except UnknownCaptureError as exc:
        if exc.matches or source.ref is None:
            raise
        return await _archived(engine, source, source.ref)  # no capture by that id: a Perma GUID
    return await _stored(engine, source, capture, None)


async def compare_sides(engine: CaptureEngine, a: Source, b: Source, *, quote: str | None = None) -> Compared:
    """Resolve both sides (one after the other, so A is fetched before B) and compare B against A."""
    side_a = await resolve_side(engine, a)
    side_b = await resolve_side(engine, b)
    walls = [
        f"{name} is {KIND_NOUNS[side.capture.page_kind]}"
        for name, side in (("A", side_a), ("B", side_b))
        if side.capture is not None and side.capture.page_kind is not None and not side.capture.is_content
    ]
    if walls:
        # Two copies of one wall are not the page unchanged: no text of the page was compared.
        comparison = Comparison.unknown("; ".join(walls) + ", not the page's content")
        return Compared(side_a, side_b, comparison, quote)
    comparison = compare_texts(side_a.text, side_b.text, engine.config.drift, quote)
    missing = [
        f"{name} has no text ({side.note or 'nothing was had'})"
        for name, side in (("A", side_a), ("B", side_b))
        if side.text is None
    ]
    if missing:
        comparison = dataclasses.replace(comparison, reason="; ".join(missing))
    return Compared(side_a, side_b, comparison, quote)


def compare(config: Config, a: str, b: str, *, quote: str | None = None) -> Compared:
    """Python API of `archiver compare A B`: parse both sides, resolve them, compare."""
    sources = [parse_source(t, perma_site_url=config.perma.site_url, wayback_url=config.wayback.url) for t in (a, b)]

    async def run() -> Compared:
        async with CaptureEngine(config) as engine:
            return await compare_sides(engine, sources[0], sources[1], quote=quote)

    return asyncio.run(run())


def side_to_dict(side: Side) -> dict[str, Any]:
    return {
        "input": side.source.text,
        "kind": side.source.kind.value,
        "label": side.label,
        "note": side.note,
        "capture": None if side.capture is None else capture_to_dict(side.capture),
        "memento": None if side.memento is None else memento_to_dict(side.memento),
    }


def compared_document(compared: Compared) -> dict[str, Any]:
    """The JSON of `archiver compare`: `compared_to_dict` plus what each side was."""
    document = compared_to_dict(compared.comparison, compared.a.label, compared.b.label)
    document["quote"] = compared.quote
    document["acceptable"] = compared.acceptable
    document["sides"] = {"a": side_to_dict(compared.a), "b": side_to_dict(compared.b)}
    return document
