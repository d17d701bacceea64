"""Reading records back: the one path from a place in a WARC (ours, or a mirror file) to its payload.

`scan` and `record` are strict readers for verification (every digest recomputed, every short
read reported). To hand a payload to drift, extraction or `archiver show`, the reference decoder
other WARC tools agree with is the right one, so this module reads with warcio and returns typed
values: `RecordHead` (a record's headers and place) and `StoredPayload` (its entity body as
stored, de-chunked and still content-encoded, with the HTTP headers that say how to decode it).
A revisit is followed to its original (`Archiver-Refers-To-*`, else `WARC-Refers-To`). Content-
Encoding is undone by `content.decoding` (`read_decoded`), never warcio's uncapped `content_stream()`.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader
from warcio.exceptions import ArchiveLoadFailed

from archiver.content.body import Body
from archiver.content.decoding import decoding_reader
from archiver.errors import CorruptWarcError, StoreError
from archiver.models import WarcLocation
from archiver.warc.record import REFERS_TO_FILE, REFERS_TO_OFFSET, RecordInfo
from archiver.warc.scan import locate, read_record_info, scan, warc_files

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class RecordHead:
    """One record's headers and where it lives in its stream, as found while iterating."""

    offset: int
    length: int
    rec_type: str
    target_uri: str | None
    record_id: str | None
    date: str | None
    status: int | None  # of the HTTP response a response/revisit record holds
    location: str | None  # its Location header
    refers_to: str | None
    refers_to_uri: str | None
    payload_digest: str | None


@dataclass(frozen=True)
class StoredPayload:
    """A record's entity body as stored, and the headers that say what it is. Close it when done."""

    body: Body
    rec_type: str
    target_uri: str | None
    content_type: str | None
    content_encoding: str | None

    def close(self) -> None:
        self.body.close()

    def __enter__(self) -> StoredPayload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_heads(stream: IO[bytes]) -> Iterator[RecordHead]:
    """Every record of a WARC stream, read to its end; ValueError for a stream that is not WARC."""
    try:
        yield from _heads(stream)
    except ArchiveLoadFailed as exc:
        raise ValueError(str(exc)) from exc


def _heads(stream: IO[bytes]) -> Iterator[RecordHead]:
    records = ArchiveIterator(stream, check_digests=False)
    for record in records:
        if record.format != "warc":
            # warcio reads anything line-shaped as an ARC file; what we read is WARC or nothing.
            raise ValueError(f"a {record.format} record where a WARC record should be")
        headers = record.rec_headers
        http = record.http_headers
        status = location = None
        if http is not None and record.rec_type in ("response", "revisit"):
            code = http.get_statuscode()
            status = int(code) if code and code.isdigit() else None
            location = http.get_header("location")
        offset = records.get_record_offset()
        records.read_to_end(record)
        yield RecordHead(
            offset=offset,
            length=records.get_record_length(),
            rec_type=record.rec_type,
            target_uri=headers.get_header("WARC-Target-URI"),
            record_id=headers.get_header("WARC-Record-ID"),
            date=headers.get_header("WARC-Date"),
            status=status,
            location=location,
            refers_to=headers.get_header("WARC-Refers-To"),
            refers_to_uri=headers.get_header("WARC-Refers-To-Target-URI"),
            payload_digest=headers.get_header("WARC-Payload-Digest"),
        )


def _first_record(stream: IO[bytes], where: str, offset: int) -> Any:
    try:
        return next(iter(ArchiveIterator(stream, check_digests=False)))
    except (StopIteration, ArchiveLoadFailed, ValueError) as exc:
        raise CorruptWarcError(where, offset, f"no readable record here ({exc})") from exc


def _spool(record: Any) -> StoredPayload:
    http = record.http_headers
    stream: IO[bytes] = record.raw_stream
    if http is not None:
        content_type, encoding = http.get_header("content-type"), http.get_header("content-encoding")
        # Other tools (Scoop) keep a chunked body as it came; ours is de-chunked when written.
        if (http.get_header("transfer-encoding") or "").lower() == "chunked":
            stream = ChunkedDataReader(record.raw_stream, decomp_type=None)
    else:
        content_type, encoding = record.rec_headers.get_header("Content-Type"), None
    body = Body()
    try:
        while chunk := stream.read(_CHUNK):
            body.write(chunk)
    except BaseException:
        body.close()
        raise
    return StoredPayload(
        body, record.rec_type, record.rec_headers.get_header("WARC-Target-URI"), content_type, encoding
    )


