"""Reading WARC files back: every record with its digests recomputed, payloads, our captures.

Two readers, on purpose:

* `iter_records` is our own strict parser. warcio's ArchiveIterator reads a file that ends early
  *silently* (a `.warc.gz` drops the partial record, a `.warc` returns it short with "digest
  present but not checked", and `warcio check` exits 0; reliability.md §0.2). Recovery and fixity
  need the opposite: exact gzip member boundaries (zlib says whether a member ended with a valid
  CRC and length), short reads reported, every digest form normalised (rules below)
  and recomputed, resynchronisation after a corrupt member so one bad record does not hide the
  rest. Memory stays bounded: members are inflated in bounded steps into spooled files.
* `open_payload` / `open_content` use warcio (one record at a known offset), because its
  `content_stream()` is the reference decoder other WARC tools agree with.

Captures are read from our metadata records with `CaptureDocuments`, fed every record of a file in
order: a revisit's metadata record leaves the capture's location and payload digest to the
revisit record just before it (that is most of what keeps a nightly revisit small).

Digests: `WARC-Block-Digest` / `WARC-Payload-Digest` are accepted as `<algorithm>:<value>` where the
algorithm label is case-insensitive with or without a dash (`sha1`, `SHA-1`, `sha256`) and the value
is hex, base32 (any case, padding optional) or base64 of exactly the algorithm's digest size.
Anything else is malformed; an algorithm we cannot compute is "present but not checked", which we
count as a failure.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from archiver.errors import CorruptWarcError, StoreError
from archiver.jsonform import capture_from_dict
from archiver.models import Capture, WarcLocation

CHUNK = 64 * 1024
SPOOL = 4 * 1024 * 1024
MAX_HEADER_LINE = 64 * 1024
MAX_HEADER_BYTES = 1024 * 1024
MAX_METADATA_BYTES = 16 * 1024 * 1024
METADATA_FORMAT = "archiver-capture/1"
GZIP_MAGIC = b"\x1f\x8b\x08"
WARC_SUFFIXES = (".warc.gz", ".warc")

# Extension fields (not WARC-*: that prefix is the standard's) that let a reader find a revisit's
# original without an index.
REFERS_TO_FILE = "Archiver-Refers-To-File"
REFERS_TO_OFFSET = "Archiver-Refers-To-Offset"


class ProblemKind(StrEnum):
    """What can be wrong with a WARC file or an index row (fixity report vocabulary)."""

    CORRUPT_RECORD = "corrupt_record"
    TRUNCATED = "truncated"
    DIGEST_MISMATCH = "digest_mismatch"
    MALFORMED_DIGEST = "malformed_digest"
    UNCHECKED_DIGEST = "unchecked_digest"
    MANIFEST_MISMATCH = "manifest_mismatch"
    MISSING_FILE = "missing_file"
    ORPHAN_FILE = "orphan_file"
    UNFINISHED_FILE = "unfinished_file"
    MISSING_RECORD = "missing_record"
    UNINDEXED_CAPTURE = "unindexed_capture"


@dataclass(frozen=True)
class RecordProblem:
    kind: ProblemKind
    message: str


@dataclass(frozen=True)
class RecordInfo:
    """One record as found on disk, with its digests as declared and as recomputed (sha256 hex).

    `offset`/`length` are the bytes in the file: the whole gzip member for `.warc.gz`, the record
    and its CRLF CRLF terminator for `.warc`. `payload_sha256` covers the HTTP entity body of
    request/response records and the whole block of other records; it is None for a revisit
    (headers only) and for an HTTP block whose header end cannot be found.
    """

    offset: int
    length: int
    type: str
    record_id: str | None
    target_uri: str | None
    date: str | None
    content_type: str | None
    headers: tuple[tuple[str, str], ...]
    block_digest: str | None
    payload_digest: str | None
    block_sha256: str
    payload_sha256: str | None
    payload_size: int | None
    http_status: int | None
    problems: tuple[RecordProblem, ...] = ()
    block: bytes | None = None

    def header(self, name: str) -> str | None:
        lower = name.lower()
        for key, value in self.headers:
            if key.lower() == lower:
                return value
        return None

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class FileFault:
    """A fault that is not one record's: a member that will not inflate, bytes after the end."""

    offset: int
    kind: ProblemKind
    message: str


