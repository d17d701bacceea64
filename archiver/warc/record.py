"""One WARC record, parsed strictly: header fields, block, digests recomputed, every problem named.

Our own parser, not warcio's ArchiveIterator, because warcio reads a short record silently and
recovery and fixity need the opposite: a short read is an error, every declared digest is
recomputed while the block streams past, and each fault is a `RecordProblem`, so one bad digest
does not hide the rest. `warc/scan` finds the records of a file and feeds them here.
See docs/warc-layout.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, Any

from archiver.errors import CorruptWarcError
from archiver.warc.digests import MalformedDigestError, ParsedDigest, UnknownAlgorithmError, parse_digest

CHUNK = 64 * 1024
MAX_HEADER_LINE = 64 * 1024
MAX_HEADER_BYTES = 1024 * 1024
MAX_METADATA_BYTES = 16 * 1024 * 1024

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
    INVALID_PACKAGE = "invalid_package"  # a downloaded WACZ's datapackage: a hash, a missing part


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


class ShortReadError(Exception):
    """The data ends before the record does."""


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


def read_headers(stream: IO[bytes]) -> tuple[str, list[tuple[str, str]], int] | None:
    """The version line and fields of one WARC header and the bytes they took; None at a clean end."""
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
            raise ShortReadError(f"the file ends inside the WARC header ({consumed} bytes read)")
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


class _Block:
    """One record's block as it streams past: both digests, the HTTP head split off, metadata kept."""

    def __init__(self, block: _Digests, payload: _Digests, *, http: bool, keep: bool) -> None:
        self.block = block
        self.payload = payload
        self.kept: bytearray | None = bytearray() if keep else None
        self._head: bytearray | None = bytearray() if http else None
        self.http_head = b""
        # Without an HTTP message the payload is the whole block (as warcio computes it).
        self.payload_size: int | None = None if http else 0

    def feed(self, chunk: bytes) -> None:
        self.block.update(chunk)
        if self.kept is not None:
            self.kept += chunk
        if self._head is not None:
            self._head += chunk
            end = _http_head_end(self._head)
            if end >= 0:
                self.http_head, rest = bytes(self._head[:end]), bytes(self._head[end:])
                self._head = None
                self.payload_size = len(rest)
                self.payload.update(rest)
            elif len(self._head) > MAX_HEADER_BYTES:
                self._head = None
        elif self.payload_size is not None:
            self.payload_size += len(chunk)
            self.payload.update(chunk)

    def finish(self) -> None:
        if self._head and _http_head_end(self._head) < 0:
            self.http_head = bytes(self._head)  # headers only (a revisit), possibly without the blank line

    @property
    def status(self) -> int | None:
        if not self.http_head.startswith(b"HTTP/"):
            return None
        parts = self.http_head.split(b"\n", 1)[0].split()
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def _field_getter(fields: list[tuple[str, str]]) -> Callable[[str], str | None]:
    def get(name: str) -> str | None:
        lower = name.lower()
        for key, value in fields:
            if key.lower() == lower:
                return value
        return None

    return get


def _read_block(stream: IO[bytes], length: int, block: _Block) -> None:
    remaining = length
    while remaining:
        chunk = stream.read(min(CHUNK, remaining))
        if not chunk:
            raise ShortReadError(f"the file ends {remaining} bytes before the end of the record's block")
        remaining -= len(chunk)
        block.feed(chunk)
    block.finish()


def _read_trailer(stream: IO[bytes], problems: list[RecordProblem]) -> int:
    trailer = stream.read(4)
    if trailer != b"\r\n\r\n":
        if b"\r\n\r\n".startswith(trailer):
            raise ShortReadError("the file ends before the record's closing CRLF CRLF")
        problems.append(RecordProblem(ProblemKind.CORRUPT_RECORD, "record is not followed by CRLF CRLF"))
    return len(trailer)


def _check_digests(block: _Block, problems: list[RecordProblem]) -> None:
    block.block.check(problems)
    if block.payload_size is not None:
        block.payload.check(problems)
    elif block.payload.expected is not None:
        problems.append(
            RecordProblem(ProblemKind.UNCHECKED_DIGEST, "payload digest present but not checked: no HTTP message")
        )


def parse_record(stream: IO[bytes], offset: int, keep_metadata: bool) -> tuple[RecordInfo, int] | None:
    """Parse and verify one record from `stream`; returns the record and the bytes it used."""
    parsed = read_headers(stream)
    if parsed is None:
        return None
    _version, fields, used = parsed
    get = _field_getter(fields)
    try:
        declared_length = int(get("Content-Length") or "")
    except ValueError:
        raise CorruptWarcError("", offset, "record has no valid Content-Length") from None
    if declared_length < 0:  # int() reads "-5" (fuzz/ found it): a length cannot be negative
        raise CorruptWarcError("", offset, f"record has a negative Content-Length ({declared_length})")
    rec_type = (get("WARC-Type") or "").lower()
    content_type = get("Content-Type")
    problems: list[RecordProblem] = []
    is_revisit = rec_type == "revisit"
    block = _Block(
        _Digests(get("WARC-Block-Digest"), "block", problems),
        _Digests(None if is_revisit else get("WARC-Payload-Digest"), "payload", problems),
        http=rec_type in ("response", "request", "revisit") and "application/http" in (content_type or "").lower(),
        keep=keep_metadata and rec_type == "metadata" and declared_length <= MAX_METADATA_BYTES,
    )
    _read_block(stream, declared_length, block)
    used += declared_length + _read_trailer(stream, problems)
    _check_digests(block, problems)
    payload_size = None if is_revisit else block.payload_size
    info = RecordInfo(
        offset=offset,
        length=0,
        type=rec_type,
        record_id=get("WARC-Record-ID"),
        target_uri=get("WARC-Target-URI"),
        date=get("WARC-Date"),
        content_type=content_type,
        headers=tuple(fields),
        block_digest=block.block.declared,
        payload_digest=get("WARC-Payload-Digest"),
        block_sha256=block.block.sha256.hexdigest(),
        payload_sha256=None if payload_size is None else block.payload.sha256.hexdigest(),
        payload_size=payload_size,
        http_status=block.status,
        problems=tuple(problems),
        block=None if block.kept is None else bytes(block.kept),
    )
    return info, used
