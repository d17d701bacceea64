"""The fixity audit behind `archiver verify`: WARC files, manifest and index checked against each other.

Every record is re-read by our strict reader with its digests recomputed (a digest we cannot check,
a short read or an unended gzip member is a failure: that is what a crash or a bad disk leaves);
each file's sha256 is checked against `warcs/manifest.sha256`; orphaned, missing and `.open` files
are named; and every index row must match the record it points at. The audit returns a frozen
report; the CLI renders it and exits 2 when it has any problem. See docs/warc-layout.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from archiver.jsonform import capture_from_dict
from archiver.models import ArchivePaths, Capture
from archiver.store.index import Index
from archiver.store.recovery import INVALID_SUFFIX, OPEN_SUFFIX, read_manifest
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


def verify_file(path: Path, name: str) -> FileAudit:
    """Re-read and re-hash every record of one WARC file."""
    problems: list[FixityProblem] = []
    records: dict[int, _RecordSpot] = {}
    captures: list[Capture] = []
    documents = CaptureDocuments(location_name(path))
    for item in scan(path, keep_metadata=True):
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


def verify(paths: ArchivePaths, index: Index | None = None) -> FixityReport:
    """Audit the whole archive folder; `index` adds the index <-> WARC cross-checks."""
    root = paths.root
    manifest = read_manifest(paths.warcs)
    problems: list[FixityProblem] = []
    audits: dict[str, FileAudit] = {}
    records = size = 0
    for path in warc_files(paths.warcs):
        name = path.relative_to(root).as_posix()
        audit = verify_file(path, name)
        audits[name] = audit
        records += len(audit.records)
        size += audit.size
        problems.extend(audit.problems)
        if path.name.endswith(OPEN_SUFFIX):
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
    for listed in sorted(manifest):
        if not (paths.warcs / listed).exists():
            problems.append(
                FixityProblem(
                    ProblemKind.MISSING_FILE, f"warcs/{listed}", None, "listed in the manifest but not on disk"
                )
            )
    if index is not None:
        problems.extend(_check_index(paths, index, audits))
    return FixityReport(len(audits), records, size, tuple(problems))


def _check_index(paths: ArchivePaths, index: Index, audits: dict[str, FileAudit]) -> Iterable[FixityProblem]:
    indexed = {c.id: c for c in index.all_captures()}
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
    for audit in audits.values():
        for capture in audit.captures:
            if capture.id not in indexed:
                yield FixityProblem(
                    ProblemKind.UNINDEXED_CAPTURE,
                    audit.name,
                    None if capture.warc is None else capture.warc.offset,
                    f"capture {capture.id} of {capture.url} is in the WARC but not in the index; "
                    "run `archiver index rebuild`",
                )
