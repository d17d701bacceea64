"""Bounded decoding of stored payloads: Content-Encoding undone with a hard cap, bytes to text.

Payloads are archived exactly as received, and httpx's decoders have no output cap, so each
encoding layer here is an incremental decompressor checked against `max_decoded_bytes` as it grows
(a bomb raises DecompressionLimitError just past the cap). Charsets follow WHATWG sniffing via
w3lib, with charset-normalizer for text without meta tags; decoding never raises on bad bytes.
See docs/drift-thresholds.md.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import IO, Protocol

import brotli
import charset_normalizer
import zstandard
from w3lib.encoding import (
    html_body_declared_encoding,
    html_to_unicode,
    http_content_type_encoding,
    read_bom,
    resolve_encoding,
    to_unicode,
)

from archiver.errors import DecodeError, DecompressionLimitError, quoted

CHUNK = 64 * 1024
ZSTD_MAX_WINDOW = 8 * 1024 * 1024  # RFC 9659 §3: HTTP zstd windows are at most 8 MiB
DETECT_SAMPLE = 64 * 1024  # bytes handed to charset detection: enough, and keeps it fast


class Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _ZlibLayer:
    """gzip/x-gzip (several members allowed) or deflate (zlib-wrapped or raw), inflated on demand."""

    def __init__(self, source: Reader, encoding: str) -> None:
        self._source = source
        self._gzip = encoding in ("gzip", "x-gzip")
        self._wbits: int | None = 47 if self._gzip else None  # 47: gzip or zlib header, sniffed
        self._d: zlib._Decompress | None = None
        self._pending = b""
        self._source_done = False
        self._done = False
        self._members = 0

    def _start(self, data: bytes) -> zlib._Decompress:
        if self._wbits is None:
            # "deflate" is meant to be zlib-wrapped (RFC 9110 §8.4.1.2) but many servers send raw
            # deflate; a zlib stream starts with CMF/FLG whose 16-bit value is a multiple of 31.
            zlib_header = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._wbits = 15 if zlib_header else -15
        return zlib.decompressobj(self._wbits)

    def read(self, size: int = CHUNK, /) -> bytes:
        while not self._done:
            if self._pending:
                data, self._pending = self._pending, b""
            elif self._source_done:
                data = b""
            else:
                data = self._source.read(CHUNK)
                if not data:
                    self._source_done = True
            if self._d is None:
                if not data:
                    self._done = True
                    break
                self._d = self._start(data)
            try:
                out = self._d.decompress(data, size)
            except zlib.error as exc:
                if self._members:
                    self._done = True  # junk after a complete gzip member: ignored, as browsers do
                    break
                raise DecodeError(f"the payload is not valid gzip/deflate data ({exc})") from exc
            self._pending = self._d.unconsumed_tail
            if self._d.eof:
                rest = self._d.unused_data
                self._d = None
                self._members += 1
                # A gzip stream may hold several members; anything else after the end is ignored.
                if self._gzip and rest.strip(b"\0"):
                    self._pending = rest
                elif not self._gzip or self._source_done:
                    self._done = True
            elif not data and not self._pending and not out:
                self._done = True  # input ended early: keep what was inflated (a truncated capture)
            if out:
                return out
        return b""


class _BrotliLayer:
    def __init__(self, source: Reader) -> None:
        self._source = source
        self._d = brotli.Decompressor()
        self._source_done = False

    def read(self, size: int = CHUNK, /) -> bytes:
        try:
            while not self._d.is_finished():
                if self._source_done or not self._d.can_accept_more_data():
                    # The decoder may hold output even when it would take more input: drain it.
                    out: bytes = self._d.process(b"", output_buffer_limit=size)
                    if not out and (self._source_done or not self._d.can_accept_more_data()):
                        return b""  # input ended early (a truncated capture): keep what was had
                else:
                    data = self._source.read(CHUNK)
                    if not data:
                        self._source_done = True
                        continue
                    out = self._d.process(data, output_buffer_limit=size)
                if out:
                    return out
            return b""
        except brotli.error as exc:
            raise DecodeError(f"the payload is not valid brotli data ({exc})") from exc


class _ZstdLayer:
    def __init__(self, source: Reader) -> None:
        decompressor = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
        # zstandard only needs `read`; its stubs ask for a full IO.
        self._reader = decompressor.stream_reader(
            source,  # type: ignore[arg-type]
            read_size=CHUNK,
            read_across_frames=True,
            closefd=False,
        )

    def read(self, size: int = CHUNK, /) -> bytes:
        try:
            out: bytes = self._reader.read(size)
        except zstandard.ZstdError as exc:
            raise DecodeError(f"the payload is not valid zstd data or needs a window over 8 MiB ({exc})") from exc
        return out


_LAYERS: dict[str, Callable[[Reader, str], Reader]] = {
    "gzip": _ZlibLayer,
    "x-gzip": _ZlibLayer,
    "deflate": _ZlibLayer,
    "br": lambda source, _: _BrotliLayer(source),
    "zstd": lambda source, _: _ZstdLayer(source),
}


def content_codings(content_encoding: str | None) -> list[str]:
    """The codings of a Content-Encoding header in the order applied; `identity` dropped."""
    if not content_encoding:
        return []
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    return [c for c in codings if c and c != "identity"]


def decoding_reader(payload: Reader, content_encoding: str | None) -> Reader:
    """A reader of `payload` with its codings undone a chunk at a time (`read(size)` returns at most
    `size` bytes, b"" at the end); DecodeError for an unknown coding, and from `read` for corrupt data."""
    reader: Reader = payload
    for coding in reversed(content_codings(content_encoding)):
        layer = _LAYERS.get(coding)
        if layer is None:
            raise DecodeError(
                f"unknown content-encoding {quoted(coding, 40)}; the raw payload is archived, "
                "but its text cannot be read"
            )
        reader = layer(reader, coding)
    return reader


def decode_payload(payload: IO[bytes], content_encoding: str | None, max_decoded_bytes: int) -> bytes:
    """The payload with its Content-Encoding undone, at most `max_decoded_bytes` long.

    Raises DecompressionLimitError when the decoded body would be longer (an unencoded body that
    long too: it is the same memory), DecodeError for an unknown coding or corrupt data.
    """
    reader = decoding_reader(payload, content_encoding)
    out = bytearray()
    while chunk := reader.read(CHUNK):
        out += chunk
        if len(out) > max_decoded_bytes:
            raise DecompressionLimitError(max_decoded_bytes)
    return bytes(out)


def _detect(data: bytes) -> str | None:
    """UTF-8 if the bytes are valid UTF-8 (the web's default), else charset-normalizer's guess."""
    sample = data[:DETECT_SAMPLE]
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3 and len(data) > len(sample):
            return "utf-8"  # the sample cut a multi-byte character in two
    best = charset_normalizer.from_bytes(sample).best()
    if best is None:
        return None
    return resolve_encoding(best.encoding)


def html_text_of(data: bytes, content_type: str | None) -> tuple[str, str]:
    """(encoding used, text) of an HTML body: BOM, header, meta, detection; never raises."""
    encoding, text = html_to_unicode(content_type, data, auto_detect_fun=_detect)
    return _canonical(encoding), text


def plain_text_of(data: bytes, content_type: str | None) -> tuple[str, str]:
    """(encoding used, text) of a non-HTML text body: BOM, header, detection; never raises."""
    bom_encoding, bom = read_bom(data)
    if bom_encoding is not None and bom is not None:
        return _canonical(bom_encoding), to_unicode(data[len(bom) :], bom_encoding)
    encoding = http_content_type_encoding(content_type)
    if encoding is None and content_type and "xml" in content_type:
        encoding = html_body_declared_encoding(data)  # <?xml encoding="..."?>
    if encoding is None:
        encoding = _detect(data) or "utf-8"
    elif encoding in ("utf-16", "utf-32"):
        encoding += "-be"  # no BOM: the label's default byte order (WHATWG)
    return _canonical(encoding), to_unicode(data, encoding)


def _canonical(encoding: str) -> str:
    # Python codec names ("utf_8", "gb18030") reported in one spelling: "utf-8", "gb18030".
    return encoding.lower().replace("_", "-")
