"""The archive side judged: does an archived copy hold the page a document cites?

Pure: it reads the Memento an archive adapter built. An archive of another URL is `mismatch`,
whether or not its content could be had; the comparison is `urls.same_page` (scheme, `www.`,
default port, trailing slash, fragment, escapes and tracking parameters do not count).
"""

from __future__ import annotations

from dataclasses import replace

from archiver.models import ArchiveVerdict, Memento
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


def with_verdict_for(memento: Memento, cited_url: str | None, tracking: tuple[str, ...] = TRACKING_PARAMS) -> Memento:
    """The memento judged against the cited URL (`ok` becomes `mismatch` when it captured another)."""
    if cited_url is None:
        return memento
    verdict = judge(memento, cited_url, tracking)
    if verdict is memento.verdict:
        return memento
    return replace(memento, verdict=verdict)
