"""The JSON contract of DESIGN.md: records to plain dicts and back.

Pure functions over the records of `models`. Field names here are the contract other tools rely
on: add fields freely, never rename or drop one. `capture_from_dict` is the inverse of
`capture_to_dict`, so a capture stored as JSON in a WARC metadata record rebuilds the index exactly;
`memento_from_dict` and `comparison_from_dict` likewise sit next to the encoders they invert, so a
field added to one side is seen on the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from archiver.clock import parse_stamp
from archiver.models import (
    SCHEMA_VERSION,
    ArchiveKind,
    ArchiveRef,
    ArchiveVerdict,
    Capture,
    Change,
    CheckResult,
    Citation,
    Comparison,
    DriftVerdict,
    ErrorKind,
    Failure,
    HistoryMark,
    Hop,
    Memento,
    PageKind,
    Report,
    Truncation,
    WarcLocation,
)
from archiver.refs import parse_archive_ref

TOOL = "archiver"


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a trailing Z, microseconds only when present."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    text = moment.isoformat()
    return text.replace("+00:00", "Z")


def capture_to_dict(capture: Capture) -> dict[str, Any]:
    return {
        "id": capture.id,
        "url": capture.url,
        "final_url": capture.final_url,
        "status": capture.status,
        "redirects": [{"url": h.url, "status": h.status, "location": h.location} for h in capture.redirects],
        "fetched_at": iso(capture.fetched_at),
        "content_type": capture.content_type,
        "payload_sha256": capture.payload_sha256,
        "payload_size": capture.payload_size,
        "text_sha256": capture.text_sha256,
        "title": capture.title,
        "warc": None
        if capture.warc is None
        else {"file": capture.warc.file, "offset": capture.warc.offset, "length": capture.warc.length},
        "error": None
        if capture.error is None
        else {"kind": capture.error.kind.value, "message": capture.error.message},
        "truncated": None if capture.truncated is None else capture.truncated.value,
        "ip_address": capture.ip_address,
        "encoding": capture.encoding,
        "text_error": capture.text_error,
        "revisit_of": capture.revisit_of,
        "elapsed_ms": capture.elapsed_ms,
        "page": None
        if capture.page_kind is None
        else {"kind": capture.page_kind.value, "evidence": list(capture.page_evidence)},
    }


def capture_from_dict(data: dict[str, Any]) -> Capture:
    warc = data.get("warc")
    error = data.get("error")
    truncated = data.get("truncated")
    page = data.get("page")
    fetched_at = parse_stamp(data["fetched_at"])
    assert fetched_at is not None
    return Capture(
        id=data["id"],
        url=data["url"],
        final_url=data.get("final_url"),
        status=data.get("status"),
        redirects=tuple(Hop(h["url"], h["status"], h.get("location")) for h in data.get("redirects", [])),
        fetched_at=fetched_at,
        content_type=data.get("content_type"),
        payload_sha256=data.get("payload_sha256"),
        payload_size=data.get("payload_size"),
        text_sha256=data.get("text_sha256"),
        title=data.get("title"),
        warc=None if warc is None else WarcLocation(warc["file"], warc["offset"], warc["length"]),
        error=None if error is None else Failure(ErrorKind(error["kind"]), error["message"]),
        truncated=None if truncated is None else Truncation(truncated),
        ip_address=data.get("ip_address"),
        encoding=data.get("encoding"),
        text_error=data.get("text_error"),
        revisit_of=data.get("revisit_of"),
        elapsed_ms=data.get("elapsed_ms"),
        page_kind=None if not page else PageKind(page["kind"]),
        page_evidence=tuple(page.get("evidence", ())) if page else (),
    )


def ref_to_dict(ref: ArchiveRef) -> dict[str, Any]:
    return {
        "kind": ref.kind.value,
        "uri": ref.uri,
        "raw": ref.raw,
        "guid": ref.guid,
        "timestamp": ref.timestamp,
        "original_url": ref.original_url,
        "capture_id": ref.capture_id,
    }


def ref_from_dict(data: dict[str, Any]) -> ArchiveRef:
    return ArchiveRef(
        kind=ArchiveKind(data["kind"]),
        raw=data["raw"],
        uri=data["uri"],
        guid=data.get("guid"),
        timestamp=data.get("timestamp"),
        original_url=data.get("original_url"),
        capture_id=data.get("capture_id"),
    )


def memento_to_dict(memento: Memento) -> dict[str, Any]:
    return {
        "verdict": memento.verdict.value,
        "kind": memento.ref.kind.value,
        "ref": memento.ref.uri,
        "original_url": memento.original_url,
        "datetime": iso(memento.datetime),
        "obtained_via": memento.obtained_via,
        "reason": memento.reason,
        "substitute_for": None if memento.substitute_for is None else memento.substitute_for.uri,
        "substitute_days": memento.substitute_days,
        "mirror_file": memento.mirror_file,
        "mirror_sha256": memento.mirror_sha256,
        "title": memento.title,
        "problems": list(memento.problems),
        "capture": None if memento.capture is None else capture_to_dict(memento.capture),
    }


def memento_from_dict(doc: dict[str, Any], ref: ArchiveRef) -> Memento:
    """A memento from its recorded JSON (`memento_to_dict`) and the reference it answers."""
    substitute = doc.get("substitute_for")
    substitute_ref = None
    if substitute:
        substitute_ref = parse_archive_ref(substitute, bare_guid=False) or ArchiveRef(
            ArchiveKind.MEMENTO, substitute, substitute
        )
    return Memento(
        ref=ref,
        verdict=ArchiveVerdict(doc["verdict"]),
        original_url=doc.get("original_url"),
        datetime=parse_stamp(doc.get("datetime")),
        obtained_via=doc.get("obtained_via") or "index",
        capture=capture_from_dict(doc["capture"]) if doc.get("capture") else None,
        reason=doc.get("reason"),
        substitute_for=substitute_ref,
        substitute_days=doc.get("substitute_days"),
        mirror_file=doc.get("mirror_file"),
        mirror_sha256=doc.get("mirror_sha256"),
        title=doc.get("title"),
        problems=tuple(doc.get("problems") or ()),
    )


def citation_to_dict(citation: Citation) -> dict[str, Any]:
    return {
        "url": citation.url,
        "archives": [a.uri for a in citation.archives],
        "found_in": {
            "path": citation.found_in.path,
            "line": citation.found_in.line,
            "column": citation.found_in.column,
        },
        "expected_title": citation.expected_title,
        "expected_quote": citation.expected_quote,
        "note": citation.note,
    }


def comparison_to_dict(comparison: Comparison) -> dict[str, Any]:
    return {
        "verdict": comparison.verdict.value,
        "similarity": comparison.similarity,
        "added": comparison.added,
        "removed": comparison.removed,
        "excerpt": comparison.excerpt,
        "payload_identical": comparison.payload_identical,
        "text_identical": comparison.text_identical,
        "title_similarity": comparison.title_similarity,
        "changes": [{"op": c.op, "before": c.before, "after": c.after} for c in comparison.changes],
        "quote_in_a": comparison.quote_in_a,
        "quote_in_b": comparison.quote_in_b,
        "reason": comparison.reason,
    }


def comparison_from_dict(doc: dict[str, Any] | None) -> Comparison | None:
    """Inverse of `comparison_to_dict` (and of nightly/source_result's compact `comparison_doc`); None stays None."""
    if doc is None:
        return None
    return Comparison(
        verdict=DriftVerdict(doc["verdict"]),
        similarity=doc.get("similarity"),
        payload_identical=bool(doc.get("payload_identical", False)),
        text_identical=bool(doc.get("text_identical", False)),
        title_similarity=doc.get("title_similarity"),
        added=int(doc.get("added", 0)),
        removed=int(doc.get("removed", 0)),
        changes=tuple(Change(c["op"], c["before"], c["after"]) for c in doc.get("changes", [])),
        quote_in_a=doc.get("quote_in_a"),
        quote_in_b=doc.get("quote_in_b"),
        reason=doc.get("reason"),
    )


def result_to_dict(result: CheckResult) -> dict[str, Any]:
    memento = result.archive
    archive: dict[str, Any] = {
        "verdict": result.archive_verdict.value,
        "kind": None,
        "ref": None,
        "original_url": None,
        "datetime": None,
        "capture": None,
    }
    if memento is not None:
        archive.update(memento_to_dict(memento))
        archive["verdict"] = result.archive_verdict.value
    return {
        "citation": citation_to_dict(result.citation),
        "live": {
            "verdict": None if result.live_verdict is None else result.live_verdict.value,
            "capture": None if result.live_capture is None else capture_to_dict(result.live_capture),
        },
        "archive": archive,
        "drift": comparison_to_dict(result.drift),
        "overall": result.overall.value,
        "reasons": list(result.reasons),
    }


def report_to_dict(report: Report) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": report.tool,
        "title": report.title,
        "started_at": iso(report.started_at),
        "finished_at": iso(report.finished_at),
        "results": [result_to_dict(r) for r in report.results],
        "summary": report.summary,
        "notes": list(report.notes),
    }


