"""Use case `run`: one pass over the watch list, as the scheduler or `archiver run` starts it.

Checks every watched source (`nightly/source_check`), records each result with its new link state
in one transaction as it finishes (so a stopped or killed run resumes under the same run id without
capturing twice), then writes the reports, notifies and records the run's end. With a `WorkRunner`
(a cluster) the live pages are captured on its workers, each shard's sources judged and recorded
here as it returns. The run lock keeps a manual and a scheduled run apart. `archive_status` is what
`archiver status` prints. See docs/nightly.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from archiver.clock import Clock, utc_now
from archiver.cluster import work_runner
from archiver.config import Config
from archiver.errors import ClusterLost, RunInterrupted
from archiver.models import ArchivePaths
from archiver.net.http import Client
from archiver.nightly.ledger import LEDGER_NAME, Ledger, RunKind, RunOutcome, ScheduledRun
from archiver.nightly.linkstate import LinkCondition
from archiver.nightly.news import RunNews
from archiver.nightly.notify import notify
from archiver.nightly.reports import RunSummary, quiet_sources, run_report, write_reports
from archiver.nightly.schedule import ScheduleStatus, schedule_status
from archiver.nightly.source_check import SourceChecker
from archiver.nightly.source_result import SourceResult
from archiver.nightly.watchlist import RunRecord, WatchEntry, WatchList, open_watch
from archiver.pipeline.capture import CaptureEngine, IdFactory, WorkRunner, new_capture_id
from archiver.pipeline.mirror import open_archives
from archiver.store.index import Index
from archiver.store.locks import run_lock

STOP_POLL_SECONDS = 0.2  # how often a running check looks at the stop flag
STOP_GRACE_SECONDS = 2.0  # how long a check in flight may still take once a stop is asked for


async def _check_all(
    config: Config,
    run: ScheduledRun,
    clock: Clock,
    new_id: IdFactory,
    rng: random.Random,
    progress: Callable[[str], None] | None = None,
    runner: WorkRunner | None = None,
) -> tuple[list[SourceResult], int]:
    """Check every source not yet done in this run; raises RunInterrupted when told to stop."""
    async with CaptureEngine(config, clock=clock, new_id=new_id) as engine, work_runner(config, runner) as work:
        assert engine.index is not None
        watch = WatchList(engine.index, clock)
        entries = watch.entries()
        watch.begin_run(run.run_id, run.kind.value, run.label, clock())
        done = watch.done_keys(run.run_id)
        pending = {e.key: e for e in entries if e.key not in done}  # a dict: removal is O(1)
        fresh: dict[str, SourceResult] = {}
        async with open_archives(config, engine) as archives:
            checker = SourceChecker(config, engine, archives, watch, rng)

            async def worker(queue: deque[WatchEntry]) -> None:
                while queue and not run.stop.is_set():
                    entry = queue.popleft()
                    # The check runs as its own task so a stop request cancels it mid-fetch: a slow
                    # site (deadline 60 s, retries) must not hold SIGTERM hostage. A cancelled
                    # source stays in `pending`, unrecorded, so resuming the run checks it again.
                    task = asyncio.ensure_future(checker.check(entry, run.run_id))
                    try:
                        while not task.done():
                            await asyncio.wait({task}, timeout=STOP_POLL_SECONDS)
                            if run.stop.is_set() and not task.done():
                                # A check about to finish is let finish (no refetch on resume).
                                await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
                                if not task.done():
                                    task.cancel()
                                    with contextlib.suppress(asyncio.CancelledError):
                                        await task
                                    return
                    finally:
                        if not task.done():
                            task.cancel()
                    outcome, state, baseline_id = task.result()
                    watch.record(run.run_id, outcome, state, baseline_id)
                    pending.pop(entry.key, None)
                    fresh[entry.key] = outcome
                    if progress is not None:
                        progress(entry.url)

            async def check_each(queue: deque[WatchEntry]) -> None:
                # A TaskGroup, not gather: an unexpected error in one worker cancels the others before
                # the engine closes the archive under them.
                async with asyncio.TaskGroup() as group:
                    for _ in range(max(1, min(config.fetch.concurrency, len(queue)))):
                        group.create_task(worker(queue))

            if work is None:
                await check_each(deque(pending.values()))
            else:
                lost = await _check_on_cluster(work, engine, list(pending.values()), run, check_each)
                if lost is not None:
                    watch.end_run(
                        run.run_id, "interrupted", None, {"checked": len(done) + len(fresh), "left": len(pending)}
                    )
                    raise RunInterrupted(
                        f"run {run.run_id} stopped after {len(done) + len(fresh)} of {len(entries)} sources: the "
                        f"cluster's scheduler ({config.cluster.address}) went away; running it again with the same "
                        "run id resumes where it stopped"
                    ) from lost
        if pending:
            watch.end_run(run.run_id, "interrupted", None, {"checked": len(done) + len(fresh), "left": len(pending)})
            raise RunInterrupted(
                f"run {run.run_id} stopped on request after {len(done) + len(fresh)} of {len(entries)} sources; "
                "running it again with the same run id resumes where it stopped"
            )
        earlier = watch.results_of(run.run_id, [e for e in entries if e.key in done])
        ordered = [fresh.get(e.key) or earlier.get(e.key) for e in entries]
        return [s for s in ordered if s is not None], len(earlier)


async def _check_on_cluster(
    work: WorkRunner,
    engine: CaptureEngine,
    pending: list[WatchEntry],
    run: ScheduledRun,
    check_each: Callable[[deque[WatchEntry]], Awaitable[None]],
) -> ClusterLost | None:
    """Capture the pending sources on the cluster, judging each shard's sources as it returns."""
    by_url: dict[str, list[WatchEntry]] = {}
    for entry in pending:
        by_url.setdefault(entry.url, []).append(entry)
    try:
        async with contextlib.aclosing(work.capture_batches(list(by_url), engine, with_main_text=True)) as batches:
            async for batch in batches:
                ready = deque(e for result in batch for e in by_url.pop(result.capture.url, []))
                await check_each(ready)
                if run.stop.is_set():
                    break  # aclosing cancels the shards not yet returned
    except ClusterLost as exc:
        return exc
    return None


