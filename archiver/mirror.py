"""Use case `mirror`: resolve and retrieve archived copies, and keep what was learnt.

`open_archives` wires the archive modules onto the capture engine: they share its guarded HTTP
client (so the address guard and proxy rules hold for archive calls too) and fetch replay content
through it (so a Wayback snapshot is stored and hashed like any capture). The API key for Perma.cc
comes from the environment only. Each memento is recorded in the index's `mementos` table with
the sha256 of any archive file downloaded into `mirrors/`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace

from archiver.archives import Archives, MementoArchive, judge
from archiver.capture import CaptureEngine
from archiver.config import Config
from archiver.errors import StoreError
from archiver.models import ArchiveKind, ArchiveRef, ArchiveVerdict, Memento
from archiver.perma import Perma
from archiver.wayback import Wayback

PERMA_KEY_ENV = "PERMA_API_KEY"


class LocalArchive:
    """`capture:<id>`: one of our own captures, as an archived copy of its URL."""

    def __init__(self, engine: CaptureEngine) -> None:
        self._engine = engine

    async def resolve(self, ref: ArchiveRef) -> Memento:
        index = self._engine.index
        assert index is not None
        try:
            capture = index.get_capture(ref.capture_id or "")
        except StoreError as exc:
            return Memento(ref, ArchiveVerdict.NOT_FOUND, None, None, "local-index", reason=str(exc))
        verdict = ArchiveVerdict.OK if capture.ok else ArchiveVerdict.FAILED
        reason = None if capture.ok else (capture.error.message if capture.error else "no response was stored")
        return Memento(
            ref,
            verdict,
            capture.url,
            capture.fetched_at,
            "local-index",
            capture=capture if capture.ok else None,
            reason=reason,
            title=capture.title,
        )

    async def retrieve(self, memento: Memento) -> Memento:
        return memento


@asynccontextmanager
async def open_archives(config: Config, engine: CaptureEngine) -> AsyncIterator[Archives]:
    """Archives for every reference kind, sharing the engine's client; `engine` must be open."""
    client = engine.fetcher.client
    wayback = Wayback(client, config.wayback, engine)
    perma = Perma(
        client,
        config.perma,
        config.fetch,
        api_key=os.environ.get(PERMA_KEY_ENV) or None,
        mirrors_dir=engine.paths.mirrors,
        wayback=wayback,
    )
    yield Archives(
        {
            ArchiveKind.PERMA: perma,
            ArchiveKind.WAYBACK: wayback,
            ArchiveKind.MEMENTO: MementoArchive(client, engine),
            ArchiveKind.LOCAL: LocalArchive(engine),
        }
    )


def with_verdict_for(memento: Memento, cited_url: str | None) -> Memento:
    """The memento judged against the cited URL (`ok` becomes `mismatch` when it captured another)."""
    if cited_url is None:
        return memento
    verdict = judge(memento, cited_url)
    if verdict is memento.verdict:
        return memento
    return replace(memento, verdict=verdict)


async def mirror_refs(
    engine: CaptureEngine, archives: Archives, refs: Sequence[ArchiveRef], cited_url: str | None = None
) -> list[Memento]:
    """Resolve and retrieve each reference, record it in the index, judge it against `cited_url`."""
    mementos = await asyncio.gather(*(archives.mirror(ref) for ref in refs))
    index = engine.index
    assert index is not None
    judged = [with_verdict_for(m, cited_url) for m in mementos]
    for memento in judged:
        index.add_memento(memento)
    return judged
