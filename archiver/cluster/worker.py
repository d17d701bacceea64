"""What a Dask worker runs: one part of a shard captured into the worker's own WARC files, rows returned.

The worker never opens the index (the coordinator is its only writer): it gets each URL's latest
capture with the task (`priors`, so an unchanged page is still a revisit) and returns the rows it
stored with the results, after `part_seconds` handing back the URLs not started and each host's
next allowed start. Every part runs on the process's one shard loop with the batch's one Fetcher.
Nothing lost, nothing twice when a worker dies: every attempt lists the WARC files it opens in a
journal (`cluster/<batch>/<part>/`) before writing into them; a later attempt recovers a dead
attempt's `.open` file (its flock tells dead from alive), takes its captures as done, and fetches
only the rest. See docs/scale.md."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from archiver.config import Config
from archiver.content.fingerprint import fingerprint
from archiver.errors import ArchiverError, ClusterError
from archiver.judge.pagekind import classify_fingerprint
from archiver.models import ArchivePaths, Capture
from archiver.net.fetcher import Fetcher
from archiver.pipeline.capture import CaptureEngine, CaptureResult
from archiver.pipeline.heap import tune_heap
from archiver.store.recovery import OPEN_SUFFIX, recover_file
from archiver.warc.metadata import iter_file_captures
from archiver.warc.read import payload_at, stored_http_headers

JOURNAL_DIR = "cluster"
TOKEN_NAME = "token"

_loop_lock = threading.Lock()
_shard_loop: asyncio.AbstractEventLoop | None = None


_gates: dict[int, asyncio.Semaphore] = {}
# Parts asked to end now, as if their time were up: (batch, part id). A worker has gone idle while
# these still hold hosts, which the coordinator splits between the workers when the part hands
# them back (DaskRunner._hurry). Written by Dask's thread, read by the feeders on the shard loop.
_hurried: set[tuple[str, str]] = set()
# A batch's Fetcher outlives its parts by this long, so the next part (most often on this same
# worker) reuses its connections: a fresh Fetcher per part made connecting 7% of a worker's CPU.
FETCHER_IDLE_SECONDS = 30.0


class _BatchFetchers:
    """One Fetcher per batch on this worker, shared by its shards and parts (the shard loop only).

    Hosts are disjoint between shards, so sharing a host limiter changes nothing of politeness;
    it keeps each host's next start and connections from one part to the next.
    """

    def __init__(self) -> None:
        self._open: dict[str, tuple[Fetcher, int, asyncio.TimerHandle | None]] = {}
        self._closing: set[asyncio.Task[None]] = set()  # held until done: the loop keeps only weak references

    async def acquire(self, batch: str, config: Config) -> Fetcher:
        entry = self._open.get(batch)
        if entry is None:
            fetcher = Fetcher(config.fetch)
            await fetcher.__aenter__()
            self._open[batch] = (fetcher, 1, None)
            return fetcher
        fetcher, users, closing = entry
        if closing is not None:
            closing.cancel()
        self._open[batch] = (fetcher, users + 1, None)
        return fetcher

    def release(self, batch: str) -> None:
        fetcher, users, _ = self._open[batch]
        if users > 1:
            self._open[batch] = (fetcher, users - 1, None)
            return
        loop = asyncio.get_running_loop()
        closing = loop.call_later(FETCHER_IDLE_SECONDS, self._close_soon, batch)
        self._open[batch] = (fetcher, 0, closing)

    def _close_soon(self, batch: str) -> None:
        task = asyncio.get_running_loop().create_task(self._close(batch))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close(self, batch: str) -> None:
        entry = self._open.get(batch)
        if entry is not None and entry[1] == 0:
            del self._open[batch]
            await entry[0].__aexit__(None, None, None)


_fetchers = _BatchFetchers()


def hurry(batch: str, part_ids: Sequence[str]) -> str:
    """End these parts of `batch` that run on this worker now: no new fetch, the ones in flight
    finish, the rest goes back to the coordinator (run on the workers by DaskRunner)."""
    _hurried.update((batch, part) for part in part_ids)
    return worker_name()


def _worker_gate(concurrency: int) -> asyncio.Semaphore:
    """The URLs in flight on this worker, all its shards together: `[fetch] concurrency`, as in-process.

    Only used on the shard loop (one thread), so the dictionary needs no lock.
    """
    gate = _gates.get(concurrency)
    if gate is None:
        gate = _gates[concurrency] = asyncio.Semaphore(max(1, concurrency))
    return gate


def shard_loop() -> asyncio.AbstractEventLoop:
    """This process's one event loop for shards, started on first use.

    A Dask worker runs its tasks in several threads; a loop per task made them fight over the GIL
    (each socket read or urandom call gave it up and waited a switch interval to get it back), so
    every shard of a worker runs on this one loop instead and the task's thread only waits.
    """
    global _shard_loop
    with _loop_lock:
        if _shard_loop is None or _shard_loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="archiver-shards", daemon=True).start()
            _shard_loop = loop
        return _shard_loop


@dataclass(frozen=True)
class ShardTask:
    config: Config
    batch: str
    shard_id: str
    urls: tuple[str, ...]
    token: str
    with_main_text: bool
    priors: tuple[Capture, ...] = ()  # the index's latest capture by URL (and by its final URL)
    with_text: bool = True  # False: the coordinator keeps only the captures, so no fingerprint travels back
    hosts: tuple[str, ...] = ()  # the shard's politeness hosts (cluster.shards.host_key)
    part: int = 0  # 0, then 1, 2 ... for the continuations of a shard that handed back part of its URLs
    not_before: tuple[tuple[str, float], ...] = ()  # host -> epoch seconds before which it is not fetched

    @property
    def part_id(self) -> str:
        """The journal folder of this part: a retry of it takes over only what this part stored."""
        return self.shard_id if self.part == 0 else f"{self.shard_id}.{self.part}"


@dataclass(frozen=True)
class ShardResult:
    shard_id: str
    worker: str
    results: tuple[CaptureResult, ...]  # one per URL of the shard, in shard order
    rows: tuple[Capture, ...]  # what the coordinator indexes: every capture stored for this shard
    recovered: int  # captures taken over from an earlier attempt's WARC file
    hosts: tuple[str, ...] = ()  # the hosts fetched (the task's), for the coordinator's politeness
    remaining: tuple[str, ...] = ()  # URLs not started when the part's time was up: the next part's
    not_before: tuple[tuple[str, float], ...] = ()  # host -> epoch seconds: the next part's politeness


def prepare_worker() -> str:
    """Ready this worker before a run: its capture code is imported (by unpickling this function),
    its heap tuned and its shard loop started.

    Run on every worker as the cluster starts: otherwise the first part of a run paid for them,
    0.7 s of CPU a worker on bench/cluster.py while both cores were needed for fetching.
    """
    tune_heap()
    shard_loop()
    return worker_name()


def batch_folder(archive_dir: Path, batch: str) -> Path:
    return archive_dir / JOURNAL_DIR / batch


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def check_folder(archive_dir: Path, batch: str, token: str) -> str:
    """Raise ClusterError unless this process sees the coordinator's token in the archive folder."""
    path = batch_folder(archive_dir, batch) / TOKEN_NAME
    try:
        seen = path.read_text(encoding="ascii").strip()
    except OSError:
        seen = ""
    if seen != token:
        raise ClusterError(
            f"worker {worker_name()} does not see the coordinator's archive folder: {path} is "
            f"{'missing' if not seen else 'another run' + chr(39) + 's'}; every worker must mount the same "
            "archive folder at the same path (archive_dir)"
        )
    return worker_name()


