"""The fixity audit of `mirrors/`: each downloaded WACZ or WARC re-read and re-hashed as received.

`archiver verify` runs it beside the audit of our own WARCs (store/fixity). Per file: its sha256
against the one the index recorded at download; a WACZ's datapackage hashes and what `wacz
validate` would reject (archives/wacz.py); every record by our strict reader. Payload digests of
chunked bodies follow the recording tool's convention: Scoop and warcprox digest the body as sent,
warcio-based tools the de-chunked body; a digest that matches either is honoured. Mirrors are
never rewritten, only read. See docs/warc-layout.md.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from archiver.archives.downloads import ZIP_MAGIC, verify_wacz
from archiver.archives.wacz import structure_failures
from archiver.errors import CorruptWarcError
from archiver.warc.digests import parse_digest
from archiver.warc.read import payload_here
from archiver.warc.record import ProblemKind, RecordInfo
from archiver.warc.scan import FileFault, scan

_CHUNK = 1024 * 1024
MIRROR_SUFFIXES = (".wacz", ".warc.gz", ".warc")


@dataclass(frozen=True)
class MirrorProblem:
    kind: ProblemKind
    file: str  # relative to the archive folder; `file#member` for a record inside a WACZ
    offset: int | None
    message: str


@dataclass(frozen=True)
class MirrorAudit:
    files: int
    records: int
    bytes: int
    problems: tuple[MirrorProblem, ...]


def mirror_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name.endswith(MIRROR_SUFFIXES))


def audit_mirrors(root: Path, folder: Path, recorded: Mapping[str, str]) -> MirrorAudit:
    """Audit every file in `folder`; `recorded` maps a file (relative to `root`) to its recorded sha256."""
    problems: list[MirrorProblem] = []
    files = records = size = 0
    for path in mirror_files(folder):
        name = path.relative_to(root).as_posix()
        files += 1
        sha256, length = _sha256(path)
        size += length
        expected = recorded.get(name)
        if expected is not None and expected != sha256:
            problems.append(
                MirrorProblem(
                    ProblemKind.MANIFEST_MISMATCH,
                    name,
                    None,
                    f"sha256 is {sha256}, the index recorded {expected} when it was downloaded: the file changed",
                )
            )
        with path.open("rb") as handle:
            is_wacz = handle.read(4) == ZIP_MAGIC
        if is_wacz:
            count, found = _audit_wacz(path, name)
        else:
            count, found = _audit_warc(path, name)
        records += count
        problems.extend(found)
    return MirrorAudit(files, records, size, tuple(problems))


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _audit_wacz(path: Path, name: str) -> tuple[int, list[MirrorProblem]]:
    problems: list[MirrorProblem] = []
    records = 0
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        return 0, [MirrorProblem(ProblemKind.CORRUPT_RECORD, name, None, f"not a readable WACZ (zip): {exc}")]
    with archive, tempfile.TemporaryDirectory(prefix="archiver-mirror-") as scratch:
        try:
            hashes, package = verify_wacz(archive)
            failures = structure_failures(archive, package) if package else ()
        except (zipfile.BadZipFile, OSError) as exc:  # a member's bytes fail the zip's own CRC
            hashes, failures = (f"a member cannot be read: {exc}",), ()
        problems.extend(MirrorProblem(ProblemKind.INVALID_PACKAGE, name, None, h) for h in hashes)
        problems.extend(
            MirrorProblem(ProblemKind.INVALID_PACKAGE, name, None, f"`wacz validate` would fail: {f}") for f in failures
        )
        for member in archive.namelist():
            if not (member.startswith("archive/") and member.endswith((".warc", ".warc.gz"))):
                continue
            # Our strict scanner seeks by gzip member, so each WARC is read from a plain file.
            copy = Path(scratch) / Path(member).name
            try:
                with archive.open(member) as source, copy.open("wb") as target:
                    shutil.copyfileobj(source, target, _CHUNK)
            except (zipfile.BadZipFile, OSError) as exc:  # a CRC error is a BadZipFile
                problems.append(MirrorProblem(ProblemKind.CORRUPT_RECORD, f"{name}#{member}", None, str(exc)))
                continue
            count, found = _audit_warc(copy, f"{name}#{member}")
            records += count
            problems.extend(found)
            copy.unlink()
    return records, problems


def _audit_warc(path: Path, name: str) -> tuple[int, list[MirrorProblem]]:
    problems: list[MirrorProblem] = []
    records = 0
    for item in scan(path):
        if isinstance(item, FileFault):
            problems.append(MirrorProblem(item.kind, name, item.offset, item.message))
            continue
        records += 1
        for problem in item.problems:
            if problem.kind is ProblemKind.DIGEST_MISMATCH and problem.message.startswith("payload"):
                if _dechunked_digest_matches(path, item):
                    continue
            problems.append(MirrorProblem(problem.kind, name, item.offset, f"{item.type} record: {problem.message}"))
    return records, problems


def _dechunked_digest_matches(path: Path, info: RecordInfo) -> bool:
    """Whether a declared payload digest is that of the de-chunked body (warc.read de-chunks)."""
    if info.payload_digest is None or info.type != "response":
        return False
    try:
        expected = parse_digest(info.payload_digest)
    except ValueError:
        return False
    digest = hashlib.new(expected.algorithm)
    with path.open("rb") as handle:
        handle.seek(info.offset)
        try:
            stored = payload_here(handle, where=path.name, offset=info.offset)
        except CorruptWarcError:
            return False
        with stored:
            for chunk in stored.body.chunks():
                digest.update(chunk)
    # For a body that was not chunked this is the digest our strict reader already found wrong.
    return digest.digest() == expected.value
