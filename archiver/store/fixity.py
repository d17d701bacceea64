"""The fixity audit behind `archiver verify`: WARC files, manifest and index checked against each other.

Every record is re-read by our strict reader with its digests recomputed (a digest we cannot check,
a short read or an unended gzip member is a failure: that is what a crash or a bad disk leaves);
each file's sha256 is checked against `warcs/manifest.sha256`; orphaned, missing and `.open` files
are named; and every index row must match the record it points at. The audit returns a frozen
report; the CLI renders it and exits 2 when it has any problem. See docs/warc-layout.md.
It may run while a fetch writes: index first, then a settled file listing (`verify` says how).
"""

from __future__ import annotations

import fcntl
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from archiver.errors import ArchiveBusyError
from archiver.jsonform import capture_from_dict
from archiver.models import ArchivePaths, Capture
from archiver.store.index import Index
from archiver.store.recovery import INVALID_SUFFIX, OPEN_SUFFIX, is_starting, read_manifest
from archiver.warc.digests import declares_sha256
from archiver.warc.metadata import CaptureDocuments
from archiver.warc.record import ProblemKind, RecordInfo
from archiver.warc.scan import FileFault, location_name, scan, warc_files

__all__ = ["FixityProblem", "FixityReport", "ProblemKind", "verify", "verify_file"]


@dataclass(frozen=True)
class FixityProblem:
    """One thing wrong: its kind, the file (relative to the archive folder), where, and what."""

    kind: ProblemKind
    file: str
    offset: int | None
    message: str


@dataclass(frozen=True)
class FixityReport:
    files_checked: int
    records_checked: int
    bytes_checked: int
    problems: tuple[FixityProblem, ...]
    notes: tuple[str, ...] = ()  # what recovery did before the audit (a dropped indexed capture)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _RecordSpot:
    length: int
    type: str
    payload_sha256: str | None
    payload_digest: str | None


@dataclass(frozen=True)
class FileAudit:
    """What one file holds: its records by offset, its captures, its sha256 and problems."""

    name: str
    sha256: str
    size: int
    records: dict[int, _RecordSpot]
    captures: tuple[Capture, ...]
    problems: tuple[FixityProblem, ...]


def is_live(path: Path) -> bool:
    """Whether a writer holds this `.open` file (its exclusive flock): it is being written, not left over."""
    try:
        with path.open("rb") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False  # renamed (sealed) meanwhile: no longer open


def verify_file(path: Path, name: str, *, live: bool = False) -> FileAudit:
    """Re-read and re-hash every record of one WARC file.

    `live`: a writer is appending to it, so a record cut short at the end is the one being written."""
    problems: list[FixityProblem] = []
    records: dict[int, _RecordSpot] = {}
    captures: list[Capture] = []
    documents = CaptureDocuments(location_name(path))
    items = list(scan(path, keep_metadata=True))
    if live and items and isinstance(items[-1], FileFault) and items[-1].kind is ProblemKind.TRUNCATED:
        items.pop()
    for item in items:
        if isinstance(item, FileFault):
            problems.append(FixityProblem(item.kind, name, item.offset, item.message))
            continue
        problems.extend(
            FixityProblem(p.kind, name, item.offset, f"{item.type} record: {p.message}") for p in item.problems
        )
        records.setdefault(item.offset, _spot(item))
        document = documents.feed(item)
        if document is not None and not item.problems:
            captures.append(capture_from_dict(document["capture"]))
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return FileAudit(name, digest.hexdigest(), size, records, tuple(captures), tuple(problems))


def _spot(info: RecordInfo) -> _RecordSpot:
    return _RecordSpot(info.length, info.type, info.payload_sha256, info.payload_digest)


_LISTING_TRIES = 20


def _settled_listing(paths: ArchivePaths) -> tuple[list[Path], dict[str, str]]:
    """The WARC files and the manifest, as of one moment: listed again until two listings agree."""
    for _ in range(_LISTING_TRIES):
        files = warc_files(paths.warcs)
        manifest = read_manifest(paths.warcs)
        if warc_files(paths.warcs) == files:
            return files, manifest
        time.sleep(0.05)
    raise ArchiveBusyError(
        f"the archive at {paths.root} is busy: its WARC files kept changing while verify listed them; "
        "run `archiver verify` again when the fetch or run has finished"
    )


def _final(path: Path) -> Path:
    return path.with_name(path.name[: -len(OPEN_SUFFIX)]) if path.name.endswith(OPEN_SUFFIX) else path


