"""Writing archive links back into a document: pure text in, text out, the rest left byte for byte.

HTML gets the Robust Links attributes on the cited `<a>` tag, edited in place and never
re-serialised; Markdown and text get ` (archived: <URI>)` after the citation. Edits are placed by
the positions extraction recorded and applied from the end backwards so offsets stay valid.
See docs/extraction.md.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from archiver.extract.urlscan import LineIndex, is_url_char


@dataclass(frozen=True)
class Placement:
    """One archive link to write: at the URL that starts at (line, column) of the text."""

    line: int
    column: int
    url: str
    archive_url: str
    archive_date: str | None  # ISO 8601, e.g. 2025-04-26T08:00:00Z


@dataclass(frozen=True)
class Annotated:
    """The new text, and which placements were written and which skipped (with why)."""

    text: str
    written: tuple[Placement, ...]
    skipped: tuple[tuple[Placement, str], ...]


_TAG_START = re.compile(r"<([A-Za-z][A-Za-z0-9-]*)")


def _tag_end(text: str, start: int) -> int | None:
    """Offset of the `>` that closes the tag opened at `start`, honouring quoted values."""
    quote: str | None = None
    for i in range(start, len(text)):
        char = text[i]
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == ">":
            return i
    return None


def _html_edit(text: str, offset: int, place: Placement) -> tuple[int, int, str] | str:
    start = text.rfind("<", 0, offset)
    match = _TAG_START.match(text, start) if start >= 0 else None
    if match is None or match.group(1).lower() != "a":
        return "the URL is not the href of an <a> tag"
    end = _tag_end(text, start)
    if end is None:
        return "the <a> tag is not closed"
    tag = text[start : end + 1]
    if re.search(r"\sdata-versionurl\s*=", tag, re.I):
        return "the link already names an archived copy (data-versionurl)"
    attributes = [("data-originalurl", place.url), ("data-versionurl", place.archive_url)]
    if place.archive_date:
        attributes.append(("data-versiondate", place.archive_date))
    added = "".join(f' {name}="{html.escape(value, quote=True)}"' for name, value in attributes)
    insert_at = end - 1 if text[end - 1] == "/" else end
    return insert_at, insert_at, added


def _prose_edit(text: str, offset: int, place: Placement, markdown: bool) -> tuple[int, int, str] | str:
    if text.startswith(place.url, offset):
        end = offset + len(place.url)
    else:
        end = offset
        while end < len(text) and is_url_char(text[end]):
            end += 1
        if end == offset:
            return "the cited URL is not where it was found"
    before = text[offset - 1] if offset > 0 else ""
    if before == "<" and text.startswith(">", end):
        end += 1
    elif markdown and before == "(" and text[:offset].endswith("]("):
        close = text.find(")", end)
        if close < 0:
            return "the Markdown link is not closed"
        end = close + 1
    if text[end:].lstrip(" ").startswith("(archived:"):
        return "an archive link already follows the citation"
    return end, end, f" (archived: <{place.archive_url}>)"


def annotate(text: str, kind: str, placements: Sequence[Placement]) -> Annotated:
    """`text` with each placement written in the style of `kind` ("html", "markdown" or "text")."""
    index = LineIndex(text)
    edits: list[tuple[int, int, str, Placement]] = []
    skipped: list[tuple[Placement, str]] = []
    for place in placements:
        try:
            offset = index.offset(place.line, place.column)
        except IndexError:
            skipped.append((place, "the position is outside the document"))
            continue
        edit = (
            _html_edit(text, offset, place) if kind == "html" else _prose_edit(text, offset, place, kind == "markdown")
        )
        if isinstance(edit, str):
            skipped.append((place, edit))
        else:
            edits.append((*edit, place))
    out = text
    for start, end, new, _ in sorted(edits, key=lambda e: e[0], reverse=True):
        out = out[:start] + new + out[end:]
    written = tuple(place for *_, place in sorted(edits, key=lambda e: e[0]))
    return Annotated(out, written, tuple(skipped))


def unified_diff(before: str, after: str, name: str) -> str:
    """The change as a unified diff, as `diff -u` would print it."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{name}", f"b/{name}"
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
