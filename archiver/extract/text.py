"""Plain text: every URL in the prose, with the line it stands on as its context.

Plain text is also what a PDF becomes after text extraction, so the same function serves both;
`join_wrapped` is on for PDF text, where the layout broke long URLs across lines, and off for
text a person wrote, where a line break after a URL ends it.
"""

from __future__ import annotations

from archiver.extract.link import ArchiveHosts, Link, LinkSource, make_link
from archiver.extract.urlscan import LineIndex, line_context, normalise_newlines, scan_urls
from archiver.models import SourceSpan


def links_in_text(
    text: str,
    path: str,
    hosts: ArchiveHosts,
    *,
    join_wrapped: bool = False,
    line_offset: int = 0,
    page: int | None = None,
) -> list[Link]:
    """Links for every URL in `text`; `line_offset` shifts line numbers (a PDF page's text)."""
    text = normalise_newlines(text)
    index = LineIndex(text)
    links = []
    for found in scan_urls(text, join_wrapped=join_wrapped):
        line, column = index.position(found.start)
        links.append(
            make_link(
                found.url,
                SourceSpan(path=path, line=line + line_offset, column=column),
                LinkSource.PROSE,
                hosts,
                context=line_context(index, line, found.url),
                page=page,
            )
        )
    return links
