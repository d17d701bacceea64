"""Use case `run`: one pass over the watch list, as the scheduler or `archiver run` starts it.

Per source, in this order: capture the live URL (an unchanged payload becomes a revisit record,
so storage stays flat); judge it (liveverdict); advance its link state (linkstate: one bad night
is `failing`, a warning; `gone` only after repeated failures on separate days); compare it with
its archived copy, with our first good capture (the baseline) and with the previous one; judge the
whole (policy, with a failing-but-not-gone link capped at warn); store the result and the new
state in one transaction. Then the run writes `reports/<run-id>.{json,html,md}` and notifies.

Why it is built this way:

- The archived copy is retrieved once and kept: the memento recorded in the index (with its
  capture, or its file in `mirrors/`) is reused every night; only an archive that could not
  answer (unavailable, pending) is asked again. Nightly cost is the live fetch, not the archive.
- Unchanged pages cost almost nothing: a comparison whose sides have the same payload digest is
  `identical` without reading either text, last night's archive comparison is reused when the
  live payload has not changed, and the soft-404 probe is only fetched for a page that changed.
- Results are recorded as each source finishes, so a run stopped by SIGTERM (the scheduler sets
  `run.stop`, checked between sources) or killed resumes under the same run id without capturing
  any URL twice; the report of a resumed run is rebuilt from what was recorded.
- The scheduler holds the run lock while it calls `scheduled_run`; `run_once` (`archiver run`)
  takes it itself, so a manual run and a scheduled one never overlap.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from archiver.archives import Archives
from archiver.capture import CaptureEngine, IdFactory, new_capture_id
from archiver.comparing import text_of_capture
from archiver.config import Config, PolicyConfig
from archiver.drift import TextSide, compare
from archiver.errors import RunInterrupted
from archiver.index import Index
from archiver.linkstate import LinkCondition, LinkEvent, LinkState, Observation, advance, observation_of
from archiver.liveverdict import judge_live, probe_url
from archiver.mirror import open_archives, with_verdict_for
from archiver.models import (
    ArchivePaths,
    ArchiveVerdict,
    Capture,
    CheckResult,
    Comparison,
    DriftVerdict,
    LiveVerdict,
    Memento,
    Overall,
    Report,
)
from archiver.notify import Delivery, NewsEvent, NewsItem, RunNews, notify
from archiver.policy import judge
from archiver.report import DRIFTED, render
from archiver.runledger import LEDGER_NAME, Ledger, RunKind, RunOutcome, ScheduledRun, utcnow
from archiver.runlock import run_lock
from archiver.schedule import ScheduleStatus, schedule_status
from archiver.watchlist import (
    RunRecord,
    SourceResult,
    WatchEntry,
    WatchList,
    citation_of,
    comparison_from_doc,
    kept_memento,
    open_watch,
)

Clock = Callable[[], datetime]

REPORT_FORMATS = {"json": "json", "html": "html", "md": "markdown"}
_EVENT_NEWS = {
    LinkEvent.NEWLY_FAILING: NewsEvent.NEWLY_FAILING,
    LinkEvent.GONE: NewsEvent.GONE,
    LinkEvent.RECOVERED: NewsEvent.RECOVERED,
}
_RANK = {Overall.PASS: 0, Overall.WARN: 1, Overall.FAIL: 2}


@dataclass(frozen=True)
class RunSummary:
    """What one run did: its report (one result per watched source), files written, deliveries."""

    run_id: str
    label: str
    report: Report
    sources: tuple[SourceResult, ...]
    report_paths: tuple[Path, ...]
    deliveries: tuple[Delivery, ...]
    resumed: int = 0  # sources checked by an earlier, interrupted attempt of the same run

    @property
    def counts(self) -> dict[str, int]:
        return self.report.summary

    @property
    def conditions(self) -> dict[str, int]:
        counted = Counter(s.condition.value for s in self.sources)
        return {c.value: counted[c.value] for c in LinkCondition}

    @property
    def news(self) -> tuple[NewsItem, ...]:
        return tuple(item for s in self.sources for item in s.news)

    def exit_code(self, strict: bool = False) -> int:
        """DESIGN.md: 0 all pass, 2 any fail (warnings too with `strict`)."""
        counts = self.counts
        return 2 if counts["fail"] or (strict and counts["warn"]) else 0

    def text(self) -> str:
        """The few lines `archiver run` prints."""
        counts, conditions = self.counts, self.conditions
        lines = [
            f"run {self.run_id} ({self.label}): {len(self.sources)} sources checked"
            + (f", {self.resumed} of them before an interruption" if self.resumed else ""),
            "results: " + ", ".join(f"{counts[o.value]} {o.value}" for o in Overall),
            "link states: " + ", ".join(f"{n} {name}" for name, n in conditions.items()),
        ]
        news = Counter(item.event.value for item in self.news)
        lines.append("news: " + (", ".join(f"{n} {e.replace('_', ' ')}" for e, n in news.items()) or "none"))
        lines += [f"report: {path}" for path in self.report_paths]
        for d in self.deliveries:
            lines.append(f"notified {d.channel.value} {d.target}: {'ok' if d.ok else 'FAILED'} ({d.detail})")
        return "\n".join(lines)


def _good(capture: Capture | None) -> bool:
    """A capture with a 2xx page stored whole: something to compare text with."""
    return (
        capture is not None
        and capture.ok
        and capture.status is not None
        and 200 <= capture.status < 300
        and capture.payload_sha256 is not None
        and capture.warc is not None
        and capture.truncated is None
    )


def capped_policy(policy: PolicyConfig, state: LinkState) -> PolicyConfig:
    """While a link is `failing` (not yet `gone`), its live failure is a warning, not a failure."""
    if state.condition is not LinkCondition.FAILING:
        return policy

    def cap(level: str) -> str:
        return "warn" if level == "fail" else level

    live = {
        verdict: cap(level) if observation_of(LiveVerdict(verdict)) is Observation.FAILURE else level
        for verdict, level in policy.live.items()
    }
    return dataclasses.replace(policy, live=live, gone_with_archive=cap(policy.gone_with_archive))


def state_reasons(state: LinkState, event: LinkEvent | None, cfg: Config) -> list[str]:
    """The link state in words, for the report's reasons."""
    since = "" if state.since is None else f" since {state.since.astimezone(UTC):%Y-%m-%d}"
    rule = (
        f"declared gone after {cfg.watch.dead_after_failures} failed days "
        f"spanning at least {cfg.watch.dead_after_days:g} days"
    )
    failures = f"{state.consecutive_failures} failed checks on {state.failure_days} days"
    if event is LinkEvent.GONE:
        return [f"Link state: gone{since}: {failures}, the first on {state.first_failure_at:%Y-%m-%d}."]
    if event is LinkEvent.NEWLY_FAILING:
        return [f"Link state: newly failing{since}; a warning until it is {rule}."]
    if event is LinkEvent.RECOVERED:
        return [f"Link state: recovered{since}: the link answers again after failing."]
    if state.condition is LinkCondition.FAILING:
        return [f"Link state: failing{since} ({failures}); {rule}."]
    return [f"Link state: {state.condition.value}{since}."]


