"""Citation extraction: every URL a document cites, with where it stands, in document order.

One module per format (text, markdown, html, pdf, docx), each pure: bytes and a path name in,
`Link` records out; only the caller reads files (or stdin, path "-"). Every occurrence is
returned, duplicates included: deciding which URL is the citation and which archive link belongs
to it is the pairing step's job (`archiver.extract.pairing`), which needs to know where each one stood.
"""

from __future__ import annotations

from archiver.extract.document import (
    MAX_DECODED_BYTES,
    DocKind,
    check_zip_members,
    decode_text,
    detect_kind,
    read_document,
)
from archiver.extract.link import DEFAULT_HOSTS, ArchiveHosts, Link, LinkSource
from archiver.extract.urlscan import scan_urls

__all__ = [
    "ArchiveHosts",
    "DocKind",
    "Link",
    "LinkSource",
    "detect_kind",
    "document_text",
    "extract_links",
    "read_document",
    "scan_urls",
]


def extract_links(
    data: bytes,
    path: str,
    kind: DocKind | None = None,
    *,
    hosts: ArchiveHosts = DEFAULT_HOSTS,
    max_decoded_bytes: int = MAX_DECODED_BYTES,
) -> list[Link]:
    """Every URL in the document `data` read from `path`, in order.

    `kind` overrides detection by suffix and content. `hosts` names the Perma.cc and Wayback
    services whose links are archive links (configured ones, e.g. a local imitation, as well as
    the public ones). Raises ExtractError when the document is damaged, DocumentTooLargeError when
    its compressed parts inflate past `max_decoded_bytes`.
    """
    kind = kind or detect_kind(data, path)
    # Format modules are imported on demand: pypdf and python-docx cost a noticeable part of the
    # CLI's start-up, and most documents are text, Markdown or HTML.
    if kind is DocKind.PDF:
        from archiver.extract.pdf import links_in_pdf

        return links_in_pdf(data, path, hosts)
    if kind is DocKind.DOCX:
        from archiver.extract.docx import links_in_docx

        check_zip_members(data, path, max_decoded_bytes)
        return links_in_docx(data, path, hosts)
    if kind is DocKind.HTML:
        from archiver.extract.html import links_in_html

        return links_in_html(data, path, hosts)
    if kind is DocKind.MARKDOWN:
        from archiver.extract.markdown import links_in_markdown

        return links_in_markdown(data, path, hosts)
    from archiver.extract.text import links_in_text

    return links_in_text(decode_text(data), path, hosts)


def document_text(
    data: bytes, path: str, kind: DocKind | None = None, *, max_decoded_bytes: int = MAX_DECODED_BYTES
) -> str:
    """The document's text as a reader sees it (markup left in for HTML and Markdown: a title is
    still found in it). Used to check that an archived page's title appears in the citing text."""
    kind = kind or detect_kind(data, path)
    if kind is DocKind.PDF:
        from archiver.extract.pdf import text_of_pdf

        return text_of_pdf(data, path)
    if kind is DocKind.DOCX:
        from archiver.extract.docx import text_of_docx

        check_zip_members(data, path, max_decoded_bytes)
        return text_of_docx(data, path)
    return decode_text(data)