def verify(
    paths: ArchivePaths, index: Index | None = None, *, progress: Callable[[str], None] | None = None
) -> FixityReport:
    """Audit the whole archive folder; `index` adds the index <-> WARC cross-checks.

    `progress` is called with each WARC file's name once it is audited. A consistent view while
    writers run, without locking them out: the index rows are read first (a row is committed only
    after its records are on disk), then the file list and manifest, listed until two listings
    agree (the `.open` -> final rename race); a file renamed meanwhile is read under its new name,
    a `.open` file a live writer holds (its flock) is audited up to its last complete record, and
    captures it has not indexed yet are checked against a fresh read of the index.
    ArchiveBusyError says so when the listing never settles.
    """
    root = paths.root
    indexed = {c.id: c for c in index.all_captures()} if index is not None else None  # first: see the docstring
    files, manifest = _settled_listing(paths)
    problems: list[FixityProblem] = []
    audits: dict[str, FileAudit] = {}
    live_files: set[str] = set()
    records = size = 0
    for listed in files:
        path = listed
        live = path.name.endswith(OPEN_SUFFIX) and is_live(path)
        try:
            audit = verify_file(path, path.relative_to(root).as_posix(), live=live)
        except FileNotFoundError:
            path = _final(listed)  # sealed by its writer since the listing: the same records, closed
            if path == listed or not path.exists():
                raise
            live = False
            audit = verify_file(path, path.relative_to(root).as_posix())
        name = audit.name
        # Keyed as capture locations name files: the final name, also while the file is `.open`.
        audits[(paths.warcs.relative_to(root) / _final(path).name).as_posix()] = audit
        records += len(audit.records)
        size += audit.size
        problems.extend(audit.problems)
        if progress is not None:
            progress(name)
        if path.name.endswith(OPEN_SUFFIX):
            if live or is_live(path) or is_starting(path):
                live_files.add(audit.name)
                continue  # being written: complete up to its last record, and not in the manifest yet
            problems.append(
                FixityProblem(
                    ProblemKind.UNFINISHED_FILE,
                    name,
                    None,
                    "file is still open: a writer is running, or run any archiver command to recover it",
                )
            )
            continue
        expected = manifest.get(path.name)
        if expected is None:
            expected = read_manifest(paths.warcs).get(path.name)  # sealed since the listing
        if expected is None:
            problems.append(
                FixityProblem(ProblemKind.ORPHAN_FILE, name, None, "file is not listed in warcs/manifest.sha256")
            )
        elif expected != audit.sha256:
            problems.append(
                FixityProblem(
                    ProblemKind.MANIFEST_MISMATCH,
                    name,
                    None,
                    f"sha256 is {audit.sha256}, the manifest says {expected}: the file changed after it was closed",
                )
            )
    for listed_name in sorted(manifest):
        final = paths.warcs / listed_name
        # The manifest line is written just before the rename: the file may still carry `.open`.
        if not final.exists() and not final.with_name(listed_name + OPEN_SUFFIX).exists():
            problems.append(
                FixityProblem(
                    ProblemKind.MISSING_FILE, f"warcs/{listed_name}", None, "listed in the manifest but not on disk"
                )
            )
    if index is not None and indexed is not None:
        problems.extend(_check_index(paths, index, indexed, audits, live_files))
    return FixityReport(len(audits), records, size, tuple(problems))


def _check_index(
    paths: ArchivePaths,
    index: Index,
    indexed: dict[str, Capture],
    audits: dict[str, FileAudit],
    live_files: set[str],
) -> Iterable[FixityProblem]:
    reported_missing: set[str] = set()
    for capture in indexed.values():
        loc = capture.warc
        if loc is None:
            continue
        audit = audits.get(loc.file)
        if audit is None:
            if loc.file not in reported_missing:
                reported_missing.add(loc.file)
                invalid = (paths.root / (loc.file + INVALID_SUFFIX)).exists()
                why = "recovery renamed it .invalid" if invalid else "no such file"
                yield FixityProblem(
                    ProblemKind.MISSING_FILE, loc.file, None, f"the index points here (capture {capture.id}); {why}"
                )
            continue
        spot = audit.records.get(loc.offset)
        if spot is None or spot.length != loc.length or spot.type not in ("response", "revisit"):
            found = "nothing" if spot is None else f"a {spot.type} record of {spot.length} bytes"
            yield FixityProblem(
                ProblemKind.MISSING_RECORD,
                loc.file,
                loc.offset,
                f"capture {capture.id} points at a response of {loc.length} bytes here; found {found}",
            )
        elif spot.type == "response" and spot.payload_sha256 != capture.payload_sha256:
            yield FixityProblem(
                ProblemKind.MISSING_RECORD,
                loc.file,
                loc.offset,
                f"capture {capture.id} has payload sha256 {capture.payload_sha256}, the record {spot.payload_sha256}",
            )
        elif spot.type == "revisit" and not declares_sha256(spot.payload_digest, capture.payload_sha256):
            yield FixityProblem(
                ProblemKind.MISSING_RECORD,
                loc.file,
                loc.offset,
                f"capture {capture.id} has payload sha256 {capture.payload_sha256}, "
                f"the revisit record declares {spot.payload_digest}",
            )
    unindexed = [(a, c) for a in audits.values() for c in a.captures if c.id not in indexed]
    if unindexed:
        # Captured after the index was read: a fresh read has them (a writer commits its queued
        # rows every fraction of a second, and always before it seals a file).
        deadline = time.monotonic() + 2.0
        while True:
            fresh = {c.id for c in index.all_captures()}
            unindexed = [(a, c) for a, c in unindexed if c.id not in fresh]
            if not unindexed or not any(a.name in live_files for a, _ in unindexed) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    for audit, capture in unindexed:
        if audit.name in live_files:
            continue  # still queued by its live writer
        yield FixityProblem(
            ProblemKind.UNINDEXED_CAPTURE,
            audit.name,
            None if capture.warc is None else capture.warc.offset,
            f"capture {capture.id} of {capture.url} is in the WARC but not in the index; run `archiver index rebuild`",
        )
