"""Pairing: which archive link belongs to which cited URL, decided from the links a document holds.

Pure: the caller passes in the originals archive links resolved to. The rules, strongest first:
Robust Links, then an archive of the same resource, then an unmatched archive standing right after
a cited URL (so a wrong archive is a `mismatch` on exactly that citation), else a citation of its
own. Every cited URL appears once; a `note` says how a non-obvious pairing was made.
See docs/extraction.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from archiver.extract.link import Link
from archiver.models import ArchiveKind, ArchiveRef, Citation, SourceSpan
from archiver.urls import comparable

NEIGHBOUR_LINES = 3  # an archive on the same line as its citation or up to this many lines below
ANNOUNCED_LINES = 8  # ... further when its own line announces an archived copy
_ANNOUNCES_ARCHIVE = re.compile(r"\barchived?\b|\barchival\b|\bperma\b|\bwayback\b|存档|归档|快照", re.I)
_GENERIC_TEXT = re.compile(
    r"^(?:here|link|this|source|online|website|web ?site|archive[d]?(?: (?:version|copy|link))?|pdf|html|"
    r"perma(?:\.cc)?|wayback(?: machine)?|click here|read more|more|original|\[?\d+\]?)$",
    re.I,
)

UNCITED_NOTE = "archive link whose original URL is not cited in the document"
UNRESOLVED_NOTE = "archive link whose original URL is unknown (not resolved) and that stands next to no cited URL"


@dataclass
class _Entry:
    url: str
    span: SourceSpan
    order: int
    cited: bool
    title: str | None = None
    archives: list[ArchiveRef] = field(default_factory=list)
    matched: bool = False  # has an archive paired by its original URL or explicitly
    notes: list[str] = field(default_factory=list)

    def attach(self, ref: ArchiveRef, note: str | None = None) -> None:
        if all(existing.uri != ref.uri for existing in self.archives):
            self.archives.append(ref)
        if note and note not in self.notes:
            self.notes.append(note)


def _key(url: str) -> str:
    try:
        return comparable(url)
    except ValueError:
        return url


def _title(link: Link) -> str | None:
    """The link text, when it reads as a title: words, not a URL, not "here" or "archived copy"."""
    text = (link.text or "").strip(" \t\"'“”‘’«»「」《》")
    if not text or len(text) < 8 or len(text) > 300 or "://" in text or text.lower().startswith("www."):
        return None
    if _GENERIC_TEXT.match(text) or (" " not in text and text.isascii()):
        return None
    return text


def _original(ref: ArchiveRef, originals: Mapping[str, str | None]) -> str | None:
    if ref.kind is ArchiveKind.WAYBACK:
        return ref.original_url
    return originals.get(ref.uri) or (originals.get(ref.raw) if ref.raw != ref.uri else None)


def candidate_refs(links: Sequence[Link]) -> list[ArchiveRef]:
    """The archive refs whose original URL must be resolved before pairing (Perma, other mementos),
    each once, in document order. Wayback refs carry their original; local ones are ours."""
    refs: list[ArchiveRef] = []
    seen: set[str] = set()
    for link in links:
        for ref in (link.archive, link.version_archive):
            if ref is not None and ref.kind in (ArchiveKind.PERMA, ArchiveKind.MEMENTO) and ref.uri not in seen:
                seen.add(ref.uri)
                refs.append(ref)
    return refs


class _Book:
    """The citations under construction, keyed by comparable URL, in first-seen order."""

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}

    def cite(self, url: str, link: Link, order: int, *, cited: bool = True) -> _Entry:
        key = _key(url)
        entry = self.entries.get(key)
        if entry is None:
            entry = _Entry(url=url, span=link.found_in, order=order, cited=cited)
            self.entries[key] = entry
        elif cited and not entry.cited:
            entry.cited = True
        if entry.title is None and cited and link.archive is None:
            entry.title = _title(link)
        return entry

    def cited(self, url: str) -> _Entry | None:
        entry = self.entries.get(_key(url))
        return entry if entry is not None and entry.cited else None


def _neighbour(links: Sequence[Link], position: int, book: _Book) -> _Entry | None:
    """The cited URL standing just before the archive link at `position`, if close enough."""
    link = links[position]
    reach = ANNOUNCED_LINES if _ANNOUNCES_ARCHIVE.search(link.context) else NEIGHBOUR_LINES
    for before in range(position - 1, -1, -1):
        other = links[before]
        if other.found_in.path != link.found_in.path or link.found_in.line - other.found_in.line > reach:
            return None
        if other.archive is not None and not other.is_robust:
            continue  # another archive link in between: look past it, it may belong to the same citation
        cited_url = other.original_url if other.archive is not None else other.url
        if cited_url is None:
            continue
        entry = book.cited(cited_url)
        return None if entry is None or entry.matched else entry
    return None


def pair(links: Sequence[Link], originals: Mapping[str, str | None]) -> list[Citation]:
    """Citations for the links of one document (or several: pairing by position stays within a path).

    `originals` maps an archive ref's `uri` to the original URL it captured, None when that could
    not be resolved; Wayback refs need no entry.
    """
    book = _Book()
    pending: list[tuple[int, ArchiveRef, str | None]] = []

    # Cited URLs first, so that an archive may match one that stands later in the document.
    for order, link in enumerate(links):
        if link.archive is None:
            book.cite(link.url, link, order)
        elif link.original_url is not None:
            book.cite(link.original_url, link, order)

    for order, link in enumerate(links):
        if link.is_robust:
            cited_url = link.original_url or (link.url if link.archive is None else None)
            explicit = link.version_archive if link.version_archive is not None else link.archive
            if cited_url is not None and explicit is not None:
                entry = book.cite(cited_url, link, order)
                entry.attach(explicit, "paired by its Robust Links attributes")
                entry.matched = True
                continue
        if link.archive is None:
            continue
        original = _original(link.archive, originals)
        match = book.cited(original) if original else None
        if match is not None:
            match.attach(link.archive)
            match.matched = True
        else:
            pending.append((order, link.archive, original))

    for order, ref, original in pending:
        link = links[order]
        neighbour = _neighbour(links, order, book)
        if neighbour is not None:
            if original is None:
                note = f"archive {ref.uri} paired by position: its original URL is not resolved yet"
            else:
                note = f"archive {ref.uri} paired by position: it captured {original}, not this URL"
            neighbour.attach(ref, note)
        elif original is not None:
            book.cite(original, link, order, cited=False).attach(ref, UNCITED_NOTE)
        else:
            book.cite(ref.uri, link, order, cited=False).attach(ref, UNRESOLVED_NOTE)

    entries = sorted(book.entries.values(), key=lambda entry: entry.order)
    return [
        Citation(
            url=entry.url,
            found_in=entry.span,
            archives=tuple(entry.archives),
            expected_title=entry.title,
            note="; ".join(entry.notes) or None,
        )
        for entry in entries
    ]
