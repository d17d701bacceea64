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
import sqlite3
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
        json.dumps([{"url": h.url, "status": h.status, "location": h.location} for h in capture.redirects]),
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


def row_capture(row: sqlite3.Row) -> Capture:
    return Capture(
        id=row["id"],
        url=row["url"],
        final_url=row["final_url"],
        status=row["status"],
        redirects=tuple(Hop(h["url"], h["status"], h.get("location")) for h in json.loads(row["redirects"])),
        fetched_at=parse_required_stamp(row["fetched_at"]),
        content_type=row["content_type"],
        payload_sha256=_digest_value(row["payload_sha256"]),
        payload_size=row["payload_size"],
        text_sha256=_digest_value(row["text_sha256"]),
        title=row["title"],
        warc=None
        if row["warc_file"] is None
        else WarcLocation(row["warc_file"], row["warc_offset"], row["warc_length"]),
        error=None if row["error_kind"] is None else Failure(ErrorKind(row["error_kind"]), row["error_message"] or ""),
        truncated=None if row["truncated"] is None else Truncation(row["truncated"]),
        ip_address=row["ip_address"],
        encoding=row["encoding"],
        text_error=row["text_error"],
        revisit_of=row["revisit_of"],
        elapsed_ms=row["elapsed_ms"],
        page_kind=None if row["page_kind"] is None else PageKind(row["page_kind"]),
        page_evidence=tuple(json.loads(row["page_evidence"])) if row["page_evidence"] else (),
    )
