"""Use case `mirror`: resolve and retrieve archived copies, and keep what was learnt.

`open_archives` wires the archive modules onto the capture engine's guarded client, so the address
guard holds for archive calls and replay content is stored like any capture; each memento is
recorded in the `mementos` table. `mirror(config, texts, cited_url)` is the whole command from
Python; `usable` is its success test. See docs/permacc.md.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace

from archiver.archives.perma import Perma
from archiver.archives.protocol import Archives, MementoArchive, content_verdict
from archiver.archives.wayback import Wayback
from archiver.config import Config
from archiver.errors import InvalidURLError, StoreError, UnknownCaptureError, UsageError, quoted
from archiver.judge.archive import with_verdict_for
from archiver.models import ArchiveKind, ArchiveRef, ArchiveVerdict, Memento
from archiver.pipeline.capture import CaptureEngine
from archiver.refs import parse_archive_ref
from archiver.urls import comparable, parse_url

PERMA_KEY_ENV = "PERMA_API_KEY"


class LocalArchive:
    """`capture:<id>`: one of our own captures (or a unique prefix of its id), as an archived copy.

    Judged like content fetched from an archive's replay: a stored 2xx response is `ok`, a 404/410
    `not_found`, another status `unavailable`; a capture without a response is `failed`.
    """

    def __init__(self, engine: CaptureEngine) -> None:
        self._engine = engine

    async def resolve(self, ref: ArchiveRef) -> Memento:
        index = self._engine.index
        assert index is not None
        base = Memento(ref, ArchiveVerdict.OK, None, None, "local-index")
        try:
            capture = index.get_capture(ref.capture_id or "")
        except (UnknownCaptureError, StoreError) as exc:
            return replace(base, verdict=ArchiveVerdict.NOT_FOUND, reason=str(exc))
        found = replace(base, original_url=capture.url, datetime=capture.fetched_at, title=capture.title)
        if not capture.ok:
            reason = capture.error.message if capture.error else "no response was stored"
            return replace(found, verdict=ArchiveVerdict.FAILED, capture=capture, reason=reason)
        return content_verdict(found, capture, f"capture {capture.id} of {capture.url}")

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
        downloads=config.downloads,
    )
    yield Archives(
        {
            ArchiveKind.PERMA: perma,
            ArchiveKind.WAYBACK: wayback,
            ArchiveKind.MEMENTO: MementoArchive(client, engine),
            ArchiveKind.LOCAL: LocalArchive(engine),
        },
        # Twice a fetch's deadline: a retrieve may be a download and then a substitute's fetch.
        deadline=2 * config.fetch.deadline,
    )


async def mirror_refs(
    engine: CaptureEngine,
    archives: Archives,
    refs: Sequence[ArchiveRef],
    cited_url: str | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> list[Memento]:
    """Resolve and retrieve each reference, record it in the index, judge it against `cited_url`.

    `progress` is called with each reference's URI once it is mirrored.
    """

    async def one(ref: ArchiveRef) -> Memento:
        memento = await archives.mirror(ref)
        if progress is not None:
            progress(ref.uri)
        return memento

    # A TaskGroup, not gather: if one reference raises (the archive folder failed), the others are
    # cancelled before the engine closes under them.
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(ref)) for ref in refs]
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None  # callers handle the package's errors, not groups
    mementos = [task.result() for task in tasks]
    index = engine.index
    assert index is not None
    tracking = tuple(engine.config.urls.tracking_params)
    judged = [with_verdict_for(m, cited_url, tracking) for m in mementos]
    for memento in judged:
        index.add_memento(memento)
    return judged


REF_FORMS = (
    "a Perma.cc link or GUID (https://perma.cc/5UBL-GCVG, perma.cc/5ubl-gcvg, 5UBL-GCVG), "
    "a Wayback Machine URL (https://web.archive.org/web/20250426010203/http://example.com/, "
    "with or without id_), any Memento URI-M (an http(s) URL), or capture:<id> for one of our captures"
)


def parse_refs(texts: Sequence[str], config: Config, *, allow_empty: bool = False) -> list[ArchiveRef]:
    """Archive references from what a user typed; UsageError naming every one that is none."""
    refs: list[ArchiveRef] = []
    bad: list[str] = []
    for text in texts:
        ref = parse_archive_ref(text, perma_site_url=config.perma.site_url, wayback_url=config.wayback.url)
        if ref is None:
            bad.append(text)
        else:
            refs.append(ref)
    if bad:
        shown = ", ".join(repr(t) for t in bad)
        raise UsageError(f"not an archive reference: {shown}; give {REF_FORMS}")
    if not refs and not allow_empty:
        raise UsageError(f"no archive reference given; give {REF_FORMS}")
    return refs


def check_cited_url(url: str | None) -> str | None:
    """The `--for` URL, validated: an archive can only be judged against a URL that parses."""
    if url is None:
        return None
    try:
        parse_url(url)
        comparable(url)
    except (InvalidURLError, ValueError) as exc:
        raise UsageError(
            f"--for {quoted(url, 120)} is not a URL to judge against: {getattr(exc, 'reason', exc)}"
        ) from exc
    return url


def usable(memento: Memento) -> bool:
    """An archived copy a citation can rely on: `ok`, content had, and no integrity problem found."""
    return memento.verdict is ArchiveVerdict.OK and memento.capture is not None and not memento.problems


async def mirror_with(
    engine: CaptureEngine,
    refs: Sequence[ArchiveRef],
    cited_url: str | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> list[Memento]:
    """`mirror_refs` with the archives opened on `engine` (which must be open)."""
    async with open_archives(engine.config, engine) as archives:
        return await mirror_refs(engine, archives, refs, cited_url, progress=progress)


def mirror(config: Config, texts: Sequence[str], cited_url: str | None = None) -> list[Memento]:
    """Python API of `archiver mirror REF... [--for URL]`: one judged Memento per reference, in order."""
    refs = parse_refs(texts, config)
    cited = check_cited_url(cited_url)

    async def run() -> list[Memento]:
        async with CaptureEngine(config) as engine:
            return await mirror_with(engine, refs, cited)

    return asyncio.run(run())
