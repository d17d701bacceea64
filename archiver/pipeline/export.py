"""Use case `export`: everything one check relied on, as one WACZ 1.1.1 evidence package.

For each citation of the report: the WARC record of its live capture and of its archived copy,
exactly as stored (a revisit brings the response it repeats), and a Perma.cc download mirrored
for it whole (every record of Perma's own WACZ or WARC, screenshots and provenance included);
one page per cited URL in pages.jsonl (the live capture's time, title and text, else the archived
copy's); the check report as JSON and HTML under `reports/`. Redirect hops before a final record
are not copied (their records are not indexed by location); the final record names its URL.
`export_documents` runs the check first (the CLI's path); `export_report` packages a report.
"""

from __future__ import annotations

import asyncio
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from archiver import __version__
from archiver.clock import Clock, utc_now
from archiver.config import Config
from archiver.content.fingerprint import fingerprint
from archiver.errors import ArchiverError, StoreError
from archiver.models import Capture, Report, WarcLocation
from archiver.pipeline.check import CheckOptions, Document, check_documents
from archiver.report import render
from archiver.warc.read import original_location, payload_at
from archiver.warc.record import RecordInfo
from archiver.warc.scan import locate, read_record_info, scan
from archiver.warc.wacz import Page, WaczSummary, write_wacz

# Characters of page text in pages.jsonl: the opening, for search and for a reader to recognise the
# page. The whole text is in the records; repeating it all took the package to 1.36x its records
# (bench/export.py), over the 1.1x the issue allows.
PAGE_TEXT_LIMIT = 2_000


@dataclass(frozen=True)
class ExportResult:
    report: Report
    package: WaczSummary
    notes: tuple[str, ...]


class _Records:
    """Raw record bytes to copy, each once, in the order first asked for."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.seen: set[tuple[str, int]] = set()
        self.notes: list[str] = []

    def _raw(self, loc: WarcLocation) -> tuple[bytes, RecordInfo] | None:
        info = read_record_info(self.root, loc)
        with locate(self.root, loc.file).open("rb") as handle:
            handle.seek(info.offset)
            return handle.read(info.length), info

    def of_capture(self, capture: Capture | None) -> Iterator[bytes]:
        if capture is None or capture.warc is None or capture.warc.file.startswith("mirrors/"):
            return  # no record, or a record of a mirrored archive file: the mirror is copied whole
        key = (capture.warc.file, capture.warc.offset)
        if key in self.seen:
            return
        self.seen.add(key)
        try:
            got = self._raw(capture.warc)
            if got is None:
                return
            raw, info = got
            yield raw
            if info.type == "revisit":
                original = original_location(self.root, info)
                if (original.file, original.offset) not in self.seen:
                    self.seen.add((original.file, original.offset))
                    again = self._raw(original)
                    if again is not None:
                        yield again[0]
        except (StoreError, OSError) as exc:
            self.notes.append(f"the record of capture {capture.id} could not be copied: {exc}")

    def of_mirror(self, mirror_file: str | None) -> Iterator[bytes]:
        if not mirror_file or (mirror_file, -1) in self.seen:
            return
        self.seen.add((mirror_file, -1))
        path = self.root / mirror_file
        try:
            if path.suffix == ".wacz":
                with zipfile.ZipFile(path) as archive:
                    for name in archive.namelist():
                        if name.startswith("archive/") and ".warc" in name:
                            yield from self._split(archive.read(name), f"{mirror_file}#{name}")
            else:
                yield from self._split(path.read_bytes(), mirror_file)
        except (OSError, zipfile.BadZipFile) as exc:
            self.notes.append(f"the mirrored archive {mirror_file} could not be copied: {exc}")

    def _split(self, data: bytes, name: str) -> Iterator[bytes]:
        import tempfile

        with tempfile.NamedTemporaryFile(suffix=".warc") as temporary:
            temporary.write(data)
            temporary.flush()
            for item in scan(Path(temporary.name)):
                if isinstance(item, RecordInfo):
                    yield data[item.offset : item.offset + item.length]
                else:
                    self.notes.append(f"{name} at offset {item.offset}: {item.message}")


def _page_text(root: Path, capture: Capture, max_decoded_bytes: int) -> tuple[str | None, str | None]:
    if capture.warc is None or capture.status is None or capture.status >= 400:
        return capture.title, None
    try:
        payload = payload_at(root, capture.warc)
    except ArchiverError:
        return capture.title, None
    with payload:
        found = fingerprint(
            payload.body,
            content_type=payload.content_type or capture.content_type,
            content_encoding=payload.content_encoding,
            max_decoded_bytes=max_decoded_bytes,
        )
    text = found.text[:PAGE_TEXT_LIMIT] if found.text else None
    return found.title or capture.title, text


def export_report(
    config: Config,
    report: Report,
    output: Path,
    *,
    signing_key: Any = None,
    created: datetime | None = None,
) -> tuple[WaczSummary, tuple[str, ...]]:
    """Package what `report` relied on as a WACZ at `output`."""
    root = config.archive_dir
    records = _Records(root)
    pages: list[Page] = []
    seen_pages: set[str] = set()

    def all_records() -> Iterator[bytes]:
        for result in report.results:
            yield from records.of_capture(result.live_capture)
            if result.archive is not None:
                yield from records.of_capture(result.archive.capture)
                yield from records.of_mirror(result.archive.mirror_file)

    for result in report.results:
        if result.citation.url in seen_pages:
            continue
        seen_pages.add(result.citation.url)
        source = result.live_capture or (result.archive.capture if result.archive else None)
        if source is None:
            continue
        title, text = _page_text(root, source, config.fetch.max_decoded_bytes)
        pages.append(Page(result.citation.url, source.fetched_at, title, text))
    # Not "...report.json": frictionless (inside `wacz validate`) takes such a file for its own report format.
    extras = {
        "reports/check.json": render(report, "json").encode(),
        "reports/check.html": render(report, "html").encode(),
    }
    summary = write_wacz(
        output,
        all_records(),
        pages,
        extras,
        title=report.title,
        created=created or report.finished_at,
        software=f"archiver/{__version__}",
        main_page=pages[0] if pages else None,
        signing_key=signing_key,
    )
    return summary, tuple(records.notes)


async def export_documents(
    documents: Sequence[Document],
    config: Config,
    output: Path,
    *,
    signing_key: Any = None,
    clock: Clock = utc_now,
) -> ExportResult:
    """Check the documents, then package the evidence of that check."""
    report = await check_documents(documents, config, CheckOptions(), clock=clock)
    summary, notes = await asyncio.to_thread(export_report, config, report, output, signing_key=signing_key)
    return ExportResult(report, summary, notes)
