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
_WHITESPACE = re.compile(r"\s")
_BRACKETS = re.compile(r"[\[\]]|\n(?=\n)")


def _blank(chars: list[str], start: int, end: int) -> None:
    for i in range(start, end):
        if chars[i] != "\n":
            chars[i] = " "


def _code_lines(text: str) -> set[int]:
    """0-based numbers of the lines inside fenced or indented code blocks."""
    lines: set[int] = set()
    # Block structure only: the inline pass (links, emphasis) is found on the source text below, and
    # markdown-it's cost 1.2 s on 63 KB of `[](` while the block pass took 1 ms.
    for token in MarkdownIt("commonmark").disable(["inline", "text_join"]).parse(text):
        if token.type in ("fence", "code_block") and token.map is not None:
            lines.update(range(token.map[0], token.map[1]))
    return lines


def _blank_code_spans(chars: list[str]) -> None:
    """Blank inline code: a run of n backticks up to the next run of exactly n, within a paragraph."""
    text = "".join(chars)
    pos = 0
    limit = -1
    while (opening := _BACKTICKS.search(text, pos)) is not None:
        size = len(opening.group())
        if opening.end() > limit:  # the paragraph's end, looked for once a paragraph, not once a run
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


class _Destinations:
    """Inline link destinations after `](`, each found in time linear in the document overall.

    A destination runs to the first whitespace or to a `)` outside the parentheses it opens. Scanned
    afresh from every `](`, a long line without spaces (`[a](` repeated: a fuzzer's find) cost time
    quadratic in its length: 16 KB took 8 s. So a whitespace-free run's stops are worked out once,
    right to left, the first time a `](` in it is asked about, and read from there by the rest."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._last_close = text.rfind(")")
        self._run_start = self._run_end = -1
        self._stops: list[int] = []

    def _stop(self, at: int) -> int:
        """Where a destination starting at `at` ends: a whitespace, the text's end, or its closing `)`."""
        text = self._text
        if not self._run_start <= at < self._run_end:
            space = _WHITESPACE.search(text, at)
            end = space.start() if space else len(text)
            stops = [end] * (end - at + 1)
            for k in range(end - 1, at - 1, -1):  # stops[k - at]: where a scan from k ends
                char = text[k]
                if char == ")":
                    stops[k - at] = k
                elif char == "(":
                    inner = stops[k + 1 - at]  # the scan inside these parentheses
                    stops[k - at] = stops[inner + 1 - at] if inner < end and text[inner] == ")" else inner
                else:
                    stops[k - at] = stops[k + 1 - at]
            self._run_start, self._run_end, self._stops = at, end, stops
        return self._stops[at - self._run_start]

    def after(self, start: int) -> tuple[int, int, int] | None:
        """The destination after `](` at `start - 2`: (url start, url end, end of the whole link)."""
        text = self._text
        i = start
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "<":
            line_end = text.find("\n", i)
            close = text.find(">", i, line_end if line_end >= 0 else len(text))
            if close < 0:
                return None
            url_start, url_end = i + 1, close
            i = close + 1
        else:
            url_start = i
            i = url_end = self._stop(i)
        if i > self._last_close:
            return None
        close = text.find(")", i)
        return url_start, url_end, close + 1


def _link_texts(text: str) -> dict[int, int]:
    """For each `](`, where the `[` that opens its link text stands: brackets nest, the `[` is at
    most 2,000 characters back and within the paragraph. One pass over the brackets; scanning back
    from each `](` instead cost 2,000 steps apiece where no `[` was near (`x](` repeated)."""
    openings: dict[int, int] = {}
    stack: list[int] = []
    for mark in _BRACKETS.finditer(text):
        at = mark.start()
        char = text[at]
        if char == "[":
            stack.append(at)
        elif char == "]":
            if stack:
                opening = stack.pop()
                if at - opening < 2000 and text.startswith("](", at):
                    openings[at] = opening
        else:  # a blank line: no link text spans it
            stack.clear()
    return openings


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
    openings = _link_texts(masked)
    destinations = _Destinations(masked)
    while (bracket := masked.find("](", pos)) >= 0:
        pos = bracket + 2
        opening = openings.get(bracket)
        if opening is None:
            continue
        parsed = destinations.after(bracket + 2)
        if parsed is None:
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