def payload_here(stream: IO[bytes], *, where: str = "", offset: int = 0) -> StoredPayload:
    """The payload of the record that starts at the stream's position (a revisit is not followed)."""
    return _spool(_first_record(stream, where, offset))


@contextmanager
def open_at(root: Path, loc: WarcLocation) -> Iterator[IO[bytes]]:
    """The stream positioned at `loc`: a WARC, a WACZ at an absolute offset, or `file#member`."""
    file, _, member = loc.file.partition("#")
    path = locate(root, file)
    try:
        with path.open("rb") as handle:
            if member:
                with zipfile.ZipFile(handle) as archive, archive.open(member) as stream:
                    stream.seek(loc.offset)  # a compressed member seeks by reading forward
                    yield stream
            else:
                handle.seek(loc.offset)
                yield handle
    except (zipfile.BadZipFile, KeyError, EOFError, zlib.error) as exc:
        raise StoreError(f"cannot read {loc.file} at offset {loc.offset} ({exc}); run `archiver verify`") from exc


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


def warc_streams(path: Path) -> Iterator[tuple[str, IO[bytes]]]:
    """Every WARC stream of an archive file: the file itself, or each WARC member of a WACZ."""
    if not zipfile.is_zipfile(path):
        with path.open("rb") as handle:
            yield path.name, handle
        return
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.endswith((".warc", ".warc.gz")):
                with archive.open(name) as stream:
                    yield name, stream


def _revisited_in_file(root: Path, file: str, record_id: str) -> StoredPayload:
    path = locate(root, file.partition("#")[0])
    for _, stream in warc_streams(path):
        for record in ArchiveIterator(stream, check_digests=False):
            if record.rec_headers.get_header("WARC-Record-ID") == record_id and record.rec_type == "response":
                return _spool(record)
    raise StoreError(f"the revisit in {file} points at record {record_id}, which is not in the file")


def payload_at(root: Path, loc: WarcLocation) -> StoredPayload:
    """The payload of the record at `loc`, a revisit followed to its original. The caller closes it."""
    with open_at(root, loc) as stream:
        payload = payload_here(stream, where=loc.file, offset=loc.offset)
    if payload.rec_type != "revisit":
        return payload
    payload.close()
    if loc.file.startswith("warcs/"):
        original = original_location(root, read_record_info(root, loc))
        with open_at(root, original) as stream:
            return payload_here(stream, where=original.file, offset=original.offset)
    with open_at(root, loc) as stream:
        refers_to = _first_record(stream, loc.file, loc.offset).rec_headers.get_header("WARC-Refers-To")
    if not refers_to:
        raise StoreError(f"the revisit record in {loc.file} at {loc.offset} names no original (WARC-Refers-To)")
    return _revisited_in_file(root, loc.file, refers_to)


def response_headers(root: Path, loc: WarcLocation) -> tuple[tuple[str, str], ...]:
    """The HTTP headers of the record at `loc` as received (a revisit keeps its own): () if it has none."""
    with open_at(root, loc) as stream:
        http = _first_record(stream, loc.file, loc.offset).http_headers
    return () if http is None else tuple((str(k), str(v)) for k, v in http.headers)


def read_decoded(root: Path, loc: WarcLocation, limit: int) -> tuple[bytes, bool]:
    """The payload with its Content-Encoding undone, at most `limit` bytes, and whether more was there.

    A revisit is followed. Bounded whatever the compression ratio (one chunk per coding layer);
    DecodeError for an unknown coding or corrupt data."""
    with payload_at(root, loc) as payload:
        reader = decoding_reader(payload.body.open(), payload.content_encoding)
        out = bytearray()
        while len(out) <= limit and (chunk := reader.read(min(64 * 1024, limit + 1 - len(out)))):
            out += chunk
    return bytes(out[:limit]), len(out) > limit


def read_payload(root: Path, loc: WarcLocation, limit: int | None = None) -> bytes:
    """The payload bytes as stored (content-encoded, de-chunked), a revisit followed: for tests and small bodies."""
    with payload_at(root, loc) as payload:
        return payload.body.read_all(limit)


def stored_http_headers(root: Path, loc: WarcLocation) -> tuple[tuple[str, str], ...]:
    """The HTTP response headers of the record at `loc` as archived (a revisit keeps its own)."""
    with open_at(root, loc) as stream:
        http = _first_record(stream, loc.file, loc.offset).http_headers
        return () if http is None else tuple((str(k), str(v)) for k, v in http.headers)
