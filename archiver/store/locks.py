"""Locks on the archive folder: one run at a time (`.run.lock`), one scheduler at a time (`.schedule.lock`).

filelock, not a hand-made O_EXCL file, because it takes an OS lock that the kernel drops when the
holder dies (even by SIGKILL), so a crash never leaves a stale lock. An `.owner` file beside each
lock only says whom to wait for; the wait is a loop of short tries so a shutting-down scheduler
stops promptly. See docs/nightly.md.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import filelock

from archiver.clock import utc_now
from archiver.errors import ArchiveLockedError, ScheduleError

RUN_LOCK_NAME = ".run.lock"
SCHEDULER_LOCK_NAME = ".schedule.lock"
_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class LockOwner:
    """Who holds a lock, as its `.owner` file says."""

    pid: int
    since: datetime
    purpose: str

    def describe(self) -> str:
        return f"{self.purpose} (pid {self.pid}, since {self.since.isoformat(timespec='seconds')})"


def _owner_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".owner")


def lock_owner(lock_path: Path) -> LockOwner | None:
    """The recorded holder of a lock file, or None if nobody recorded one (or it is unreadable)."""
    try:
        pid_text, since_text, purpose = _owner_path(lock_path).read_text(encoding="utf-8").split("\t", 2)
        return LockOwner(int(pid_text), datetime.fromisoformat(since_text), purpose.strip())
    except (OSError, ValueError):
        return None


def is_locked(lock_path: Path) -> bool:
    """Whether another process (or another lock object) holds the lock right now; a probe, no wait."""
    if not lock_path.parent.is_dir():
        return False
    if not os.access(lock_path.parent, os.W_OK):
        # A read-only archive: no lock file can be created, so probe an existing one read-only.
        return _probe_read_only(lock_path)
    probe = filelock.FileLock(str(lock_path), thread_local=False)
    try:
        probe.acquire(timeout=0)
    except filelock.Timeout:
        return True
    probe.release()
    return False


def _probe_read_only(lock_path: Path) -> bool:
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return False  # never created, so never held
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@contextmanager
def _held(
    lock_path: Path,
    wait: float,
    purpose: str,
    cancel: Callable[[], bool] | None,
    on_timeout: Callable[[LockOwner | None, float], Exception],
) -> Iterator[LockOwner]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(lock_path), thread_local=False)
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        try:
            lock.acquire(timeout=min(_POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))
            break
        except filelock.Timeout:
            if time.monotonic() >= deadline or (cancel is not None and cancel()):
                raise on_timeout(lock_owner(lock_path), wait) from None
    owner = LockOwner(os.getpid(), utc_now(), purpose)
    try:
        _owner_path(lock_path).write_text(
            f"{owner.pid}\t{owner.since.isoformat()}\t{owner.purpose}\n", encoding="utf-8"
        )
        yield owner
    finally:
        with suppress(OSError):
            _owner_path(lock_path).unlink()
        lock.release()


@contextmanager
def run_lock(
    archive_dir: Path,
    wait: float,
    *,
    purpose: str = "archiver run",
    cancel: Callable[[], bool] | None = None,
) -> Iterator[LockOwner]:
    """Hold the archive's run lock for one pass; wait up to `wait` seconds for another pass to end.

    Raises ArchiveLockedError (naming the holder) when the wait runs out, or as soon as `cancel()`
    returns True while waiting.
    """
    path = archive_dir / RUN_LOCK_NAME

    def locked(owner: LockOwner | None, waited: float) -> Exception:
        holder = owner.describe() if owner else "another archiver process"
        return ArchiveLockedError(
            f"the archive {archive_dir} is busy: {holder} holds {path}; waited {waited:g} s. "
            "Let that run finish and try again, or give a longer wait."
        )

    with _held(path, wait, purpose, cancel, locked) as owner:
        yield owner


@contextmanager
def scheduler_lock(archive_dir: Path, wait: float = 0.5) -> Iterator[LockOwner]:
    """Hold the archive's scheduler lock for a scheduler's lifetime; fail fast if another holds it.

    The short `wait` only rides out a momentary probe by `archiver status`.
    """
    path = archive_dir / SCHEDULER_LOCK_NAME

    def locked(owner: LockOwner | None, waited: float) -> Exception:
        holder = f"pid {owner.pid}, since {owner.since.isoformat(timespec='seconds')}" if owner else "unknown pid"
        return ScheduleError(
            f"another scheduler ({holder}) is already running on the archive {archive_dir}; "
            "stop it before starting a new one (one scheduler per archive)"
        )

    with _held(path, wait, "archiver schedule", None, locked) as owner:
        yield owner
