"""Text fingerprints of stored payloads: visible text, its hash, the title, and the main text.

Pure: it reads the payload it is given. Visible text comes from selectolax (Lexbor), fast enough
for every capture; main text (for drift only, on request) from trafilatura in `fast` mode, a
well-kept extractor that drops navigation and footers. `text_sha256` hashes NFC-normalised text,
so encodings do not change it; drift compares the looser `comparable_text`. Asked for the markup
(to read the page's kind), it also measures the page's shape on the same parse.
See docs/drift-thresholds.md.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import IO

from selectolax.lexbor import LexborHTMLParser

from archiver.content.body import Body
from archiver.content.decoding import decode_payload, html_text_of, plain_text_of
from archiver.content.pageshape import SCRIPTING, TWO_SPACES, PageShape, measure
from archiver.errors import DecodeError

# What a page-kind reader needs of the decoded page: walls and notices are small, and an article
# is an article long before this.
MARKUP_CHARS = 512 * 1024


class PayloadKind(StrEnum):
    HTML = "html"
    TEXT = "text"
    BINARY = "binary"


@dataclass(frozen=True)
class Markup:
    """The decoded page's first MARKUP_CHARS, and its shape when the fingerprint's own parse of the
    same characters measured it (an HTML page that fits), so that reading its kind parses nothing."""

    text: str
    shape: PageShape | None = None


@dataclass(frozen=True)
class Fingerprint:
    """What a payload says. `text` is None for binary payloads and when decoding failed (`error`).

    `text_sha256` is sha256 hex of `text` (UTF-8). `main_text` is set only when asked for; it is
    the visible text when the extractor found no main content.
    """

    kind: PayloadKind
    text_sha256: str | None
    title: str | None
    encoding: str | None
    text: str | None
    main_text: str | None = None
    error: str | None = None
    markup: Markup | None = None  # only when asked (to read its kind)


_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TEXT_TYPES = frozenset(
    {"application/json", "application/xml", "application/javascript", "application/x-javascript", "application/rss+xml"}
)
_DROPPED_TAGS = SCRIPTING
# Elements that start a new line of text: the paragraphs drift diffs on. Found by tag name, not CSS
# (see `content.pageshape`): the order "\n" is put around them in does not change the text.
_BLOCKS = (
    "address,article,aside,blockquote,br,dd,details,div,dl,dt,fieldset,figcaption,figure,footer,form,"
    "h1,h2,h3,h4,h5,h6,header,hr,li,main,nav,ol,p,pre,section,summary,table,td,th,tr,ul,option"
).split(",")
_HTML_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|title|p|div|meta|br)\b", re.I | re.S
)
_BINARY_MAGIC = (
    b"%PDF",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"RIFF",
    b"\x00\x00\x01\x00",
)
_SNIFF_RAW = 64 * 1024
_SNIFF_DECODED = 64 * 1024
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")


def media_type(content_type: str | None) -> str:
    """`text/html; charset=gbk` -> `text/html`; empty when absent."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def payload_kind(content_type: str | None, head: bytes) -> PayloadKind:
    """HTML, other text, or binary: by the media type, sniffed from the first bytes when absent."""
    media = media_type(content_type)
    if media in _HTML_TYPES:
        return PayloadKind.HTML
    if media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+xml", "+json")):
        return PayloadKind.TEXT
    if media and media not in ("application/octet-stream", "application/unknown", "unknown/unknown"):
        return PayloadKind.BINARY
    # No usable type: sniff (a small part of WHATWG MIME sniffing), since servers omit it.
    if _HTML_START.match(head.lstrip(b"\xef\xbb\xbf")):
        return PayloadKind.HTML
    if head.startswith(_BINARY_MAGIC) or _CONTROL.search(head[:1024]):
        return PayloadKind.BINARY
    return PayloadKind.TEXT


def normalise_text(text: str) -> str:
    """NFC, whitespace collapsed within each line, lines stripped, blank lines dropped."""
    if not text.isascii():
        lines = (" ".join(line.split()) for line in unicodedata.normalize("NFC", text).splitlines())
        return "\n".join(line for line in lines if line)
    # The same for ASCII (already NFC), without a string per word: every line break becomes "\n" and
    # every other space " " (memchr scans), so a line needs splitting only if it holds two spaces in a row.
    for brk in _ASCII_BREAKS:
        if brk in text:
            text = text.replace(brk, "\n")
    for space in _ASCII_SPACES:
        if space in text:
            text = text.replace(space, " ")
    stripped = [line.strip(" ") for line in text.split("\n")]
    if not TWO_SPACES.search(text):
        return "\n".join([line for line in stripped if line])
    return "\n".join([" ".join(line.split()) if "  " in line else line for line in stripped if line])


# ASCII characters `str.splitlines()` breaks at besides "\n", and the others `str.split()` splits at.
_ASCII_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e"
_ASCII_SPACES = "\t\x1f"