def comparison_line(what: str, other: Capture, comparison: Comparison) -> str:
    similarity = "" if comparison.similarity is None else f", similarity {comparison.similarity:.2f}"
    return f"Since {what} ({other.fetched_at.astimezone(UTC):%Y-%m-%d}): {comparison.verdict.value}{similarity}."


class SourceChecker:
    """Checks one watched source at a time; shared by the run's workers (state is per call)."""

    def __init__(
        self, config: Config, engine: CaptureEngine, archives: Archives, watch: WatchList, rng: random.Random
    ) -> None:
        self.config = config
        self.engine = engine
        self.archives = archives
        self.watch = watch
        self.rng = rng
        self._archive_lock = asyncio.Lock()  # one retrieval per reference, even if two sources share it

    async def check(self, entry: WatchEntry, run_id: str) -> tuple[SourceResult, LinkState, str | None]:
        index = self.engine.index
        assert index is not None
        history = await asyncio.to_thread(index.history, entry.url)
        good = [c for c in history if _good(c)]
        previous = good[0] if good else None
        baseline = self._baseline(entry, good)
        live = await self.engine.capture_detailed(entry.url, with_main_text=True)
        capture, fp = live.capture, live.fingerprint
        probe = None
        if self._wants_probe(entry, capture, previous):
            probed = await self.engine.capture_detailed(probe_url(entry.url, self.rng))
            probe = (probed.capture, probed.fingerprint)
        judgement = judge_live(capture, fp, probe, live.headers)
        at = capture.fetched_at
        if entry.state.last_checked_at is not None and at < entry.state.last_checked_at:
            at = entry.state.last_checked_at  # a clock stepped back must not break the state machine
        state, event = advance(entry.state, judgement.verdict, at, self.config.watch)
        memento = await self._archived(entry)
        archive_verdict = memento.verdict if memento is not None else ArchiveVerdict.NONE

        live_side = None
        if observation_of(judgement.verdict) is Observation.SUCCESS and _good(capture) and fp is not None:
            live_side = TextSide.of(fp, capture.payload_sha256)
        vs_baseline = vs_previous = vs_archive = None
        archive_key = None
        if live_side is not None:
            if baseline is not None and baseline.id != capture.id:
                vs_baseline = await self._compare(baseline, live_side)
            if previous is not None:
                vs_previous = vs_baseline if baseline is previous else await self._compare(previous, live_side)
            if memento is not None and _good(memento.capture):
                assert memento.capture is not None
                archive_key = f"{memento.ref.uri}#{memento.capture.id}"
                vs_archive = self._reused(entry, run_id, previous, capture, archive_key)
                if vs_archive is None:
                    vs_archive = await self._compare(memento.capture, live_side)
        drift = vs_archive or vs_baseline
        if drift is None:
            why = "the live page did not answer with a page" if live_side is None else "no earlier copy to compare"
            drift = Comparison(DriftVerdict.UNKNOWN, None, False, False, reason=why)
        judged = judge(
            capped_policy(self.config.policy, state),
            judgement.verdict,
            judgement.reason,
            archive_verdict,
            memento,
            drift,
        )
        reasons = [*judged.reasons, *state_reasons(state, event, self.config)]
        if vs_archive is None and vs_baseline is not None and baseline is not None:
            reasons.append(comparison_line("our first capture", baseline, vs_baseline))
        if vs_previous is not None and previous is not None:
            # Undated when unchanged: the same words every night let the result share last night's.
            unchanged = vs_previous.verdict is DriftVerdict.IDENTICAL
            line = "Unchanged since the previous capture." if unchanged else None
            reasons.append(line or comparison_line("the previous capture", previous, vs_previous))
        news = []
        if event is not None:
            news.append(NewsItem(entry.url, _EVENT_NEWS[event], judgement.reason, entry.label))
        if vs_previous is not None and previous is not None and vs_previous.verdict in DRIFTED:
            detail = comparison_line("the previous capture", previous, vs_previous)
            news.append(NewsItem(entry.url, NewsEvent.NEW_DRIFT, detail, entry.label))
        result = CheckResult(
            citation=citation_of(entry),
            live_verdict=judgement.verdict,
            live_capture=capture,
            archive=memento,
            archive_verdict=archive_verdict,
            drift=drift,
            overall=judged.overall,
            reasons=tuple(reasons),
        )
        outcome = SourceResult(
            entry.key, result, state.condition, event, at, vs_baseline, vs_previous, archive_key, tuple(news)
        )
        new_baseline = baseline.id if baseline is not None else (capture.id if live_side is not None else None)
        return outcome, state, new_baseline

    @staticmethod
    def _baseline(entry: WatchEntry, good: list[Capture]) -> Capture | None:
        """Our first good capture: the one recorded as baseline, else the oldest one there is."""
        if entry.baseline_id is not None:
            for capture in good:
                if capture.id == entry.baseline_id:
                    return capture
        return good[-1] if good else None

    def _wants_probe(self, entry: WatchEntry, capture: Capture, previous: Capture | None) -> bool:
        if not self.config.live.soft_404_probe or capture.status is None or not 200 <= capture.status < 300:
            return False
        unchanged = previous is not None and previous.payload_sha256 == capture.payload_sha256
        # The same bytes that were a real page last night are a real page tonight: no probe needed.
        return not (unchanged and entry.state.last_verdict in (LiveVerdict.OK, LiveVerdict.REDIRECTED))

    def _reused(
        self, entry: WatchEntry, run_id: str, previous: Capture | None, capture: Capture, archive_key: str
    ) -> Comparison | None:
        """Last night's comparison with the archive, if neither side has changed since."""
        if previous is None or previous.payload_sha256 != capture.payload_sha256:
            return None
        last = self.watch.last_result(entry.key, run_id)
        if last is None or last[0] != previous.id or last[1].get("archive_key") != archive_key:
            return None
        return comparison_from_doc(last[1].get("drift"))

    async def _compare(self, stored: Capture, live: TextSide) -> Comparison:
        if stored.payload_sha256 == live.payload_sha256:  # identical: no text needs reading
            same = TextSide(stored.payload_sha256, stored.text_sha256, stored.title, None, None)
            return compare(same, live, self.config.drift)
        side, why = await asyncio.to_thread(
            text_of_capture, self.config.archive_dir, stored, self.config.fetch.max_decoded_bytes
        )
        if side is None:
            return Comparison(DriftVerdict.UNKNOWN, None, False, False, reason=why)
        return await asyncio.to_thread(compare, side, live, self.config.drift)

    async def _archived(self, entry: WatchEntry) -> Memento | None:
        """The best archived copy among the entry's references, each retrieved once and kept."""
        if not entry.archives:
            return None
        index = self.engine.index
        assert index is not None
        found: list[Memento] = []
        for ref in entry.archives:
            async with self._archive_lock:
                memento = kept_memento(index, ref)
                if memento is None:
                    memento = with_verdict_for(await self.archives.mirror(ref), entry.url)
                    index.add_memento(memento)
            found.append(with_verdict_for(memento, entry.url))
        with_content = [m for m in found if m.verdict is ArchiveVerdict.OK and _good(m.capture)]
        return (with_content or [m for m in found if m.verdict is ArchiveVerdict.OK] or found)[0]


