"""Markdown: inline links, autolinks, reference definitions and bare URLs, but nothing in code.

Which lines are code is a block-structure question with many corners (an indented line is code
after a blank line but a list item's continuation inside a list; fences nest in block quotes), so
markdown-it-py, a CommonMark-conformant parser already installed with rich, answers it from its
token line maps. It has no column positions for inline content, so links are then found on the
source text itself, with code blocks and inline code spans blanked out (spaces, newlines kept):
offsets in the blanked text are offsets in the document, which gives exact columns.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

from archiver.extract.document import decode_text
from archiver.extract.link import ArchiveHosts, Link, LinkSource, make_link
from archiver.extract.urlscan import LineIndex, line_context, normalise_newlines, scan_urls
from archiver.models import SourceSpan

_REFERENCE = re.compile(
    r"^ {0,3}\[(?!\^)(?P<label>[^\]\n]+)\]:[ \t]*\n?[ \t]*(?P<dest><[^>\n]*>|\S+)"
    r"(?:[ \t]+(?:\"(?P<t1>[^\"\n]*)\"|'(?P<t2>[^'\n]*)'|\((?P<t3>[^)\n]*)\)))?[ \t]*$",
    re.M,
)
_AUTOLINK = re.compile(r"<(?P<url>(?i:https?)://[^\s<>]*)>")
_BACKTICKS = re.compile(r"`+")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_EMPHASIS = re.compile(r"[*_`]+")


def _blank(chars: list[str], start: int, end: int) -> None:
    for i in range(start, end):
        if chars[i] != "\n":
            chars[i] = " "


def _code_lines(text: str) -> set[int]:
    """0-based numbers of the lines inside fenced or indented code blocks."""
    lines: set[int] = set()
    for token in MarkdownIt("commonmark").parse(text):
        if token.type in ("fence", "code_block") and token.map is not None:
            lines.update(range(token.map[0], token.map[1]))
    return lines


def _blank_code_spans(chars: list[str]) -> None:
    """Blank inline code: a run of n backticks up to the next run of exactly n, within a paragraph."""
    text = "".join(chars)
    pos = 0
    while (opening := _BACKTICKS.search(text, pos)) is not None:
        size = len(opening.group())
        paragraph_end = _BLANK_LINE.search(text, opening.end())
        limit = paragraph_end.start() if paragraph_end else len(text)
        closing = None
        for candidate in _BACKTICKS.finditer(text, opening.end(), limit):
            if len(candidate.group()) == size:
                closing = candidate
                break
        if closing is None:
            pos = opening.end()
            continue
        _blank(chars, opening.start(), closing.end())
        pos = closing.end()


def _fetchable(dest: str) -> str | None:
    if re.match(r"(?i)^https?://[^/\s]", dest):
        return dest
    if dest.lower().startswith("www.") and "." in dest[4:]:
        return "http://" + dest
    return None


def _destination(text: str, start: int) -> tuple[int, int, int] | None:
    """Parse an inline link destination after `](`: (url start, url end, end of the whole link)."""
    i = start
    while i < len(text) and text[i] in " \t":
        i += 1
    if i < len(text) and text[i] == "<":
        close = text.find(">", i)
        if close < 0 or "\n" in text[i:close]:
            return None
        url_start, url_end = i + 1, close
        i = close + 1
    else:
        url_start = i
        depth = 0
        while i < len(text) and not text[i].isspace():
            if text[i] == "(":
                depth += 1
            elif text[i] == ")":
                if depth == 0:
                    break
                depth -= 1
            i += 1
        url_end = i
    close = text.find(")", i)
    if close < 0:
        return None
    return url_start, url_end, close + 1


def _link_text_start(text: str, bracket: int) -> int | None:
    """Where the `[` that matches the `]` at `bracket` stands."""
    depth = 0
    for i in range(bracket, max(-1, bracket - 2000), -1):
        if text[i] == "]":
            depth += 1
        elif text[i] == "[":
            depth -= 1
            if depth == 0:
                return i
        elif text[i] == "\n" and text[i - 1 : i + 1] == "\n\n":
            return None
    return None


def links_in_markdown(data: bytes, path: str, hosts: ArchiveHosts) -> list[Link]:
    text = normalise_newlines(decode_text(data))
    index = LineIndex(text)
    chars = list(text)
    lines = text.split("\n")
    for number in _code_lines(text):
        start = index.offset(number + 1, 1)
        _blank(chars, start, start + len(lines[number]))
    _blank_code_spans(chars)
    masked = "".join(chars)
    found: list[tuple[int, str, LinkSource, str | None]] = []

    for match in _REFERENCE.finditer(masked):
        dest = match.group("dest")
        url = _fetchable(dest[1:-1] if dest.startswith("<") else dest)
        offset = match.start("dest") + (1 if dest.startswith("<") else 0)
        title = match.group("t1") or match.group("t2") or match.group("t3") or match.group("label")
        if url is not None:
            found.append((offset, url, LinkSource.REFERENCE, title))
        _blank(chars, match.start(), match.end())
    masked = "".join(chars)

    pos = 0
    while (bracket := masked.find("](", pos)) >= 0:
        pos = bracket + 2
        opening = _link_text_start(masked, bracket)
        parsed = _destination(masked, bracket + 2)
        if opening is None or parsed is None:
            continue
        url_start, url_end, link_end = parsed
        url = _fetchable(masked[url_start:url_end])
        if opening > 0 and masked[opening - 1] == "!":
            _blank(chars, opening - 1, link_end)  # an image: a picture is not a citation
            pos = link_end
            continue
        if url is not None:
            label = _EMPHASIS.sub("", masked[opening + 1 : bracket])
            found.append((url_start, url, LinkSource.HYPERLINK, label))
        _blank(chars, opening, link_end)
        pos = link_end
    masked = "".join(chars)

    for match in _AUTOLINK.finditer(masked):
        found.append((match.start("url"), match.group("url"), LinkSource.AUTOLINK, None))
        _blank(chars, match.start(), match.end())
    masked = "".join(chars)

    for bare in scan_urls(masked):
        found.append((bare.start, bare.url, LinkSource.PROSE, None))

    links = []
    for offset, written, source, link_text in sorted(found, key=lambda item: item[0]):
        line, column = index.position(offset)
        span = SourceSpan(path=path, line=line, column=column)
        context = line_context(index, line, written)
        links.append(make_link(written, span, source, hosts, context=context, text=link_text))
    return links
