"""Use case `annotate`: write the archives the index knows into the document that cites them.

The document's citations are extracted and paired as `check` does them (Perma links resolved
from what the index recorded of them, so no network call is made). A citation without an archive
gets the newest archive recorded for its URL (`archiver archive`, `check --archive-missing`, or
any mirror): verdict `ok`, its original the same resource as the citation (`urls.same_resource`).
The new document goes to `output`; the source is rewritten only when asked (`in_place`), through
a temporary file and a rename so a crash never leaves half a document. PDF and DOCX are refused:
their links cannot be edited without rewriting the whole file.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from w3lib.encoding import html_to_unicode

from archiver.config import Config
from archiver.errors import UsageError
from archiver.extract import ArchiveHosts, extract_links
from archiver.extract.annotate import Placement, annotate, unified_diff
from archiver.extract.document import DocKind, decode_text, detect_kind
from archiver.extract.pairing import candidate_refs, pair
from archiver.extract.urlscan import normalise_newlines
from archiver.models import ArchivePaths
from archiver.store.index import Index
from archiver.urls import same_resource

_KINDS = {DocKind.HTML: "html", DocKind.MARKDOWN: "markdown", DocKind.TEXT: "text"}


@dataclass(frozen=True)
class AnnotateResult:
    """What `annotate` wrote: where, the diff, and the citations it could not annotate (and why)."""

    source: str
    written_to: Path | None
    diff: str
    placements: tuple[Placement, ...]
    skipped: tuple[tuple[str, str], ...]  # (cited URL, why)


def recorded_archive(mementos: list[dict[str, Any]], url: str) -> dict[str, Any] | None:
    """The newest usable archive recorded for `url` (mementos come newest first)."""
    for memento in mementos:
        if memento.get("verdict") != "ok" or not memento.get("original_url"):
            continue
        try:
            if same_resource(memento["original_url"], url):
                return memento
        except ValueError:
            continue
    return None


def _decode(data: bytes, kind: DocKind) -> tuple[str, str, bool]:
    """(text with LF newlines, encoding to write back, whether the source used CRLF)."""
    if kind is DocKind.HTML:
        encoding, decoded = html_to_unicode(None, data)
    else:
        encoding, decoded = "utf-8", decode_text(data)
    return normalise_newlines(decoded), encoding, "\r\n" in decoded


def annotate_document(
    config: Config, source: Path, *, output: Path | None = None, in_place: bool = False
) -> AnnotateResult:
    """Annotate `source`; write to `output`, or over `source` with `in_place`; else only the diff."""
    if output is not None and in_place:
        raise UsageError("give --output or --in-place, not both")
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read document {source}: {exc.strerror or exc}") from exc
    kind = detect_kind(data, str(source))
    if kind not in _KINDS:
        raise UsageError(f"{source} is a {kind.value} file: only HTML, Markdown and text documents can be annotated")
    paths = ArchivePaths(config.archive_dir)
    if not paths.index.is_file():
        raise UsageError(
            f"no index in {config.archive_dir}: make the archives first (archiver archive URL, "
            "or archiver check DOC --archive-missing)"
        )
    with Index(paths.index) as index:
        mementos = index.mementos()
    links = extract_links(data, str(source), kind, hosts=ArchiveHosts.from_config(config))
    originals: dict[str, str | None] = {}
    for ref in candidate_refs(links):
        known = next((m for m in mementos if m.get("ref") == ref.uri and m.get("original_url")), None)
        originals[ref.uri] = known["original_url"] if known else None
    placements: list[Placement] = []
    skipped: list[tuple[str, str]] = []
    for citation in pair(links, originals):
        if citation.archives:
            continue
        found = recorded_archive(mementos, citation.url)
        if found is None:
            skipped.append((citation.url, "no archive of it is recorded; run archiver archive first"))
            continue
        placements.append(
            Placement(
                citation.found_in.line, citation.found_in.column, citation.url, found["ref"], found.get("datetime")
            )
        )
    text, encoding, crlf = _decode(data, kind)
    result = annotate(text, _KINDS[kind], placements)
    skipped.extend((place.url, why) for place, why in result.skipped)
    new_text = result.text.replace("\n", "\r\n") if crlf else result.text
    diff = unified_diff(text, result.text, source.name)
    target = source if in_place else output
    if target is not None:
        _write(target, new_text.encode(encoding, errors="xmlcharrefreplace"))
    return AnnotateResult(str(source), target, diff, result.written, tuple(skipped))


def _write(target: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder, then rename: all or nothing."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from exc
