"""WARC/1.1 records serialised one gzip member each: response, revisit, request, metadata, warcinfo.

The header blocks are written directly from byte templates, byte for byte what warcio's
`WARCWriter` wrote (its header objects were a third of a small capture's CPU: issue 14); digests
are finished, and each record is one gzip member (its offset is what CDX tools seek to), deflated
by zlib-ng at a level we choose: the same format as zlib's, for far less CPU (docs/warc-layout.md).
Payloads are stored exactly as received; revisits follow the identical-payload-digest profile and
name their original's file and offset. The writer knows nothing of files, rollover or locking: it
writes into a `RecordSink` that `store/warcfiles` owns.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Sequence
from typing import IO
from urllib.parse import quote, urlsplit

from warcio.statusandheaders import StatusAndHeaders
from zlib_ng import zlib_ng

from archiver.content.body import Body
from archiver.net.exchange import Exchange
from archiver.warc.metadata import METADATA_CONTENT_TYPE, METADATA_FORMAT, RefersTo
from archiver.warc.record import REFERS_TO_FILE, REFERS_TO_OFFSET

REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
WARC_SPEC = "http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"
_COMPRESSED_TYPES = ("image/", "video/", "audio/", "application/zip", "application/gzip", "application/x-gzip")
_PROBE_BYTES = 64 * 1024
LARGE_BODY = 1024 * 1024  # payloads above this are deflated at level 1 (see RecordWriter.response)
HTTP_RESPONSE = "application/http; msgtype=response"
HTTP_REQUEST = "application/http; msgtype=request"
_EMPTY_PAYLOAD = f"WARC-Payload-Digest: sha256:{hashlib.sha256(b'').hexdigest()}\r\n"
_LOWER_HEX = re.compile("[0-9a-f]{32}")
_NEEDS_URLSPLIT = re.compile(r"[ #\[\]\\]")  # fragments, IPv6 hosts, backslashes, spaces
_HOST_END = re.compile("[/?]")
_ONE_SHOT_BYTES = 256 * 1024  # records up to this size are deflated in one call
_GZIP = 16 + zlib_ng.MAX_WBITS  # wbits: a gzip member with a 32 KiB window
_COMPRESSED_ENCODINGS = frozenset({"gzip", "x-gzip", "br", "zstd", "deflate", "compress"})


def header_safe(url: str) -> str:
    """A URL fit for a WARC header line: non-printable and non-ASCII characters percent-encoded."""
    if url.isascii() and url.isprintable() and " " not in url:
        return url  # the common case, without a Python-level loop over every character
    return "".join(c if 33 <= ord(c) < 127 else quote(c, safe="") for c in url)


def archived_response_headers(exchange: Exchange) -> list[tuple[str, str]]:
    """Response headers made consistent with the stored (de-chunked) body."""
    stored = str(exchange.body.size)
    framed = exchange.method.upper() != "HEAD" and exchange.status >= 200 and exchange.status not in (204, 304)
    headers: list[tuple[str, str]] = []
    has_length = False
    for name, value in exchange.response_headers:
        lower = name.lower()
        if lower == "transfer-encoding":
            headers.append(("X-Crawler-Transfer-Encoding", value))
        elif lower == "content-length" and framed:
            if value.strip() == stored and not has_length:
                headers.append((name, value))
                has_length = True
            else:
                headers.append(("X-Crawler-Content-Length", value))
        else:
            headers.append((name, value))
    if framed and not has_length:
        headers.append(("Content-Length", stored))
    return headers


def request_target(url: str) -> str:
    """The request line's target: path and query, as `urlsplit` splits them (fragment dropped)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("http", "https") and url.isascii() and url.isprintable() and not _NEEDS_URLSPLIT.search(rest):
        # The common case without urlsplit (a tenth of a request record's CPU); tests/warc/test_writer.py
        # holds the two equal. The host ends at the first "/" or "?"; the query follows the first "?".
        host_end = _HOST_END.search(rest)
        path, _, query = (rest[host_end.start() :] if host_end else "").partition("?")
    else:
        parts = urlsplit(url)
        path, query = parts.path, parts.query
    target = path or "/"
    return f"{target}?{query}" if query else target


def _incompressible(exchange: Exchange) -> bool:
    """True for payloads deflate cannot shrink: already encoded, media, or random-looking bytes.

    Deflating those again runs at ~40 MiB/s for nothing; a stored (level 0) member runs at ~700.
    Only a body larger than the probe is probed: on random bytes level 1 costs what level 6 does
    (measured on 4-64 KiB), so probing a body it covers whole never saves what it costs, and on a
    compressible page it was a second deflate of every byte (a quarter of a 10 KB capture's zlib time).
    """
    encoding = (exchange.header("content-encoding") or "").strip().lower()
    content_type = (exchange.header("content-type") or "").strip().lower()
    if encoding in _COMPRESSED_ENCODINGS or content_type.startswith(_COMPRESSED_TYPES):
        return True
    if exchange.body.size <= _PROBE_BYTES:
        return False
    sample = exchange.body.open().read(_PROBE_BYTES)
    return len(zlib_ng.compress(sample, 1)) > 0.9 * len(sample)