class _PriorRows:
    """The rows a worker's engine reads (the coordinator's priors) and writes (returned)."""

    def __init__(self, priors: Sequence[Capture]) -> None:
        self._latest: dict[str, Capture] = {}
        for capture in priors:
            for key in (capture.url, capture.final_url):
                if key and key not in self._latest:
                    self._latest[key] = capture
        self.stored: list[Capture] = []

    @property
    def pending(self) -> int:
        return 0

    def latest_capture(self, url: str) -> Capture | None:
        return self._latest.get(url)

    def queue_capture(self, capture: Capture) -> None:
        self.stored.append(capture)
        if capture.final_url and capture.warc is not None and capture.payload_sha256 and not capture.truncated:
            self._latest[capture.final_url] = capture

    def flush(self) -> int:
        return 0


def journal_captures(archive_dir: Path, folder: Path) -> list[tuple[str, list[Capture]]]:
    """Every WARC file a journal folder lists, with the captures it holds (a dead writer's recovered).

    Files still held by a live writer are left out; a missing file (never written) is skipped.
    """
    paths = ArchivePaths(archive_dir)
    found: list[tuple[str, list[Capture]]] = []
    for listing in sorted(folder.glob("*/*.files")) + sorted(folder.glob("*.files")):
        for name in listing.read_text(encoding="utf-8").split():
            final = paths.root / name
            live = final.with_name(final.name + OPEN_SUFFIX)
            if live.exists():
                recovered = recover_file(paths, live)
                if recovered is None or not recovered.valid:
                    continue
                found.append((name, list(recovered.captures)))
            elif final.exists():
                found.append((name, list(iter_file_captures(final))))
    return found