def run_pass(
    config: Config,
    run: ScheduledRun,
    *,
    clock: Clock = utc_now,
    new_id: IdFactory = new_capture_id,
    rng: random.Random | None = None,
    notify_client: Client | None = None,
    progress: Callable[[str], None] | None = None,
    runner: WorkRunner | None = None,
) -> RunSummary:
    """One pass over the watch list for `run` (the caller holds the run lock); `progress` gets each URL checked."""
    started_at = clock()
    sources, resumed = asyncio.run(_check_all(config, run, clock, new_id, rng or random.Random(), progress, runner))
    finished_at = clock()
    report = run_report(run.run_id, run.label, started_at, finished_at, sources, resumed)
    paths = write_reports(config, run.run_id, report, quiet_sources(sources))
    items = tuple(item for s in sources for item in s.news)
    news = RunNews(
        run.run_id, started_at, finished_at, items, paths, run.label, {"checked": len(sources), **report.summary}
    )
    deliveries = tuple(notify(news, config.notify, client=notify_client))
    summary = RunSummary(run.run_id, run.label, report, tuple(sources), paths, deliveries, resumed)
    # The engine is closed by now: record the run's end on a short connection of its own.
    with Index(ArchivePaths(config.archive_dir).index) as index:
        WatchList(index, clock).end_run(
            run.run_id,
            "finished",
            finished_at,
            {
                "counts": summary.counts,
                "conditions": summary.conditions,
                "news": dict(news.counts),
                "quiet": summary.quiet,
                "reports": [str(p) for p in paths],
                "deliveries": [{"target": d.target, "ok": d.ok, "detail": d.detail} for d in deliveries],
            },
        )
    return summary


def scheduled_run(config: Config, run: ScheduledRun) -> RunSummary:
    """The pass the scheduler calls (`archiver.nightly.run:scheduled_run`); it already holds the run lock."""
    return run_pass(config, run)