async def _check_all(
    config: Config, run: ScheduledRun, clock: Clock, new_id: IdFactory, rng: random.Random
) -> tuple[list[SourceResult], int]:
    """Check every source not yet done in this run; raises RunInterrupted when told to stop."""
    async with CaptureEngine(config, clock=clock, new_id=new_id) as engine:
        assert engine.index is not None
        watch = WatchList(engine.index, clock)
        entries = watch.entries()
        watch.begin_run(run.run_id, run.kind.value, run.label, clock())
        done = watch.done_keys(run.run_id)
        pending = deque(e for e in entries if e.key not in done)
        fresh: dict[str, SourceResult] = {}
        async with open_archives(config, engine) as archives:
            checker = SourceChecker(config, engine, archives, watch, rng)

            async def worker() -> None:
                while pending and not run.stop.is_set():
                    entry = pending.popleft()
                    outcome, state, baseline_id = await checker.check(entry, run.run_id)
                    watch.record(run.run_id, outcome, state, baseline_id)
                    fresh[entry.key] = outcome

            # A TaskGroup, not gather: an unexpected error in one worker cancels the others before
            # the engine closes the archive under them.
            async with asyncio.TaskGroup() as group:
                for _ in range(max(1, min(config.fetch.concurrency, len(pending)))):
                    group.create_task(worker())
        if pending:
            watch.end_run(run.run_id, "interrupted", None, {"checked": len(done) + len(fresh), "left": len(pending)})
            raise RunInterrupted(
                f"run {run.run_id} stopped on request after {len(done) + len(fresh)} of {len(entries)} sources; "
                "running it again with the same run id resumes where it stopped"
            )
        earlier = watch.results_of(run.run_id, [e for e in entries if e.key in done])
        ordered = [fresh.get(e.key) or earlier.get(e.key) for e in entries]
        return [s for s in ordered if s is not None], len(earlier)


