"""The record every extractor returns: one URL occurrence in a document, where it stands and what it is.

Extractors are format-specific; the pairing step is not. So everything pairing needs travels in
this one frozen record: the URL as written, its position, the line around it (the "An archived
version ... is available at" pattern lives in prose, not in the URL), the link text a document
gives (a candidate expected title), the Robust Links attributes, and the archive reference the
URL is, if it is one. Archive detection happens here, once, with the configured archive hosts,
so a local Perma.cc or Wayback imitation is recognised like the real service.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from archiver.config import Config
from archiver.extract.urlscan import CONTEXT_LIMIT
from archiver.models import ArchiveKind, ArchiveRef, SourceSpan
from archiver.refs import parse_archive_ref

# Public web archives besides Perma.cc and the Wayback Machine whose URLs are archived copies
# (RFC 7089 URI-Ms): a link to one of them is an archive link, not a citation of a live page.
MEMENTO_HOSTS = frozenset(
    {
        "archive.today",
        "archive.ph",
        "archive.is",
        "archive.li",
        "archive.vn",
        "archive.fo",
        "archive.md",
        "webcitation.org",
        "www.webcitation.org",
        "arquivo.pt",
        "webarchive.org.uk",
        "www.webarchive.org.uk",
        "webarchive.nationalarchives.gov.uk",
        "swap.stanford.edu",
        "wayback.archive-it.org",
        "ghostarchive.org",
    }
)


class LinkSource(StrEnum):
    """How the URL was written in the document."""

    PROSE = "prose"  # a bare URL in running text (also inside <...>, quotes, parentheses)
    HYPERLINK = "hyperlink"  # a markup link: Markdown [text](url), HTML a[href], DOCX hyperlink
    AUTOLINK = "autolink"  # Markdown <https://...>
    REFERENCE = "reference"  # Markdown reference definition [label]: url
    ANNOTATION = "annotation"  # PDF /Link annotation with a /URI action
    CITE = "cite"  # HTML blockquote[cite] / q[cite]


@dataclass(frozen=True)
class ArchiveHosts:
    """The archive services whose links count as archive links (configurable for local imitations)."""

    perma_site_url: str = "https://perma.cc"
    wayback_url: str = "https://web.archive.org"

    @classmethod
    def from_config(cls, config: Config) -> ArchiveHosts:
        return cls(perma_site_url=config.perma.site_url, wayback_url=config.wayback.url)

    def classify(self, url: str) -> ArchiveRef | None:
        """The archive reference `url` is, or None when it is an ordinary (cited) URL.

        `parse_archive_ref` calls every http(s) URL a possible memento; in a document only known
        archive hosts are archive links, everything else is a cited page.
        """
        ref = parse_archive_ref(url, perma_site_url=self.perma_site_url, wayback_url=self.wayback_url, bare_guid=False)
        if ref is None:
            return None
        if ref.kind is ArchiveKind.MEMENTO:
            try:
                host = (urlsplit(url).hostname or "").lower()
            except ValueError:
                return None
            return ref if host in MEMENTO_HOSTS else None
        return ref

    def memento(self, url: str) -> ArchiveRef | None:
        """An archive reference for a URL declared archived (Robust Links data-versionurl): any host."""
        return parse_archive_ref(url, perma_site_url=self.perma_site_url, wayback_url=self.wayback_url, bare_guid=False)


DEFAULT_HOSTS = ArchiveHosts()


@dataclass(frozen=True)
class Link:
    """One URL occurrence in a document.

    `found_in` is where the URL starts (1-based line and column, columns in characters). For a PDF
    the line counts through the whole extracted text (pages in order, each starting a new line)
    and `page` names the 1-based page; for a DOCX the line is the paragraph number. `archive` is
    set when the URL itself is an archive link; `version_archive` when a Robust Link declares an
    archived copy in `data-versionurl`.
    """

    url: str
    found_in: SourceSpan
    source: LinkSource
    context: str = ""
    text: str | None = None
    archive: ArchiveRef | None = None
    original_url: str | None = None
    version_url: str | None = None
    version_date: str | None = None
    version_archive: ArchiveRef | None = None
    page: int | None = None

    @property
    def is_archive(self) -> bool:
        return self.archive is not None

    @property
    def is_robust(self) -> bool:
        """A Robust Link: the document states explicitly which URL its archived copy captured."""
        return self.version_url is not None or self.original_url is not None


def make_link(
    url: str,
    span: SourceSpan,
    source: LinkSource,
    hosts: ArchiveHosts,
    *,
    context: str = "",
    text: str | None = None,
    original_url: str | None = None,
    version_url: str | None = None,
    version_date: str | None = None,
    page: int | None = None,
) -> Link:
    """A Link with its archive classification done and its context cut to size."""
    context = " ".join(context.split())
    if len(context) > CONTEXT_LIMIT:
        context = context[:CONTEXT_LIMIT]
    text = " ".join(text.split()) if text else None
    archive = hosts.classify(url)
    if archive is None and original_url and not version_url:
        # Robust Links: with data-originalurl and no data-versionurl, the href is the memento.
        archive = hosts.memento(url)
    return Link(
        url=url,
        found_in=span,
        source=source,
        context=context,
        text=text or None,
        archive=archive,
        original_url=original_url or None,
        version_url=version_url or None,
        version_date=version_date or None,
        version_archive=hosts.memento(version_url) if version_url else None,
        page=page,
    )
