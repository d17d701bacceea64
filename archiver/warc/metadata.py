"""The capture document: the metadata record that makes our WARCs the index's source of truth.

Every capture ends with one `archiver-capture/1` metadata record; `index rebuild`, recovery and
fixity read captures back from these records alone. A revisit's document is compacted (see
docs/warc-layout.md). Why `application/warc-fields` with the page's `WARC-Target-URI` (issue 12):
pywb's indexer skips exactly that type and indexes any other metadata record as the page (warcio
gives it a 200), so pywb replayed our JSON; a `urn:` target would still put a row in every CDX and
lose the link to the page. Heritrix writes its per-URI metadata the same way. The block is one
field, `archiver-capture: <one-line JSON>`; `application/json` records (written before) still read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archiver.jsonform import capture_from_dict, capture_to_dict, iso
from archiver.models import Capture
from archiver.net.exchange import Exchange, FetchOutcome
from archiver.warc.record import RecordInfo
from archiver.warc.scan import FileFault, location_name, scan, warc_files

METADATA_FORMAT = "archiver-capture/1"
METADATA_CONTENT_TYPE = "application/warc-fields"
DOCUMENT_FIELD = "archiver-capture"
LEGACY_CONTENT_TYPE = "application/json"  # how records were written before issue 12
# Characters JSON leaves raw that a warc-fields line must not hold (controls, line separators).
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029]")
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # what json.dumps built per call


@dataclass(frozen=True)
class RefersTo:
    """The original response a revisit points at, as its revisit record and its document name it."""

    record_id: str
    target_uri: str
    date: str
    file: str
    offset: int


# -- writing -------------------------------------------------------------------------------------


def hop_entry(exchange: Exchange, record_type: str, response_id: str, request_id: str | None) -> dict[str, Any]:
    """One redirect hop of the document, with the IDs of the records the store wrote for it."""
    return {
        "url": exchange.url,
        "method": exchange.method,
        "status": exchange.status,
        "reason": exchange.reason,
        "http_version": exchange.http_version,
        "ip_address": exchange.ip_address,
        "started_at": iso(exchange.started_at),
        "truncated": None if exchange.truncated is None else exchange.truncated.value,
        "location": exchange.header("location"),
        "payload_sha256": exchange.body.sha256,
        "payload_size": exchange.body.size,
        "record_type": record_type,
        "response_record_id": response_id,
        "request_record_id": request_id,
    }


def metadata_document(
    outcome: FetchOutcome, capture: Capture, hops: list[dict[str, Any]], refers: RefersTo | None
) -> bytes:
    """The encoded document of one capture (compacted when it is a revisit, see the module docstring)."""
    document = {
        "format": METADATA_FORMAT,
        "capture": capture_to_dict(capture),
        "requested": outcome.requested,
        "started_at": iso(outcome.started_at),
        "elapsed_ms": outcome.elapsed_ms,
        "error": None
        if outcome.failure is None
        else {"kind": outcome.failure.kind.value, "message": outcome.failure.message},
        "redirects": [{"url": h.url, "status": h.status, "location": h.location} for h in capture.redirects],
        "hops": hops,
        "attempts": [
            {"url": a.url, "status": a.status, "error": a.error, "waited_s": a.waited_s} for a in outcome.attempts
        ],
        "revisit_of": None
        if refers is None
        else {"record_id": refers.record_id, "file": refers.file, "offset": refers.offset, "date": refers.date},
    }
    if refers is not None:
        document = compact_revisit_document(document)
    return encode_document(document)


def encode_document(document: dict[str, Any]) -> bytes:
    """The record block: one warc-fields line whose value is the document as one-line JSON.

    json.dumps escapes every C0 control and newline; the few characters it leaves raw that a
    field line must not hold are escaped too (`\\uXXXX` means the same character to JSON), and the
    rest stays UTF-8, which WARC 1.1 allows in field values (Chinese titles stay readable).
    """
    text = _ENCODER.encode(document)
    if not text.isascii() or "\x7f" in text:  # both scans run in C; most documents are ASCII
        text = _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return f"{DOCUMENT_FIELD}: {text}\r\n".encode()


def compact_revisit_document(document: dict[str, Any]) -> dict[str, Any]:
    """A revisit's metadata document without nulls and without what other records already say.

    A nightly run writes one revisit per unchanged page, so this record is most of what the archive
    grows by (bench/nightly.py). Nothing is lost, each omission has one place to look instead:

    * absent capture fields are null (`capture_from_dict` defaults every one), except the
      capture's `warc` location and `payload_sha256`: they are the revisit record's place and
      `WARC-Payload-Digest`, which readers fill back in (`CaptureDocuments`, below);
    * `revisit_of` (the original's record id, file, offset and date) is in the revisit record's
      `WARC-Refers-To`, `WARC-Refers-To-Date` and `Archiver-Refers-To-*` headers;
    * a hop field that is absent equals the capture's (`url`, `ip_address`, payload digest and
      size; `started_at` is the capture's `fetched_at`); the last hop is the revisit record
      this record's `WARC-Concurrent-To` names: its `status`, `reason` and `http_version` are that
      record's HTTP status line, and it has no `request_record_id` (no request record is written).
    """
    full = document["capture"]
    capture = {k: v for k, v in full.items() if v is not None and v != [] and k not in ("warc", "payload_sha256")}
    out: dict[str, Any] = {"format": document["format"], "capture": capture}
    if document["requested"] != capture.get("url"):
        out["requested"] = document["requested"]
    for key in ("error", "attempts"):
        if document.get(key):
            out[key] = document[key]
    same = {
        "payload_sha256": "payload_sha256",
        "payload_size": "payload_size",
        "ip_address": "ip_address",
        "started_at": "fetched_at",
        "url": "url",
    }
    hops = []
    for number, hop in enumerate(document["hops"], 1):
        last = number == len(document["hops"])
        kept: dict[str, Any] = {}
        for key, value in hop.items():
            if value is None or (key in same and value == full.get(same[key], "")):
                continue
            if last and key in ("response_record_id", "status", "reason", "http_version"):
                continue
            kept[key] = value
        hops.append(kept)
    out["hops"] = hops
    return out


# -- reading -------------------------------------------------------------------------------------


def decode_document(content_type: str | None, block: bytes) -> dict[str, Any] | None:
    """The capture document in a metadata record's block, either form; None when it holds none."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind == METADATA_CONTENT_TYPE:
        name = DOCUMENT_FIELD.encode()
        raw = next(
            (v.strip() for n, sep, v in (line.partition(b":") for line in block.split(b"\n")) if sep and n == name),
            None,
        )
    elif kind == LEGACY_CONTENT_TYPE:
        raw = block
    else:
        return None
    if raw is None:
        return None
    try:
        document = json.loads(raw)
    except ValueError:  # includes a UnicodeDecodeError
        return None
    if not isinstance(document, dict) or document.get("format") != METADATA_FORMAT:
        return None
    return document


def capture_document(info: RecordInfo) -> dict[str, Any] | None:
    """The capture document of one of our metadata records, or None for any other record."""
    if info.type != "metadata" or info.block is None:
        return None
    return decode_document(info.content_type, info.block)


class CaptureDocuments:
    """The capture documents of one file's metadata records, fed every record in file order.

    A revisit's metadata document leaves out what its revisit record already says
    (`compact_revisit_document`, above): the capture's `warc` location and its payload digest.
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
