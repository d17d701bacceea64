"""The index: `archive/index.sqlite3`, a rebuildable SQLite view of what the WARCs hold.

Stdlib sqlite3, not an ORM: a handful of tables and statements, and what must be right is that
schema changes are named, applied once and atomic (`store/schema`). `rebuild_index` recreates it
from the WARCs' metadata records alone; WAL mode lets `history` and `show` read while a run writes;
captures are committed in batches because one transaction per capture was a fifth of the capture
engine's time. See docs/warc-layout.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archiver.clock import parse_required_stamp, stamp, utc_now
from archiver.errors import DiskFullError, StoreError, UnknownCaptureError
from archiver.jsonform import memento_to_dict
from archiver.models import ArchivePaths, Capture, Memento
from archiver.store.rows import BY_URL, COLUMNS, INSERT, SELECT, capture_row, row_capture
from archiver.store.schema import MIGRATIONS, Migration
from archiver.warc.metadata import iter_captures

if TYPE_CHECKING:
    from archiver.store.recovery import RecoveryReport

# A revisit baseline: complete, stored, not failed (`Index._is_baseline` in Python); newest first.
_BASELINE = (
    "error_kind IS NULL AND status IS NOT NULL AND payload_sha256 IS NOT NULL AND warc_file IS NOT NULL "
    "AND truncated IS NULL ORDER BY fetched_at DESC, id DESC LIMIT 1"
)
_C_COLUMNS = ", ".join(f"c.{name}" for name in COLUMNS)
_BATCH_URLS = 500  # bound parameters per statement (SQLite before 3.32 allows 999)


class Index:
    """One SQLite file; thread-safe (one connection behind a lock)."""

    QUEUE_LIMIT = 256  # queued captures committed at once (a few hundred KB of rows at most)

    @staticmethod
    def _is_baseline(capture: Capture) -> bool:
        """Whether `latest_capture` may return it: complete, stored, not failed (its SQL filter)."""
        return (
            capture.error is None
            and capture.status is not None
            and capture.payload_sha256 is not None
            and capture.warc is not None
            and capture.truncated is None
        )

    @staticmethod
    def _newer(candidate: Capture | None, than: Capture | None) -> bool:
        """Whether `candidate` sorts after `than` in `latest_capture`'s order (fetched_at, then id)."""
        if candidate is None:
            return False
        if than is None:
            return True
        mine, theirs = candidate.fetched_at, than.fetched_at
        if mine.utcoffset() is not None and theirs.utcoffset() is not None:
            # Aware times compare as UTC instants, which is the order of their stamps (fixed-width
            # UTC with microseconds), without formatting two of them for every queued capture.
            return (mine, candidate.id) > (theirs, than.id)
        return (stamp(mine), candidate.id) > (stamp(theirs), than.id)

    def __init__(
        self,
        path: Path,
        *,
        migrations: Iterable[Migration] | None = None,
        clock: Callable[[], datetime] = utc_now,
        read_only: bool = False,
    ) -> None:
        self.path = path
        self.read_only = read_only
        self._clock = clock
        self._lock = threading.RLock()
        # Rows queued by `queue_capture`, committed together by `flush` (see there for why).
        self._pending: list[Capture] = []
        # This connection's newest revisit baseline per URL, so `latest_capture` needs no flush.
        self._recent: dict[str, Capture] = {}
        # Committed baselines read ahead for a batch (`prefetch_latest`), each used once.
        self._prefetched: dict[str, Capture | None] = {}
        wanted = list(MIGRATIONS if migrations is None else migrations)
        if read_only:
            self._db = _connect_read_only(path)
            try:
                self._check_migrated(wanted)
            except BaseException:
                self._db.close()
                raise
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable enough, the WARCs are the truth
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(_open_failure(path, exc)) from exc
        try:
            self.migrate(wanted)
        except BaseException:
            self._db.close()
            raise

    def _check_migrated(self, migrations: list[Migration]) -> None:
        try:
            applied = {row[0] for row in self._db.execute("SELECT name FROM migrations")}
        except sqlite3.Error as exc:
            raise StoreError(_open_failure(self.path, exc)) from exc
        missing = [m.name for m in migrations if m.name not in applied]
        if missing:
            raise StoreError(
                f"the index {self.path} needs migration {missing[0]}, which cannot be applied to a read-only "
                "archive; run any archiver command once where the archive folder is writable"
            )

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            try:
                self.flush()
            finally:
                self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _index_error(self.path, exc, "the index {path} is busy or unusable: {exc}") from exc
            try:
                yield self._db
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise _index_error(self.path, exc, "writing the index {path} failed: {exc}") from exc
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                try:
                    self._db.execute("COMMIT")
                except sqlite3.Error as exc:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                    raise _index_error(self.path, exc, "committing to the index {path} failed: {exc}") from exc

    def query(self, sql: str, params: tuple[Any, ...] = (), *, flush: bool = True) -> list[sqlite3.Row]:
        with self._lock:
            if flush:
                self.flush()  # a reader through this object sees every capture it was given
            try:
                return list(self._db.execute(sql, params))
            except sqlite3.Error as exc:
                raise StoreError(f"index query failed on {self.path}: {exc}") from exc

    # -- migrations ------------------------------------------------------------------------

    def migrate(self, migrations: Iterable[Migration]) -> list[str]:
        """Apply the migrations not yet recorded, each in its own transaction; return their names."""
        with self._lock:
            self._db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            applied: list[str] = []
            for migration in migrations:
                with self.transaction() as db:
                    if db.execute("SELECT 1 FROM migrations WHERE name = ?", (migration.name,)).fetchone():
                        continue
                    try:
                        if callable(migration.step):
                            migration.step(db)
                        else:
                            for statement in migration.step:
                                db.execute(statement)
                    except sqlite3.Error as exc:
                        raise StoreError(
                            f"index migration {migration.name} failed on {self.path}: {exc}; nothing of it was kept"
                        ) from exc
                    db.execute(
                        "INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
                        (migration.name, stamp(self._clock())),
                    )
                    applied.append(migration.name)
            return applied

    def applied_migrations(self) -> list[str]:
        return [r["name"] for r in self.query("SELECT name FROM migrations ORDER BY rowid")]

    # -- captures --------------------------------------------------------------------------

    def add_capture(self, capture: Capture) -> None:
        """Insert (or replace, by ID) one capture: idempotent, so recovery can re-add what it finds."""
        self.add_captures([capture])

    def add_captures(self, captures: Iterable[Capture]) -> int:
        with self._lock:
            rows = [capture_row(c) for c in self._pending]
            queued = len(rows)
            rows.extend(capture_row(c) for c in captures)
            if len(rows) > queued:
                self._prefetched.clear()  # rows that bypass `_recent` may be newer baselines
            with self.transaction() as db:
                db.executemany(INSERT, rows)
            self._pending.clear()
        return len(rows)

    def queue_capture(self, capture: Capture) -> None:
        """Add a capture at the next `flush` (within `batch` captures, or when anyone reads).

        Why: one transaction per capture was a fifth of the capture engine's time. Deferring
        the row loses nothing: the caller has already flushed the capture's WARC records, and
        start-up recovery re-syncs the index from the WARC metadata after a crash. Every read
        and write through this object flushes first, and `latest_capture` also consults the
        queued rows, so within one process the index reads as if each row were committed.
        """
        with self._lock:
            self._pending.append(capture)
            if self._is_baseline(capture):
                for url in {capture.url, capture.final_url}:
                    if url is not None and self._newer(capture, self._recent.get(url)):
                        self._recent[url] = capture
            if len(self._pending) >= self.QUEUE_LIMIT:
                self.flush()

    def flush(self) -> int:
        """Commit the queued captures in one transaction; returns how many there were."""
        with self._lock:
            if not self._pending:
                return 0
            return self.add_captures(())

    @property
    def pending(self) -> int:
        """Captures queued but not yet committed."""
        return len(self._pending)

    def get_capture(self, wanted: str) -> Capture:
        """The capture with this ID, or the only one whose ID starts with it."""
        rows = self.query(f"{SELECT} WHERE id = ?", (wanted,))
        if not rows and wanted:
            pattern = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = self.query(f"{SELECT} WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 50", (pattern,))
        if len(rows) != 1:
            raise UnknownCaptureError(wanted, tuple(r["id"] for r in rows))
        return row_capture(rows[0])

    def history(self, url: str) -> list[Capture]:
        """Every capture asked for as `url` or ending on it, newest first."""
        rows = self.query(f"{SELECT} WHERE {BY_URL} ORDER BY fetched_at DESC, id DESC", (url, url))
        return [row_capture(r) for r in rows]

    def latest_capture(self, url: str) -> Capture | None:
        """The newest complete, stored capture of `url` (the baseline for a revisit record)."""
        with self._lock:
            if url in self._prefetched:
                stored = self._prefetched.pop(url)
            else:
                # Queued rows are in `_recent`; committing them here would undo the batching.
                rows = self.query(f"{SELECT} WHERE ({BY_URL}) AND {_BASELINE}", (url, url), flush=False)
                stored = row_capture(rows[0]) if rows else None
            recent = self._recent.get(url)
        return recent if self._newer(recent, stored) else stored

    def latest_captures(self, urls: Iterable[str]) -> dict[str, Capture | None]:
        """`latest_capture` of many URLs at once: one query per `_BATCH_URLS` URLs instead of one each."""
        found = self._stored_latest(urls)
        with self._lock:
            for url, stored in found.items():
                recent = self._recent.get(url)
                if self._newer(recent, stored):
                    found[url] = recent
        return found

    def prefetch_latest(self, urls: Iterable[str]) -> None:
        """Read a batch's committed revisit baselines in one query; the next `latest_capture` of
        each URL answers from them (once), still preferring a capture queued here since.

        A baseline another process commits in between is not seen: that capture is stored as a
        full response, or as a revisit of an older copy of the same payload (both valid). Rows
        added here other than through `queue_capture` drop what was read ahead.
        """
        stored = self._stored_latest(urls)
        with self._lock:
            self._prefetched = stored

    def _stored_latest(self, urls: Iterable[str]) -> dict[str, Capture | None]:
        wanted = list(dict.fromkeys(urls))
        found: dict[str, Capture | None] = dict.fromkeys(wanted)
        for start in range(0, len(wanted), _BATCH_URLS):
            part = wanted[start : start + _BATCH_URLS]
            # One correlated lookup per URL by latest_capture's own plan (EXPLAIN QUERY PLAN: a
            # MULTI-INDEX OR over captures_by_url and captures_redirected); no row, no baseline.
            sql = (
                f"WITH wanted(u) AS (VALUES {', '.join(['(?)'] * len(part))}) "
                f"SELECT {_C_COLUMNS}, wanted.u FROM wanted JOIN captures AS c ON c.rowid = "
                "(SELECT rowid FROM captures WHERE (url = wanted.u OR (final_url = wanted.u AND final_url <> url)) "
                f"AND {_BASELINE})"
            )
            for row in self.query(sql, tuple(part), flush=False):  # queued rows: `_recent`, merged by callers
                found[row[-1]] = row_capture(row)
        return found

    def all_captures(self) -> list[Capture]:
        return [row_capture(r) for r in self.query(f"{SELECT} ORDER BY fetched_at, id")]

    def captures_in(self, file: str) -> list[Capture]:
        return [row_capture(r) for r in self.query(f"{SELECT} WHERE warc_file = ? ORDER BY warc_offset", (file,))]

    def count(self) -> int:
        return int(self.query("SELECT count(*) FROM captures")[0][0])

    def remove_captures_in(self, file: str) -> list[str]:
        """Drop the rows that point into `file` (e.g. a WARC recovery renamed `.invalid`); their ids."""
        self.flush()
        self._forget_recent(file)
        with self.transaction() as db:
            dropped = [r["id"] for r in db.execute("SELECT id FROM captures WHERE warc_file = ?", (file,))]
            db.execute("DELETE FROM captures WHERE warc_file = ?", (file,))
        return dropped

    def sync_file(self, file: str, captures: Iterable[Capture]) -> list[str]:
        """Make the rows of one WARC file exactly the captures its metadata records hold; the ids dropped."""
        kept = list(captures)
        ids = {c.id for c in kept}
        self.flush()
        self._forget_recent(file)
        dropped: list[str] = []
        with self.transaction() as db:
            stale = [r["id"] for r in db.execute("SELECT id FROM captures WHERE warc_file = ?", (file,))]
            for capture_id in stale:
                if capture_id not in ids:
                    db.execute("DELETE FROM captures WHERE id = ?", (capture_id,))
                    dropped.append(capture_id)
            for capture in kept:
                db.execute(INSERT, capture_row(capture))
        return dropped

    def apply_recovery(self, report: RecoveryReport) -> list[str]:
        """Make the index agree with what `WarcStore.recover()` kept and dropped.

        Returns a line for each indexed capture that recovery dropped (its record was cut or
        damaged): that is a loss, and the caller must say so."""
        lines: list[str] = []
        for recovered in report.files:
            if recovered.valid:
                dropped = self.sync_file(recovered.name, recovered.captures)
            else:
                dropped = self.remove_captures_in(recovered.name)
            why = recovered.reason or "its records were incomplete"
            lines.extend(
                f"recovery dropped indexed capture {capture_id} from {recovered.name}: {why}" for capture_id in dropped
            )
        return lines

    def _forget_recent(self, file: str) -> None:
        with self._lock:
            self._prefetched.clear()  # rows of `file` are being replaced or dropped
            for url in [u for u, c in self._recent.items() if c.warc is not None and c.warc.file == file]:
                del self._recent[url]

    def add_memento(self, memento: Memento) -> None:
        """Record what an archive said about a reference (the whole memento, as JSON)."""
        document = memento_to_dict(memento)
        self.flush()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO mementos (ref, kind, verdict, original_url, memento_datetime, obtained_via, capture_id,"
                " mirror_file, mirror_sha256, recorded_at, document) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    memento.ref.uri,
                    memento.ref.kind.value,
                    memento.verdict.value,
                    memento.original_url,
                    document["datetime"],
                    memento.obtained_via,
                    None if memento.capture is None else memento.capture.id,
                    memento.mirror_file,
                    memento.mirror_sha256,
                    stamp(self._clock()),
                    json.dumps(document, ensure_ascii=False, sort_keys=True),
                ),
            )

    def mementos(self, ref_uri: str | None = None) -> list[dict[str, Any]]:
        """Recorded mementos (newest first) as their JSON documents, for one reference or all."""
        sql = "SELECT document FROM mementos"
        params: tuple[Any, ...] = ()
        if ref_uri is not None:
            sql += " WHERE ref = ?"
            params = (ref_uri,)
        return [json.loads(row["document"]) for row in self.query(sql + " ORDER BY seq DESC", params)]

    def latest_memento(self, ref_uri: str) -> tuple[dict[str, Any], datetime] | None:
        """The newest recorded memento of a reference, as its JSON document, and when it was recorded."""
        sql = "SELECT document, recorded_at FROM mementos WHERE ref = ? ORDER BY seq DESC LIMIT 1"
        rows = self.query(sql, (ref_uri,))
        if not rows:
            return None
        return json.loads(rows[0]["document"]), parse_required_stamp(rows[0]["recorded_at"])

    def captures_since(self, url_prefix: str, since: datetime) -> list[Capture]:
        """Captures asked for as a URL starting with `url_prefix`, fetched at `since` or later, newest first."""
        rows = self.query(
            f"{SELECT} WHERE substr(url, 1, length(?)) = ? AND fetched_at >= ? ORDER BY fetched_at DESC, id DESC",
            (url_prefix, url_prefix, stamp(since)),
        )
        return [row_capture(r) for r in rows]

    def checkpoint(self) -> None:
        """Fold the WAL into the main file (before copying or replacing it)."""
        self.query("PRAGMA wal_checkpoint(TRUNCATE)")


