"""Reports: one `render(report, fmt)` in front of one module per format.

Formatters only format: records in, a string out, never the clock, the network or the archive, so
a report renders byte for byte the same every time (the golden-file tests rely on it). Shared here:
format names, each verdict's tone and the cell formatters. Format modules are imported inside the
dispatch, so `json` output does not pay for rich. See docs/reports.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from difflib import SequenceMatcher
from enum import StrEnum
from typing import NamedTuple

from archiver.errors import UsageError
from archiver.models import (
    ArchiveVerdict,
    Capture,
    CheckResult,
    Comparison,
    DriftVerdict,
    HistoryMark,
    LiveVerdict,
    Memento,
    Overall,
    Report,
)

__all__ = [
    "FORMATS",
    "REPORT_FORMATS",
    "QuietSources",
    "ReportFormat",
    "render",
    "render_captures",
    "render_comparison",
    "render_mementos",
    "shown",
]


class ReportFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"
    JUNIT = "junit"
    CSV = "csv"


# What every renderer speaks; check reports (`render`) also have the CI formats.
FORMATS: tuple[str, ...] = ("table", "json", "markdown", "html")
REPORT_FORMATS: tuple[str, ...] = (*FORMATS, "junit", "csv")

# The tone of a verdict when it is shown on its own. The overall verdict of a result is decided by
# the pipeline's policy; these only colour the parts, so a reader sees at a glance which part failed.
PASS, WARN, FAIL, MUTED = "pass", "warn", "fail", "muted"
_LIVE_TONE = {
    LiveVerdict.OK: PASS,
    LiveVerdict.REDIRECTED: WARN,
    LiveVerdict.BLOCKED: WARN,
    LiveVerdict.GONE: FAIL,
    LiveVerdict.SOFT_404: FAIL,
    LiveVerdict.SERVER_ERROR: FAIL,
    LiveVerdict.UNREACHABLE: FAIL,
    LiveVerdict.INVALID_URL: FAIL,
}
_ARCHIVE_TONE = {
    ArchiveVerdict.OK: PASS,
    ArchiveVerdict.METADATA_ONLY: WARN,
    ArchiveVerdict.PENDING: WARN,
    ArchiveVerdict.UNAVAILABLE: WARN,
    ArchiveVerdict.NONE: WARN,
    ArchiveVerdict.MISMATCH: FAIL,
    ArchiveVerdict.NOT_FOUND: FAIL,
    ArchiveVerdict.FAILED: FAIL,
}
_DRIFT_TONE = {
    DriftVerdict.IDENTICAL: PASS,
    DriftVerdict.EQUIVALENT: PASS,
    DriftVerdict.MINOR: WARN,
    DriftVerdict.MAJOR: FAIL,
    DriftVerdict.REPLACED: FAIL,
    DriftVerdict.UNKNOWN: MUTED,
}


@dataclass(frozen=True)
class QuietSources:
    """The results of a report that hold no news, to be shown folded (Markdown and HTML).

    `states` maps each quiet result's position in `report.results`, counted from 1 as the reports
    number them, to its link state in words (`ok since 2025-03-01`).
    """

    states: Mapping[int, str]

    def __contains__(self, number: object) -> bool:
        return number in self.states

    def __len__(self) -> int:
        return len(self.states)


def quiet_summary(report: Report, quiet: QuietSources) -> str:
    """The line a folded table of quiet sources sits under: how many, and their overall verdicts."""
    counts = {o: 0 for o in Overall}
    for number in quiet.states:
        counts[report.results[number - 1].overall] += 1
    by_verdict = " · ".join(f"{n} {o.value}" for o, n in counts.items() if n)
    return f"{count(len(quiet), 'quiet source')}, the same verdicts as in the previous run and no news: {by_verdict}"


def tone(verdict: LiveVerdict | ArchiveVerdict | DriftVerdict | Overall | None) -> str:
    """pass / warn / fail / muted, the class a verdict is coloured with."""
    if verdict is None:
        return MUTED
    if isinstance(verdict, Overall):
        return verdict.value
    if isinstance(verdict, LiveVerdict):
        return _LIVE_TONE[verdict]
    if isinstance(verdict, ArchiveVerdict):
        return _ARCHIVE_TONE[verdict]
    return _DRIFT_TONE[verdict]


def count(n: int, noun: str) -> str:
    """`1 result`, `3 results`: every noun used here takes a plain -s."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def summary_text(report: Report) -> str:
    counts = report.summary
    return " · ".join(f"{counts[o.value]} {o.value}" for o in Overall)


