"""Use case `archive`: make the missing archives of cited URLs, and keep a record of each.

Per URL: our own capture first (what the page said today is stored before anyone else is asked),
then the configured services in order, each archive created recorded in the `mementos` table
where `annotate` finds it. Nothing is deleted or rewritten on failure: a failed request is a
verdict in the outcome. See docs/permacc.md.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass

from archiver.archives.create import CreateResult, CreateVerdict, Creator
from archiver.archives.perma_create import PermaCreator
from archiver.archives.spn2 import KEY_ENV, SECRET_ENV, SavePageNow
from archiver.config import Config
from archiver.errors import InvalidURLError, UsageError
from archiver.models import ArchiveVerdict, Capture, LiveVerdict, Memento, Report
from archiver.pipeline.capture import CaptureEngine
from archiver.pipeline.mirror import PERMA_KEY_ENV
from archiver.urls import parse_url

# Archive verdicts of a check that call for a new archive (issue 13): nothing usable is cited.
WANTS_ARCHIVE = frozenset(
    {ArchiveVerdict.NONE, ArchiveVerdict.FAILED, ArchiveVerdict.NOT_FOUND, ArchiveVerdict.MISMATCH}
)
# A live page in one of these states has nothing for an archive to capture.
NOTHING_TO_CAPTURE = frozenset({LiveVerdict.INVALID_URL, LiveVerdict.GONE, LiveVerdict.UNREACHABLE})


@dataclass(frozen=True)
class ArchivingOutcome:
    """One URL: our own capture of it, and what each service asked answered."""

    url: str
    capture: Capture
    requests: tuple[CreateResult, ...]

    @property
    def created(self) -> tuple[CreateResult, ...]:
        return tuple(r for r in self.requests if r.verdict is CreateVerdict.CREATED)

    @property
    def archived(self) -> bool:
        return bool(self.created)


def creators_for(config: Config, engine: CaptureEngine, env: dict[str, str] | None = None) -> list[Creator]:
    """The configured services, in order, with their keys from the environment."""
    environ = os.environ if env is None else env
    client = engine.fetcher.client
    deadline = config.fetch.deadline
    made: dict[str, Creator] = {
        "perma": PermaCreator(
            client, config.perma, config.archiving, api_key=environ.get(PERMA_KEY_ENV), request_deadline=deadline
        ),
        "wayback": SavePageNow(
            client,
            config.wayback,
            config.archiving,
            access_key=environ.get(KEY_ENV),
            secret=environ.get(SECRET_ENV),
            request_deadline=deadline,
        ),
    }
    return [made[name] for name in dict.fromkeys(config.archiving.services)]


def check_urls(urls: Sequence[str]) -> list[str]:
    """The URLs given, each once; UsageError names every one that is not an http(s) URL."""
    bad = []
    for url in urls:
        try:
            parse_url(url)
        except (InvalidURLError, ValueError):
            bad.append(url)
    if bad:
        raise UsageError(f"not a URL to archive: {', '.join(repr(u) for u in bad)}; give http(s) URLs")
    if not urls:
        raise UsageError("no URL given: name the URLs to archive")
    return list(dict.fromkeys(urls))


def created_memento(result: CreateResult) -> Memento | None:
    """The index record of an archive a service made: `ok`, of the URL asked, at its date."""
    if result.verdict is not CreateVerdict.CREATED or result.ref is None:
        return None
    return Memento(
        ref=result.ref,
        verdict=ArchiveVerdict.OK,
        original_url=result.url,
        datetime=result.datetime,
        obtained_via=f"{result.service}-create",
        reason=result.reason,
    )


async def archive_with(
    engine: CaptureEngine, urls: Sequence[str], creators: Sequence[Creator], *, all_services: bool = False
) -> list[ArchivingOutcome]:
    """Capture each URL ourselves, then ask the services in order; record every archive made."""
    captures = await asyncio.gather(*(engine.capture(url) for url in urls))
    asked: dict[str, list[CreateResult]] = {url: [] for url in urls}
    pending = list(urls)
    index = engine.index
    assert index is not None
    for creator in creators:
        if not pending:
            break
        results = await creator.create(pending)
        for result in results:
            asked[result.url].append(result)
            memento = created_memento(result)
            if memento is not None:
                index.add_memento(memento)
        if not all_services:
            done = {r.url for r in results if r.verdict is CreateVerdict.CREATED}
            pending = [url for url in pending if url not in done]
    return [ArchivingOutcome(url, capture, tuple(asked[url])) for url, capture in zip(urls, captures, strict=True)]


def archive_urls(config: Config, urls: Sequence[str], *, env: dict[str, str] | None = None) -> list[ArchivingOutcome]:
    """Python API of `archiver archive URL...`."""
    wanted = check_urls(urls)

    async def run() -> list[ArchivingOutcome]:
        async with CaptureEngine(config) as engine:
            return await archive_with(
                engine, wanted, creators_for(config, engine, env), all_services=config.archiving.all_services
            )

    return asyncio.run(run())


def missing_archive_urls(report: Report) -> list[str]:
    """The cited URLs of a check report whose archive is none/failed/not_found/mismatch, each once."""
    urls = []
    for result in report.results:
        if result.archive_verdict not in WANTS_ARCHIVE:
            continue
        if result.live_verdict in NOTHING_TO_CAPTURE:
            continue
        urls.append(result.citation.url)
    return list(dict.fromkeys(urls))
