"""`archiver watch import DOC...`: every citation of the documents, with its archive, on the watch list.

The citations are found as `archiver check` finds them (extract/ for the document formats,
pairing.py for which archive link belongs to which cited URL), so a document that checks clean
imports the same pairs it was checked with. Pairing by content needs to know which URL a Perma or
memento link captured, which only the archive can say: with `resolve` each such link is resolved
once (headers only, no download); without it links pair by position alone. A citation whose
archive link could not be paired is skipped with the reason, not watched half-configured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from archiver.clock import Clock, utc_now
from archiver.config import Config
from archiver.errors import UsageError
from archiver.extract import ArchiveHosts, Link, extract_links, read_document
from archiver.extract.pairing import UNRESOLVED_NOTE, candidate_refs, pair
from archiver.nightly.watchlist import AddOutcome, WatchEntry, open_watch
from archiver.pipeline.capture import CaptureEngine
from archiver.pipeline.mirror import open_archives


@dataclass(frozen=True)
class Imported:
    """What `watch import` did: each citation added (or found already watched), and what was skipped."""

    added: tuple[tuple[WatchEntry, AddOutcome], ...]
    skipped: tuple[tuple[str, str], ...]  # (URL, why)


async def _originals(config: Config, links: Sequence[Link]) -> dict[str, str | None]:
    """What each Perma / memento link in the documents captured (resolve only, no download)."""
    refs = candidate_refs(links)
    if not refs:
        return {}
    async with CaptureEngine(config) as engine, open_archives(config, engine) as archives:
        mementos = await asyncio.gather(*(archives.resolve(ref) for ref in refs))
    return {ref.uri: memento.original_url for ref, memento in zip(refs, mementos, strict=True)}


def import_documents(
    config: Config, documents: Sequence[Path], *, resolve: bool = True, clock: Clock = utc_now
) -> Imported:
    """Watch every citation of the documents, with the archive links paired with it.

    With `resolve`, Perma and other memento links are asked which URL they captured, so they pair
    by content (as `archiver check` does); without it they pair by position only.
    """
    hosts = ArchiveHosts.from_config(config)
    links: list[Link] = []
    for path in documents:
        try:
            with path.open("rb") as handle:
                data = read_document(handle, str(path), config.documents.max_bytes)
        except OSError as exc:
            raise UsageError(f"cannot read the document {path}: {exc}") from None
        links += extract_links(data, str(path), hosts=hosts, max_decoded_bytes=config.documents.max_decoded_bytes)
    originals = asyncio.run(_originals(config, links)) if resolve else {}
    added: list[tuple[WatchEntry, AddOutcome]] = []
    skipped: list[tuple[str, str]] = []
    with open_watch(config, clock) as watch:
        for citation in pair(links, originals):
            if citation.note and UNRESOLVED_NOTE in citation.note:
                skipped.append((citation.url, UNRESOLVED_NOTE))
                continue
            try:
                added.append(
                    watch.add(
                        citation.url, citation.archives, label=citation.expected_title or "", found_in=citation.found_in
                    )
                )
            except UsageError as exc:
                skipped.append((citation.url, str(exc)))
    return Imported(tuple(added), tuple(skipped))