def mark_to_dict(mark: HistoryMark) -> dict[str, Any]:
    return {"payload": mark.payload_changed, "text": mark.text_changed}


def captures_to_dict(captures: Sequence[Capture], markers: Sequence[HistoryMark] | None = None) -> dict[str, Any]:
    """What `archiver fetch` and `archiver history` print: each capture, with `changed` when marked."""
    if markers is not None and len(markers) != len(captures):
        raise ValueError(f"{len(markers)} history markers for {len(captures)} captures: pass one mark per capture")
    items = []
    for i, capture in enumerate(captures):
        item = capture_to_dict(capture)
        if markers is not None:
            item["changed"] = mark_to_dict(markers[i])
        items.append(item)
    return {"schema_version": SCHEMA_VERSION, "tool": TOOL, "captures": items}


def mementos_to_dict(mementos: Sequence[Memento]) -> dict[str, Any]:
    """What `archiver mirror` prints."""
    return {"schema_version": SCHEMA_VERSION, "tool": TOOL, "mementos": [memento_to_dict(m) for m in mementos]}


def compared_to_dict(comparison: Comparison, a_label: str, b_label: str) -> dict[str, Any]:
    """What `archiver compare A B` prints: the drift object of a check result, with its two sides named."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": TOOL,
        "a": a_label,
        "b": b_label,
        "comparison": comparison_to_dict(comparison),
    }