def _ticking(captures: Iterator[Capture], progress: Callable[[str], None]) -> Iterator[Capture]:
    for capture in captures:
        progress(capture.id)
        yield capture


def rebuild_index(
    paths: ArchivePaths, *, clock: Callable[[], datetime] = utc_now, progress: Callable[[str], None] | None = None
) -> Index:
    """Recreate `index.sqlite3` from the WARC metadata records alone; returns it opened.

    Built in a temporary file and renamed over the old index, so a failure leaves the old one. Close
    every other connection to the index first: an open connection would keep the replaced file.
    `progress` is called with each capture's id as it is read.
    """
    temp = paths.root / f".index.sqlite3.rebuild-{os.getpid()}"
    for leftover in (temp, Path(f"{temp}-wal"), Path(f"{temp}-shm")):
        leftover.unlink(missing_ok=True)
    fresh = Index(temp, clock=clock)
    try:
        captures = iter_captures(paths.root)
        if progress is not None:
            captures = _ticking(captures, progress)
        fresh.add_captures(captures)
        fresh.checkpoint()
        fresh._db.execute("PRAGMA journal_mode=DELETE")
    finally:
        fresh.close()
    # A stale WAL beside the new file would be replayed into it: remove the old index's first.
    for stale in (Path(f"{paths.index}-wal"), Path(f"{paths.index}-shm")):
        stale.unlink(missing_ok=True)
    os.replace(temp, paths.index)
    return Index(paths.index, clock=clock)