def when(moment: datetime | None) -> str:
    """A time as a reader wants it in a table: UTC, to the second."""
    if moment is None:
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def short_hash(digest: str | None, length: int = 12) -> str:
    return "" if digest is None else digest[:length]


def memento_hashes(memento: Memento, length: int) -> list[tuple[str, str]]:
    """(label, short hash) for what we hold of an archived copy: its capture's payload and text, its mirror file."""
    hashes = []
    if memento.capture is not None:
        hashes.append(("payload", short_hash(memento.capture.payload_sha256, length)))
        hashes.append(("text", short_hash(memento.capture.text_sha256, length)))
    if memento.mirror_sha256 is not None:
        hashes.append(("mirror", short_hash(memento.mirror_sha256, length)))
    return hashes


def size_text(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def ratio_text(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def live_text(result: CheckResult) -> str:
    return "not checked" if result.live_verdict is None else result.live_verdict.value


def archive_text(result: CheckResult) -> str:
    kind = "" if result.archive is None else f" ({result.archive.ref.kind.value})"
    return f"{result.archive_verdict.value}{kind}"


def drift_text(comparison: Comparison) -> str:
    if comparison.similarity is None:
        return comparison.verdict.value
    return f"{comparison.verdict.value} {comparison.similarity:.2f}"


def capture_error_text(capture: Capture | None) -> str:
    if capture is None or capture.error is None:
        return ""
    return f"{capture.error.kind.value}: {capture.error.message}"


def mark_text(mark: HistoryMark | None) -> str:
    """`payload, text` / `payload` / `text` / `unchanged`, or empty when there is nothing to compare with."""
    if mark is None or (mark.payload_changed is None and mark.text_changed is None):
        return ""
    changed = [name for name, flag in (("payload", mark.payload_changed), ("text", mark.text_changed)) if flag]
    return ", ".join(changed) if changed else "unchanged"


# C0 and C1 controls but tab and newline, and the bidirectional overrides: text from outside (a page
# title, a link label, an error from a server) must not drive the terminal or reorder what it shows.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: str) -> str:
    """Outside text made safe to print: each control character as a visible escape (ESC as `\\x1b`)."""
    return _CONTROLS.sub(_escape, text)


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, with an ellipsis when cut: long paragraphs stay readable in cells."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# Scripts written without spaces between words: each character is one token of the word diff, so
# an edited Chinese sentence highlights the characters that changed, not the whole paragraph.
_CJK = (
    "\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u31ff\u3200-\u9fff"
    "\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003ffff"
)
_TOKEN = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|\s+|[^\w\s]")
# SequenceMatcher is quadratic in the worst case; past this many token pairs a paragraph is shown
# as wholly replaced rather than stalling a report on one huge paragraph.
_DIFF_BUDGET = 4_000_000


class Piece(NamedTuple):
    """A run of text in one side of a word diff; `changed` markers a deletion (before) or insertion (after)."""

    changed: bool
    text: str


def tokens(text: str) -> list[str]:
    """Words, single CJK characters, whitespace runs and single punctuation markers; they join back to `text`."""
    return _TOKEN.findall(text)


def word_diff(before: str, after: str) -> tuple[list[Piece], list[Piece]]:
    """The two sides of a paragraph with the changed runs marked, from difflib over `tokens`."""
    a, b = tokens(before), tokens(after)
    if len(a) * len(b) > _DIFF_BUDGET:
        return [Piece(True, before)] if before else [], [Piece(True, after)] if after else []
    opcodes = SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    merged: list[tuple[bool, str, str]] = []
    for k, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        x, y = "".join(a[i1:i2]), "".join(b[j1:j2])
        changed = tag != "equal"
        # A lone space kept between two changed words would split one edit into many markers.
        if not changed and x.isspace() and 0 < k < len(opcodes) - 1:
            changed = True
        if changed and merged and merged[-1][0]:
            merged[-1] = (True, merged[-1][1] + x, merged[-1][2] + y)
        else:
            merged.append((changed, x, y))
    return _coalesce((changed, x) for changed, x, _ in merged), _coalesce((changed, y) for changed, _, y in merged)


def _coalesce(runs: Iterable[tuple[bool, str]]) -> list[Piece]:
    pieces: list[Piece] = []
    for changed, text in runs:
        if not text:
            continue
        if pieces and pieces[-1].changed == changed:
            pieces[-1] = Piece(changed, pieces[-1].text + text)
        else:
            pieces.append(Piece(changed, text))
    return pieces


def _format(fmt: str, allowed: tuple[str, ...] = FORMATS) -> ReportFormat:
    if fmt not in allowed:
        raise UsageError(f"unknown report format {fmt!r}: choose one of {', '.join(allowed)}")
    return ReportFormat(fmt)


def render(
    report: Report,
    fmt: str,
    *,
    width: int = 100,
    color: bool = False,
    quiet: QuietSources | None = None,
    compact: bool = False,
) -> str:
    """The report of a check run in one of FORMATS.

    `width` and `color` apply to `table`; `quiet` to `markdown` and `html` (the JSON and the
    table always show every result in full); `compact` to `json` (no indentation: for files).
    """
    kind = _format(fmt, REPORT_FORMATS)
    if quiet is not None and any(not 1 <= n <= len(report.results) for n in quiet.states):
        raise ValueError(f"quiet sources must be numbered 1 to {len(report.results)}, as the report's results are")
    if kind is ReportFormat.TABLE:
        from archiver.report import terminal

        return terminal.render_report(report, width=width, color=color)
    if kind is ReportFormat.JSON:
        from archiver.report import jsonout

        return jsonout.render_report(report, compact=compact)
    if kind is ReportFormat.MARKDOWN:
        from archiver.report import markdown

        return markdown.render_report(report, quiet=quiet)
    if kind is ReportFormat.JUNIT:
        from archiver.report import junit

        return junit.render_report(report)
    if kind is ReportFormat.CSV:
        from archiver.report import csv as csv_format

        return csv_format.render_report(report)
    from archiver.report import html as html_format

    return html_format.render_report(report, quiet=quiet)


def render_captures(
    captures: Sequence[Capture],
    fmt: str,
    *,
    title: str = "captures",
    markers: Sequence[HistoryMark] | None = None,
    width: int = 100,
    color: bool = False,
) -> str:
    """Captures as `archiver fetch` and `archiver history` print them.

    `markers`, one per capture, say what changed against the next older capture (history); the caller
    computes them (`HistoryMark.between`), so the renderer stays a formatter.
    """
    kind = _format(fmt)
    if markers is not None and len(markers) != len(captures):
        raise ValueError(f"{len(markers)} history markers for {len(captures)} captures: pass one marker per capture")
    if kind is ReportFormat.TABLE:
        from archiver.report import terminal

        return terminal.render_captures(captures, title=title, markers=markers, width=width, color=color)
    if kind is ReportFormat.JSON:
        from archiver.report import jsonout

        return jsonout.render_captures(captures, markers=markers)
    if kind is ReportFormat.MARKDOWN:
        from archiver.report import markdown

        return markdown.render_captures(captures, title=title, markers=markers)
    from archiver.report import html as html_format

    return html_format.render_captures(captures, title=title, markers=markers)


def render_mementos(
    mementos: Sequence[Memento],
    fmt: str,
    *,
    title: str = "archived copies",
    width: int = 100,
    color: bool = False,
) -> str:
    """Resolved archive references as `archiver mirror` prints them."""
    kind = _format(fmt)
    if kind is ReportFormat.TABLE:
        from archiver.report import terminal

        return terminal.render_mementos(mementos, title=title, width=width, color=color)
    if kind is ReportFormat.JSON:
        from archiver.report import jsonout

        return jsonout.render_mementos(mementos)
    if kind is ReportFormat.MARKDOWN:
        from archiver.report import markdown

        return markdown.render_mementos(mementos, title=title)
    from archiver.report import html as html_format

    return html_format.render_mementos(mementos, title=title)


def render_comparison(
    comparison: Comparison,
    a_label: str,
    b_label: str,
    fmt: str,
    *,
    width: int = 100,
    color: bool = False,
) -> str:
    """Two captures compared, as `archiver compare A B` prints it; A is the older side ("before")."""
    kind = _format(fmt)
    if kind is ReportFormat.TABLE:
        from archiver.report import terminal

        return terminal.render_comparison(comparison, a_label, b_label, width=width, color=color)
    if kind is ReportFormat.JSON:
        from archiver.report import jsonout

        return jsonout.render_comparison(comparison, a_label, b_label)
    if kind is ReportFormat.MARKDOWN:
        from archiver.report import markdown

        return markdown.render_comparison(comparison, a_label, b_label)
    from archiver.report import html as html_format

    return html_format.render_comparison(comparison, a_label, b_label)