def write_reports(config: Config, run_id: str, report: Report) -> tuple[Path, ...]:
    folder = config.archive_dir / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, fmt in REPORT_FORMATS.items():
        path = folder / f"{run_id}.{suffix}"
        temp = path.with_name(path.name + ".part")
        temp.write_text(render(report, fmt), encoding="utf-8")
        temp.replace(path)  # a reader never sees half a report
        paths.append(path)
    return tuple(paths)


def run_pass(
    config: Config,
    run: ScheduledRun,
    *,
    clock: Clock = utcnow,
    new_id: IdFactory = new_capture_id,
    rng: random.Random | None = None,
    notify_client: httpx.Client | None = None,
) -> RunSummary:
    """One pass over the watch list for `run` (the caller holds the run lock)."""
    started_at = clock()
    sources, resumed = asyncio.run(_check_all(config, run, clock, new_id, rng or random.Random()))
    finished_at = clock()
    conditions = Counter(s.condition.value for s in sources)
    notes = [
        f"{run.label}; run id {run.run_id}.",
        "Link states: " + ", ".join(f"{conditions[c.value]} {c.value}" for c in LinkCondition) + ".",
    ]
    if resumed:
        notes.append(f"Resumed: {resumed} sources were checked before an interruption of this run.")
    report = Report(
        tool="archiver",
        started_at=started_at,
        finished_at=finished_at,
        results=tuple(s.result for s in sources),
        title=f"archiver run {run.run_id}",
        notes=tuple(notes),
    )
    paths = write_reports(config, run.run_id, report)
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
                "reports": [str(p) for p in paths],
                "deliveries": [{"target": d.target, "ok": d.ok, "detail": d.detail} for d in deliveries],
            },
        )
    return summary


