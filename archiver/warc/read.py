"""Reading payloads back: the bytes of one record at a known place, as stored or decoded.

Why warcio here, when warcscan and warcrecord parse records themselves: those are strict readers
for verification (every digest recomputed, every short read reported). To hand a payload to
drift, extraction or `archiver show`, the reference decoder other WARC tools agree with is the
right one, so `open_payload` / `read_decoded` use warcio's `ArchiveIterator` on one record at a
known offset. The Content-Encoding is undone by `content.decoding`, never by warcio's
`content_stream()`: that one has no output cap and crashes on brotli with brotli >= 1.2.

A revisit record has no payload: it is followed to its original, named by our
`Archiver-Refers-To-File` / `-Offset` fields (warcrecord), or found by a scan of the archive's WARCs
for its `WARC-Refers-To` record ID (revisits written by other tools).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from archiver.content.decoding import decoding_reader
from archiver.errors import CorruptWarcError, StoreError
from archiver.models import WarcLocation
from archiver.warc.record import REFERS_TO_FILE, REFERS_TO_OFFSET, RecordInfo
from archiver.warc.scan import locate, read_record_info, scan, warc_files


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


def read_decoded(root: Path, loc: WarcLocation, limit: int) -> tuple[bytes, bool]:
    """The payload with its Content-Encoding undone, at most `limit` bytes, and whether more was there.

    Bounded whatever the compression ratio (one chunk per coding layer); DecodeError for an
    unknown coding or corrupt data."""
    with _warcio_record(root, loc) as record:
        http = record.http_headers
        encoding = http.get_header("content-encoding") if http is not None else None
        reader = decoding_reader(record.raw_stream, encoding)
        out = bytearray()
        while len(out) <= limit and (chunk := reader.read(min(64 * 1024, limit + 1 - len(out)))):
            out += chunk
    return bytes(out[:limit]), len(out) > limit


def read_payload(root: Path, loc: WarcLocation, limit: int | None = None) -> bytes:
    with open_payload(root, loc) as stream:
        return bytes(stream.read() if limit is None else stream.read(limit))
