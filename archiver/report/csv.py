"""The `csv` format: one row per citation, for spreadsheets and scripts (RFC 4180, UTF-8).

Columns are fixed (`COLUMNS`) so a script can index them by name; reasons are joined with " | ",
a separator no reason uses. Empty cells mean "not checked" or "not known", never zero.
"""

from __future__ import annotations

import csv
import io

from archiver.models import Report
from archiver.report import ratio_text, when

COLUMNS = (
    "document",
    "line",
    "column",
    "url",
    "overall",
    "live",
    "status",
    "archive",
    "archive_ref",
    "archived_at",
    "drift",
    "similarity",
    "reasons",
)


def render_report(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for result in report.results:
        where = result.citation.found_in
        capture, memento = result.live_capture, result.archive
        writer.writerow(
            [
                where.path,
                where.line,
                where.column,
                result.citation.url,
                result.overall.value,
                "" if result.live_verdict is None else result.live_verdict.value,
                "" if capture is None or capture.status is None else capture.status,
                result.archive_verdict.value,
                "" if memento is None else memento.ref.uri,
                "" if memento is None else when(memento.datetime),
                result.drift.verdict.value,
                ratio_text(result.drift.similarity),
                " | ".join(result.reasons),
            ]
        )
    return out.getvalue()
