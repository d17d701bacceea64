"""Use case `check`: verify every citation of one or more documents before publication.

Extract the links, resolve archive links (so pairing knows what each captured), pair them with
cited URLs, fetch each distinct live URL and archive reference once within the politeness limits,
then judge each citation (live, archive, drift, title) and let the `[policy]` table decide pass /
warn / fail. Every capture goes into the archive as usual. With a `WorkRunner` (a cluster), the
live pages are captured on its workers first, sharded by host; probes and archive retrievals stay
here. See docs/pipeline.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from archiver.archives.protocol import Archives
from archiver.clock import Clock, utc_now
from archiver.config import Config
from archiver.errors import UsageError, shown
from archiver.extract import ArchiveHosts, Link, document_text, extract_links, read_document
from archiver.extract.document import MAX_DOCUMENT_BYTES
from archiver.extract.pairing import candidate_refs, pair
from archiver.judge.archive import with_verdict_for
from archiver.judge.drift import TextSide, compare
from archiver.judge.live import judge_live, probe_url
from archiver.judge.policy import judge
from archiver.judge.title import DocumentText, title_in_text
from archiver.models import (
    ArchiveRef,
    ArchiveVerdict,
    CheckResult,
    Citation,
    Comparison,
    ErrorKind,
    LiveVerdict,
    Memento,
    Report,
)
from archiver.pipeline.cache import Cached, CachedMemento, ResultsCache, age_text
from archiver.pipeline.capture import CaptureEngine, CaptureResult, IdFactory, WorkRunner, new_capture_id
from archiver.pipeline.compare import text_of_capture
from archiver.pipeline.mirror import open_archives

# Best first: when a citation has several archive links, the report leads with the most useful.
_ARCHIVE_RANK = [
    ArchiveVerdict.OK,
    ArchiveVerdict.METADATA_ONLY,
    ArchiveVerdict.PENDING,
    ArchiveVerdict.UNAVAILABLE,
    ArchiveVerdict.FAILED,
    ArchiveVerdict.NOT_FOUND,
    ArchiveVerdict.MISMATCH,
    ArchiveVerdict.NONE,
]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Document:
    """A document to check: the name it was given by ("-" for stdin) and its bytes."""

    path: str
    data: bytes


@dataclass(frozen=True)
class UrlFilter:
    """Which cited URLs a check skips, as lychee decides: an `include` match is always checked; with
    only includes given, nothing else is; otherwise an `exclude` match is skipped."""

    exclude: tuple[str, ...] = ()
    include: tuple[str, ...] = ()

    def skips(self, url: str) -> str | None:
        """Why `url` is not checked (the pattern), or None when it is."""
        if any(re.search(p, url) for p in self.include):
            return None
        if self.include and not self.exclude:
            return "not matched by --include"
        for pattern in self.exclude:
            if re.search(pattern, url):
                return f"matches exclude pattern {pattern!r}"
        return None


@dataclass(frozen=True)
class CheckOptions:
    live: bool = True
    archive: bool = True
    urls: UrlFilter = UrlFilter()
    # Live statuses a team treats as fine (`--accept 403`): judged ok, with the status said.
    accept: frozenset[int] = frozenset()
    # `--cache`: reuse captures and mementos in the archive younger than this (None: fetch everything).
    cache_age: timedelta | None = None


@dataclass(frozen=True)
class _Live:
    result: CaptureResult
    verdict: LiveVerdict
    reason: str
    accepted: bool = False


def read_documents(paths: Sequence[str | Path], max_bytes: int = MAX_DOCUMENT_BYTES) -> list[Document]:
    """The documents named by `paths` ("-": standard input), read whole up to `max_bytes` each;
    UsageError names one that cannot be read, DocumentTooLargeError one that is too big."""
    documents = []
    for given in paths:
        name = str(given)
        if name == "-":
            documents.append(Document("-", read_document(sys.stdin.buffer, "-", max_bytes)))
            continue
        try:
            with Path(name).open("rb") as handle:
                documents.append(Document(name, read_document(handle, name, max_bytes)))
        except OSError as exc:
            raise UsageError(f"cannot read document {name}: {exc.strerror or exc}") from exc
    return documents


class Checker:
    """Checks documents with one capture engine and one set of archives (both open)."""

    def __init__(
        self,
        config: Config,
        engine: CaptureEngine,
        archives: Archives,
        *,
        rng: random.Random | None = None,
        progress: Progress | None = None,
        runner: WorkRunner | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.config = config
        self._clock = clock
        self.engine = engine
        self._runner = runner
        self.archives = archives
        self._rng = rng or random.Random()
        self._progress = progress
        self._live: dict[str, asyncio.Task[_Live]] = {}
        self._probes: dict[str, asyncio.Task[CaptureResult]] = {}
        self._main_text = True
        self._resolved: dict[str, asyncio.Task[Memento]] = {}
        self._retrieved: dict[str, asyncio.Task[Memento]] = {}
        self._archive_text: dict[str, tuple[TextSide | None, str | None]] = {}
        self._accept: frozenset[int] = frozenset()
        self.skipped: list[tuple[Citation, str]] = []
        self._cache: ResultsCache | None = None
        self._cached_mementos: dict[str, CachedMemento | None] = {}
        self._cached_pages: dict[str, Cached | None] = {}
        # What came from the cache, and how old it was: live URL -> age, archive reference -> age.
        self.cached_live: dict[str, timedelta] = {}
        self.cached_archives: dict[str, timedelta] = {}

    def _tick(self, what: str) -> None:
        if self._progress is not None:
            self._progress(what)

    # -- fetching, each distinct thing once ---------------------------------------------------

    def live(self, url: str) -> asyncio.Task[_Live]:
        if url not in self._live:
            self._live[url] = asyncio.ensure_future(self._fetch_live(url))
        return self._live[url]

    def _probe(self, final_url: str) -> asyncio.Task[CaptureResult]:
        """One made-up URL per directory: its answer speaks for every page in that directory."""
        made_up = probe_url(final_url, self._rng)
        base, leaf = made_up.rsplit("/", 1)
        key = base + "/*" + (leaf[leaf.rfind(".") :] if "." in leaf else "")
        if key not in self._probes:
            self._probes[key] = asyncio.ensure_future(self._fetch_probe(made_up, final_url))
        return self._probes[key]

    async def _fetch_probe(self, made_up: str, final_url: str) -> CaptureResult:
        cached = self._cache.probe(final_url) if self._cache is not None else None
        if cached is not None:
            return cached.result
        return await self.engine.capture_detailed(made_up)

    def _cached_page(self, url: str) -> Cached | None:
        if self._cache is None:
            return None
        if url not in self._cached_pages:
            self._cached_pages[url] = self._cache.live(url)
        return self._cached_pages[url]

    async def _fetch_live(self, url: str) -> _Live:
        cached = self._cached_page(url)
        if cached is not None:
            result = cached.result
            self.cached_live[url] = cached.age
        else:
            result = await self.engine.capture_detailed(url, with_main_text=self._main_text, follow_page_redirects=True)
        capture = result.capture
        probe = None
        if self.config.live.soft_404_probe and capture.status == 200 and capture.final_url:
            probe_result = await self._probe(capture.final_url)
            probe = (probe_result.capture, probe_result.fingerprint)
        verdict, reason = judge_live(capture, result.fingerprint, probe, result.headers)
        accepted = capture.status in self._accept and verdict not in (LiveVerdict.OK, LiveVerdict.REDIRECTED)
        if accepted:
            verdict = LiveVerdict.OK
        self._tick(url)
        return _Live(result, verdict, reason, accepted)

    def resolve(self, ref: ArchiveRef) -> asyncio.Task[Memento]:
        if ref.uri not in self._resolved:
            self._resolved[ref.uri] = asyncio.ensure_future(self._resolve(ref))
        return self._resolved[ref.uri]

    def _from_cache(self, ref: ArchiveRef) -> CachedMemento | None:
        if self._cache is None:
            return None
        if ref.uri not in self._cached_mementos:
            self._cached_mementos[ref.uri] = self._cache.memento(ref)
        return self._cached_mementos[ref.uri]

    async def _resolve(self, ref: ArchiveRef) -> Memento:
        cached = self._from_cache(ref)
        return cached.memento if cached is not None else await self.archives.resolve(ref)

    def retrieve(self, ref: ArchiveRef) -> asyncio.Task[Memento]:
        if ref.uri not in self._retrieved:
            self._retrieved[ref.uri] = asyncio.ensure_future(self._retrieve(ref))
        return self._retrieved[ref.uri]

    async def _retrieve(self, ref: ArchiveRef) -> Memento:
        cached = self._from_cache(ref)
        if cached is not None:
            self.cached_archives[ref.uri] = cached.age
            self._tick(ref.uri)
            return cached.memento
        memento = await self.resolve(ref)
        if memento.verdict is ArchiveVerdict.OK:
            memento = await self.archives.retrieve(memento)
        index = self.engine.index
        assert index is not None
        index.add_memento(memento)
        self._tick(ref.uri)
        return memento

    def _archive_side(self, memento: Memento) -> tuple[TextSide | None, str | None]:
        """The archived copy's text, read back from where it is stored (our WARC or a mirror file)."""
        capture = memento.capture
        if capture is None:
            return None, memento.reason
        if capture.id not in self._archive_text:
            self._archive_text[capture.id] = text_of_capture(
                self.config.archive_dir, capture, self.config.fetch.max_decoded_bytes
            )
        return self._archive_text[capture.id]

    # -- the check -------------------------------------------------------------------------------

    async def check(self, documents: Sequence[Document], options: CheckOptions) -> list[CheckResult]:
        hosts = ArchiveHosts.from_config(self.config)
        inflate_cap = self.config.documents.max_decoded_bytes
        # Main text feeds drift only, which needs the archive side; it is the costliest extraction.
        self._main_text = options.archive
        if options.cache_age is not None and self.engine.index is not None:
            self._cache = ResultsCache(
                self.engine.index,
                self.config.archive_dir,
                now=self._clock(),
                max_age=options.cache_age,
                max_decoded_bytes=self.config.fetch.max_decoded_bytes,
                main_text=options.archive,
            )
        per_document: list[tuple[Document, list[Link]]] = [
            (doc, extract_links(doc.data, doc.path, hosts=hosts, max_decoded_bytes=inflate_cap)) for doc in documents
        ]
        originals: dict[str, str | None] = {}
        if options.archive:
            # Archive links of an excluded citation are not asked either (nothing of it is fetched).
            wanted = [link for _, links in per_document for link in links if options.urls.skips(link.url) is None]
            refs = candidate_refs(wanted)
            resolved = await asyncio.gather(*(self.resolve(ref) for ref in refs))
            originals = {ref.uri: memento.original_url for ref, memento in zip(refs, resolved, strict=True)}
        self._accept = options.accept
        work: list[tuple[Document, Citation]] = []
        for doc, links in per_document:
            for citation in pair(links, originals):
                why = options.urls.skips(citation.url)
                if why is None:
                    work.append((doc, citation))
                else:
                    self.skipped.append((citation, why))
        if options.live:
            if self._runner is not None:
                # What the cache answers is not sent to the cluster.
                urls = [u for u in dict.fromkeys(c.url for _, c in work) if self._cached_page(u) is None]
                batches = self._runner.capture_batches(urls, self.engine, with_main_text=self._main_text)
                async for _batch in batches:
                    pass  # adopted by the engine: self.live() below judges them without fetching
            for _, citation in work:
                self.live(citation.url)
        if options.archive:
            for _, citation in work:
                for ref in citation.archives:
                    self.retrieve(ref)
        texts = {
            doc.path: DocumentText.of(document_text(doc.data, doc.path, max_decoded_bytes=inflate_cap))
            for doc, _ in per_document
        }
        return list(await asyncio.gather(*(self._judge(c, texts[d.path], options) for d, c in work)))

    async def _judge(self, citation: Citation, document: DocumentText, options: CheckOptions) -> CheckResult:
        live = await self.live(citation.url) if options.live else None
        memento: Memento | None = None
        archive_verdict = ArchiveVerdict.NONE
        others: list[str] = []
        if options.archive and citation.archives:
            tracking = tuple(self.config.urls.tracking_params)
            mementos = [with_verdict_for(await self.retrieve(ref), citation.url, tracking) for ref in citation.archives]
            mementos.sort(key=lambda m: _ARCHIVE_RANK.index(m.verdict))
            memento, rest = mementos[0], mementos[1:]
            archive_verdict = memento.verdict
            others = [f"Also cited as an archive: {m.ref.uri} ({m.verdict.value})." for m in rest]

        drift = self._drift(live, memento, citation)
        archive_side = self._archive_side(memento)[0] if memento is not None else None
        archived_title = (memento.title if memento is not None else None) or (
            archive_side.title if archive_side else None
        )
        if memento is not None and archived_title and not memento.title:
            memento = dataclasses.replace(memento, title=archived_title)
        in_document = title_in_text(archived_title, document) if archive_verdict is ArchiveVerdict.OK else None
        judgement = judge(
            self.config.policy,
            live.verdict if live is not None else None,
            live.reason if live is not None else "",
            archive_verdict,
            memento,
            drift,
            title_in_document=in_document,
            archive_checked=options.archive,
        )
        reasons = list(judgement.reasons) + others
        if live is not None and live.accepted:
            reasons.insert(0, f"HTTP {live.result.capture.status} is accepted as fine (--accept or [check] accept).")
        if live is not None and citation.url in self.cached_live:
            age = age_text(self.cached_live[citation.url])
            reasons.append(f"Live page from the cache (--cache): capture {live.result.capture.id[:12]}, {age} old.")
        if memento is not None and memento.ref.uri in self.cached_archives:
            age = age_text(self.cached_archives[memento.ref.uri])
            reasons.append(f"Archived copy from the cache (--cache): {memento.ref.uri} as recorded {age} ago.")
        if citation.note:
            reasons.append(citation.note[0].upper() + citation.note[1:].rstrip(".") + ".")
        return CheckResult(
            citation=citation,
            live_verdict=live.verdict if live is not None else None,
            live_capture=live.result.capture if live is not None else None,
            archive=memento,
            archive_verdict=archive_verdict,
            drift=drift,
            overall=judgement.overall,
            reasons=tuple(reasons),
        )

    def _drift(self, live: _Live | None, memento: Memento | None, citation: Citation) -> Comparison:
        if live is None or memento is None:
            return Comparison.unknown("one side was not checked")
        if memento.capture is None:
            # The archive's reason is in the archive's own sentence; here it is pointed at, not repeated.
            return Comparison.unknown(f"the archived copy is {memento.verdict.value}: see archive")
        if not memento.capture.is_content:
            return Comparison.unknown("the archived copy is not the cited page: see archive")
        if live.result.capture.status != 200 or live.verdict not in (LiveVerdict.OK, LiveVerdict.REDIRECTED):
            status = live.result.capture.status
            said = f"the live page answered {status}" if live.accepted else f"the live page is {live.verdict.value}"
            return Comparison.unknown(f"{said}: see live")
        archived, why = self._archive_side(memento)
        live_fp = live.result.fingerprint
        if archived is None or live_fp is None:
            reason = why or "the live page has no text"
            return Comparison.unknown(reason)
        current = TextSide.of(live_fp, live.result.capture.payload_sha256)
        return compare(archived, current, self.config.drift, expected_quote=citation.expected_quote)