class RecordSink:
    """The open file, counting and hashing every byte written (for offsets and the manifest).

    It also carries what every record of the file shares: the warcinfo record's ID, and how many
    records the file holds (the store never rolls over a file that has only its warcinfo).
    """

    def __init__(self, fh: IO[bytes], warcinfo_id: str) -> None:
        self.fh = fh
        self.warcinfo_id = warcinfo_id
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.records = 0

    def write(self, data: bytes) -> None:
        if data:
            self.fh.write(data)
            self.sha256.update(data)
            self.size += len(data)


def http_head(first_line: str, headers: Sequence[tuple[str, str]]) -> bytes:
    """An HTTP message head as warcio serialises it (ASCII; non-ASCII values RFC 8187-encoded)."""
    text = first_line + "\r\n" + "".join([f"{name}: {value}\r\n" for name, value in headers]) + "\r\n"
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        # Rare (a server sending raw UTF-8 in a header): warcio's own percent-encoding, so the
        # bytes stay exactly what they were when warcio serialised every record.
        http = StatusAndHeaders(first_line, list(headers))
        http.compute_headers_buffer()
        return bytes(http.headers_buff)


def warc_head(fields: dict[str, str], content_type: str, length: int) -> bytes:
    """A WARC/1.1 record header block: the fields in order, then Content-Type and Content-Length."""
    return _head_text(_lines(fields), content_type, length).encode()


def _head_text(lines: str, content_type: str, length: int) -> str:
    """`warc_head` of fields already written as lines (how RecordWriter builds them)."""
    return f"WARC/1.1\r\n{lines}Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"


def _lines(fields: dict[str, str]) -> str:
    return "".join(f"{name}: {value}\r\n" for name, value in fields.items())


def _common(record_type: str, record_id: str, date: str, warcinfo_id: str, target: str) -> str:
    """The first fields of every record but warcinfo, in warcio's order."""
    return (
        f"WARC-Type: {record_type}\r\nWARC-Record-ID: {record_id}\r\nWARC-Date: {date}\r\n"
        f"WARC-Warcinfo-ID: {warcinfo_id}\r\nWARC-Target-URI: {header_safe(target)}\r\n"
    )


def _status_line(exchange: Exchange) -> str:
    status = f"{exchange.status} {exchange.reason}".strip()
    return f"{exchange.http_version} {status}" if exchange.http_version else status


