"""The capture engine: fetch a URL, fingerprint its payload, store it as WARC, index it.

One `CaptureEngine` per command owns the shared HTTP client, the WARC writer and the index, with
an injected clock and ID generator. The order makes a capture trustworthy: fetch (streamed and
hashed), fingerprint (a text failure never stops archiving), write the WARC, then queue the index
row. The WARC is the truth: a crash between the last two is repaired by recovery. Scale-out plugs
in at two seams: a `WorkRunner` captures elsewhere and hands results to `adopt`; a cluster worker's
engine takes `CaptureRows` instead of the index (the coordinator is its only writer). See docs/pipeline.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import threading
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol
from urllib.parse import urljoin

from archiver import __version__
from archiver.clock import Clock, utc_now
from archiver.config import Config
from archiver.content.fingerprint import Fingerprint, fingerprint
from archiver.errors import ArchiverError, DiskFullError, StoreError
from archiver.judge.pagekind import PageClass, classify_fingerprint
from archiver.models import ArchivePaths, Capture, ErrorKind, Failure, Hop, PageKind
from archiver.net.exchange import FetchOutcome
from archiver.net.fetcher import REDIRECT_STATUSES, Fetcher
from archiver.pipeline.heap import tune_heap
from archiver.store.index import Index, writable
from archiver.store.warcfiles import WarcStore
from archiver.urls import parse_url

IdFactory = Callable[[], str]
Progress = Callable[[Capture], None]

_log = logging.getLogger(__name__)

# Bodies up to this size (all hops together) are fingerprinted and written on the event loop.
INLINE_BYTES = 256 * 1024
# Page redirects (meta refresh, script) followed for a live verdict, like a browser would.
MAX_PAGE_REDIRECTS = 3
# How long a stored capture's index row may wait to be committed with others.
INDEX_FLUSH_SECONDS = 0.1


class _RandomIds:
    """uuid4 hex strings cut from pooled os.urandom bytes, one system call per 256 ids.

    One call per id gave up the GIL each time, and on a cluster worker (Dask's threads beside the
    shard loop) waiting to get it back cost 2-3% of a capture. Same randomness; refilled after a fork.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = -1
        self._pool = b""
        self._at = 0

    def __call__(self) -> str:
        with self._lock:  # big captures are written from threads
            if self._pid != os.getpid() or self._at + 16 > len(self._pool):
                self._pid, self._pool, self._at = os.getpid(), os.urandom(16 * 256), 0
            raw = bytearray(self._pool[self._at : self._at + 16])
            self._at += 16
        raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
        raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
        return raw.hex()


new_capture_id = _RandomIds()


@dataclass(frozen=True)
class CaptureResult:
    """A capture with what this run learnt of it beyond the index row: text and final headers."""

    capture: Capture
    fingerprint: Fingerprint | None
    headers: tuple[tuple[str, str], ...] = ()
    page: PageClass | None = None  # what the page is, with a meta-refresh or script redirect target


def build_capture(
    outcome: FetchOutcome, capture_id: str, max_decoded_bytes: int, with_main_text: bool = False
) -> CaptureResult:
    """The Capture record of a fetch outcome (without its WARC location, which the store sets)."""
    final = outcome.final
    redirects = tuple(
        Hop(url=ex.url, status=ex.status, location=ex.header("location"))
        for ex in outcome.exchanges
        if ex.status in REDIRECT_STATUSES and ex.header("location")
    )
    if final is None:
        return CaptureResult(
            Capture(
                id=capture_id,
                url=outcome.requested,
                final_url=None,
                status=None,
                redirects=redirects,
                fetched_at=outcome.started_at,
                content_type=None,
                payload_sha256=None,
                payload_size=None,
                text_sha256=None,
                title=None,
                warc=None,
                error=outcome.failure,
                elapsed_ms=outcome.elapsed_ms,
            ),
            None,
        )
    content_type = final.header("content-type")
    text_sha256 = title = encoding = text_error = None
    fp: Fingerprint | None = None
    page: PageClass | None = None
    # A redirect we stopped at (cap reached) has no page text worth hashing.
    if final.status not in REDIRECT_STATUSES:
        fp = fingerprint(
            final.body.open(),
            content_type=content_type,
            content_encoding=final.header("content-encoding"),
            max_decoded_bytes=max_decoded_bytes,
            with_main_text=with_main_text,
            with_markup=True,
        )
        text_sha256, title, encoding, text_error = fp.text_sha256, fp.title, fp.encoding, fp.error
        page = classify_fingerprint(
            fp,
            status=final.status,
            headers=final.response_headers,
            url=final.url,
            requested_url=outcome.requested,
            content_type=content_type,
        )
        fp = dataclasses.replace(fp, markup=None)  # read once; a run keeps fingerprints, not pages
    capture = Capture(
        id=capture_id,
        url=outcome.requested,
        final_url=final.url,
        status=final.status,
        redirects=redirects,
        fetched_at=outcome.started_at,
        content_type=content_type,
        payload_sha256=final.body.sha256,
        payload_size=final.body.size,
        text_sha256=text_sha256,
        title=title,
        warc=None,
        error=outcome.failure,
        truncated=final.truncated,
        ip_address=final.ip_address,
        encoding=encoding,
        text_error=text_error,
        elapsed_ms=outcome.elapsed_ms,
        page_kind=None if page is None else page.kind,
        page_evidence=() if page is None else page.evidence,
    )
    return CaptureResult(capture, fp, final.response_headers, page)