def scheduled_run(config: Config, run: ScheduledRun) -> RunSummary:
    """The pass the scheduler calls (`archiver.nightly:scheduled_run`); it already holds the run lock."""
    return run_pass(config, run)


def manual_run_id(at: datetime) -> str:
    return "manual-" + at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def run_once(
    config: Config,
    *,
    clock: Clock = utcnow,
    run_id: str | None = None,
    lock_wait: float = 0.0,
    stop: threading.Event | None = None,
    new_id: IdFactory = new_capture_id,
    rng: random.Random | None = None,
    notify_client: httpx.Client | None = None,
) -> RunSummary:
    """`archiver run`: one pass now, under the run lock, recorded in the ledger as a manual run.

    Waits up to `lock_wait` seconds for a running pass, then raises ArchiveLockedError naming it.
    A `run_id` of an interrupted run resumes it. Raises RunInterrupted when `stop` is set.
    """
    now = clock()
    run_id = run_id or manual_run_id(now)
    label = f"manual run at {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    run = ScheduledRun(run_id, now, RunKind.MANUAL, label, stop or threading.Event())
    with run_lock(config.archive_dir, lock_wait, purpose=f"archiver run {run_id}"):
        ledger = Ledger(config.archive_dir / LEDGER_NAME, clock)
        entry = ledger.begin(now, RunKind.MANUAL, label, run_id=run_id)
        try:
            summary = run_pass(config, run, clock=clock, new_id=new_id, rng=rng, notify_client=notify_client)
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
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def archive_status(config: Config, *, clock: Clock = utcnow) -> ArchiveStatus:
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
