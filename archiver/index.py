"""The index: `archive/index.sqlite3`, a rebuildable SQLite view of what the WARCs hold.

Why stdlib sqlite3 and not an ORM: the schema is a handful of tables queried by a handful of
statements, and the one thing that must be right is that schema changes are named, applied once,
and atomic. So migrations are a plain list (`MIGRATIONS`) of named steps; each is applied in one
`BEGIN IMMEDIATE` transaction together with its row in the `migrations` table, so a failure leaves
neither a half-made table nor a record of having run (sqlite-utils' `migrations.py` pattern). Later
features append their step to the list; never edit or reorder one that has shipped.

The WARCs are the truth (DESIGN.md): `rebuild_index` recreates the captures table from the
metadata records alone, into a temporary file renamed over the old index. WAL mode lets a reader
(`history`, `show`) run while a capture run writes.

Small rows, because a nightly run adds one per watched page (bench/nightly.py: the index grew
1,319 bytes per unchanged URL per night, ~400 of them secondary indexes; 664 now):

* only the indexes the queries use (migration 0004, the EXPLAIN QUERY PLAN reasons beside it):
  `url`, and `final_url` only where it differs from `url` (a partial index); rare operations
  (recovery's `sync_file`, `captures_in`) scan the table instead;
* sha256 digests are stored as their 32 bytes, not 64 hex characters (`_digest_cell`), read
  back as the same hex string, so rows and Captures round-trip and a rebuild writes the same cells.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archiver.errors import StoreError, UnknownCaptureError
from archiver.jsonform import memento_to_dict
from archiver.models import ArchivePaths, Capture, ErrorKind, Failure, Hop, Memento, Truncation, WarcLocation
from archiver.warcread import iter_captures

if TYPE_CHECKING:
    from archiver.warcstore import RecoveryReport

Step = tuple[str, ...] | Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Migration:
    """A named schema change: SQL statements, or a function given the connection (in a transaction)."""

    name: str
    step: Step


MIGRATIONS: list[Migration] = [
    Migration(
        "0001_captures",
        (
            """
            CREATE TABLE captures (
                id TEXT PRIMARY KEY,
                url TEXT NOT NULL,
                final_url TEXT,
                status INTEGER,
                redirects TEXT NOT NULL,
                fetched_at TEXT NOT NULL,
                content_type TEXT,
                payload_sha256 TEXT,
                payload_size INTEGER,
                text_sha256 TEXT,
                title TEXT,
                warc_file TEXT,
                warc_offset INTEGER,
                warc_length INTEGER,
                error_kind TEXT,
                error_message TEXT,
                truncated TEXT,
                ip_address TEXT,
                encoding TEXT,
                text_error TEXT,
                revisit_of TEXT,
                elapsed_ms INTEGER
            )
            """,
            "CREATE INDEX captures_url ON captures (url, fetched_at)",
            "CREATE INDEX captures_final_url ON captures (final_url, fetched_at)",
            "CREATE INDEX captures_payload ON captures (payload_sha256)",
            "CREATE INDEX captures_warc_file ON captures (warc_file)",
        ),
    ),
    Migration(
        "0002_mementos",
        (
            """
            CREATE TABLE mementos (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                ref TEXT NOT NULL,
                kind TEXT NOT NULL,
                verdict TEXT NOT NULL,
                original_url TEXT,
                memento_datetime TEXT,
                obtained_via TEXT NOT NULL,
                capture_id TEXT,
                mirror_file TEXT,
                mirror_sha256 TEXT,
                recorded_at TEXT NOT NULL,
                document TEXT NOT NULL
            )
            """,
            "CREATE INDEX mementos_ref ON mementos (ref, recorded_at)",
            "CREATE INDEX mementos_original ON mementos (original_url)",
        ),
    ),
    # The nightly watch list (archiver/watchlist.py): sources, their link state, runs, per-run results.
    Migration(
        "0003_watch",
        (
            """
            CREATE TABLE watch (
                key TEXT PRIMARY KEY,
                url TEXT NOT NULL,
                label TEXT NOT NULL DEFAULT '',
                archives TEXT NOT NULL DEFAULT '[]',
                found_in TEXT,
                added_at TEXT NOT NULL,
                baseline_id TEXT,
                state TEXT NOT NULL DEFAULT '{}',
                last_run TEXT,
                doc_run TEXT
            )
            """,
            """
            CREATE TABLE watch_runs (
                run_id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                label TEXT NOT NULL,
                started_at TEXT NOT NULL,
                finished_at TEXT,
                outcome TEXT NOT NULL,
                summary TEXT NOT NULL DEFAULT '{}'
            )
            """,
            """
            CREATE TABLE watch_results (
                run_id TEXT NOT NULL,
                key TEXT NOT NULL,
                checked_at TEXT NOT NULL,
                capture_id TEXT,
                live TEXT,
                archive TEXT NOT NULL,
                drift TEXT NOT NULL,
                overall TEXT NOT NULL,
                condition TEXT NOT NULL,
                event TEXT,
                document BLOB NOT NULL,
                doc_run TEXT,
                PRIMARY KEY (run_id, key)
            ) WITHOUT ROWID
            """,
        ),
    ),
    # Leaner capture indexes (bench/nightly.py: they were ~400 of the ~1,300 bytes an unchanged
    # page added to the index each night). What the queries need, by EXPLAIN QUERY PLAN:
    # - `history` / `latest_capture` look a URL up as `url` or as `final_url`; the ORDER BY
    #   fetched_at is sorted in a temp B-tree after the OR anyway, so fetched_at in the index
    #   bought nothing: (url) alone serves the same plan.
    # - `final_url` is worth indexing only where it differs from `url` (a redirect): the other
    #   rows are found through `url`. Queries say `final_url <> url` so the partial index applies.
    # - Nothing looks captures up by payload digest: the index is dropped.
    # - `warc_file` is only searched by recovery and by `index` maintenance (captures_in,
    #   sync_file), rare operations that can afford a scan of the table.
    Migration(
        "0004_lean_capture_indexes",
        (
            "DROP INDEX captures_payload",
            "DROP INDEX captures_warc_file",
            "DROP INDEX captures_final_url",
            "DROP INDEX captures_url",
            "CREATE INDEX captures_by_url ON captures (url)",
            "CREATE INDEX captures_redirected ON captures (final_url) WHERE final_url <> url",
        ),
    ),
]

_COLUMNS = (
    "id url final_url status redirects fetched_at content_type payload_sha256 payload_size text_sha256 title "
    "warc_file warc_offset warc_length error_kind error_message truncated ip_address encoding text_error "
    "revisit_of elapsed_ms"
).split()
_INSERT = f"INSERT OR REPLACE INTO captures ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM captures"
# Asked for as `url` or ending on it; `final_url <> url` lets SQLite use the partial index
# `captures_redirected` (a row whose final_url equals its url is found by the first term).
_HEX = re.compile("[0-9a-f]+")
_BY_URL = "url = ? OR (final_url = ? AND final_url <> url)"


def _stamp(moment: datetime) -> str:
    # Fixed width, always with microseconds, so text order is time order.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digest_cell(hexdigest: str | None) -> str | bytes | None:
    """A sha256 as its 32 raw bytes when it is canonical (64 lowercase hex), else as given.

    Half the bytes of the text form, in every row (the columns keep TEXT affinity, which stores a
    BLOB as it is). `_digest_value` turns it back into exactly the same string, so a row and the
    Capture it holds still round-trip, and `index rebuild` writes the same cells again.
    """
    if hexdigest is not None and len(hexdigest) == 64 and _HEX.fullmatch(hexdigest):
        return bytes.fromhex(hexdigest)
    return hexdigest


def _digest_value(cell: str | bytes | None) -> str | None:
    return cell.hex() if isinstance(cell, bytes) else cell


def _row(capture: Capture) -> tuple[Any, ...]:
    warc, error = capture.warc, capture.error
    return (
        capture.id,
        capture.url,
        capture.final_url,
        capture.status,
        json.dumps([{"url": h.url, "status": h.status, "location": h.location} for h in capture.redirects]),
        _stamp(capture.fetched_at),
        capture.content_type,
        _digest_cell(capture.payload_sha256),
        capture.payload_size,
        _digest_cell(capture.text_sha256),
        capture.title,
        None if warc is None else warc.file,
        None if warc is None else warc.offset,
        None if warc is None else warc.length,
        None if error is None else error.kind.value,
        None if error is None else error.message,
        None if capture.truncated is None else capture.truncated.value,
        capture.ip_address,
        capture.encoding,
        capture.text_error,
        capture.revisit_of,
        capture.elapsed_ms,
    )


def _capture(row: sqlite3.Row) -> Capture:
    return Capture(
        id=row["id"],
        url=row["url"],
        final_url=row["final_url"],
        status=row["status"],
        redirects=tuple(Hop(h["url"], h["status"], h.get("location")) for h in json.loads(row["redirects"])),
        fetched_at=datetime.fromisoformat(row["fetched_at"].replace("Z", "+00:00")),
        content_type=row["content_type"],
        payload_sha256=_digest_value(row["payload_sha256"]),
        payload_size=row["payload_size"],
        text_sha256=_digest_value(row["text_sha256"]),
        title=row["title"],
        warc=None
        if row["warc_file"] is None
        else WarcLocation(row["warc_file"], row["warc_offset"], row["warc_length"]),
        error=None if row["error_kind"] is None else Failure(ErrorKind(row["error_kind"]), row["error_message"] or ""),
        truncated=None if row["truncated"] is None else Truncation(row["truncated"]),
        ip_address=row["ip_address"],
        encoding=row["encoding"],
        text_error=row["text_error"],
        revisit_of=row["revisit_of"],
        elapsed_ms=row["elapsed_ms"],
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


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
        return (_stamp(candidate.fetched_at), candidate.id) > (_stamp(than.fetched_at), than.id)

    def __init__(
        self,
        path: Path,
        *,
        migrations: Iterable[Migration] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.RLock()
        # Rows queued by `queue_capture`, committed together by `flush` (see there for why).
        self._pending: list[Capture] = []
        # This connection's newest revisit baseline per URL, so `latest_capture` needs no flush.
        self._recent: dict[str, Capture] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable enough, the WARCs are the truth
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the index {path}: {exc}; `archiver index rebuild` recreates it") from exc
        try:
            self.migrate(MIGRATIONS if migrations is None else migrations)
        except BaseException:
            self._db.close()
            raise

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
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"the index {self.path} is busy or unusable: {exc}") from exc
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _query(self, sql: str, params: tuple[Any, ...] = (), *, flush: bool = True) -> list[sqlite3.Row]:
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
                with self._transaction() as db:
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
                        (migration.name, _stamp(self._clock())),
                    )
                    applied.append(migration.name)
            return applied

    def applied_migrations(self) -> list[str]:
        return [r["name"] for r in self._query("SELECT name FROM migrations ORDER BY rowid")]

    # -- captures --------------------------------------------------------------------------

    def add_capture(self, capture: Capture) -> None:
        """Insert (or replace, by ID) one capture: idempotent, so recovery can re-add what it finds."""
        self.add_captures([capture])

    def add_captures(self, captures: Iterable[Capture]) -> int:
        with self._lock:
            rows = [_row(c) for c in self._pending]
            rows.extend(_row(c) for c in captures)
            with self._transaction() as db:
                db.executemany(_INSERT, rows)
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
        rows = self._query(f"{_SELECT} WHERE id = ?", (wanted,))
        if not rows and wanted:
            pattern = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = self._query(f"{_SELECT} WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 50", (pattern,))
        if len(rows) != 1:
            raise UnknownCaptureError(wanted, tuple(r["id"] for r in rows))
        return _capture(rows[0])

    def history(self, url: str) -> list[Capture]:
        """Every capture asked for as `url` or ending on it, newest first."""
        rows = self._query(f"{_SELECT} WHERE {_BY_URL} ORDER BY fetched_at DESC, id DESC", (url, url))
        return [_capture(r) for r in rows]

    def latest_capture(self, url: str) -> Capture | None:
        """The newest complete, stored capture of `url` (the baseline for a revisit record)."""
        rows = self._query(
            f"{_SELECT} WHERE ({_BY_URL}) AND error_kind IS NULL AND status IS NOT NULL "
            "AND payload_sha256 IS NOT NULL AND warc_file IS NOT NULL AND truncated IS NULL "
            "ORDER BY fetched_at DESC, id DESC LIMIT 1",
            (url, url),
            flush=False,  # queued rows are in `_recent`; committing them here would undo the batching
        )
        stored = _capture(rows[0]) if rows else None
        with self._lock:
            recent = self._recent.get(url)
        return recent if self._newer(recent, stored) else stored

    def all_captures(self) -> list[Capture]:
        return [_capture(r) for r in self._query(f"{_SELECT} ORDER BY fetched_at, id")]

    def captures_in(self, file: str) -> list[Capture]:
        return [_capture(r) for r in self._query(f"{_SELECT} WHERE warc_file = ? ORDER BY warc_offset", (file,))]

    def count(self) -> int:
        return int(self._query("SELECT count(*) FROM captures")[0][0])

    def remove_captures_in(self, file: str) -> int:
        """Drop the rows that point into `file` (e.g. a WARC recovery renamed `.invalid`)."""
        self.flush()
        self._forget_recent(file)
        with self._transaction() as db:
            return db.execute("DELETE FROM captures WHERE warc_file = ?", (file,)).rowcount

    def sync_file(self, file: str, captures: Iterable[Capture]) -> None:
        """Make the rows of one WARC file exactly the captures its metadata records hold."""
        kept = list(captures)
        ids = {c.id for c in kept}
        self.flush()
        self._forget_recent(file)
        with self._transaction() as db:
            stale = [r["id"] for r in db.execute("SELECT id FROM captures WHERE warc_file = ?", (file,))]
            for capture_id in stale:
                if capture_id not in ids:
                    db.execute("DELETE FROM captures WHERE id = ?", (capture_id,))
            for capture in kept:
                db.execute(_INSERT, _row(capture))

    def apply_recovery(self, report: RecoveryReport) -> None:
        """Make the index agree with what `WarcStore.recover()` kept and dropped."""
        for recovered in report.files:
            if recovered.valid:
                self.sync_file(recovered.name, recovered.captures)
            else:
                self.remove_captures_in(recovered.name)

    def _forget_recent(self, file: str) -> None:
        with self._lock:
            for url in [u for u, c in self._recent.items() if c.warc is not None and c.warc.file == file]:
                del self._recent[url]

    def add_memento(self, memento: Memento) -> None:
        """Record what an archive said about a reference (the whole memento, as JSON)."""
        document = memento_to_dict(memento)
        self.flush()
        with self._transaction() as db:
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
                    _stamp(self._clock()),
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
        return [json.loads(row["document"]) for row in self._query(sql + " ORDER BY seq DESC", params)]

    def checkpoint(self) -> None:
        """Fold the WAL into the main file (before copying or replacing it)."""
        self._query("PRAGMA wal_checkpoint(TRUNCATE)")


def rebuild_index(paths: ArchivePaths, *, clock: Callable[[], datetime] = utc_now) -> Index:
    """Recreate `index.sqlite3` from the WARC metadata records alone; returns it opened.

    Built in a temporary file and renamed over the old index, so a failure leaves the old one. Close
    every other connection to the index first: an open connection would keep the replaced file.
    """
    temp = paths.root / f".index.sqlite3.rebuild-{os.getpid()}"
    for leftover in (temp, Path(f"{temp}-wal"), Path(f"{temp}-shm")):
        leftover.unlink(missing_ok=True)
    fresh = Index(temp, clock=clock)
    try:
        fresh.add_captures(iter_captures(paths.root))
        fresh.checkpoint()
        fresh._db.execute("PRAGMA journal_mode=DELETE")
    finally:
        fresh.close()
    # A stale WAL beside the new file would be replayed into it: remove the old index's first.
    for stale in (Path(f"{paths.index}-wal"), Path(f"{paths.index}-shm")):
        stale.unlink(missing_ok=True)
    os.replace(temp, paths.index)
    return Index(paths.index, clock=clock)
