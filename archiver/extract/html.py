"""HTML: a[href] (with Robust Links attributes), blockquote[cite], q[cite], and URLs in the text.

The stdlib `html.parser.HTMLParser` is used directly, without a tree, because it reports the
source position of every tag and text run and citations need line and column. Bytes become text
by w3lib's `html_to_unicode` so columns count what a browser shows. Relative links resolve only
against a <base href>; fragment, mailto:, javascript:, tel: and data: links are not citations.
See docs/extraction.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin

from w3lib.encoding import html_to_unicode

from archiver.errors import ExtractError
from archiver.extract.link import ArchiveHosts, Link, LinkSource, make_link
from archiver.extract.urlscan import LineIndex, clip, normalise_newlines, scan_urls
from archiver.models import SourceSpan

# Text inside these is not prose: code samples, scripts, form fields.
_SKIP = frozenset({"script", "style", "code", "pre", "textarea", "template", "noscript", "kbd", "samp"})
# A new block starts a new context sentence.
_BLOCKS = frozenset(
    {"p", "div", "li", "td", "th", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "br", "blockquote", "dd", "dt", "section"}
)
_CONTEXT_KEEP = 300


@dataclass
class _Raw:
    offset: int
    url: str
    source: LinkSource
    text: str | None = None
    original: str | None = None
    version: str | None = None
    date: str | None = None
    context: str = ""


class _Collector(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = text
        self.index = LineIndex(text)
        self.base: str | None = None
        self.raw: list[_Raw] = []
        self.skip = 0
        self.anchor: _Raw | None = None
        self.anchor_text: list[str] = []
        self.recent = ""

    def _tag_offset(self) -> int:
        line, column = self.getpos()
        return self.index.offset(line, column + 1)

    def _value_offset(self, tag_offset: int, name: str) -> int:
        """Where the value of attribute `name` starts in the source (the tag's start if not found)."""
        tag = self.get_starttag_text() or ""
        match = re.search(rf"(?<![\w-]){re.escape(name)}\s*=\s*[\"']?", tag, re.I)
        return tag_offset + match.end() if match else tag_offset

    def _close_anchor(self) -> None:
        if self.anchor is not None:
            self.anchor.text = "".join(self.anchor_text)
            self.anchor = None
            self.anchor_text = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value for name, value in attrs if value is not None}
        offset = self._tag_offset()
        if tag in _BLOCKS:
            self.recent = ""
        if tag == "base" and self.base is None and values.get("href"):
            self.base = values["href"].strip()
        elif tag == "a":
            self._close_anchor()
            href = values.get("href")
            if href is not None:
                self.anchor = _Raw(
                    offset=self._value_offset(offset, "href"),
                    url=href,
                    source=LinkSource.HYPERLINK,
                    original=values.get("data-originalurl"),
                    version=values.get("data-versionurl"),
                    date=values.get("data-versiondate"),
                    context=self.recent,
                )
                self.raw.append(self.anchor)
        elif tag in ("blockquote", "q") and values.get("cite"):
            self.raw.append(_Raw(offset=self._value_offset(offset, "cite"), url=values["cite"], source=LinkSource.CITE))
        if tag in _SKIP:
            self.skip += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in _SKIP:
            self.skip -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._close_anchor()
        elif tag in _SKIP and self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.anchor is not None:
            self.anchor_text.append(data)
        else:
            start = self._tag_offset()
            cursor = start  # the source after the last URL placed, so a repeated URL gets its own place
            found_urls = scan_urls(data)
            # Clipped once a text node: a long one with many URLs was copied whole into each.
            context = clip(self.recent + data) if found_urls else ""
            for found in found_urls:
                written = data[found.start : found.end]
                located = self.source.find(written, cursor, start + len(data) + 256)
                offset = located if located >= 0 else start + found.start
                cursor = offset + len(written) if located >= 0 else cursor
                self.raw.append(_Raw(offset=offset, url=found.url, source=LinkSource.PROSE, context=context))
        self.recent = (self.recent + data)[-_CONTEXT_KEEP:]


def _absolute(url: str | None, base: str | None) -> str | None:
    """The absolute http(s) URL `url` names, or None when it is no citation."""
    if url is None:
        return None
    url = url.strip()
    if not url or url.startswith("#"):
        return None
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", url)
    if scheme:
        return url if scheme.group(1).lower() in ("http", "https") else None
    if base is not None and re.match(r"(?i)^https?://", base):
        try:
            return urljoin(base, url)
        except ValueError:  # a base or link urljoin cannot parse (`http://[x`; found by fuzz/)
            return None
    if url.startswith("//"):
        return "https:" + url  # protocol-relative: absolute but for the scheme
    return None


def links_in_html(data: bytes, path: str, hosts: ArchiveHosts) -> list[Link]:
    _encoding, decoded = html_to_unicode(None, data)
    text = normalise_newlines(decoded)
    collector = _Collector(text)
    try:
        collector.feed(text)
        collector.close()
    except (AssertionError, ValueError) as exc:  # the stdlib parser's rare hard failures
        raise ExtractError(f"{path}: the HTML could not be parsed ({exc}); check that it is an HTML file") from exc
    collector._close_anchor()
    links = []
    for raw in sorted(collector.raw, key=lambda r: r.offset):
        url = _absolute(raw.url, collector.base)
        if url is None:
            continue
        line, column = collector.index.position(raw.offset)
        links.append(
            make_link(
                url,
                SourceSpan(path=path, line=line, column=column),
                raw.source,
                hosts,
                context=raw.context + (raw.text or ""),
                text=raw.text,
                original_url=_absolute(raw.original, collector.base),
                version_url=_absolute(raw.version, collector.base),
                version_date=raw.date,
            )
        )
    return links
