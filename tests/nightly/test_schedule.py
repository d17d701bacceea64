"""The nightly schedule: trigger arithmetic, the catch-up rule, locks, and real scheduler processes.

Scheduler processes are real subprocesses (tests/schedule_child.py) on a real archive folder; the
missed night is made by moving the stored job's next_run_time into the past through APScheduler's
own API, never by waiting for a cron to come round.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from archiver.config import Config, ScheduleConfig, load_config
from archiver.errors import ArchiveLockedError, ConfigError, ScheduleError
from archiver.nightly.ledger import LEDGER_NAME, Ledger, RunKind, RunOutcome, run_id_for
from archiver.nightly.schedule import (
    JOB_ID,
    STORE_NAME,
    NightlyScheduler,
    build_trigger,
    catch_up_due,
    previous_fire_time,
    schedule_status,
)
from archiver.store.locks import RUN_LOCK_NAME, is_locked, lock_owner, run_lock, scheduler_lock
from tests.nightly.schedule_child import PASS_REF, child_config, read_passes

REPO = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).resolve().parent / "schedule_child.py"
BERLIN = ZoneInfo("Europe/Berlin")


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def daily_cron_at(at: datetime) -> str:
    return f"{at.minute} {at.hour} * * *"


# --- the trigger ------------------------------------------------------------------------------


def fire_times(cron: str, tz: str, start: datetime, count: int) -> list[datetime]:
    trigger = build_trigger(ScheduleConfig(cron=cron, timezone=tz))
    times: list[datetime] = []
    previous, now = None, start
    for _ in range(count):
        nxt = trigger.get_next_fire_time(previous, now)
        assert nxt is not None
        times.append(nxt)
        previous, now = nxt, nxt
    return times


def test_dst_spring_forward_fires_once_per_day() -> None:
    times = fire_times("30 2 * * *", "Europe/Berlin", datetime(2025, 3, 28, 12, tzinfo=BERLIN), 5)
    utc = [t.astimezone(UTC) for t in times]
    assert [t.date().isoformat() for t in utc] == ["2025-03-29", "2025-03-30", "2025-03-31", "2025-04-01", "2025-04-02"]
    # 02:30 does not exist on 30 March: the run happens once, an hour into summer time (01:30 UTC).
    assert [t.strftime("%H:%M") for t in utc] == ["01:30", "01:30", "00:30", "00:30", "00:30"]


def test_dst_fall_back_fires_once_per_day() -> None:
    times = fire_times("30 2 * * *", "Europe/Berlin", datetime(2025, 10, 24, 12, tzinfo=BERLIN), 5)
    utc = [t.astimezone(UTC) for t in times]
    # APScheduler 3.11.3 alone fires at both 02:30s of 26 October; ours only at the first.
    assert [t.isoformat() for t in utc] == [
        "2025-10-25T00:30:00+00:00",
        "2025-10-26T00:30:00+00:00",
        "2025-10-27T01:30:00+00:00",
        "2025-10-28T01:30:00+00:00",
        "2025-10-29T01:30:00+00:00",
    ]


def test_hourly_cron_still_fires_every_real_hour_on_fall_back() -> None:
    times = fire_times("30 * * * *", "Europe/Berlin", datetime(2025, 10, 26, 1, tzinfo=BERLIN), 4)
    assert [t.astimezone(UTC).strftime("%H:%M") for t in times] == ["23:30", "00:30", "01:30", "02:30"]


def test_bad_cron_or_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"\[schedule\] cron"):
        build_trigger(ScheduleConfig(cron="61 3 * * *"))
    with pytest.raises(ConfigError, match=r"\[schedule\] cron"):
        build_trigger(ScheduleConfig(cron="0 3 * *"))
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        build_trigger(ScheduleConfig(timezone="Mars/Olympus"))


@pytest.mark.parametrize(
    ("cron", "now", "expected"),
    [
        ("0 3 * * *", "2025-04-26T12:00:00+00:00", "2025-04-26T03:00:00+00:00"),
        ("0 3 * * *", "2025-04-26T02:59:59+00:00", "2025-04-25T03:00:00+00:00"),
        ("0 3 * * *", "2025-04-26T03:00:00+00:00", "2025-04-26T03:00:00+00:00"),
        ("* * * * *", "2025-04-26T12:34:56+00:00", "2025-04-26T12:34:00+00:00"),
        ("0 0 1 * *", "2025-04-26T12:00:00+00:00", "2025-04-01T00:00:00+00:00"),
        ("0 0 29 2 *", "2025-04-26T12:00:00+00:00", "2024-02-29T00:00:00+00:00"),
    ],
)
def test_previous_fire_time(cron: str, now: str, expected: str) -> None:
    trigger = build_trigger(ScheduleConfig(cron=cron))
    found = previous_fire_time(trigger, datetime.fromisoformat(now))
    assert found is not None
    assert found.astimezone(UTC).isoformat() == expected


# --- the catch-up rule --------------------------------------------------------------------------


def test_catch_up_rule(tmp_path: Path) -> None:
    trigger = build_trigger(ScheduleConfig(cron="0 3 * * *"))
    now = datetime(2025, 4, 26, 12, tzinfo=UTC)
    due = datetime(2025, 4, 26, 3, tzinfo=UTC)
    ledger = Ledger(tmp_path / LEDGER_NAME, clock=lambda: now)
    # A fresh install has missed nothing.
    assert catch_up_due(trigger, now, ledger, stored_next_run=None) is None
    # The store was waiting for a fire that never came (the machine was off).
    assert catch_up_due(trigger, now, ledger, stored_next_run=due) == due
    assert catch_up_due(trigger, now, ledger, stored_next_run=now + timedelta(hours=15)) is None
    # The schedule was on before the fire time, and no run was recorded for it.
    ledger.note_schedule("0 3 * * *|UTC", due - timedelta(days=2))
    assert catch_up_due(trigger, now, ledger, stored_next_run=None) == due
    # A changed cron starts afresh: no catch-up for a time the old schedule never had.
    ledger.note_schedule("0 4 * * *|UTC", now)
    assert catch_up_due(trigger, now, ledger, stored_next_run=None) is None
    # Begun and never ended (crash): caught up; finished: done.
    entry = ledger.begin(due, RunKind.SCHEDULED, "scheduled run")
    assert catch_up_due(trigger, now, ledger, stored_next_run=None) == due
    ledger.end(entry, RunOutcome.FINISHED)
    assert catch_up_due(trigger, now, ledger, stored_next_run=due) is None
    [row] = ledger.entries(due)
    assert (row.outcome, row.run_id, row.started_at, row.finished_at) == (
        RunOutcome.FINISHED,
        "nightly-20250426T030000Z",
        now,
        now,
    )


# --- locks --------------------------------------------------------------------------------------


def test_run_lock_excludes_a_second_run_and_names_the_holder(archive_dir: Path) -> None:
    with run_lock(archive_dir, wait=0, purpose="scheduled run for 2025-04-26") as owner:
        assert owner.pid == os.getpid()
        assert is_locked(archive_dir / RUN_LOCK_NAME)
        assert lock_owner(archive_dir / RUN_LOCK_NAME) == owner
        started = time.monotonic()
        with pytest.raises(ArchiveLockedError) as caught, run_lock(archive_dir, wait=0.3):
            pass
        assert 0.25 <= time.monotonic() - started < 2.0
        message = str(caught.value)
        assert "scheduled run for 2025-04-26" in message and f"pid {os.getpid()}" in message
        assert "waited 0.3 s" in message
    assert not is_locked(archive_dir / RUN_LOCK_NAME)
    with run_lock(archive_dir, wait=0):
        pass


def test_run_lock_waits_for_the_holder_and_stops_waiting_on_cancel(archive_dir: Path) -> None:
    released = threading.Event()

    def hold() -> None:
        with run_lock(archive_dir, wait=0, purpose="manual run"):
            time.sleep(0.4)
        released.set()

    holder = threading.Thread(target=hold)
    holder.start()
    wait_for(lambda: is_locked(archive_dir / RUN_LOCK_NAME), 2, "the holder")
    with run_lock(archive_dir, wait=5.0):
        assert released.wait(1)  # we got the lock only after the holder let go
    holder.join()

    cancel = threading.Event()
    with run_lock(archive_dir, wait=0):
        threading.Timer(0.2, cancel.set).start()
        started = time.monotonic()
        with pytest.raises(ArchiveLockedError), run_lock(archive_dir, wait=30.0, cancel=cancel.is_set):
            pass
        assert time.monotonic() - started < 2.0


def test_second_scheduler_lock_fails_fast(archive_dir: Path) -> None:
    with scheduler_lock(archive_dir):
        started = time.monotonic()
        with pytest.raises(ScheduleError, match="another scheduler"), scheduler_lock(archive_dir):
            pass
        assert time.monotonic() - started < 2.0


# --- an in-process scheduler --------------------------------------------------------------------


@pytest.fixture
def nightly_config(archive_dir: Path) -> Config:
    # The cron's next fire is 12 hours away: nothing fires unless a test moves next_run_time.
    return child_config(archive_dir, daily_cron_at(datetime.now(UTC) + timedelta(hours=12)), 3600)


@pytest.fixture
def started(nightly_config: Config) -> Iterator[NightlyScheduler]:
    nightly = NightlyScheduler(nightly_config, PASS_REF, lock_wait=5.0)
    nightly.start()
    try:
        yield nightly
    finally:
        nightly.stop()


def passes_with(archive_dir: Path, event: str) -> list[dict[str, object]]:
    return [p for p in read_passes(archive_dir) if p["event"] == event]


def test_a_run_never_overlaps_itself_and_the_skipped_fire_is_recorded(
    started: NightlyScheduler, archive_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASS_SECONDS", "1.0")
    started.scheduler.modify_job(JOB_ID, next_run_time=datetime.now(UTC))
    wait_for(lambda: passes_with(archive_dir, "start"), 3, "the first run to start")
    second_fire = datetime.now(UTC).replace(microsecond=0)
    started.scheduler.modify_job(JOB_ID, next_run_time=second_fire)
    wait_for(lambda: passes_with(archive_dir, "end"), 4, "the first run to end")
    time.sleep(0.2)
    assert len(passes_with(archive_dir, "start")) == 1
    entries = Ledger(archive_dir / LEDGER_NAME).entries()
    assert [e.outcome for e in entries] == [RunOutcome.FINISHED, RunOutcome.SKIPPED]
    skipped = entries[1]
    assert skipped.logical_at == second_fire
    assert "max_instances=1" in skipped.detail


def test_a_fire_dropped_as_missed_while_running_is_caught_up(archive_dir: Path) -> None:
    # A suspended machine wakes up past the grace time: APScheduler drops the fire; we run it anyway.
    config = child_config(archive_dir, daily_cron_at(datetime.now(UTC) + timedelta(hours=12)), 1)
    nightly = NightlyScheduler(config, PASS_REF)
    nightly.start()
    try:
        late = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
        nightly.scheduler.modify_job(JOB_ID, next_run_time=late)
        wait_for(lambda: passes_with(archive_dir, "end"), 3, "the catch-up")
    finally:
        nightly.stop()
    [start] = passes_with(archive_dir, "start")
    assert (start["kind"], start["logical_at"]) == ("catch_up", late.isoformat())
    assert [e.outcome for e in Ledger(archive_dir / LEDGER_NAME).entries(late)] == [RunOutcome.FINISHED]


def test_stopping_mid_run_interrupts_and_the_next_start_resumes_the_same_run(
    nightly_config: Config, archive_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASS_SECONDS", "30")
    first = NightlyScheduler(nightly_config, PASS_REF)
    first.start()
    first.scheduler.modify_job(JOB_ID, next_run_time=datetime.now(UTC))
    wait_for(lambda: passes_with(archive_dir, "start"), 3, "the run to start")
    started = time.monotonic()
    first.stop()
    assert time.monotonic() - started < 2.0
    [stopped] = passes_with(archive_dir, "stopped")
    [interrupted] = Ledger(archive_dir / LEDGER_NAME).entries()
    assert interrupted.outcome is RunOutcome.INTERRUPTED and interrupted.finished_at is None
    assert "stopped on request" in interrupted.detail

    monkeypatch.setenv("PASS_SECONDS", "0")
    second = NightlyScheduler(nightly_config, PASS_REF)
    second.start()
    try:
        assert second.catch_up_for == interrupted.logical_at
        wait_for(lambda: passes_with(archive_dir, "end"), 3, "the catch-up to end")
    finally:
        second.stop()
    [end] = passes_with(archive_dir, "end")
    assert end["run_id"] == stopped["run_id"] == run_id_for(interrupted.logical_at)
    assert end["kind"] == "catch_up" and str(end["label"]).startswith("catch-up run for ")
    outcomes = [e.outcome for e in Ledger(archive_dir / LEDGER_NAME).entries()]
    assert outcomes == [RunOutcome.INTERRUPTED, RunOutcome.FINISHED]


def test_status_before_and_after_a_run(nightly_config: Config, started: NightlyScheduler, archive_dir: Path) -> None:
    fresh = schedule_status(load_config(None, {"archive_dir": str(archive_dir.parent / "other")}))
    assert (fresh.installed, fresh.last_run, fresh.scheduler_running) == (False, None, False)
    assert fresh.next_run_at is not None and fresh.next_run_at > datetime.now(UTC)

    status = schedule_status(nightly_config)
    assert status.installed and status.scheduler_running and not status.run_in_progress
    assert status.next_run_at is not None
    assert timedelta(hours=11) < status.next_run_at - datetime.now(UTC) <= timedelta(hours=12)
    started.scheduler.modify_job(JOB_ID, next_run_time=datetime.now(UTC))
    wait_for(lambda: passes_with(archive_dir, "end"), 3, "the run")
    wait_for(lambda: schedule_status(nightly_config).last_done is not None, 2, "the ledger")
    after = schedule_status(nightly_config)
    assert after.last_done is not None and after.last_done.outcome is RunOutcome.FINISHED
    assert after.unfinished == ()


def test_unknown_run_pass_fails_at_start(nightly_config: Config) -> None:
    with pytest.raises(ScheduleError, match="cannot find the nightly pass"):
        NightlyScheduler(nightly_config, "tests.nightly.schedule_child:no_such_pass").start()


# --- real scheduler processes -------------------------------------------------------------------


class Child:
    """One `schedule_child.py` process on an archive."""

    def __init__(self, archive_dir: Path, cron: str, grace: int = 3600, pass_seconds: float = 0) -> None:
        (archive_dir / "ready.json").unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": str(REPO), "PASS_SECONDS": str(pass_seconds)}
        self.archive_dir = archive_dir
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), str(archive_dir), cron, str(grace)],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def ready(self, timeout: float = 10) -> dict[str, object]:
        ready = self.archive_dir / "ready.json"
        wait_for(lambda: ready.is_file() or self.proc.poll() is not None, timeout, "the scheduler to start")
        assert self.proc.poll() is None, self.finish()[1]
        data: dict[str, object] = json.loads(ready.read_text(encoding="utf-8"))
        return data

    def finish(self, sig: int | None = None, timeout: float = 10) -> tuple[int, str]:
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        if child.proc.poll() is None:
            child.proc.kill()
        child.proc.communicate(timeout=10)


@contextmanager
def job_store(archive_dir: Path) -> Iterator[SQLAlchemyJobStore]:
    """The archive's job store, opened through APScheduler's job-store API.

    Not through a paused BackgroundScheduler: its shutdown processes due jobs once more with the
    executor already gone, which advances next_run_time and loses the run (apscheduler#985).
    """
    store = SQLAlchemyJobStore(url=f"sqlite:///{archive_dir / STORE_NAME}")
    store.start(BackgroundScheduler(timezone=UTC), "default")
    try:
        yield store
    finally:
        store.shutdown()


def miss_the_night(archive_dir: Path, fire: datetime) -> None:
    """Make the store look as if the machine was off at `fire`."""
    with job_store(archive_dir) as store:
        job = store.lookup_job(JOB_ID)
        state = job.__getstate__()
        state["next_run_time"] = fire
        job.__setstate__(state)
        store.update_job(job)
        assert store.lookup_job(JOB_ID).next_run_time == fire


def test_restarts_keep_exactly_one_job_and_run_nothing(archive_dir: Path, children: list[Child]) -> None:
    cron = daily_cron_at(datetime.now(UTC) + timedelta(hours=12))
    for _ in range(3):
        child = Child(archive_dir, cron)
        children.append(child)
        assert child.ready()["catch_up_for"] is None
        code, err = child.finish(signal.SIGTERM)
        assert code == 0, err
    with job_store(archive_dir) as store:
        jobs = store.get_all_jobs()
    assert [(j.id, j.coalesce, j.max_instances, j.misfire_grace_time) for j in jobs] == [(JOB_ID, True, 1, 3600)]
    assert read_passes(archive_dir) == []


def test_a_night_missed_while_off_runs_exactly_once_at_restart(archive_dir: Path, children: list[Child]) -> None:
    fire = (datetime.now(UTC) - timedelta(hours=3)).replace(second=0, microsecond=0)
    cron = daily_cron_at(fire)
    child = Child(archive_dir, cron, grace=60)
    children.append(child)
    child.ready()
    assert child.finish(signal.SIGTERM)[0] == 0
    miss_the_night(archive_dir, fire)

    # Three hours late with a 60 s grace: APScheduler alone would drop it; the ledger check runs it.
    child = Child(archive_dir, cron, grace=60)
    children.append(child)
    assert child.ready()["catch_up_for"] == fire.isoformat()
    wait_for(lambda: passes_with(archive_dir, "end"), 5, "the catch-up run")
    time.sleep(0.5)
    assert child.finish(signal.SIGTERM)[0] == 0
    [start] = passes_with(archive_dir, "start")
    assert start["label"] == f"catch-up run for {fire:%Y-%m-%d %H:%M} UTC"
    assert start["logical_at"] == fire.isoformat()
    assert [e.outcome for e in Ledger(archive_dir / LEDGER_NAME).entries(fire)] == [RunOutcome.FINISHED]

    # Once done, another restart runs nothing, and the next fire is tomorrow's.
    child = Child(archive_dir, cron, grace=60)
    children.append(child)
    assert child.ready()["catch_up_for"] is None
    assert child.finish(signal.SIGTERM)[0] == 0
    assert len(read_passes(archive_dir)) == 2
    status = schedule_status(child_config(archive_dir, cron, 60))
    assert status.next_run_at == fire + timedelta(days=1)


def test_a_run_killed_mid_way_is_completed_at_restart(archive_dir: Path, children: list[Child]) -> None:
    fire = (datetime.now(UTC) - timedelta(hours=3)).replace(second=0, microsecond=0)
    cron = daily_cron_at(fire)
    child = Child(archive_dir, cron)
    children.append(child)
    child.ready()
    child.finish(signal.SIGTERM)
    miss_the_night(archive_dir, fire)

    child = Child(archive_dir, cron, pass_seconds=60)
    children.append(child)
    child.ready()
    wait_for(lambda: passes_with(archive_dir, "start"), 5, "the run to start")
    assert child.finish(signal.SIGKILL)[0] == -signal.SIGKILL
    config = child_config(archive_dir, cron, 3600)
    [crashed] = schedule_status(config).unfinished
    assert (crashed.logical_at, crashed.outcome, crashed.finished_at) == (fire, RunOutcome.RUNNING, None)

    child = Child(archive_dir, cron, pass_seconds=0)
    children.append(child)
    assert child.ready()["catch_up_for"] == fire.isoformat()
    wait_for(lambda: passes_with(archive_dir, "end"), 5, "the catch-up run")
    assert child.finish(signal.SIGTERM)[0] == 0
    starts = passes_with(archive_dir, "start")
    assert [s["run_id"] for s in starts] == [run_id_for(fire)] * 2
    assert [e.outcome for e in Ledger(archive_dir / LEDGER_NAME).entries(fire)] == [
        RunOutcome.INTERRUPTED,
        RunOutcome.FINISHED,
    ]
    assert schedule_status(config).unfinished == ()


def test_a_second_scheduler_on_the_same_archive_fails_fast(archive_dir: Path, children: list[Child]) -> None:
    cron = daily_cron_at(datetime.now(UTC) + timedelta(hours=12))
    first = Child(archive_dir, cron)
    children.append(first)
    pid = first.ready()["pid"]
    second = Child(archive_dir, cron)
    children.append(second)
    code, err = second.finish(timeout=10)
    assert code == 4
    assert f"another scheduler (pid {pid}" in err
    assert first.proc.poll() is None
    assert first.finish(signal.SIGINT)[0] == 0
