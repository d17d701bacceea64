"""A WARC file read record by record: gzip members found exactly, faults reported, then resumed.

Not warcio's ArchiveIterator, which drops a `.warc.gz`'s partial last record silently: recovery
must cut a crashed file back to its last complete record and fixity must report every fault, so
this scanner works on exact gzip member boundaries and resynchronises after a corrupt one, in
bounded memory. Also here: `locate` (a `WarcLocation`'s file, `.open` twin included), reading the
record at a location strictly, and listing and naming an archive's WARC files.
See docs/warc-layout.md.
"""

from __future__ import annotations

import gzip
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from archiver.errors import CorruptWarcError, StoreError, quoted
from archiver.models import WarcLocation
from archiver.warc.record import CHUNK, ProblemKind, RecordInfo, ShortReadError, parse_record, read_headers

SPOOL = 4 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b\x08"
WARC_SUFFIXES = (".warc.gz", ".warc")


@dataclass(frozen=True)
class FileFault:
    """A fault that is not one record's: a member that will not inflate, bytes after the end."""

    offset: int
    kind: ProblemKind
    message: str


def scan(path: Path, *, keep_metadata: bool = False) -> Iterator[RecordInfo | FileFault]:
    """Every record of a WARC file, verified, and every fault between records, in file order."""
    with path.open("rb") as fh:
        if fh.read(2) == GZIP_MAGIC[:2]:
            fh.seek(0)
            yield from _scan_gzip(fh, keep_metadata)
        else:
            fh.seek(0)
            yield from _scan_plain(fh, keep_metadata)


def iter_records(path: Path, *, keep_metadata: bool = False) -> Iterator[RecordInfo]:
    """The records of a file; raises CorruptWarcError at the first fault between records."""
    for item in scan(path, keep_metadata=keep_metadata):
        if isinstance(item, FileFault):
            raise CorruptWarcError(str(path), item.offset, item.message)
        yield item


def _scan_plain(fh: IO[bytes], keep_metadata: bool) -> Iterator[RecordInfo | FileFault]:
    while True:
        offset = fh.tell()
        try:
            parsed = parse_record(fh, offset, keep_metadata)
        except ShortReadError as exc:
            yield FileFault(offset, ProblemKind.TRUNCATED, f"truncated record: {exc}")
            return
        except CorruptWarcError as exc:
            # Without gzip members there is no boundary to resynchronise on: stop here.
            yield FileFault(offset, ProblemKind.CORRUPT_RECORD, f"{exc.reason}; the rest of the file was not read")
            return
        if parsed is None:
            return
        info, used = parsed
        yield _with_span(info, offset, used)


def _with_span(info: RecordInfo, offset: int, length: int) -> RecordInfo:
    return replace(info, offset=offset, length=length)


@dataclass
class _Member:
    offset: int
    length: int
    data: IO[bytes]
    complete: bool
    error: str | None


def _inflate_member(fh: IO[bytes], offset: int) -> _Member:
    """Inflate the gzip member at `offset` in bounded steps into a spooled file."""
    fh.seek(offset)
    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 - returned to the caller
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    fed = 0
    try:
        while not inflater.eof:
            chunk = fh.read(CHUNK)
            if not chunk:
                return _Member(offset, fed, out, False, None)
            fed += len(chunk)
            data = chunk
            while data and not inflater.eof:
                out.write(inflater.decompress(data, CHUNK * 4))
                data = inflater.unconsumed_tail
    except zlib.error as exc:
        return _Member(offset, fed, out, False, f"gzip data is corrupt ({exc})")
    length = fed - len(inflater.unused_data)
    return _Member(offset, length, out, True, None)


def _next_magic(fh: IO[bytes], start: int) -> int:
    """Offset of the next gzip header at or after `start`, or -1."""
    fh.seek(start)
    carry = b""
    position = start
    while True:
        chunk = fh.read(CHUNK)
        if not chunk:
            return -1
        buffer = carry + chunk
        found = buffer.find(GZIP_MAGIC)
        if found >= 0:
            return position - len(carry) + found
        carry = buffer[-2:]
        position += len(chunk)