def text_digest(text: str) -> str:
    """sha256 hex of an already normalised text: the `text_sha256` of a capture."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e]")
_PUNCT_FOLD = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u300c": '"',
    "\u300d": '"',
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    "\u30fb": "\u00b7",
}
# Regexes rather than str.translate: translate looks up every character of a CJK text in a dict
# (0.5 s for a million characters), a character class skips the ones that do not match in C.
_PUNCT = re.compile("[" + "".join(_PUNCT_FOLD) + "]")
_CJK = r"\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_ANY = re.compile(f"[{_CJK}]")
_SPACE_IN_CJK = re.compile(rf"(?<=[{_CJK}]) +(?=[{_CJK}])")


def comparable_text(text: str) -> str:
    """The form drift compares: NFKC, quotes/dashes unified, zero-width gone, whitespace collapsed.

    NFKC folds full-width letters, digits and punctuation (，！０Ａ) and the ideographic space to
    their ASCII forms, which is the "width" difference templates introduce.
    """
    text = _PUNCT.sub(lambda m: _PUNCT_FOLD[m.group()], unicodedata.normalize("NFKC", _ZERO_WIDTH.sub("", text)))
    lines = (" ".join(line.split()) for line in text.splitlines())
    text = "\n".join(line for line in lines if line)
    if _CJK_ANY.search(text):  # the look-around pattern is slow; most English pages skip it
        text = _SPACE_IN_CJK.sub("", text)
    return text


def _read(payload: IO[bytes] | bytes | Body, content_encoding: str | None, limit: int) -> bytes:
    if isinstance(payload, bytes):
        return decode_payload(io.BytesIO(payload), content_encoding, limit)
    stream = payload.open() if isinstance(payload, Body) else payload
    return decode_payload(stream, content_encoding, limit)


def _head(payload: IO[bytes] | bytes | Body, content_encoding: str | None) -> bytes:
    """The first ~1 KiB of the decoded payload, leaving a stream where it stood."""
    if isinstance(payload, bytes):
        raw = payload[:_SNIFF_RAW]
    else:
        stream = payload.open() if isinstance(payload, Body) else payload
        start = stream.tell()
        raw = stream.read(_SNIFF_RAW)
        stream.seek(start)
    try:
        return decode_payload(io.BytesIO(raw), content_encoding, _SNIFF_DECODED)[:1024]
    except DecodeError:
        return b""


def visible_text(html: str) -> tuple[str, str | None]:
    """(normalised visible text, normalised title or None) of an HTML document."""
    text, title, _ = _read_html(html, with_shape=False)
    return text, title


def _read_html(html: str, *, with_shape: bool) -> tuple[str, str | None, PageShape | None]:
    tree = LexborHTMLParser(html)
    titles = tree.tags("title")
    title = normalise_text(titles[0].text()) if titles else None
    shape = None
    if with_shape:
        shape = measure(tree, len(html))  # strips _DROPPED_TAGS, leaves the rest as it was
    else:
        tree.strip_tags(_DROPPED_TAGS)
    for tag in _BLOCKS:
        for node in tree.tags(tag):
            node.insert_before("\n")
            node.insert_after("\n")
    root = tree.body or tree.root
    text = root.text() if root is not None else ""
    return normalise_text(text), title or None, shape


def main_text(html: str) -> str | None:
    """The boilerplate-free main text (trafilatura, fast mode), normalised; None when it finds none."""
    import trafilatura  # imported on first use: it costs ~0.5 s, and only drift needs it

    extracted = trafilatura.extract(
        html, fast=True, include_comments=False, include_tables=True, include_images=False, deduplicate=False
    )
    if not extracted:
        return None
    return normalise_text(extracted) or None


def fingerprint(
    payload: IO[bytes] | bytes | Body,
    *,
    content_type: str | None,
    content_encoding: str | None,
    max_decoded_bytes: int,
    with_main_text: bool = False,
    with_markup: bool = False,
) -> Fingerprint:
    """Fingerprint a payload as stored (still content-encoded).

    Never raises for a bad payload: an unknown coding, corrupt data or a decompression bomb gives a
    Fingerprint whose `error` says why (the raw payload is archived regardless). A stream is read
    from where it stands; a Body is rewound.
    """
    head_kind = payload_kind(content_type, b"") if media_type(content_type) else None
    if head_kind is PayloadKind.BINARY:
        return Fingerprint(PayloadKind.BINARY, None, None, None, None)
    if head_kind is None or payload_kind(content_type, b"\x00") is PayloadKind.BINARY:
        # Untyped or octet-stream: sniff the first decoded bytes before reading the whole payload, so
        # a 1 GiB download is not pulled into memory only to be found binary.
        if payload_kind(None, _head(payload, content_encoding)) is PayloadKind.BINARY:
            return Fingerprint(PayloadKind.BINARY, None, None, None, None)
    try:
        data = _read(payload, content_encoding, max_decoded_bytes)
    except DecodeError as exc:
        return Fingerprint(head_kind or PayloadKind.TEXT, None, None, None, None, error=str(exc))
    kind = head_kind or payload_kind(None, data[:1024])
    if kind is PayloadKind.BINARY:
        return Fingerprint(kind, None, None, None, None)
    shape = None
    if kind is PayloadKind.HTML:
        encoding, html = html_text_of(data, content_type)
        # The page-kind reader reads the first MARKUP_CHARS: measured here only when that is the whole page.
        text, title, shape = _read_html(html, with_shape=with_markup and len(html) <= MARKUP_CHARS)
        main = (main_text(html) or text) if with_main_text else None
    else:
        encoding, html = plain_text_of(data, content_type)
        text, title = normalise_text(html), None
        main = text if with_main_text else None
    markup = Markup(html[:MARKUP_CHARS], shape) if with_markup else None
    return Fingerprint(kind, text_digest(text), title, encoding, text, main, markup=markup)
