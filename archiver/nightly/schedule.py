"""The nightly schedule: APScheduler 3.x for the clock, our own ledger for what really ran.

APScheduler 3.11 gives a cron trigger, a persistent job store and coalescing (4 is pre-release),
but its store cannot tell whether a night was done. So one job (`nightly-check`) names its
function by text, and at start `catch_up_due` asks the ledger (`nightly/ledger`) whether the last
due night finished; if not, it runs once now under the same run id. Every run holds the run lock
(`store/locks`). See docs/nightly.md.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.util import ref_to_obj

from archiver.clock import Clock, utc_now
from archiver.config import Config, ScheduleConfig
from archiver.errors import ArchiveLockedError, ConfigError, RunInterrupted, ScheduleError
from archiver.nightly.ledger import (
    DONE,
    LEDGER_NAME,
    Ledger,
    LedgerEntry,
    RunKind,
    RunOutcome,
    RunPass,
    ScheduledRun,
    ledger_key,
    run_id_for,
)
from archiver.store.locks import RUN_LOCK_NAME, SCHEDULER_LOCK_NAME, is_locked, run_lock, scheduler_lock

log = logging.getLogger(__name__)

JOB_ID = "nightly-check"
CATCH_UP_JOB_ID = "nightly-catch-up"
JOB_FUNC = "archiver.nightly.schedule:scheduled_job"
DEFAULT_RUN_PASS = "archiver.nightly.run:scheduled_run"
STORE_NAME = "schedule.sqlite3"
LATE_AFTER = timedelta(minutes=5)  # a scheduled run starting later than this is labelled catch-up


class NightlyCronTrigger(CronTrigger):  # type: ignore[misc]
    """A CronTrigger that fires a fixed-hour schedule once on the day clocks fall back.

    APScheduler 3.11.3 yields both 02:30 CEST and 02:30 CET for `30 2 * * *` on the fall-back day;
    cron runs such a job once. The second occurrence of an ambiguous wall time is skipped unless
    the hour field is `*` (an hourly job should run every real hour).
    """

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        nxt: datetime | None = super().get_next_fire_time(previous_fire_time, now)
        hour_fixed = any(f.name == "hour" and str(f) != "*" for f in self.fields)
        if nxt is not None and hour_fixed and _is_repeated_wall_time(nxt, self.timezone):
            nxt = super().get_next_fire_time(nxt, nxt)
        return nxt


def _is_repeated_wall_time(at: datetime, zone: tzinfo) -> bool:
    local = at.astimezone(zone)
    first = local.replace(fold=0)
    return first.utcoffset() != local.utcoffset() and first.astimezone(UTC) < local.astimezone(UTC)


def build_trigger(cfg: ScheduleConfig) -> NightlyCronTrigger:
    """The cron trigger from `[schedule] cron` and `timezone`; a bad value is a ConfigError."""
    try:
        return NightlyCronTrigger.from_crontab(cfg.cron, timezone=cfg.timezone)  # type: ignore[no-any-return]
    except ZoneInfoNotFoundError:
        raise ConfigError(f"[schedule] timezone: unknown time zone {cfg.timezone!r} (use an IANA name)") from None
    except ValueError as exc:
        raise ConfigError(f"[schedule] cron: {cfg.cron!r} is not a crontab expression: {exc}") from None


def previous_fire_time(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The latest fire time at or before `now` (APScheduler 3 only looks forward)."""
    for window in (
        timedelta(minutes=2),
        timedelta(hours=2),
        timedelta(days=2),
        timedelta(days=32),
        timedelta(days=367),
        timedelta(days=8 * 366 + 1),  # 29 February can be eight years away
    ):
        found: datetime | None = trigger.get_next_fire_time(None, now - window)
        if found is None or found > now:
            continue
        for _ in range(10_000):  # bounded by the fires within the smallest window holding one
            following: datetime | None = trigger.get_next_fire_time(found, found)
            if following is None or following > now:
                break
            found = following
        return found
    return None


