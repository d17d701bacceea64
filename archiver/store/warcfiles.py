"""The WARC store: every fetch written as WARC/1.1 records, crash-safe, rolled over by size.

The store owns the files (records come from `warc/writer`, the metadata document from
`warc/metadata`, sealing and recovery from `store/recovery`). One writer per file and one lock per
store keep a capture's records together, and rollover happens before a capture, so no capture is
split across files. An unchanged payload is stored as a revisit plus a compact metadata record and
no request record, so nightly storage stays flat. See docs/warc-layout.md.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from archiver import __version__
from archiver.clock import stamp as warc_date
from archiver.errors import DiskFullError, StoreError
from archiver.models import ArchivePaths, Capture, WarcLocation
from archiver.net.exchange import FetchOutcome
from archiver.store.recovery import OPEN_SUFFIX, RecoveryReport, recover_files, seal
from archiver.warc.metadata import RefersTo, hop_entry, metadata_document
from archiver.warc.record import REFERS_TO_FILE, REFERS_TO_OFFSET
from archiver.warc.scan import read_record_headers
from archiver.warc.writer import RecordSink, RecordWriter

_RECORD_OVERHEAD = 4096  # WARC + HTTP headers of one record, generously


@dataclass
class _OpenWarc:
    path: Path
    final: Path
    fh: IO[bytes]
    sink: RecordSink
    relative: str = ""  # `final` relative to the archive root, as capture locations name it


class WarcStore:
    """Writes captures into rolling `warcs/archiver-<UTC timestamp>-<serial>-<random>.warc.gz`."""

    def __init__(
        self,
        paths: ArchivePaths,
        max_bytes: int,
        *,
        clock: Callable[[], datetime],
        new_id: Callable[[], str],
        software: str = f"archiver/{__version__}",
        compress_level: int = 6,
        before_seal: Callable[[], object] | None = None,
        on_open: Callable[[Path], object] | None = None,
    ) -> None:
        self.paths = paths
        # Told each new file's final path before any capture goes in (a cluster worker's journal).
        self._on_open = on_open
        # Called before a file gets its final name: recovery repairs only `.open` files, so whoever
        # holds index rows for this file's captures must commit them now (CaptureEngine: Index.flush).
        self._before_seal = before_seal
        self.max_bytes = max_bytes
        self._clock = clock
        self.software = software
        self._records = RecordWriter(new_id, compress_level)
        self._lock = threading.Lock()
        self._file: _OpenWarc | None = None
        self._serial = 0
        self._last_write: datetime | None = None

    @property
    def compress_level(self) -> int:
        """Deflate level of the records (0 for incompressible payloads, at most 1 for large ones)."""
        return self._records.compress_level

    @compress_level.setter
    def compress_level(self, level: int) -> None:
        self._records.compress_level = level

    # -- life cycle ------------------------------------------------------------------------

    def __enter__(self) -> WarcStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def current_file(self) -> Path | None:
        """The `.open` file being written, if any."""
        return None if self._file is None else self._file.path

    def close(self) -> None:
        """Finalise the open file (fsync, manifest, rename, fsync the directory)."""
        with self._lock:
            self._finish()

    def rollover(self) -> None:
        """Close the current file now (an idle rollover); the next write begins a new one."""
        self.close()

    def rollover_if_idle(self, idle_seconds: float) -> bool:
        """Finalise the open file when nothing was written for `idle_seconds` (call it from a timer)."""
        with self._lock:
            last = self._last_write
            if self._file is None or last is None or (self._clock() - last).total_seconds() < idle_seconds:
                return False
            self._finish()
            return True

    def recover(self) -> RecoveryReport:
        """Finalise `.open` files left by a crash: keep complete verified records, cut the rest."""
        with self._lock:
            return recover_files(self.paths, skip=None if self._file is None else self._file.path)

    # -- writing ---------------------------------------------------------------------------

    def write(self, outcome: FetchOutcome, capture: Capture, revisit_of: Capture | None = None) -> Capture:
        """Write one fetch (request/response per hop, then metadata); return it with its location."""
        with self._lock:
            try:
                current = self._file_for(self._estimate(outcome))
            except OSError as exc:
                raise _write_error(self.paths.warcs, exc) from exc
            try:
                result = self._write_capture(current, outcome, capture, revisit_of)
                current.fh.flush()
                self._last_write = self._clock()
            except OSError as exc:
                # The file may now end in part of a record: never append to it again. Released
                # unsealed, recovery cuts it back to its last complete record (all of which stay).
                self._abandon()
                raise _write_error(current.path, exc) from exc
            if current.sink.size >= self.max_bytes:
                self._finish()
            return result

    def _abandon(self) -> None:
        current, self._file = self._file, None
        if current is not None:
            with contextlib.suppress(OSError):
                current.fh.close()  # a flush of the partial record may fail again: the flock goes anyway

    def _estimate(self, outcome: FetchOutcome) -> int:
        raw = sum(2 * _RECORD_OVERHEAD + ex.body.size for ex in outcome.exchanges) + 4 * _RECORD_OVERHEAD
        return raw + raw // 100  # deflate may grow incompressible data a little

    def _write_capture(
        self, current: _OpenWarc, outcome: FetchOutcome, capture: Capture, revisit_of: Capture | None
    ) -> Capture:
        records, sink = self._records, current.sink
        refers = self._revisit_source(outcome, revisit_of)
        location: WarcLocation | None = None
        final_id: str | None = None
        hops: list[dict[str, Any]] = []
        dates: dict[datetime, str] = {}  # the metadata record's date is its response's: formatted once
        for number, exchange in enumerate(outcome.exchanges, 1):
            date = dates[exchange.started_at] = warc_date(exchange.started_at)
            response_id = records.record_id()
            is_final = number == len(outcome.exchanges)
            if is_final and refers is not None:
                offset, length = records.revisit(sink, exchange, date, response_id, refers)
                record_type = "revisit"
            else:
                offset, length = records.response(sink, exchange, date, response_id)
                record_type = "response"
            # A revisit's request is the original's (same URL, same headers we always send): WARC
            # makes request records optional, and skipping it is a quarter of a revisit's bytes.
            request_id = None if record_type == "revisit" else records.request(sink, exchange, date, response_id)
            if is_final:
                location = WarcLocation(current.relative, offset, length)
                final_id = response_id
            hops.append(hop_entry(exchange, record_type, response_id, request_id))
        if refers is not None and revisit_of is not None:
            # Name the capture whose payload is stored, even when revisiting a revisit.
            result = replace(capture, warc=location, revisit_of=revisit_of.revisit_of or revisit_of.id)
        else:
            result = replace(capture, warc=location)
        data = metadata_document(outcome, result, hops, refers)
        final = outcome.final
        target = final.url if final is not None else outcome.requested
        moment = final.started_at if final is not None else outcome.started_at
        date = dates.get(moment) or warc_date(moment)
        records.metadata(sink, target, date, final_id, data)
        return result

    def _revisit_source(self, outcome: FetchOutcome, revisit_of: Capture | None) -> RefersTo | None:
        """The original response a revisit will point at, or None to write the full response."""
        final = outcome.final
        if (
            final is None
            or revisit_of is None
            or revisit_of.warc is None
            or final.truncated is not None
            or revisit_of.payload_sha256 != final.body.sha256
        ):
            return None
        try:
            fields = dict((k.lower(), v) for k, v in read_record_headers(self.paths.root, revisit_of.warc))
        except StoreError:
            return None  # the original is unreadable: store the payload again rather than point at nothing
        if fields.get("warc-type") == "revisit":  # point at the first full copy, never at a revisit
            offset = fields.get(REFERS_TO_OFFSET.lower(), "")
            if not offset.isdigit() or REFERS_TO_FILE.lower() not in fields:
                return None
            return RefersTo(
                fields.get("warc-refers-to", ""),
                fields.get("warc-refers-to-target-uri", ""),
                fields.get("warc-refers-to-date", ""),
                fields[REFERS_TO_FILE.lower()],
                int(offset),
            )
        if fields.get("warc-type") != "response" or "warc-record-id" not in fields:
            return None
        return RefersTo(
            fields["warc-record-id"],
            fields.get("warc-target-uri", ""),
            fields.get("warc-date", ""),
            revisit_of.warc.file,
            revisit_of.warc.offset,
        )

    # -- files -----------------------------------------------------------------------------

    def _file_for(self, estimate: int) -> _OpenWarc:
        current = self._file
        if current is not None and current.sink.records > 1 and current.sink.size + estimate > self.max_bytes:
            self._finish()
            current = None
        return current or self._start()

    def _start(self) -> _OpenWarc:
        self.paths.warcs.mkdir(parents=True, exist_ok=True)
        stamp = self._clock().astimezone(UTC).strftime("%Y%m%d%H%M%S%f")[:17]
        while True:
            self._serial += 1
            name = f"archiver-{stamp}-{self._serial:05d}-{secrets.token_hex(4)}.warc.gz"
            final = self.paths.warcs / name
            path = final.with_name(name + OPEN_SUFFIX)
            if final.exists():
                continue
            try:
                fh = path.open("xb")  # O_EXCL: two writers can never share a name
            except FileExistsError:
                continue
            break
        try:
            lock_new_file(fh)
            if self._on_open is not None:
                self._on_open(final)
            sink = RecordSink(fh, self._records.record_id())
            current = _OpenWarc(path, final, fh, sink, relative=final.relative_to(self.paths.root).as_posix())
            self._records.warcinfo(sink, final.name, warc_date(self._clock()), self.software)
            fh.flush()
        except OSError:
            # Not even the warcinfo record fitted (a full disk): the file holds nothing, remove it.
            with contextlib.suppress(OSError):
                fh.close()
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        self._file = current
        return current

    def _finish(self) -> None:
        current, self._file = self._file, None
        if current is None:
            return
        try:
            current.fh.flush()
            os.fsync(current.fh.fileno())
            if self._before_seal is not None:
                self._before_seal()
            seal(current.path, current.final, current.sink.sha256.hexdigest())
        except OSError as exc:
            raise StoreError(f"could not finalise {current.path}: {exc}; `recover` will retry at next start") from exc
        finally:
            current.fh.close()  # releases the flock


def lock_new_file(fh: IO[bytes], attempts: int = 100) -> None:
    """Take the exclusive flock of a file this writer has just created (O_EXCL).

    No one else writes it, but a `verify` or a recovery in another process may be probing it with
    a lock of its own for an instant (that is how they tell a live file): wait for the probe,
    briefly, rather than fail the capture. Still held after ~1 s: BlockingIOError, the write's error.
    """
    for _ in range(attempts - 1):
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            time.sleep(0.01)
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _write_error(where: Path, exc: OSError) -> StoreError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(where, exc.strerror or str(exc))
    return StoreError(f"could not write to {where}: {exc}; check free space and permissions")
