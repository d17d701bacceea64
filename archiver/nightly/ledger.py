"""Our own ledger of runs: what really ran, for which night, and how it ended.

APScheduler's job store knows when the next fire is due, not whether the last one was done, so
`ledger.sqlite3` keeps one row per attempt (logical date, a run id derived from it, start, end,
outcome). Stdlib sqlite3 rather than SQLAlchemy: two small tables, nothing to map. The clock is
injected. See docs/nightly.md.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from archiver.clock import Clock, parse_required_stamp, parse_stamp, utc_now
from archiver.config import Config

LEDGER_NAME = "ledger.sqlite3"


class RunKind(StrEnum):
    SCHEDULED = "scheduled"
    CATCH_UP = "catch_up"
    MANUAL = "manual"


class RunOutcome(StrEnum):
    RUNNING = "running"  # begun; still so after a crash
    FINISHED = "finished"
    FAILED = "failed"  # the pass raised; done, not retried (the next night runs anyway)
    INTERRUPTED = "interrupted"  # stopped by SIGTERM/SIGINT or found dead at start; caught up later
    SKIPPED = "skipped"  # a fire that could not start (previous run still going, archive busy)


DONE = frozenset({RunOutcome.FINISHED, RunOutcome.FAILED})


@dataclass(frozen=True)
class ScheduledRun:
    """What the nightly pass is told about the run it performs.

    `run_id` depends only on the logical date, so a catch-up of a crashed night reuses it and the
    pass can skip what it already captured. The pass should check `stop.is_set()` between sources
    and, when it is set, raise archiver.errors.RunInterrupted: the run is then recorded as
    interrupted and caught up at the next start. Returning normally means the run is complete.
    """

    run_id: str
    logical_at: datetime
    kind: RunKind
    label: str
    stop: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)


RunPass = Callable[[Config, ScheduledRun], object]


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    logical_at: datetime
    run_id: str
    kind: RunKind
    label: str
    outcome: RunOutcome
    started_at: datetime | None
    finished_at: datetime | None
    detail: str


def ledger_key(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError(f"{at.isoformat()} has no time zone; ledger times are aware")
    return at.astimezone(UTC).replace(microsecond=0).isoformat()


def run_id_for(logical_at: datetime) -> str:
    return "nightly-" + logical_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


class Ledger:
    """Our own record of runs, one row per attempt, in `<archive_dir>/ledger.sqlite3`."""

    def __init__(self, path: Path, clock: Clock = utc_now) -> None:
        self.path = path
        self.clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(
                """
                CREATE TABLE IF NOT EXISTS runs (
                    id INTEGER PRIMARY KEY,
                    logical_at TEXT NOT NULL,
                    run_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    label TEXT NOT NULL,
                    outcome TEXT NOT NULL,
                    started_at TEXT,
                    finished_at TEXT,
                    detail TEXT NOT NULL DEFAULT ''
                );
                CREATE INDEX IF NOT EXISTS runs_logical ON runs (logical_at);
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                """
            )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=10.0)) as db, db:
            yield db

    def begin(self, logical_at: datetime, kind: RunKind, label: str, run_id: str | None = None) -> int:
        """Record a run as begun; the row id is what `end` takes. A manual run passes its own run id."""
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO runs (logical_at, run_id, kind, label, outcome, started_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    ledger_key(logical_at),
                    run_id or run_id_for(logical_at),
                    kind.value,
                    label,
                    RunOutcome.RUNNING.value,
                    ledger_key(self.clock()),
                ),
            )
            return int(cursor.lastrowid or 0)

    def end(self, entry_id: int, outcome: RunOutcome, detail: str = "") -> None:
        finished = ledger_key(self.clock()) if outcome in DONE else None
        with self._connect() as db:
            db.execute(
                "UPDATE runs SET outcome = ?, finished_at = ?, detail = ? WHERE id = ?",
                (outcome.value, finished, detail, entry_id),
            )

    def record_skipped(self, logical_at: datetime, kind: RunKind, label: str, detail: str) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO runs (logical_at, run_id, kind, label, outcome, detail) VALUES (?, ?, ?, ?, ?, ?)",
                (ledger_key(logical_at), run_id_for(logical_at), kind.value, label, RunOutcome.SKIPPED.value, detail),
            )

    def close_stale(self, detail: str) -> int:
        """Mark scheduled runs left `running` by a dead scheduler as interrupted (caller holds the lock)."""
        with self._connect() as db:
            cursor = db.execute(
                "UPDATE runs SET outcome = ?, detail = ? WHERE outcome = ? AND kind IN (?, ?)",
                (RunOutcome.INTERRUPTED.value, detail, RunOutcome.RUNNING.value, RunKind.SCHEDULED, RunKind.CATCH_UP),
            )
            return cursor.rowcount

    def entries(self, logical_at: datetime | None = None) -> list[LedgerEntry]:
        query, args = "SELECT * FROM runs ORDER BY id", ()
        if logical_at is not None:
            query, args = "SELECT * FROM runs WHERE logical_at = ? ORDER BY id", (ledger_key(logical_at),)  # type: ignore[assignment]
        with self._connect() as db:
            return [_entry(row) for row in db.execute(query, args)]

    def is_done(self, logical_at: datetime) -> bool:
        return any(e.outcome in DONE for e in self.entries(logical_at))

    def get_meta(self, key: str) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def scheduled_since(self) -> datetime | None:
        """When the current cron schedule was first started on this archive."""
        return parse_stamp(self.get_meta("scheduled_since"))

    def note_schedule(self, schedule: str, now: datetime) -> None:
        """Remember the schedule in force; a new cron restarts `scheduled_since` (no catch-up for it)."""
        if self.get_meta("schedule") != schedule or self.scheduled_since() is None:
            self.set_meta("schedule", schedule)
            self.set_meta("scheduled_since", ledger_key(now))


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    id_, logical, run_id, kind, label, outcome, started, finished, detail = row
    return LedgerEntry(
        int(id_), parse_required_stamp(logical), run_id, RunKind(kind), label, RunOutcome(outcome),
        parse_stamp(started), parse_stamp(finished), detail,
    )  # fmt: skip