@dataclass(frozen=True)
class ParsedDigest:
    algorithm: str  # hashlib name
    value: bytes


class MalformedDigestError(ValueError):
    pass


class UnknownAlgorithmError(ValueError):
    pass


_ALGORITHMS = {name: name for name in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")}


def parse_digest(text: str) -> ParsedDigest:
    """`sha1:<b32>`, `SHA-1:<b32 lower>`, `sha1:<hex>`, `sha256:<hex>`... -> algorithm + raw bytes."""
    label, sep, value = text.strip().partition(":")
    if not sep or not value:
        raise MalformedDigestError(f"digest {text!r} is not <algorithm>:<value>")
    name = _ALGORITHMS.get(label.lower().replace("-", "").replace("_", ""))
    if name is None:
        raise UnknownAlgorithmError(f"digest algorithm {label!r} is not one we can compute")
    size = hashlib.new(name).digest_size
    candidates: list[bytes] = []
    if len(value) == 2 * size:
        try:
            candidates.append(bytes.fromhex(value))
        except ValueError:
            pass
    b32 = value.upper().rstrip("=")
    if len(b32) == -(-size * 8 // 5):
        try:
            candidates.append(base64.b32decode(b32 + "=" * (-len(b32) % 8)))
        except binascii.Error:
            pass
    b64 = value.rstrip("=")
    if len(b64) == -(-size * 4 // 3):
        try:
            candidates.append(base64.b64decode(b64 + "=" * (-len(b64) % 4), altchars=b"-_" if "-" in b64 else None))
        except binascii.Error:
            pass
    for raw in candidates:
        if len(raw) == size:
            return ParsedDigest(name, raw)
    raise MalformedDigestError(f"digest {text!r} is not hex, base32 or base64 of a {label} digest")


class _Digests:
    """Hash a byte stream with sha256 and, when declared, the declared algorithm."""

    def __init__(self, declared: str | None, what: str, problems: list[RecordProblem]) -> None:
        self.sha256 = hashlib.sha256()
        self.declared = declared
        self.expected: ParsedDigest | None = None
        self.other: Any = None
        self.what = what
        if declared is None:
            return
        try:
            self.expected = parse_digest(declared)
        except UnknownAlgorithmError as exc:
            problems.append(
                RecordProblem(ProblemKind.UNCHECKED_DIGEST, f"{what} digest present but not checked: {exc}")
            )
        except MalformedDigestError as exc:
            problems.append(RecordProblem(ProblemKind.MALFORMED_DIGEST, f"{what} {exc}"))
        if self.expected is not None and self.expected.algorithm != "sha256":
            self.other = hashlib.new(self.expected.algorithm)

    def update(self, data: bytes) -> None:
        self.sha256.update(data)
        if self.other is not None:
            self.other.update(data)

    def check(self, problems: list[RecordProblem]) -> None:
        if self.expected is None:
            return
        actual = (self.other or self.sha256).digest()
        if actual != self.expected.value:
            problems.append(
                RecordProblem(
                    ProblemKind.DIGEST_MISMATCH,
                    f"{self.what} digest mismatch: declared {self.declared}, computed "
                    f"{self.expected.algorithm}:{actual.hex()}",
                )
            )


def _http_head_end(head: bytes | bytearray) -> int:
    ends = [i + 4 for i in [head.find(b"\r\n\r\n")] if i >= 0] + [i + 2 for i in [head.find(b"\n\n")] if i >= 0]
    return min(ends) if ends else -1


def _read_headers(stream: IO[bytes]) -> tuple[str, list[tuple[str, str]], int] | None:
    """The version line and fields of one WARC header; None at a clean end of stream."""
    line = stream.readline(MAX_HEADER_LINE)
    consumed = len(line)
    while line in (b"\r\n", b"\n"):  # tolerate blank lines between records
        line = stream.readline(MAX_HEADER_LINE)
        consumed += len(line)
    if not line:
        return None
    if not line.startswith(b"WARC/"):
        raise CorruptWarcError("", 0, f"expected a WARC version line, found {line[:40]!r}")
    version = line.decode("latin-1").strip()
    fields: list[tuple[str, str]] = []
    while True:
        line = stream.readline(MAX_HEADER_LINE)
        consumed += len(line)
        if not line or not line.endswith(b"\n"):
            raise _Short(f"the file ends inside the WARC header ({consumed} bytes read)")
        if line in (b"\r\n", b"\n"):
            return version, fields, consumed
        text = line.decode("utf-8", errors="replace").rstrip("\r\n")
        if text[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + " " + text.strip())
            continue
        name, sep, value = text.partition(":")
        if not sep:
            raise CorruptWarcError("", 0, f"malformed WARC header line {text[:80]!r}")
        fields.append((name.strip(), value.strip()))


class _Short(Exception):
    """The data ends before the record does."""


def _parse_record(stream: IO[bytes], offset: int, keep_metadata: bool) -> tuple[RecordInfo, int] | None:
    """Parse and verify one record from `stream`; returns the record and the bytes it used."""
    parsed = _read_headers(stream)
    if parsed is None:
        return None
    _version, fields, used = parsed

    def get(name: str) -> str | None:
        for key, value in fields:
            if key.lower() == name.lower():
                return value
        return None

    try:
        declared_length = int(get("Content-Length") or "")
    except ValueError:
        raise CorruptWarcError("", offset, "record has no valid Content-Length") from None
    rec_type = (get("WARC-Type") or "").lower()
    content_type = get("Content-Type")
    problems: list[RecordProblem] = []
    block = _Digests(get("WARC-Block-Digest"), "block", problems)
    is_revisit = rec_type == "revisit"
    payload = _Digests(None if is_revisit else get("WARC-Payload-Digest"), "payload", problems)
    http = rec_type in ("response", "request", "revisit") and "application/http" in (content_type or "").lower()
    keep = keep_metadata and rec_type == "metadata" and declared_length <= MAX_METADATA_BYTES
    kept = bytearray() if keep else None
    head: bytearray | None = bytearray() if http else None
    http_head = b""
    # Without an HTTP message the payload is the whole block (as warcio computes it).
    payload_size: int | None = None if http else 0
    remaining = declared_length
    while remaining:
        chunk = stream.read(min(CHUNK, remaining))
        if not chunk:
            raise _Short(f"the file ends {remaining} bytes before the end of the record's block")
        remaining -= len(chunk)
        block.update(chunk)
        if kept is not None:
            kept += chunk
        if head is not None:
            head += chunk
            end = _http_head_end(head)
            if end >= 0:
                http_head, rest = bytes(head[:end]), bytes(head[end:])
                head = None
                payload_size = len(rest)
                payload.update(rest)
            elif len(head) > MAX_HEADER_BYTES:
                head = None
        elif payload_size is not None:
            payload_size += len(chunk)
            payload.update(chunk)
    used += declared_length
    if head is not None and _http_head_end(head) < 0 and head:
        http_head = bytes(head)  # headers only (a revisit), possibly without the blank line
    trailer = stream.read(4)
    used += len(trailer)
    if trailer != b"\r\n\r\n":
        if b"\r\n\r\n".startswith(trailer):
            raise _Short("the file ends before the record's closing CRLF CRLF")
        problems.append(RecordProblem(ProblemKind.CORRUPT_RECORD, "record is not followed by CRLF CRLF"))
    block.check(problems)
    if payload_size is not None:
        payload.check(problems)
    elif payload.expected is not None:
        problems.append(
            RecordProblem(ProblemKind.UNCHECKED_DIGEST, "payload digest present but not checked: no HTTP message")
        )
    if is_revisit:
        payload_size = None
    status = None
    if http_head.startswith(b"HTTP/"):
        parts = http_head.split(b"\n", 1)[0].split()
        if len(parts) > 1 and parts[1].isdigit():
            status = int(parts[1])
    info = RecordInfo(
        offset=offset,
        length=0,
        type=rec_type,
        record_id=get("WARC-Record-ID"),
        target_uri=get("WARC-Target-URI"),
        date=get("WARC-Date"),
        content_type=content_type,
        headers=tuple(fields),
        block_digest=block.declared,
        payload_digest=get("WARC-Payload-Digest"),
        block_sha256=block.sha256.hexdigest(),
        payload_sha256=None if payload_size is None else payload.sha256.hexdigest(),
        payload_size=payload_size,
        http_status=status,
        problems=tuple(problems),
        block=None if kept is None else bytes(kept),
    )
    return info, used


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
            parsed = _parse_record(fh, offset, keep_metadata)
        except _Short as exc:
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
                    parsed = _parse_record(member.data, offset, keep_metadata)
                except _Short as exc:
                    yield FileFault(offset, ProblemKind.TRUNCATED, f"truncated record inside a gzip member: {exc}")
                    break
                except CorruptWarcError as exc:
                    yield FileFault(offset, ProblemKind.CORRUPT_RECORD, exc.reason)
                    break
                if parsed is None:
                    break
                yield _with_span(parsed[0], offset, member.length)
        offset += member.length


# -- reading one record at a known place (warcio) ---------------------------------------------


def locate(root: Path, file: str) -> Path:
    """The file a WarcLocation names, or its `.open` twin while it is still being written."""
    path = root / file
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
        parsed = _parse_record(stream, loc.offset, False)
    except _Short as exc:
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
                    parsed = _read_headers(inflated)  # type: ignore[arg-type]
            else:
                parsed = _read_headers(fh)
        except (_Short, CorruptWarcError, OSError, EOFError, zlib.error) as exc:
            raise CorruptWarcError(loc.file, loc.offset, f"unreadable record header: {exc}") from exc
    if parsed is None:
        raise CorruptWarcError(loc.file, loc.offset, "no record at this offset")
    return tuple(parsed[1])


def original_location(root: Path, info: RecordInfo) -> WarcLocation:
    """Where a revisit's original response is: our extension fields, else a scan for its record ID."""
    file, offset = info.header(REFERS_TO_FILE), info.header(REFERS_TO_OFFSET)
    if file and offset and offset.isdigit():
        return WarcLocation(file, int(offset), 0)
    target = info.header("WARC-Refers-To")
    if target:
        for path in warc_files(root / "warcs"):
            for item in scan(path):
                if isinstance(item, RecordInfo) and item.record_id == target:
                    return WarcLocation(str(path.relative_to(root)), item.offset, item.length)
    raise StoreError(
        f"the revisit record {info.record_id} names no original we can find (WARC-Refers-To {target}); "
        "the original may be in a WARC that is not in this archive"
    )


@contextmanager
def _warcio_record(root: Path, loc: WarcLocation, *, follow: bool = True) -> Iterator[Any]:
    path = locate(root, loc.file)
    with path.open("rb") as fh:
        fh.seek(loc.offset)
        try:
            record = next(iter(ArchiveIterator(fh)))
        except (StopIteration, ArchiveLoadFailed, ValueError) as exc:
            raise CorruptWarcError(loc.file, loc.offset, f"no readable record here ({exc})") from exc
        if follow and record.rec_type == "revisit":
            info = read_record_info(root, loc)
            original = original_location(root, info)
            with _warcio_record(root, original, follow=False) as orig:
                yield orig
            return
        yield record


@contextmanager
def open_payload(root: Path, loc: WarcLocation) -> Iterator[IO[bytes]]:
    """The payload bytes as stored (content-encoded, de-chunked); a revisit reads its original."""
    with _warcio_record(root, loc) as record:
        yield record.raw_stream


@contextmanager
def open_content(root: Path, loc: WarcLocation) -> Iterator[IO[bytes]]:
    """The payload decoded by warcio (Content-Encoding undone). Unbounded: cap what you read."""
    with _warcio_record(root, loc) as record:
        yield record.content_stream()


def read_payload(root: Path, loc: WarcLocation, limit: int | None = None) -> bytes:
    with open_payload(root, loc) as stream:
        return bytes(stream.read() if limit is None else stream.read(limit))


def read_content(root: Path, loc: WarcLocation, limit: int | None = None) -> bytes:
    with open_content(root, loc) as stream:
        return bytes(stream.read() if limit is None else stream.read(limit))


# -- our captures, from the metadata records ---------------------------------------------------


def warc_files(folder: Path, *, include_open: bool = True) -> list[Path]:
    """WARC files in a folder, oldest name first (names begin with a UTC timestamp)."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_file() and p.name.endswith(WARC_SUFFIXES)]
    if include_open:
        found += [p for p in folder.iterdir() if p.is_file() and p.name.endswith(".warc.gz.open")]
    return sorted(found, key=lambda p: p.name)


def capture_document(info: RecordInfo) -> dict[str, Any] | None:
    """The JSON document of one of our metadata records, or None for any other record."""
    if info.type != "metadata" or info.block is None or "application/json" not in (info.content_type or ""):
        return None
    try:
        document = json.loads(info.block)
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("format") != METADATA_FORMAT:
        return None
    return document


def location_name(path: Path) -> str:
    """How capture locations name a WARC file: `warcs/<name>.warc.gz`, also while it is `.open`."""
    name = path.name[: -len(".open")] if path.name.endswith(".open") else path.name
    return f"{path.parent.name}/{name}"


class CaptureDocuments:
    """The capture documents of one file's metadata records, fed every record in file order.

    A revisit's metadata document leaves out what its revisit record already says
    (warcstore.compact_revisit_document): the capture's `warc` location and its payload digest.
    They are filled back in from the record its `WARC-Concurrent-To` names, which the store writes
    just before it, into the same file (a capture is never split across files), so a complete
    metadata record always has it. Documents that carry both (every other capture, and revisits
    written before this) are returned as they are.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self._revisit: RecordInfo | None = None

    def feed(self, info: RecordInfo) -> dict[str, Any] | None:
        """The document if `info` is one of our metadata records, else None (and remember a revisit)."""
        if info.type == "revisit":
            self._revisit = info
            return None
        document = capture_document(info)
        if document is None:
            return None
        capture = document["capture"]
        revisit = self._revisit
        if (
            capture.get("revisit_of")
            and "warc" not in capture
            and revisit is not None
            and revisit.record_id is not None
            and revisit.record_id == info.header("WARC-Concurrent-To")
        ):
            capture["warc"] = {"file": self.file, "offset": revisit.offset, "length": revisit.length}
            label, _, digest = (revisit.payload_digest or "").partition(":")
            if "payload_sha256" not in capture and label.lower() == "sha256":
                capture["payload_sha256"] = digest
        return document


def iter_file_captures(path: Path) -> Iterator[Capture]:
    """The captures recorded in one file's metadata records, in file order; stops at a fault."""
    documents = CaptureDocuments(location_name(path))
    for item in scan(path, keep_metadata=True):
        if isinstance(item, FileFault):
            return
        document = documents.feed(item)
        if document is not None and not item.problems:
            yield capture_from_dict(document["capture"])


def iter_captures(root: Path) -> Iterator[Capture]:
    """Every capture recorded in the archive's WARCs (for `index rebuild`)."""
    for path in warc_files(root / "warcs"):
        yield from iter_file_captures(path)