def _scan_gzip(fh: IO[bytes], keep_metadata: bool) -> Iterator[RecordInfo | FileFault]:
    fh.seek(0, 2)
    size = fh.tell()
    offset = 0
    failing = False  # after a bad member, report only once until a good one is found
    while offset < size:
        fh.seek(offset)
        if fh.read(3) != GZIP_MAGIC:
            if not failing:
                yield FileFault(offset, ProblemKind.CORRUPT_RECORD, "bytes here are not a gzip member")
            failing = True
            offset = _next_magic(fh, offset + 1)
            if offset < 0:
                return
            continue
        member = _inflate_member(fh, offset)
        with member.data:
            if member.error is not None:
                if not failing:
                    yield FileFault(offset, ProblemKind.CORRUPT_RECORD, f"record unreadable: {member.error}")
                failing = True
                offset = _next_magic(fh, offset + 1)
                if offset < 0:
                    return
                continue
            if not member.complete:
                yield FileFault(
                    offset,
                    ProblemKind.TRUNCATED,
                    f"the file ends inside the gzip member that starts here ({member.length} bytes present)",
                )
                return
            failing = False
            member.data.seek(0)
            while True:
                try:
                    parsed = parse_record(member.data, offset, keep_metadata)
                except ShortReadError as exc:
                    yield FileFault(offset, ProblemKind.TRUNCATED, f"truncated record inside a gzip member: {exc}")
                    break
                except CorruptWarcError as exc:
                    yield FileFault(offset, ProblemKind.CORRUPT_RECORD, exc.reason)
                    break
                if parsed is None:
                    break
                yield _with_span(parsed[0], offset, member.length)
        offset += member.length


# -- one record at a known place -----------------------------------------------------------------


def locate(root: Path, file: str) -> Path:
    """The file a WarcLocation names, or its `.open` twin while it is still being written.

    The name comes from the index, which is only a rebuildable cache: a name that leaves the
    archive folder (`../../etc/passwd`, an absolute path, a symlink out) is refused, never opened."""
    path = root / file
    inside = root.resolve()
    if Path(file).is_absolute() or ".." in Path(file).parts or not path.resolve().is_relative_to(inside):
        raise StoreError(
            f"the index names a WARC file outside the archive folder ({quoted(file, 120)}); it is not opened: "
            "the index was edited or damaged, run `archiver index rebuild` to recreate it from the WARC files"
        )
    if path.exists():
        return path
    open_path = path.with_name(path.name + ".open")
    if open_path.exists():
        return open_path
    raise StoreError(f"WARC file {path} is missing; run `archiver verify` to list what else is missing")


def read_record_info(root: Path, loc: WarcLocation) -> RecordInfo:
    """The record at `loc`, parsed and verified by our own reader."""
    path = locate(root, loc.file)
    with path.open("rb") as fh:
        fh.seek(loc.offset)
        if fh.read(3) == GZIP_MAGIC:
            member = _inflate_member(fh, loc.offset)
            with member.data:
                if not member.complete:
                    raise CorruptWarcError(loc.file, loc.offset, member.error or "the record is truncated")
                member.data.seek(0)
                parsed = _safe_parse(member.data, loc)
                return _with_span(parsed[0], loc.offset, member.length)
        fh.seek(loc.offset)
        parsed = _safe_parse(fh, loc)
        return _with_span(parsed[0], loc.offset, parsed[1])


def _safe_parse(stream: IO[bytes], loc: WarcLocation) -> tuple[RecordInfo, int]:
    try:
        parsed = parse_record(stream, loc.offset, False)
    except ShortReadError as exc:
        raise CorruptWarcError(loc.file, loc.offset, f"truncated record: {exc}") from None
    except CorruptWarcError as exc:
        raise CorruptWarcError(loc.file, loc.offset, exc.reason) from None
    if parsed is None:
        raise CorruptWarcError(loc.file, loc.offset, "no record at this offset")
    return parsed


def read_record_headers(root: Path, loc: WarcLocation) -> tuple[tuple[str, str], ...]:
    """Only the WARC header fields of the record at `loc` (cheap: the block is not read)."""
    path = locate(root, loc.file)
    with path.open("rb") as fh:
        fh.seek(loc.offset)
        magic = fh.read(3)
        fh.seek(loc.offset)
        try:
            if magic == GZIP_MAGIC:
                with gzip.GzipFile(fileobj=fh, mode="rb") as inflated:
                    parsed = read_headers(inflated)  # type: ignore[arg-type]
            else:
                parsed = read_headers(fh)
        except (ShortReadError, CorruptWarcError, OSError, EOFError, zlib.error) as exc:
            raise CorruptWarcError(loc.file, loc.offset, f"unreadable record header: {exc}") from exc
    if parsed is None:
        raise CorruptWarcError(loc.file, loc.offset, "no record at this offset")
    return tuple(parsed[1])


# -- the archive's files ---------------------------------------------------------------------------


def warc_files(folder: Path, *, include_open: bool = True) -> list[Path]:
    """WARC files in a folder, oldest name first (names begin with a UTC timestamp)."""
    if not folder.is_dir():
        return []
    # One pass over the folder: two would miss a file renamed from .open to its final name in between.
    suffixes = (*WARC_SUFFIXES, ".warc.gz.open") if include_open else WARC_SUFFIXES
    found = [p for p in folder.iterdir() if p.name.endswith(suffixes) and p.is_file()]
    return sorted(found, key=lambda p: p.name)


def location_name(path: Path) -> str:
    """How capture locations name a WARC file: `warcs/<name>.warc.gz`, also while it is `.open`."""
    name = path.name[: -len(".open")] if path.name.endswith(".open") else path.name
    return f"{path.parent.name}/{name}"
