"""PDF: link annotations (/Link with a /URI action) and URLs in the page text, wrapped ones joined.

pypdf (pure Python) gives both; its text layout breaks long URLs, so page text is scanned with
`join_wrapped`. `found_in.line` counts lines through the whole extracted text and `Link.page`
names the 1-based page. See docs/extraction.md.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib

from pypdf import PdfReader
from pypdf.errors import DependencyError, PyPdfError
from pypdf.generic import DictionaryObject

from archiver.errors import ExtractError
from archiver.extract.link import ArchiveHosts, Link, LinkSource, make_link
from archiver.extract.text import links_in_text
from archiver.extract.urlscan import LineIndex, line_context, normalise_newlines
from archiver.models import SourceSpan

# pypdf raises these besides its own errors on damaged files (bad xref offsets, truncated streams).
_DAMAGE = (PyPdfError, ValueError, LookupError, TypeError, AttributeError, OSError, RecursionError, ArithmeticError,
           AssertionError, EOFError, struct.error, zlib.error)  # fmt: skip
# ...and these on a file it reads but cannot handle: an encryption handler or a method it lacks (an
# /Encrypt dictionary with /V 9 raises NotImplementedError from PdfReader itself), an optional library.
_UNSUPPORTED = (NotImplementedError, DependencyError)


def _annotation_uris(page: DictionaryObject) -> list[str]:
    uris: list[str] = []
    annotations = page.get("/Annots")
    if annotations is None:
        return uris
    for item in annotations.get_object():
        annotation = item.get_object()
        if not isinstance(annotation, DictionaryObject) or annotation.get("/Subtype") != "/Link":
            continue
        action = annotation.get("/A")
        action = action.get_object() if action is not None else None
        if isinstance(action, DictionaryObject) and action.get("/S") == "/URI" and action.get("/URI"):
            uris.append(str(action["/URI"]).strip())
    return uris


def _read(data: bytes, path: str) -> list[tuple[str, list[str]]]:
    """Each page's text and annotation URIs; damage becomes ExtractError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pypdf warns about repairable damage; we report only failure
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                raise ExtractError(f"{path}: the PDF is encrypted; save an unencrypted copy and check that")
            pages = [(page.extract_text() or "", _annotation_uris(page)) for page in reader.pages]
    except ExtractError:
        raise
    except _UNSUPPORTED as exc:
        raise ExtractError(
            f"{path}: the PDF uses a feature the PDF reader does not support ({type(exc).__name__}: {exc}); "
            "save or print it to a new PDF without encryption, or check its text form instead"
        ) from exc
    except _DAMAGE as exc:
        raise ExtractError(
            f"{path}: the PDF could not be read ({type(exc).__name__}: {exc}); "
            "it is damaged or not a PDF: re-export it, or check its text form instead"
        ) from exc
    if not pages:
        raise ExtractError(f"{path}: the PDF has no pages that could be read; it is damaged: re-export it")
    return pages


def text_of_pdf(data: bytes, path: str) -> str:
    """The PDF's text, page after page (for checking that a cited title appears in it)."""
    return "\n".join(normalise_newlines(text) for text, _ in _read(data, path))


def links_in_pdf(data: bytes, path: str, hosts: ArchiveHosts) -> list[Link]:
    links: list[tuple[int, int, int, Link]] = []
    line_offset = 0
    for number, (raw_text, uris) in enumerate(_read(data, path), start=1):
        text = normalise_newlines(raw_text)
        for link in links_in_text(text, path, hosts, join_wrapped=True, line_offset=line_offset, page=number):
            links.append((link.found_in.line, link.found_in.column, 0, link))
        index = LineIndex(text)
        for uri in uris:
            if not uri.lower().startswith(("http://", "https://")):
                continue
            at = text.find(uri)
            if at < 0:
                at = text.find(uri[:24]) if len(uri) >= 24 else -1
            line, column = index.position(at) if at >= 0 else (1, 1)
            context = line_context(index, line, uri) if at >= 0 else ""
            span = SourceSpan(path=path, line=line + line_offset, column=column)
            link = make_link(uri, span, LinkSource.ANNOTATION, hosts, context=context, page=number)
            links.append((span.line, span.column, 1, link))
        line_offset += text.count("\n") + (0 if text.endswith("\n") else 1)
    return [link for *_key, link in sorted(links, key=lambda item: item[:3])]