async def check_documents(
    documents: Sequence[Document],
    config: Config,
    options: CheckOptions = CheckOptions(),
    *,
    clock: Clock = utc_now,
    new_id: IdFactory = new_capture_id,
    rng: random.Random | None = None,
    progress: Progress | None = None,
    runner: WorkRunner | None = None,
) -> Report:
    """Check every citation of `documents`; the report carries one result per citation."""
    started = clock()
    async with CaptureEngine(config, clock=clock, new_id=new_id) as engine, open_archives(config, engine) as archives:
        checker = Checker(config, engine, archives, rng=rng, progress=progress, runner=runner, clock=clock)
        results = await checker.check(documents, options)
    finished: datetime = clock()
    names = ", ".join(doc.path for doc in documents)
    notes = []
    if offline(results):
        notes.append(
            "No host could be resolved (every fetch failed in DNS): the network looks unreachable from here; "
            "run the check again when online."
        )
    if checker.skipped:
        listed = "; ".join(f"{c.url} ({c.found_in.path}:{c.found_in.line}, {why})" for c, why in checker.skipped)
        notes.append(f"Excluded, not fetched: {len(checker.skipped)} citation(s): {listed}.")
    if options.cache_age is not None:
        notes.append(
            f"From the cache (--cache, younger than {age_text(options.cache_age)}): "
            f"{len(checker.cached_live)} live page(s) and {len(checker.cached_archives)} archived copie(s); "
            "the rest was fetched now."
        )
    if not options.live:
        notes.append("Live pages were not checked (--no-live).")
    if not options.archive:
        notes.append("Archived copies were not checked (--no-archive).")
    cited = {r.citation.found_in.path for r in results}
    uncited = tuple(doc.path for doc in documents if doc.path not in cited)
    notes.extend(f"No citation was found in {shown(path, 200)}." for path in uncited)
    return Report(
        tool="archiver check",
        started_at=started,
        finished_at=finished,
        results=tuple(results),
        title=f"citation check of {names}",
        notes=tuple(notes),
        uncited=uncited,
    )


def offline(results: Sequence[CheckResult]) -> bool:
    """Did every fetch of the run fail to resolve its host? Then the fault is the network, not the links."""
    captures = [r.live_capture for r in results if r.live_capture is not None]
    captures += [r.archive.capture for r in results if r.archive is not None and r.archive.capture is not None]
    if not captures or any(c.error is None or c.error.kind is not ErrorKind.DNS for c in captures):
        return False
    # Archive lookups that never got as far as a capture failed too (no archive answered at all).
    return all(r.archive is None or r.archive.verdict is not ArchiveVerdict.OK for r in results)


def count_work(documents: Sequence[Document], config: Config) -> int:
    """How many distinct URLs and archive links the documents cite (for a progress bar's total)."""
    hosts = ArchiveHosts.from_config(config)
    seen: set[str] = set()
    for doc in documents:
        for link in extract_links(
            doc.data, doc.path, hosts=hosts, max_decoded_bytes=config.documents.max_decoded_bytes
        ):
            seen.add(link.url)
            if link.version_archive is not None:
                seen.add(link.version_archive.uri)
    return len(seen)