def manual_run_id(at: datetime) -> str:
    return "manual-" + at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def fresh_manual_run_id(config: Config, at: datetime) -> str:
    """A new manual run's id: `manual_run_id`, with a serial when a run of that second is recorded.

    Two `archiver run` in one second must be two runs: under one id the second would "resume" the
    finished first one and check nothing. Called under the run lock, so no other run races it.
    """
    base = manual_run_id(at)
    if not ArchivePaths(config.archive_dir).index.exists():
        return base
    with open_watch(config, create=False) as watch:
        candidate, serial = base, 1
        while watch.run(candidate) is not None:
            serial += 1
            candidate = f"{base}-{serial}"
    return candidate


def run_once(
    config: Config,
    *,
    clock: Clock = utc_now,
    run_id: str | None = None,
    lock_wait: float = 0.0,
    stop: threading.Event | None = None,
    new_id: IdFactory = new_capture_id,
    rng: random.Random | None = None,
    notify_client: Client | None = None,
    progress: Callable[[str], None] | None = None,
    runner: WorkRunner | None = None,
) -> RunSummary:
    """`archiver run`: one pass now, under the run lock, recorded in the ledger as a manual run.

    Waits up to `lock_wait` seconds for a running pass, then raises ArchiveLockedError naming it.
    A `run_id` of an interrupted run resumes it. Raises RunInterrupted when `stop` is set.
    """
    now = clock()
    label = f"manual run at {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    with run_lock(config.archive_dir, lock_wait, purpose=f"archiver run {run_id or manual_run_id(now)}"):
        run_id = run_id or fresh_manual_run_id(config, now)
        run = ScheduledRun(run_id, now, RunKind.MANUAL, label, stop or threading.Event())
        ledger = Ledger(config.archive_dir / LEDGER_NAME, clock)
        entry = ledger.begin(now, RunKind.MANUAL, label, run_id=run_id)
        try:
            summary = run_pass(
                config,
                run,
                clock=clock,
                new_id=new_id,
                rng=rng,
                notify_client=notify_client,
                progress=progress,
                runner=runner,
            )
        except RunInterrupted as exc:
            ledger.end(entry, RunOutcome.INTERRUPTED, str(exc))
            raise
        except BaseException as exc:
            ledger.end(entry, RunOutcome.FAILED, f"{type(exc).__name__}: {exc}")
            raise
        ledger.end(entry, RunOutcome.FINISHED, f"{summary.counts}")
        return summary


@dataclass(frozen=True)
class ArchiveStatus:
    """What `archiver status` shows: the schedule, the last run's counts, link states, sizes."""

    schedule: ScheduleStatus
    watched: int
    conditions: dict[str, int]
    last_run: RunRecord | None  # the newest run of the watch list, finished or not
    last_counts: dict[str, dict[str, int]]  # by overall/live/archive/drift verdict in that run
    archive_bytes: int
    warc_bytes: int


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under `folder` (0 when it does not exist)."""
    if not folder.is_dir():
        return 0
    total = 0
    for path in folder.rglob("*"):
        # A run going on renames .open and .part files under us: a file gone since is not counted.
        with contextlib.suppress(FileNotFoundError):
            if path.is_file():
                total += path.stat().st_size
    return total


def archive_status(config: Config, *, clock: Clock = utc_now) -> ArchiveStatus:
    """Read-only: nothing here takes the run lock, so `status` answers while a run goes on."""
    schedule = schedule_status(config, clock=clock)
    paths = ArchivePaths(config.archive_dir)
    watched, conditions, last, counts = 0, {c.value: 0 for c in LinkCondition}, None, {}
    if paths.index.exists():
        with open_watch(config, clock, create=False) as watch:
            watched = len(watch)
            conditions = watch.condition_counts()
            runs = watch.runs()
            last = runs[-1] if runs else None
            counts = watch.verdict_counts(last.run_id) if last is not None else {}
    return ArchiveStatus(
        schedule, watched, conditions, last, counts, folder_bytes(paths.root), folder_bytes(paths.warcs)
    )
