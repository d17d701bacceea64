"""The archived copy of a watched source: retrieved once, kept in the index, reused every night.

The copy does not change, archives rate-limit and Perma without a key is slow, so a memento that
settled the question (`KEPT_VERDICTS`) is kept in the `mementos` table and read back by
`kept_memento`; an archive that could not answer is asked again the next night. `KeptCopies`
retrieves each reference at most once per archive folder. See docs/nightly.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from archiver.archives.protocol import Archives
from archiver.jsonform import memento_from_dict
from archiver.judge.archive import with_verdict_for
from archiver.models import ArchiveRef, ArchiveVerdict, Capture, Memento
from archiver.store.index import Index
from archiver.urls import TRACKING_PARAMS

# Mementos worth keeping: the archive answered for good. Others (unavailable, pending) are asked again.
KEPT_VERDICTS = frozenset(
    {ArchiveVerdict.OK, ArchiveVerdict.MISMATCH, ArchiveVerdict.METADATA_ONLY, ArchiveVerdict.NOT_FOUND}
)


def whole_page(capture: Capture | None) -> bool:
    """A capture with a 2xx page stored whole, and a page of content: something to compare text with."""
    return (
        capture is not None
        and capture.ok
        and capture.is_content
        and capture.status is not None
        and 200 <= capture.status < 300
        and capture.payload_sha256 is not None
        and capture.warc is not None
        and capture.truncated is None
    )


def kept_memento(index: Index, ref: ArchiveRef) -> Memento | None:
    """The newest recorded memento of `ref` that settled the question, or None to ask the archive."""
    docs = index.mementos(ref.uri)
    if not docs or ArchiveVerdict(docs[0]["verdict"]) not in KEPT_VERDICTS:
        return None
    return memento_from_dict(docs[0], ref)


class KeptCopies:
    """The archived copies of watched sources, each retrieved once and then read from the index."""

    def __init__(self, index: Index, archives: Archives, tracking: tuple[str, ...] = TRACKING_PARAMS) -> None:
        self.index = index
        self.archives = archives
        self.tracking = tracking
        self._lock = asyncio.Lock()  # one retrieval per reference, even if two sources share it

    async def best(self, refs: Sequence[ArchiveRef], cited_url: str) -> Memento | None:
        """The best archived copy among `refs` judged against `cited_url` (None when there are none).

        Best: a copy with content we can compare with, else any copy that captured the cited URL,
        else the first reference's answer (which says why there is no copy).
        """
        if not refs:
            return None
        found: list[Memento] = []
        for ref in refs:
            async with self._lock:
                memento = kept_memento(self.index, ref)
                if memento is None:
                    memento = with_verdict_for(await self.archives.mirror(ref), cited_url, self.tracking)
                    self.index.add_memento(memento)
            found.append(with_verdict_for(memento, cited_url, self.tracking))
        with_content = [m for m in found if m.verdict is ArchiveVerdict.OK and whole_page(m.capture)]
        return (with_content or [m for m in found if m.verdict is ArchiveVerdict.OK] or found)[0]