def _reread(root: Path, capture: Capture, config: Config, with_main_text: bool) -> CaptureResult:
    """A capture taken over from a dead attempt, with its fingerprint and headers read back."""
    if capture.warc is None or capture.final_url is None or capture.status is None:
        return CaptureResult(capture, None)
    headers = stored_http_headers(root, capture.warc)
    with payload_at(root, capture.warc) as payload:
        fp = fingerprint(
            payload.body,
            content_type=payload.content_type or capture.content_type,
            content_encoding=payload.content_encoding,
            max_decoded_bytes=config.fetch.max_decoded_bytes,
            with_main_text=with_main_text,
            with_markup=True,
        )
    page = classify_fingerprint(
        fp,
        status=capture.status,
        headers=headers,
        url=capture.final_url,
        requested_url=capture.url,
        content_type=capture.content_type,
    )
    return CaptureResult(capture, dataclasses.replace(fp, markup=None), headers, page)


def _earlier_attempts(task: ShardTask, journal: Path) -> tuple[dict[str, CaptureResult], list[Capture]]:
    """Captures an earlier attempt of this shard stored, its dead writers' files recovered first."""
    root = task.config.archive_dir
    wanted = set(task.urls)
    done: dict[str, CaptureResult] = {}
    rows: list[Capture] = []
    for _name, captures in journal_captures(root, journal):
        for capture in captures:
            rows.append(capture)
            if capture.url in wanted and capture.url not in done:
                done[capture.url] = _reread(root, capture, task.config, task.with_main_text)
    return done, rows


def _by_site(urls: Sequence[str]) -> list[list[str]]:
    """URLs grouped by their authority as written, in order: the feeders' grouping only.

    Cheaper than the politeness host (no parse per URL, in every part); two spellings of one host
    get their own feeders, and the Fetcher's host limiter still holds them to the host's limits.
    """
    groups: dict[str, list[str]] = {}
    for url in urls:
        groups.setdefault(url.partition("://")[2].partition("/")[0].lower(), []).append(url)
    return list(groups.values())


@dataclass(frozen=True)
class _Part:
    """What one part of a shard captured, what it left for the next part, and its hosts' waits."""

    results: list[CaptureResult]
    remaining: tuple[str, ...]
    not_before: tuple[tuple[str, float], ...]