def catch_up_due(
    trigger: CronTrigger, now: datetime, ledger: Ledger, stored_next_run: datetime | None
) -> datetime | None:
    """The logical date to run once at start, if the latest fire time before now was not done."""
    due = previous_fire_time(trigger, now)
    if due is None or ledger.is_done(due):
        return None
    if ledger.entries(due):
        return due  # begun (crash, SIGTERM) or skipped, and never done
    if stored_next_run is not None and stored_next_run <= now:
        return due  # the store was waiting for a fire that never came: the machine was off
    since = ledger.scheduled_since()
    if since is not None and since <= due:
        return due  # the schedule was on and nothing was recorded (lost during a shutdown)
    return None


def describe(at: datetime, zone: tzinfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


@dataclass
class _Context:
    config: Config
    run_pass: RunPass
    trigger: NightlyCronTrigger
    ledger: Ledger
    stop: threading.Event
    lock_wait: float


_ACTIVE: dict[str, _Context] = {}  # archive dir -> the scheduler serving it in this process


def scheduled_job(run_pass_ref: str, archive_key: str, kind: str = RunKind.SCHEDULED, logical: str = "") -> None:
    """The job APScheduler calls (by its textual reference); carries only strings."""
    ctx = _ACTIVE.get(archive_key)
    if ctx is None:
        raise ScheduleError(f"the nightly job for {archive_key} ran outside its scheduler; start `archiver schedule`")
    now = ctx.ledger.clock()
    logical_at = datetime.fromisoformat(logical) if logical else previous_fire_time(ctx.trigger, now) or now
    run_kind = RunKind(kind)
    if run_kind is RunKind.SCHEDULED and now - logical_at > LATE_AFTER:
        run_kind = RunKind.CATCH_UP
    execute_run(ctx, logical_at, run_kind)


def execute_run(ctx: _Context, logical_at: datetime, kind: RunKind) -> RunOutcome | None:
    """One run under the run lock, recorded in the ledger; None if the date was already done."""
    zone = ctx.trigger.timezone
    label = f"{'catch-up' if kind is RunKind.CATCH_UP else kind.value} run for {describe(logical_at, zone)}"
    run = ScheduledRun(run_id_for(logical_at), logical_at.astimezone(UTC), kind, label, ctx.stop)
    try:
        with run_lock(ctx.config.archive_dir, ctx.lock_wait, purpose=label, cancel=ctx.stop.is_set):
            if ctx.ledger.is_done(logical_at):
                log.info("%s: already done, nothing to do", label)
                return None
            entry = ctx.ledger.begin(logical_at, kind, label)
            log.info("%s (%s) started", label, run.run_id)
            try:
                ctx.run_pass(ctx.config, run)
            except RunInterrupted as exc:
                log.warning("%s interrupted; it is caught up at the next start", label)
                ctx.ledger.end(entry, RunOutcome.INTERRUPTED, str(exc) or "stopped on request")
                return RunOutcome.INTERRUPTED
            except Exception as exc:
                log.exception("%s failed", label)
                ctx.ledger.end(entry, RunOutcome.FAILED, f"{type(exc).__name__}: {exc}")
                return RunOutcome.FAILED
            ctx.ledger.end(entry, RunOutcome.FINISHED)
            log.info("%s finished", label)
            return RunOutcome.FINISHED
    except ArchiveLockedError as exc:
        log.warning("%s skipped: %s", label, exc)
        ctx.ledger.record_skipped(logical_at, kind, label, str(exc))
        return RunOutcome.SKIPPED


@dataclass(frozen=True)
class ScheduleStatus:
    """What `archiver status` shows about the schedule."""

    archive_dir: Path
    cron: str
    timezone: str
    installed: bool  # the job store holds the nightly job
    next_run_at: datetime | None  # the stored next fire time, else the cron's next one
    scheduler_running: bool
    run_in_progress: bool
    last_run: LedgerEntry | None  # the latest attempt of any kind
    last_done: LedgerEntry | None  # the latest finished or failed run
    unfinished: tuple[LedgerEntry, ...]  # begun or skipped dates never done since
    catch_up_for: datetime | None = None  # set on a scheduler's own status after start


class NightlyScheduler:
    """A BackgroundScheduler with one persistent nightly job, a ledger and the catch-up rule.

    `start()` returns once the scheduler runs (the catch-up, if any, is queued); `stop()` sets the
    stop flag a running pass sees, waits for it, and releases the archive. `run_scheduler` wraps
    this with signal handling for the CLI; tests drive the class directly.
    """

    def __init__(
        self,
        config: Config,
        run_pass: str = DEFAULT_RUN_PASS,
        *,
        clock: Clock = utc_now,
        lock_wait: float | None = None,
    ) -> None:
        self.config = config
        self.run_pass_ref = run_pass
        self.trigger = build_trigger(config.schedule)
        self.archive_dir = config.archive_dir.resolve()
        self.key = str(self.archive_dir)
        self.clock = clock
        # A scheduled run waits for a manual one as long as it could still start late anyway.
        self.lock_wait = float(config.schedule.misfire_grace_seconds) if lock_wait is None else lock_wait
        self.stop_event = threading.Event()
        self.catch_up_for: datetime | None = None
        self._exit = ExitStack()
        self._scheduler: BackgroundScheduler | None = None

    @property
    def scheduler(self) -> BackgroundScheduler:
        if self._scheduler is None:
            raise ScheduleError("the scheduler is not started")
        return self._scheduler

    def start(self) -> None:
        try:
            run_pass = ref_to_obj(self.run_pass_ref)
        except (ValueError, LookupError, TypeError) as exc:
            raise ScheduleError(f"cannot find the nightly pass {self.run_pass_ref!r}: {exc}") from None
        self._exit.enter_context(scheduler_lock(self.archive_dir))
        try:
            self._start(run_pass)
        except BaseException:
            self._exit.close()
            raise

    def _start(self, run_pass: RunPass) -> None:
        ledger = Ledger(self.archive_dir / LEDGER_NAME, self.clock)
        ctx = _Context(self.config, run_pass, self.trigger, ledger, self.stop_event, self.lock_wait)
        _ACTIVE[self.key] = ctx
        self._exit.callback(_ACTIVE.pop, self.key, None)
        stale = ledger.close_stale("the scheduler ended during the run (crash or kill); caught up at start")
        if stale:
            log.warning("%d run(s) were left unfinished by an earlier scheduler", stale)
        scheduler = BackgroundScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(url=f"sqlite:///{self.archive_dir / STORE_NAME}"),
                "volatile": MemoryJobStore(),
            },
            executors={"default": ThreadPoolExecutor(max_workers=2)},
            timezone=self.trigger.timezone,
        )
        scheduler.add_listener(self._on_max_instances, EVENT_JOB_MAX_INSTANCES)
        scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        # Paused: nothing fires until the missed-run check has seen the stored next_run_time.
        scheduler.start(paused=True)
        self._scheduler = scheduler
        stored = scheduler.get_job(JOB_ID, "default")
        now = self.clock()
        stored_next = stored.next_run_time if stored is not None else None
        self.catch_up_for = catch_up_due(self.trigger, now, ledger, stored_next)
        ledger.note_schedule(f"{self.config.schedule.cron}|{self.config.schedule.timezone}", now)
        grace = self.config.schedule.misfire_grace_seconds
        scheduler.add_job(
            JOB_FUNC,
            trigger=self.trigger,
            args=[self.run_pass_ref, self.key],
            id=JOB_ID,
            name="nightly check",
            jobstore="default",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=grace if grace > 0 else None,
        )
        if self.catch_up_for is not None:
            log.warning(
                "catch-up run for %s: the last scheduled run did not finish",
                describe(self.catch_up_for, self.trigger.timezone),
            )
            self._queue_catch_up(self.catch_up_for)
        scheduler.resume()

    def _queue_catch_up(self, logical_at: datetime) -> None:
        self.scheduler.add_job(
            JOB_FUNC,
            trigger="date",
            run_date=self.clock(),
            args=[self.run_pass_ref, self.key, RunKind.CATCH_UP.value, ledger_key(logical_at)],
            id=f"{CATCH_UP_JOB_ID}-{run_id_for(logical_at)}",
            name=f"catch-up for {ledger_key(logical_at)}",
            jobstore="volatile",
            replace_existing=True,
            misfire_grace_time=None,
        )

    def _on_max_instances(self, event: JobSubmissionEvent) -> None:
        ctx = _ACTIVE.get(self.key)
        if ctx is None or event.job_id != JOB_ID:
            return
        for at in event.scheduled_run_times:
            label = f"scheduled run for {describe(at, self.trigger.timezone)}"
            log.warning("%s skipped: the previous run is still going (max_instances=1)", label)
            ctx.ledger.record_skipped(
                at, RunKind.SCHEDULED, label, "the previous run was still going (max_instances=1)"
            )

    def _on_missed(self, event: JobExecutionEvent) -> None:
        if event.job_id == JOB_ID and not self.stop_event.is_set():
            self._queue_catch_up(event.scheduled_run_time)

    def status(self) -> ScheduleStatus:
        return dataclasses.replace(schedule_status(self.config, clock=self.clock), catch_up_for=self.catch_up_for)

    def stop(self, wait: bool = True) -> None:
        """Tell a running pass to stop, wait for it (`wait`), shut the scheduler, free the archive."""
        self.stop_event.set()
        try:
            if self._scheduler is not None and self._scheduler.running:
                self._scheduler.shutdown(wait=wait)
        finally:
            self._scheduler = None
            self._exit.close()


