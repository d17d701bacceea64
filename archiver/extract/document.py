"""Which kind of document a file is, and its text: by suffix first, by content when the suffix is silent.

The binary formats announce themselves (`%PDF-`, a zip holding `word/document.xml`), so their
magic overrides a misleading suffix (a PDF saved as `.txt`); a `.pdf` or `.docx` suffix is
believed even when the content disagrees, so a broken file is reported as a broken PDF rather
than quietly read as text. Text kinds are told apart by suffix, then by markers (`<html`, Markdown
links and headings). Text is decoded by BOM, then UTF-8, then charset-normalizer's guess (GBK
and Big5 documents exist in this field), never failing: a few replaced characters cost a URL at
worst, an exception would cost the whole document.
"""

from __future__ import annotations

import io
import re
import zipfile
from enum import StrEnum
from typing import IO

from charset_normalizer import from_bytes

from archiver.config import DocumentsConfig
from archiver.errors import DocumentTooLargeError

# The [documents] defaults, for callers without a config.
MAX_DOCUMENT_BYTES: int = DocumentsConfig.max_bytes
MAX_DECODED_BYTES: int = DocumentsConfig.max_decoded_bytes


class DocKind(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    HTML = "html"
    PDF = "pdf"
    DOCX = "docx"


SUFFIXES = {
    ".txt": DocKind.TEXT,
    ".text": DocKind.TEXT,
    ".md": DocKind.MARKDOWN,
    ".markdown": DocKind.MARKDOWN,
    ".mdown": DocKind.MARKDOWN,
    ".mkd": DocKind.MARKDOWN,
    ".html": DocKind.HTML,
    ".htm": DocKind.HTML,
    ".xhtml": DocKind.HTML,
    ".pdf": DocKind.PDF,
    ".docx": DocKind.DOCX,
}

_HTML_MARKER = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S)
_MARKDOWN_MARKERS = re.compile(
    r"^ {0,3}#{1,6} \S|\]\([^)\s]+\)|^ {0,3}\[[^\]]+\]:\s*\S|^ {0,3}(?:```|~~~)",
    re.M,
)


def read_document(stream: IO[bytes], name: str, max_bytes: int = MAX_DOCUMENT_BYTES) -> bytes:
    """At most `max_bytes` of a document (a file or standard input); DocumentTooLargeError past them."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DocumentTooLargeError(name, "the document", len(data) + len(stream.read()), max_bytes, "max_bytes")
    return data


def check_zip_members(data: bytes, path: str, max_decoded_bytes: int = MAX_DECODED_BYTES) -> None:
    """Refuse a zip document (DOCX) whose members inflate past the cap, before any of them is read.

    zipfile stops a member at the size its central directory declares, so the declared sizes are
    what reading can cost."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, NotImplementedError):
        return  # not a readable zip: the format reader reports the damage
    for info in infos:
        if info.file_size > max_decoded_bytes:
            raise DocumentTooLargeError(path, f"its part {info.filename} inflated", info.file_size,
                                        max_decoded_bytes, "max_decoded_bytes")  # fmt: skip
    total = sum(info.file_size for info in infos)
    if total > max_decoded_bytes:
        raise DocumentTooLargeError(path, "its parts inflated", total, max_decoded_bytes, "max_decoded_bytes")


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _is_docx(data: bytes) -> bool:
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError, NotImplementedError):
        return False


def detect_kind(data: bytes, path: str) -> DocKind:
    """The document kind of `data` read from `path` ("-" for stdin)."""
    by_suffix = SUFFIXES.get(_suffix(path)) if path != "-" else None
    if by_suffix in (DocKind.PDF, DocKind.DOCX):
        return by_suffix
    # The PDF spec lets a header sit anywhere in the first 1024 bytes.
    if b"%PDF-" in data[:1024]:
        return DocKind.PDF
    if _is_docx(data):
        return DocKind.DOCX
    if by_suffix is not None:
        return by_suffix
    head = data[:4096].lstrip(b"\xef\xbb\xbf")
    if _HTML_MARKER.match(head):
        return DocKind.HTML
    # Not autolinks: plain text often wraps URLs in <...>, and reading plain text as Markdown would
    # drop URLs on indented lines as code.
    if _MARKDOWN_MARKERS.search(decode_text(data[:16384])):
        return DocKind.MARKDOWN
    return DocKind.TEXT


def decode_text(data: bytes) -> str:
    """The text of a text document: BOM, then UTF-8, then the detected charset."""
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is not None:
        return str(best)
    return data.decode("utf-8", errors="replace")