async def _capture(task: ShardTask, urls: Sequence[str], listing: Path, rows: _PriorRows) -> _Part:
    """Capture `urls`, host by host; after `part_seconds` no new fetch starts and the rest is handed back."""
    root = task.config.archive_dir

    def journal(final: Path) -> None:
        with listing.open("a", encoding="utf-8") as handle:
            handle.write(final.relative_to(root).as_posix() + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    loop = asyncio.get_running_loop()
    budget = task.config.cluster.part_seconds
    stop_at = loop.time() + budget if budget > 0 else math.inf
    done: dict[str, CaptureResult] = {}
    mark = (task.batch, task.part_id)

    def going_on() -> bool:
        return loop.time() < stop_at and mark not in _hurried

    gate = _worker_gate(task.config.fetch.concurrency)

    async def feed(queue: deque[str], engine: CaptureEngine) -> None:
        # One feeder per allowed connection of a host, so a host's URLs start in order and none
        # starts after the part's time is up (the ones in flight finish: nothing is cut off). A URL
        # is taken only with a place in the worker's gate, so few are in flight when time is up.
        # Each feeder takes one URL whatever the time: a part that waited long for the gate (other
        # shards kept it busy) still moves on, rather than handing everything back again.
        first = True
        while queue and (first or going_on()):
            async with gate:
                if not queue or not (first or going_on()):
                    return
                first = False
                url = queue.popleft()
                done[url] = await engine.capture_detailed(url, with_main_text=task.with_main_text)

    fetcher = await _fetchers.acquire(task.batch, task.config)
    try:
        async with CaptureEngine(task.config, rows=rows, on_warc_open=journal, fetcher=fetcher) as engine:
            now = time.time()
            for host, epoch in task.not_before:  # the previous part's politeness, if it ran elsewhere
                engine.fetcher.defer_host(host, epoch - now)
            queues = [deque(group) for group in _by_site(urls)]
            width = max(1, task.config.fetch.host_concurrency)
            await asyncio.gather(*(feed(queue, engine) for queue in queues for _ in range(width)))
            now = time.time()
            mine = set(task.hosts)
            waits = tuple(
                (host, now + seconds) for host, seconds in sorted(engine.fetcher.host_waits().items()) if host in mine
            )
    finally:
        _fetchers.release(task.batch)
        _hurried.discard(mark)
    remaining = tuple(u for u in urls if u not in done)
    return _Part([done[u] for u in urls if u in done], remaining, waits)


def run_shard(task: ShardTask) -> ShardResult:
    """Capture one shard (the Dask task); an earlier attempt's captures are taken over, not refetched."""
    name = check_folder(task.config.archive_dir, task.batch, task.token)
    journal = batch_folder(task.config.archive_dir, task.batch) / task.part_id
    journal.mkdir(parents=True, exist_ok=True)
    try:
        done, rows = _earlier_attempts(task, journal)
    except (ArchiverError, OSError) as exc:
        if isinstance(exc, ClusterError):
            raise
        raise ClusterError(f"shard {task.part_id}: an earlier attempt's files could not be read: {exc}") from exc
    todo = [u for u in task.urls if u not in done]
    prior_rows = _PriorRows(task.priors)
    listing = journal / f"{uuid.uuid4().hex}.files"
    part = (
        asyncio.run_coroutine_threadsafe(_capture(task, todo, listing, prior_rows), shard_loop()).result()
        if todo
        else _Part([], (), task.not_before)
    )
    by_url = dict(done)
    by_url.update((r.capture.url, r) for r in part.results)
    if not task.with_text:
        by_url = {url: CaptureResult(r.capture, None) for url, r in by_url.items()}
    return ShardResult(
        task.shard_id,
        name,
        tuple(by_url[u] for u in task.urls if u in by_url),
        tuple(rows) + tuple(prior_rows.stored),
        len(done),
        task.hosts,
        part.remaining,
        part.not_before,
    )
