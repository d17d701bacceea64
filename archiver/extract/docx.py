"""DOCX: hyperlinks (external relationships) and URLs in the text, body first, then foot/endnotes.

python-docx resolves hyperlinks and gives runs in order, which is what a position needs; it has no
API for footnotes and endnotes, where translations put their sources, so those parts are wrapped
in the same `Paragraph` objects. HYPERLINK field codes (simple and complex fields, as older Word
and converters write links) are read from the XML. `found_in.line` is the paragraph number.
See docs/extraction.md.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

import docx
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml import parse_xml
from docx.oxml.ns import qn
from docx.text.hyperlink import Hyperlink
from docx.text.paragraph import Paragraph

from archiver.errors import ExtractError
from archiver.extract.link import ArchiveHosts, Link, LinkSource, make_link
from archiver.extract.urlscan import scan_urls
from archiver.models import SourceSpan

_NOTE_SKIP = ("separator", "continuationSeparator", "continuationNotice")
# HYPERLINK "url" [\\l "anchor"] [\\o "tooltip"] ...: the first quoted (or bare) argument is the target.
_HYPERLINK_FIELD = re.compile(r'^\s*HYPERLINK\s+(?:"([^"]+)"|(\S+))(?:.*?\\l\s+"([^"]+)")?', re.IGNORECASE | re.DOTALL)


def _field_target(instruction: str) -> str | None:
    match = _HYPERLINK_FIELD.match(instruction)
    if match is None:
        return None
    url = (match.group(1) or match.group(2) or "").strip()
    if match.group(3):
        url = f"{url}#{match.group(3)}"
    return url if url.lower().startswith(("http://", "https://")) else None


def _texts(element: Any) -> str:
    return "".join(node.text or "" for node in element.iter(qn("w:t")))


def _field_links(paragraph: Any) -> list[tuple[str, str]]:
    """(target, display text) of each HYPERLINK field in a paragraph element, in order."""
    found: list[tuple[str, str]] = []
    for simple in paragraph.iter(qn("w:fldSimple")):
        target = _field_target(simple.get(qn("w:instr")) or "")
        if target:
            found.append((target, _texts(simple)))
    # A complex field: fldChar begin, instrText runs, fldChar separate, the shown runs, fldChar end.
    state, instruction, shown = "", "", ""
    for node in paragraph.iter(qn("w:fldChar"), qn("w:instrText"), qn("w:t")):
        if node.tag == qn("w:fldChar"):
            kind = node.get(qn("w:fldCharType"))
            if kind == "begin":
                state, instruction, shown = "instr", "", ""
            elif kind == "separate" and state == "instr":
                state = "shown"
            elif kind == "end" and state:
                target = _field_target(instruction)
                if target:
                    found.append((target, shown))
                state = ""
        elif node.tag == qn("w:instrText") and state == "instr":
            instruction += node.text or ""
        elif node.tag == qn("w:t") and state == "shown" and not _in_simple_field(node):
            shown += node.text or ""
    return found


def _in_simple_field(node: Any) -> bool:
    parent = node.getparent()
    while parent is not None:
        if parent.tag == qn("w:fldSimple"):
            return True
        parent = parent.getparent()
    return False


class _Story:
    """The parent python-docx objects ask for their package part (to resolve relationship ids)."""

    def __init__(self, part: Any) -> None:
        self.part = part


def _paragraphs(document: Any) -> Iterator[Paragraph]:
    body_story = _Story(document.part)
    for p in document.element.body.iter(qn("w:p")):
        yield Paragraph(p, body_story)
    for rel in document.part.rels.values():
        if rel.is_external or rel.reltype not in (RT.FOOTNOTES, RT.ENDNOTES):
            continue
        part = rel.target_part
        element = getattr(part, "element", None)
        if element is None:
            element = parse_xml(part.blob)
        story = _Story(part)
        for note in element:
            if note.get(qn("w:type")) in _NOTE_SKIP:
                continue
            for p in note.iter(qn("w:p")):
                yield Paragraph(p, story)


def _open(data: bytes, path: str) -> Any:
    try:
        return docx.Document(io.BytesIO(data))
    # zipfile raises NotImplementedError for an unknown method or version, zlib.error for bad data,
    # EOFError for a cut member (all found by fuzz/).
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, SyntaxError, OSError, NotImplementedError,
            zlib.error, EOFError, RuntimeError) as exc:  # fmt: skip
        raise ExtractError(
            f"{path}: the DOCX could not be read ({type(exc).__name__}: {exc}); "
            "it is damaged or not a Word document: open and re-save it, or export it as PDF or text"
        ) from exc


def text_of_docx(data: bytes, path: str) -> str:
    """The document's text, one paragraph a line, notes after the body."""
    return "\n".join(paragraph.text for paragraph in _paragraphs(_open(data, path)))


def links_in_docx(data: bytes, path: str, hosts: ArchiveHosts) -> list[Link]:
    document = _open(data, path)
    links: list[Link] = []
    try:
        paragraphs = list(_paragraphs(document))
        for number, paragraph in enumerate(paragraphs, start=1):
            text = paragraph.text
            covered: list[tuple[int, int]] = []
            offset = 0
            for item in paragraph.iter_inner_content():
                item_text = item.text
                if isinstance(item, Hyperlink) and item.address:
                    url = item.address.strip()
                    if url.lower().startswith(("http://", "https://")):
                        if item.fragment:
                            url = f"{url}#{item.fragment}"
                        span = SourceSpan(path=path, line=number, column=offset + 1)
                        links.append(make_link(url, span, LinkSource.HYPERLINK, hosts, context=text, text=item_text))
                    covered.append((offset, offset + len(item_text)))
                offset += len(item_text)
            for url, shown in _field_links(paragraph._p):
                column = max(text.find(shown), 0) if shown else 0
                span = SourceSpan(path=path, line=number, column=column + 1)
                links.append(make_link(url, span, LinkSource.HYPERLINK, hosts, context=text, text=shown or None))
                if shown:
                    covered.append((column, column + len(shown)))
            for found in scan_urls(text):
                if any(start <= found.start < end for start, end in covered):
                    continue
                span = SourceSpan(path=path, line=number, column=found.start + 1)
                links.append(make_link(found.url, span, LinkSource.PROSE, hosts, context=text))
    # lxml's XMLSyntaxError is a SyntaxError; notes parts are read from the zip only here.
    except (KeyError, ValueError, SyntaxError, zipfile.BadZipFile, NotImplementedError, zlib.error, EOFError) as exc:
        raise ExtractError(f"{path}: the DOCX is damaged ({type(exc).__name__}: {exc}); open and re-save it") from exc
    return sorted(links, key=lambda link: (link.found_in.line, link.found_in.column))
