"""Crash safety for the WARC store: closing a file for good, and recovering one a crash left open.

warcio does not make files crash-safe, so we do: a file is `.open` and flocked while written,
sealed by fsync, manifest entry, rename and directory fsync in that order (a file with its final
name is always complete and listed), and `recover_files()` cuts a crashed file back to its last
verified record and returns the captures it holds so the index can agree. See docs/warc-layout.md.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from archiver.jsonform import capture_from_dict
from archiver.models import ArchivePaths, Capture
from archiver.warc.metadata import CaptureDocuments
from archiver.warc.scan import FileFault, location_name, scan

MANIFEST_NAME = "manifest.sha256"
OPEN_SUFFIX = ".open"
INVALID_SUFFIX = ".invalid"


@dataclass(frozen=True)
class RecoveredFile:
    """One `.open` file found at start-up and what became of it (names relative to the archive)."""

    open_name: str
    final_name: str
    valid: bool
    records_kept: int
    bytes_kept: int
    bytes_cut: int
    captures: tuple[Capture, ...]
    reason: str | None = None

    @property
    def name(self) -> str:
        """The name capture locations use for this file (`warcs/<name>.warc.gz`)."""
        return self.open_name[: -len(OPEN_SUFFIX)]


@dataclass(frozen=True)
class RecoveryReport:
    files: tuple[RecoveredFile, ...] = ()

    @property
    def captures(self) -> tuple[Capture, ...]:
        return tuple(c for f in self.files for c in f.captures)

    @property
    def invalid(self) -> tuple[RecoveredFile, ...]:
        return tuple(f for f in self.files if not f.valid)


_STARTING_SECONDS = 60.0


def seal(path: Path, final: Path, sha256: str) -> None:
    """List a complete, fsynced `.open` file in the manifest, rename it to `final`, fsync the folder."""
    append_manifest(final.parent, sha256, final.name)
    os.replace(path, final)
    fsync_dir(final.parent)


def recover_files(paths: ArchivePaths, *, skip: Path | None = None) -> RecoveryReport:
    """Finalise `.open` files left by a crash: keep complete verified records, cut the rest.

    `skip` is the caller's own open file; files another process holds (its flock) are skipped too.
    """
    results = []
    for path in sorted(paths.warcs.glob(f"*.warc.gz{OPEN_SUFFIX}")):
        if path == skip:
            continue
        recovered = _recover_file(paths.root, path)
        if recovered is not None:
            results.append(recovered)
    return RecoveryReport(tuple(results))


def recover_file(paths: ArchivePaths, path: Path) -> RecoveredFile | None:
    """Recover one `.open` file (a dead cluster worker's); None while its writer still holds it."""
    return _recover_file(paths.root, path)


def is_starting(path: Path) -> bool:
    """Whether an unlocked `.open` file is one a writer is just creating: empty and recent.

    A writer creates the file (O_EXCL) and then takes its flock: between the two it is empty and
    unlocked, which on a loaded machine lasts long enough for recovery or verify to see it.
    """
    try:
        stat = path.stat()
    except FileNotFoundError:
        return False
    return stat.st_size == 0 and time.time() - stat.st_mtime < _STARTING_SECONDS


def _recover_file(root: Path, path: Path) -> RecoveredFile | None:
    def relative(p: Path) -> str:
        return p.relative_to(root).as_posix()

    with path.open("r+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # a live writer (another process) holds it
        if is_starting(path):
            # Left alone; a crash at that instant leaves an empty file that the next recovery
            # after a minute renames `.invalid`.
            return None
        kept_end = records = 0
        captures: list[Capture] = []
        documents = CaptureDocuments(location_name(path))
        reason = None
        for item in scan(path, keep_metadata=True):
            if isinstance(item, FileFault):
                reason = f"offset {item.offset}: {item.message}"
                break
            if item.problems:
                reason = f"offset {item.offset}: {item.problems[0].message}"
                break
            kept_end = item.offset + item.length
            records += 1
            document = documents.feed(item)
            if document is not None:
                captures.append(capture_from_dict(document["capture"]))
        size = os.fstat(fh.fileno()).st_size
        final = path.with_name(path.name[: -len(OPEN_SUFFIX)])
        if records == 0:
            target = final.with_name(final.name + INVALID_SUFFIX)
            os.replace(path, target)
            fsync_dir(path.parent)
            return RecoveredFile(relative(path), relative(target), False, 0, 0, size, (), reason or "no records")
        fh.truncate(kept_end)
        fh.flush()
        os.fsync(fh.fileno())
        fh.seek(0)
        digest = hashlib.sha256()
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
        seal(path, final, digest.hexdigest())
    return RecoveredFile(
        relative(path),
        relative(final),
        True,
        records,
        kept_end,
        size - kept_end,
        tuple(captures),
        reason,
    )


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def append_manifest(folder: Path, sha256: str, name: str) -> None:
    """Append `<sha256>  <name>` (sha256sum format) unless that exact line is already there."""
    manifest = folder / MANIFEST_NAME
    line = f"{sha256}  {name}\n"
    if manifest.exists() and line in manifest.read_text(encoding="utf-8").splitlines(keepends=True):
        return
    with manifest.open("a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_manifest(folder: Path) -> dict[str, str]:
    """name -> sha256 from `warcs/manifest.sha256` (a later line for a name wins)."""
    manifest = folder / MANIFEST_NAME
    entries: dict[str, str] = {}
    if not manifest.exists():
        return entries
    for line in manifest.read_text(encoding="utf-8").splitlines():
        digest, sep, name = line.partition("  ")
        if sep and name:
            entries[name.lstrip("*")] = digest.strip().lower()
    return entries