def _index_error(path: Path, exc: sqlite3.Error, template: str) -> StoreError:
    """A StoreError for a failed index write; DiskFullError when SQLite says the disk is full."""
    if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):
        return DiskFullError(path, str(exc))
    if "readonly" in str(exc):
        return StoreError(_open_failure(path, exc))
    return StoreError(template.format(path=path, exc=exc))


def _open_failure(path: Path, exc: BaseException) -> str:
    """Why the index could not be opened, with the advice that fits the cause."""
    text = str(exc)
    if isinstance(exc, PermissionError) or "readonly" in text or "read-only" in text or "unable to open" in text:
        return (
            f"cannot open the index {path} for writing ({text}): the archive folder is read-only or not "
            "writable by this user; read commands (show, history, status, verify, compare) still work on it"
        )
    if "not a database" in text or "malformed" in text:
        return f"cannot open the index {path} ({text}): it is damaged; `archiver index rebuild` recreates it"
    return f"cannot open the index {path}: {text}"


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that never writes: `mode=ro`, or `immutable=1` when the WAL's shared memory
    cannot be created (a read-only folder without the -shm file)."""
    if not path.exists():
        raise StoreError(f"there is no index at {path}")
    last: sqlite3.Error | None = None
    for flags in ("mode=ro", "mode=ro&immutable=1"):
        try:
            db = sqlite3.connect(f"{path.as_uri()}?{flags}", uri=True, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.Error as exc:
            last = exc
    raise StoreError(f"cannot open the index {path} even read-only ({last}); it may be damaged")


def writable(folder: Path) -> bool:
    """Whether this process may write in `folder` (False on a read-only mount, even for root)."""
    return os.access(folder, os.W_OK)