class RecordWriter:
    """Writes one record at a time into a sink; returns where it went (offset, length in the file).

    The header blocks are serialised here, byte for byte what warcio's WARCWriter wrote (its
    header objects cost a third of a small capture's CPU): fields in the order given, then
    Content-Type and Content-Length; tests/warc/test_writer.py holds the two equal. Each record's
    fields are one f-string rather than a dict joined line by line (issue 14: a third less CPU).
    """

    def __init__(self, new_id: Callable[[], str], compress_level: int = 6) -> None:
        self._new_id = new_id
        self.compress_level = compress_level

    def record_id(self) -> str:
        value = self._new_id()
        if len(value) == 32 and _LOWER_HEX.fullmatch(value):
            # What str(uuid.UUID(value)) gives, without building the object (three per capture).
            return f"<urn:uuid:{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}>"
        try:
            return f"<urn:uuid:{uuid.UUID(value)}>"
        except ValueError:
            return f"<urn:archiver:{header_safe(value)}>"

    def _emit(
        self, sink: RecordSink, fields: str, content_type: str, head: bytes, body: bytes | Body, level: int
    ) -> tuple[int, int]:
        """One gzip member: WARC header (`fields` are its lines), HTTP head (may be empty), block rest, CRLF CRLF."""
        start = sink.size
        size = len(body) if isinstance(body, bytes) else body.size
        prefix = _head_text(fields, content_type, len(head) + size)
        if isinstance(body, bytes):
            # One call into the compressor for the whole record: most records are a few KB.
            sink.write(zlib_ng.compress(b"".join((prefix.encode(), head, body, b"\r\n\r\n")), level, _GZIP))
        else:
            compressor = zlib_ng.compressobj(level, zlib_ng.DEFLATED, _GZIP)
            sink.write(compressor.compress(prefix.encode() + head))
            for chunk in body.chunks():
                sink.write(compressor.compress(chunk))
            sink.write(compressor.compress(b"\r\n\r\n"))
            sink.write(compressor.flush())
        sink.records += 1
        return start, sink.size - start

    def response(self, sink: RecordSink, exchange: Exchange, date: str, record_id: str) -> tuple[int, int]:
        head = http_head(_status_line(exchange), archived_response_headers(exchange))
        body = exchange.body
        block = hashlib.sha256(head)
        payload: bytes | Body = body
        if body.size <= _ONE_SHOT_BYTES:
            payload = body.read_all()  # read once, for the digest and the compressor
            block.update(payload)
        else:
            for chunk in body.chunks():
                block.update(chunk)
        fields = _common("response", record_id, date, sink.warcinfo_id, exchange.url)
        if exchange.ip_address:
            fields += f"WARC-IP-Address: {exchange.ip_address}\r\n"
        if exchange.truncated is not None:
            fields += f"WARC-Truncated: {exchange.truncated.value}\r\n"
        fields += f"WARC-Block-Digest: sha256:{block.hexdigest()}\r\nWARC-Payload-Digest: sha256:{body.sha256}\r\n"
        if _incompressible(exchange):
            level = 0
        elif body.size > LARGE_BODY:
            # Deflate level 1 runs twice as fast as 6 (570 vs 280 MiB/s measured) for a few % more
            # bytes: for a large body the compressor, not the network, would set the pace.
            level = min(self.compress_level, 1)
        else:
            level = self.compress_level
        return self._emit(sink, fields, HTTP_RESPONSE, head, payload, level)

    def revisit(
        self, sink: RecordSink, exchange: Exchange, date: str, record_id: str, refers: RefersTo
    ) -> tuple[int, int]:
        head = http_head(_status_line(exchange), archived_response_headers(exchange))
        fields = _common("revisit", record_id, date, sink.warcinfo_id, exchange.url)
        if exchange.ip_address:
            fields += f"WARC-IP-Address: {exchange.ip_address}\r\n"
        fields += (
            f"WARC-Profile: {REVISIT_PROFILE}\r\nWARC-Refers-To: {refers.record_id}\r\n"
            f"WARC-Refers-To-Target-URI: {refers.target_uri}\r\nWARC-Refers-To-Date: {refers.date}\r\n"
            f"{REFERS_TO_FILE}: {refers.file}\r\n{REFERS_TO_OFFSET}: {refers.offset}\r\n"
            f"WARC-Block-Digest: sha256:{hashlib.sha256(head).hexdigest()}\r\n"
            f"WARC-Payload-Digest: sha256:{exchange.body.sha256}\r\n"
        )
        return self._emit(sink, fields, HTTP_RESPONSE, head, b"", self.compress_level)

    def request(self, sink: RecordSink, exchange: Exchange, date: str, response_id: str) -> str:
        """Write the request concurrent to `response_id`; returns the request record's ID."""
        first = f"{exchange.method} {request_target(exchange.url)} {exchange.http_version}"
        head = http_head(first, exchange.request_headers)
        record_id = self.record_id()
        fields = _common("request", record_id, date, sink.warcinfo_id, exchange.url)
        fields += f"WARC-Concurrent-To: {response_id}\r\n"
        if exchange.ip_address:
            fields += f"WARC-IP-Address: {exchange.ip_address}\r\n"
        fields += f"WARC-Block-Digest: sha256:{hashlib.sha256(head).hexdigest()}\r\n{_EMPTY_PAYLOAD}"
        self._emit(sink, fields, HTTP_REQUEST, head, b"", self.compress_level)
        return record_id

    def metadata(self, sink: RecordSink, target: str, date: str, concurrent_to: str | None, data: bytes) -> None:
        fields = _common("metadata", self.record_id(), date, sink.warcinfo_id, target)
        if concurrent_to is not None:
            fields += f"WARC-Concurrent-To: {concurrent_to}\r\n"
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        fields += f"WARC-Block-Digest: {digest}\r\nWARC-Payload-Digest: {digest}\r\n"
        # Why not application/json: warc/metadata.py.
        self._emit(sink, fields, METADATA_CONTENT_TYPE, b"", data, self.compress_level)

    def warcinfo(self, sink: RecordSink, filename: str, date: str, software: str) -> None:
        """The file's first record: what wrote it and the conventions its records follow."""
        info = {
            "software": software,
            "format": "WARC File Format 1.1",
            "conformsTo": WARC_SPEC,
            "digest-algorithm": "sha256; WARC-Block-Digest and WARC-Payload-Digest are sha256:<64 lowercase hex>",
            "payload-digest": "payload digests cover the de-chunked, content-encoded entity body",
            "http-headers": "Transfer-Encoding renamed X-Crawler-Transfer-Encoding; Content-Length is the stored "
            "length, a different original kept as X-Crawler-Content-Length",
            "metadata": f"one {METADATA_CONTENT_TYPE} metadata record per capture, its JSON document "
            f"({METADATA_FORMAT}) in the archiver-capture field",
            # Webrecorder's collection metadata. py-wacz counts a response as a page only when a
            # browser's Referer names it, unless a warcinfo says this is a collection; every
            # top-level capture of ours is a page (issue 12: `wacz create --detect-pages` found 0).
            "json-metadata": '{"type": "collection", "title": "archiver captures"}',
        }
        data = "".join(f"{k}: {v}\r\n" for k, v in info.items()).encode()
        fields = {
            "WARC-Type": "warcinfo",
            "WARC-Record-ID": sink.warcinfo_id,
            "WARC-Date": date,
            "WARC-Filename": filename,
            "WARC-Block-Digest": f"sha256:{hashlib.sha256(data).hexdigest()}",
        }
        self._emit(sink, _lines(fields), "application/warc-fields", b"", data, self.compress_level)
