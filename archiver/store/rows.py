"""Captures as index rows: the `captures` table's columns, and a Capture to a row and back.

Pure conversions, no connection: the Index runs the statements, this module says what the cells
are. Two choices keep rows small and exact (bench/nightly.py: the index grew 1,319 bytes per
unchanged URL per night before, 664 now):

* sha256 digests are stored as their 32 bytes, not 64 hex characters (`_digest_cell`), read back
  as the same hex string, so rows and Captures round-trip and a rebuild writes the same cells;
* times are fixed-width UTC text with microseconds (`stamp`), so text order is time order and
  `ORDER BY fetched_at` needs no conversion.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from archiver.clock import parse_required_stamp, stamp
from archiver.models import Capture, ErrorKind, Failure, Hop, PageKind, Truncation, WarcLocation

COLUMNS = (
    "id url final_url status redirects fetched_at content_type payload_sha256 payload_size text_sha256 title "
    "warc_file warc_offset warc_length error_kind error_message truncated ip_address encoding text_error "
    "revisit_of elapsed_ms page_kind page_evidence"
).split()
INSERT = f"INSERT OR REPLACE INTO captures ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
SELECT = f"SELECT {', '.join(COLUMNS)} FROM captures"
_HEX = re.compile("[0-9a-f]+")
# Asked for as `url` or ending on it; `final_url <> url` lets SQLite use the partial index
# `captures_redirected` (a row whose final_url equals its url is found by the first term).
BY_URL = "url = ? OR (final_url = ? AND final_url <> url)"


def _digest_cell(hexdigest: str | None) -> str | bytes | None:
    """A sha256 as its 32 raw bytes when it is canonical (64 lowercase hex), else as given.

    Half the bytes of the text form, in every row (the columns keep TEXT affinity, which stores a
    BLOB as it is). `_digest_value` turns it back into exactly the same string, so a row and the
    Capture it holds still round-trip, and `index rebuild` writes the same cells again.
    """
    if hexdigest is not None and len(hexdigest) == 64 and _HEX.fullmatch(hexdigest):
        return bytes.fromhex(hexdigest)
    return hexdigest


def _digest_value(cell: str | bytes | None) -> str | None:
    return cell.hex() if isinstance(cell, bytes) else cell


def capture_row(capture: Capture) -> tuple[Any, ...]:
    warc, error = capture.warc, capture.error
    return (
        capture.id,
        capture.url,
        capture.final_url,
        capture.status,
        json.dumps([{"url": h.url, "status": h.status, "location": h.location} for h in capture.redirects])
        if capture.redirects
        else "[]",  # most captures: what json.dumps([]) writes, without the call
        stamp(capture.fetched_at),
        capture.content_type,
        _digest_cell(capture.payload_sha256),
        capture.payload_size,
        _digest_cell(capture.text_sha256),
        capture.title,
        None if warc is None else warc.file,
        None if warc is None else warc.offset,
        None if warc is None else warc.length,
        None if error is None else error.kind.value,
        None if error is None else error.message,
        None if capture.truncated is None else capture.truncated.value,
        capture.ip_address,
        capture.encoding,
        capture.text_error,
        capture.revisit_of,
        capture.elapsed_ms,
        None if capture.page_kind is None else capture.page_kind.value,
        json.dumps(list(capture.page_evidence), ensure_ascii=False) if capture.page_evidence else None,
    )


def _hops(cell: str) -> tuple[Hop, ...]:
    if cell == "[]":
        return ()
    return tuple(Hop(h["url"], h["status"], h.get("location")) for h in json.loads(cell))


def row_capture(row: Sequence[Any]) -> Capture:
    """The Capture of a row selected as `SELECT` lists the columns (extra columns after them are ignored).

    By position, not by name: a name is found by a scan of the row's column names, and a revisit
    baseline is read for every captured URL.
    """
    (
        capture_id, url, final_url, status, redirects, fetched_at, content_type, payload_sha256, payload_size,
        text_sha256, title, warc_file, warc_offset, warc_length, error_kind, error_message, truncated,
        ip_address, encoding, text_error, revisit_of, elapsed_ms, page_kind, page_evidence,
    ) = row[: len(COLUMNS)]  # fmt: skip
    return Capture(
        id=capture_id,
        url=url,
        final_url=final_url,
        status=status,
        redirects=_hops(redirects),
        fetched_at=parse_required_stamp(fetched_at),
        content_type=content_type,
        payload_sha256=_digest_value(payload_sha256),
        payload_size=payload_size,
        text_sha256=_digest_value(text_sha256),
        title=title,
        warc=None if warc_file is None else WarcLocation(warc_file, warc_offset, warc_length),
        error=None if error_kind is None else Failure(ErrorKind(error_kind), error_message or ""),
        truncated=None if truncated is None else Truncation(truncated),
        ip_address=ip_address,
        encoding=encoding,
        text_error=text_error,
        revisit_of=revisit_of,
        elapsed_ms=elapsed_ms,
        page_kind=None if page_kind is None else PageKind(page_kind),
        page_evidence=tuple(json.loads(page_evidence)) if page_evidence else (),
    )