class CaptureRows(Protocol):
    """Where an engine finds a URL's latest capture (the revisit baseline) and puts the rows it stored."""

    @property
    def pending(self) -> int: ...

    def latest_capture(self, url: str) -> Capture | None: ...

    def queue_capture(self, capture: Capture) -> None: ...

    def flush(self) -> object: ...


class WorkRunner(Protocol):
    """Captures URLs elsewhere for an open engine: adopts each batch into it, then yields it."""

    def capture_batches(
        self, urls: Sequence[str], engine: CaptureEngine, *, with_main_text: bool, with_text: bool = True
    ) -> AsyncGenerator[list[CaptureResult], None]: ...


class CaptureEngine:
    """Fetch + fingerprint + WARC + index, for many URLs at once within the politeness limits."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = utc_now,
        new_id: IdFactory = new_capture_id,
        fetcher: Fetcher | None = None,
        rows: CaptureRows | None = None,
        on_warc_open: Callable[[Path], object] | None = None,
    ) -> None:
        self.config = config
        self.paths = ArchivePaths(config.archive_dir)
        self._clock = clock
        self._new_id = new_id
        self._fetcher = fetcher or Fetcher(config.fetch, clock=clock)
        self._owns_fetcher = fetcher is None
        self.store: WarcStore | None = None
        self.recovery_notes: list[str] = []
        self.index: Index | None = None
        # A cluster worker's rows go back to the coordinator instead of into the index.
        self._given_rows = rows
        self.rows: CaptureRows | None = None
        self._on_warc_open = on_warc_open
        self._adopted: dict[str, CaptureResult] = {}
        self._held: dict[str, Capture] = {}  # adopted rows indexed when their URL is captured (or at close)
        self._flusher: asyncio.Task[None] | None = None
        self._threaded = 0  # store writes running in a thread right now

    async def __aenter__(self) -> CaptureEngine:
        tune_heap()
        self.open_store()
        if self._owns_fetcher:
            await self._fetcher.__aenter__()
        self._flusher = asyncio.create_task(self._flush_index_periodically())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        flusher, self._flusher = self._flusher, None
        try:
            if flusher is not None:
                flusher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await flusher
            if self._owns_fetcher:
                await self._fetcher.__aexit__(exc_type, exc, tb)
        finally:
            self.close_store()

    def open_store(self) -> None:
        if self.paths.index.exists() and not writable(self.paths.root):
            # A read-only archive: stored captures can be read and compared, nothing can be captured.
            self.index = Index(self.paths.index, read_only=True)
            return
        for folder in (self.paths.root, self.paths.warcs, self.paths.mirrors, self.paths.reports):
            folder.mkdir(parents=True, exist_ok=True)
        rows: CaptureRows
        if self._given_rows is not None:
            rows = self._given_rows
        else:
            rows = self.index = Index(self.paths.index)
        self.rows = rows
        self.store = WarcStore(
            self.paths,
            self.config.warc_max_bytes,
            clock=self._clock,
            new_id=self._new_id,
            software=f"archiver/{__version__}",
            before_seal=rows.flush,
            on_open=self._on_warc_open,
        )
        if self.index is not None:
            # Only the index's owner recovers: a worker sealing a dead peer's file would hide its
            # captures from the coordinator (archiver.cluster recovers them through the journal).
            # A dropped indexed capture is a loss: kept for the caller to report (`recovery_notes`).
            self.recovery_notes = self.index.apply_recovery(self.store.recover())
            for note in self.recovery_notes:
                # Said at once, on stderr even without -v (logging's last resort): a loss is never silent.
                _log.warning("%s", note)

    def close_store(self) -> None:
        if self.rows is not None:
            for row in self._held.values():  # adopted but never asked for: indexed all the same
                self.rows.queue_capture(row)
        self._held.clear()
        self._adopted.clear()
        if self.store is not None:
            self.store.close()
            self.store = None
        if self.index is not None:
            self.index.close()
            self.index = None
        self.rows = None

    def recover(self) -> int:
        """Seal `.open` files whose writer died (a cluster worker) and index their captures."""
        store, index = self._require_open()
        if not isinstance(index, Index):
            return 0
        report = store.recover()
        index.apply_recovery(report)
        return len(report.captures)

    def adopt(
        self, results: Iterable[CaptureResult], rows: Iterable[Capture], hosts: Iterable[str] | None = None
    ) -> None:
        """Take captures made elsewhere: `rows` go to the index, and the next capture of each
        result's URL returns that result instead of fetching again.

        A result's own row is held back until then, so that what a caller reads of the URL's
        history before capturing it (the nightly check's "previous capture") is what it would
        have read in-process; the rest, and anything never asked for, is indexed regardless.
        `hosts` (the politeness hosts the results were fetched from) spares parsing every URL again.
        """
        _, index = self._require_open()
        results = list(results)
        own = {r.capture.id for r in results}
        for row in rows:
            if row.id in own:
                self._held[row.id] = row
            else:
                index.queue_capture(row)
        for result in results:
            self._adopted[result.capture.url] = result
        interval = self.config.fetch.host_interval
        if interval <= 0:
            return
        if hosts is None:
            found: set[str] = set()
            for result in results:
                with contextlib.suppress(ArchiverError, ValueError):
                    found.add(parse_url(result.capture.url).host)
            hosts = found
        # The worker fetched these hosts moments ago: our own next request (a probe) waits its turn.
        for host in hosts:
            self._fetcher.defer_host(host, interval)

    @property
    def fetcher(self) -> Fetcher:
        return self._fetcher

    async def capture(self, url: str) -> Capture:
        """Capture one URL; a per-URL failure is returned in `Capture.error`, never raised."""
        return (await self.capture_detailed(url)).capture

    async def capture_detailed(
        self, url: str, *, with_main_text: bool = False, follow_page_redirects: bool = False
    ) -> CaptureResult:
        """Capture one URL and keep its text fingerprint and final headers for the caller.

        With `follow_page_redirects`, a page that only redirects (a meta refresh, `location.href`)
        is followed like an HTTP redirect, each page captured: the result is the last one, with the
        URL asked for and every hop, so a live verdict judges where a browser would end up.
        Archived copies never follow: a replayed page's script must not lead to the live web.
        """
        result = await self._capture_one(url, with_main_text)
        seen = {url}
        while follow_page_redirects and len(seen) <= MAX_PAGE_REDIRECTS:
            page, first = result.page, result.capture
            if page is None or page.redirect_to is None or page.kind is not PageKind.EMPTY or not first.status:
                break
            target = urljoin(first.final_url or url, page.redirect_to)
            if target in seen or not 200 <= first.status < 300:
                break
            seen.add(target)
            following = await self._capture_one(target, with_main_text)
            hop = Hop(url=first.final_url or first.url, status=first.status, location=target)
            chain = (*first.redirects, hop, *following.capture.redirects)
            result = dataclasses.replace(
                following, capture=dataclasses.replace(following.capture, url=first.url, redirects=chain)
            )
        return result

    def claim(self, url: str) -> CaptureResult | None:
        """The adopted result for `url` (its row indexed now), or None when none is waiting."""
        _, index = self._require_open()
        adopted = self._adopted.pop(url, None)
        if adopted is not None:
            held = self._held.pop(adopted.capture.id, None)
            if held is not None:
                index.queue_capture(held)
        return adopted

    async def _capture_one(self, url: str, with_main_text: bool) -> CaptureResult:
        adopted = self.claim(url)
        if adopted is not None:
            return adopted
        store, index = self._require_open()
        outcome = await self._fetcher.fetch(url)
        with outcome:
            capture_id = self._new_id()
            max_decoded = self.config.fetch.max_decoded_bytes
            # Small captures are fingerprinted and written on the event loop: a thread hop costs
            # more than the work, and the GIL would serialise it anyway. Big bodies go to a
            # thread so fetches keep streaming meanwhile; while one is being written, every
            # write goes through a thread, so the loop never waits on the store's lock.
            # Main-text extraction (drift) takes tens of milliseconds, so it always goes to a thread.
            small = sum(e.body.size for e in outcome.exchanges) <= INLINE_BYTES
            inline = small and self._threaded == 0
            if small and not with_main_text:
                result = build_capture(outcome, capture_id, max_decoded, with_main_text)
            else:
                result = await asyncio.to_thread(build_capture, outcome, capture_id, max_decoded, with_main_text)
            capture = result.capture
            prior = index.latest_capture(capture.final_url or url) if capture.payload_sha256 else None
            if prior is not None and prior.payload_sha256 != capture.payload_sha256:
                prior = None
            try:
                if inline and self._threaded == 0:
                    stored = store.write(outcome, capture, prior)
                else:
                    self._threaded += 1
                    try:
                        stored = await asyncio.to_thread(store.write, outcome, capture, prior)
                    finally:
                        self._threaded -= 1
            except DiskFullError:
                raise  # every later capture would fail the same way: the run stops, with that message
            except (ArchiverError, OSError) as exc:
                # The archive itself failed (permissions, a bad file): say so for this URL, index nothing.
                failure = Failure(ErrorKind.IO, f"could not store the capture in {self.paths.warcs}: {exc}")
                return dataclasses.replace(result, capture=dataclasses.replace(capture, error=failure))
        # The WARC records are flushed; the row is committed within INDEX_FLUSH_SECONDS (or at
        # close), and recovery rebuilds it from the WARC if the process dies first.
        index.queue_capture(stored)
        return dataclasses.replace(result, capture=stored)

    async def _flush_index_periodically(self) -> None:
        """Commit queued index rows every INDEX_FLUSH_SECONDS, so other readers see them soon."""
        while True:
            await asyncio.sleep(INDEX_FLUSH_SECONDS)
            if self.rows is not None and self.rows.pending:
                self.rows.flush()

    async def capture_many(self, urls: Iterable[str], progress: Progress | None = None) -> list[Capture]:
        """Capture every URL concurrently (the Fetcher enforces the limits); results in input order."""
        urls = list(urls)
        if self.index is not None and not self.index.read_only and len(urls) > 1:
            self.index.prefetch_latest(urls)  # the revisit baselines in one query, not one per URL

        async def one(url: str) -> Capture:
            result = await self.capture(url)
            if progress is not None:
                progress(result)
            return result

        return list(await asyncio.gather(*(one(u) for u in urls)))

    def _require_open(self) -> tuple[WarcStore, CaptureRows]:
        if self.index is not None and self.index.read_only:
            raise StoreError(
                f"the archive folder {self.paths.root} is read-only: nothing can be captured into it; "
                "read commands (show, history, status, verify, compare of stored captures) still work"
            )
        if self.store is None or self.rows is None:
            raise RuntimeError("CaptureEngine used outside 'async with'")
        return self.store, self.rows


async def capture_urls(
    urls: Sequence[str],
    config: Config,
    *,
    clock: Clock = utc_now,
    new_id: IdFactory = new_capture_id,
    progress: Progress | None = None,
    runner: WorkRunner | None = None,
) -> list[Capture]:
    """Capture `urls`; with a runner (archiver.cluster.with_cluster) they are captured on its cluster."""
    async with CaptureEngine(config, clock=clock, new_id=new_id) as engine:
        if runner is None:
            return await engine.capture_many(urls, progress)
        got: dict[str, Capture] = {}
        # Only the captures are kept here, so the workers send back no page text.
        async for batch in runner.capture_batches(urls, engine, with_main_text=False, with_text=False):
            for result in batch:
                claimed = engine.claim(result.capture.url)
                if claimed is not None:
                    got[claimed.capture.url] = claimed.capture
                    if progress is not None:
                        progress(claimed.capture)
        # A URL given twice (in-process, captured twice) or one the cluster returned nothing for is captured here.
        placed = [got.pop(url, None) for url in urls]  # popped: a URL's second place is captured again
        rest = iter(await engine.capture_many([u for u, c in zip(urls, placed, strict=True) if c is None], progress))
        return [c if c is not None else next(rest) for c in placed]


def capture(urls: Sequence[str], config: Config) -> list[Capture]:
    """Python API: capture URLs into the archive named by `config`; one Capture per URL, in order."""
    return asyncio.run(capture_urls(list(urls), config))