def schedule_status(config: Config, *, clock: Clock = utc_now) -> ScheduleStatus:
    """Last run, next fire time and whether a scheduler or a run holds the archive, read-only."""
    cfg = config.schedule
    trigger = build_trigger(cfg)
    archive_dir = config.archive_dir.resolve()
    installed, next_run = False, None
    store_path = archive_dir / STORE_NAME
    if store_path.is_file():
        store = SQLAlchemyJobStore(url=f"sqlite:///{store_path}")
        try:
            store.start(BackgroundScheduler(timezone=trigger.timezone), "default")
            job = store.lookup_job(JOB_ID)
            installed = job is not None
            next_run = job.next_run_time if job is not None else None
        finally:
            store.shutdown()
    if not installed:
        next_run = trigger.get_next_fire_time(None, clock())
    entries: list[LedgerEntry] = []
    ledger_path = archive_dir / LEDGER_NAME
    if ledger_path.is_file():
        entries = Ledger(ledger_path, clock).entries()
    done_dates = {e.logical_at for e in entries if e.outcome in DONE}
    open_dates: dict[datetime, LedgerEntry] = {}
    for e in entries:
        if e.kind is not RunKind.MANUAL and e.logical_at not in done_dates:
            open_dates[e.logical_at] = e
    done = [e for e in entries if e.outcome in DONE]
    return ScheduleStatus(
        archive_dir=archive_dir,
        cron=cfg.cron,
        timezone=cfg.timezone,
        installed=installed,
        next_run_at=next_run,
        scheduler_running=is_locked(archive_dir / SCHEDULER_LOCK_NAME),
        run_in_progress=is_locked(archive_dir / RUN_LOCK_NAME),
        last_run=entries[-1] if entries else None,
        last_done=done[-1] if done else None,
        unfinished=tuple(open_dates.values()),
    )


def run_scheduler(
    config: Config,
    run_pass: str = DEFAULT_RUN_PASS,
    *,
    stop: threading.Event | None = None,
    on_ready: Callable[[ScheduleStatus], object] | None = None,
) -> None:
    """`archiver schedule`: run the nightly schedule until SIGTERM/SIGINT (or `stop` is set).

    A signal sets the stop flag; a running pass is told to stop and waited for, so the archive is
    left consistent. Raises ScheduleError if another scheduler holds the archive, ConfigError for
    a bad cron or time zone.
    """
    stop = stop or threading.Event()
    nightly = NightlyScheduler(config, run_pass)
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("signal %d: stopping after the current run", signum)
            stop.set()
            nightly.stop_event.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        nightly.start()
        status = nightly.status()
        log.info("scheduler started on %s; next run at %s", nightly.archive_dir, status.next_run_at)
        if on_ready is not None:
            on_ready(status)
        while not stop.wait(0.5):
            pass
    finally:
        nightly.stop(wait=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
