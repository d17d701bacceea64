"""The archive side judged: does an archived copy hold the page a document cites?

Pure: it reads the Memento an archive adapter built. An archive of another URL is `mismatch`,
whether or not its content could be had; the comparison is `urls.same_page` (scheme, `www.`,
default port, trailing slash, fragment, escapes and tracking parameters do not count). A copy
whose page is not `content` (a login wall, a "page deleted" notice, an empty shell) is `failed`:
the archive did not preserve the page, and the reason says what it holds instead.
"""

from __future__ import annotations

from dataclasses import replace

from archiver.judge.pagekind import KIND_NOUNS
from archiver.models import ArchiveKind, ArchiveVerdict, Memento
from archiver.urls import TRACKING_PARAMS, same_page


def judge(memento: Memento, cited_url: str, tracking: tuple[str, ...] = TRACKING_PARAMS) -> ArchiveVerdict:
    """The archive verdict of a memento for the URL a document cites.

    `mismatch` wins over `ok` and `metadata_only`; other verdicts stand, and without an original
    URL there is nothing to compare.
    """
    if memento.verdict not in (ArchiveVerdict.OK, ArchiveVerdict.METADATA_ONLY):
        return memento.verdict
    if memento.original_url is None:
        return memento.verdict
    if not same_page(memento.original_url, cited_url, tracking):
        return ArchiveVerdict.MISMATCH
    return memento.verdict


_ARCHIVE_NAMES = {
    ArchiveKind.PERMA: "Perma.cc copy",
    ArchiveKind.WAYBACK: "Wayback Machine copy",
    ArchiveKind.MEMENTO: "archived copy",
    ArchiveKind.LOCAL: "stored copy",
}


def page_failure(memento: Memento) -> str | None:
    """Why an archived copy does not hold the page, read from what its content is; None if it does."""
    capture = memento.capture
    if capture is None or capture.is_content or capture.page_kind is None:
        return None
    name = _ARCHIVE_NAMES[memento.ref.kind]
    if memento.substitute_for is not None:
        name = f"substitute copy ({memento.obtained_via})"
    evidence = f" ({capture.page_evidence[0]})" if capture.page_evidence else ""
    return f"the {name} is {KIND_NOUNS[capture.page_kind]}{evidence}, not the cited page"


def with_verdict_for(memento: Memento, cited_url: str | None, tracking: tuple[str, ...] = TRACKING_PARAMS) -> Memento:
    """The memento judged against the cited URL and for what it holds.

    `ok` becomes `mismatch` when it captured another URL, and `failed` when what it captured is
    not the page (a wall, a notice, an empty shell).
    """
    verdict = memento.verdict if cited_url is None else judge(memento, cited_url, tracking)
    if verdict is ArchiveVerdict.OK and (why := page_failure(memento)) is not None:
        return replace(memento, verdict=ArchiveVerdict.FAILED, reason=why)
    if verdict is memento.verdict:
        return memento
    return replace(memento, verdict=verdict)
