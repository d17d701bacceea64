"""The `markdown` format: GitHub-flavoured Markdown for a pull request comment or an issue.

A summary line, a table, then details for each item that did not pass. Everything from a page or
a document is escaped so it can neither break the table nor inject HTML; word changes are marked
with `<del>`/`<ins>`, which unlike `~~` work between CJK characters. Quiet nightly sources are
folded into one table in `<details>`. See docs/reports.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from archiver.models import Capture, CheckResult, Comparison, HistoryMark, Memento, Overall, Report
from archiver.report import (
    QuietSources,
    archive_text,
    capture_error_text,
    clip,
    count,
    drift_text,
    live_text,
    mark_text,
    memento_hashes,
    quiet_summary,
    ratio_text,
    short_hash,
    size_text,
    summary_text,
    when,
    word_diff,
)

ICON = {Overall.PASS: "✅", Overall.WARN: "⚠️", Overall.FAIL: "❌"}
CHANGES_SHOWN = 3
PARAGRAPH_CHARS = 800
HASH_CHARS = 12

_PUNCT = re.compile(r"([\\`*_\[\]|~!])")
_ENTITY = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_LINE_MARKER = re.compile(r"^(\s*)([#+\-=]|\d+[.)])", re.MULTILINE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PLAIN_URL = re.compile(r"https?://[^\s<>\x00-\x1f\x7f]+")


def text(value: str) -> str:
    """User text made inert: punctuation escaped, line-start markers escaped, control characters dropped."""
    escaped = _PUNCT.sub(r"\\\1", _CONTROL.sub("", value))
    escaped = re.sub(r"[&<>]", lambda m: _ENTITY[m.group()], escaped)
    # The backslash goes before the punctuation: `\#`, `\-`, `1\.` (a backslash before a digit is literal).
    return _LINE_MARKER.sub(lambda m: m.group(1) + m.group(2)[:-1] + "\\" + m.group(2)[-1], escaped)


def cell(value: str) -> str:
    """Text for a table cell: escaped, with line breaks kept as `<br>` so the row stays one line."""
    return "<br>".join(text(line) for line in value.replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def url(value: str) -> str:
    if _PLAIN_URL.fullmatch(value):
        # GFM splits table cells before inline parsing, even inside <...>: percent-encode the pipe.
        return f"<{value.replace('|', '%7C')}>"
    return text(value)


def table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None) -> str:
    aligns = align or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(aligns) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines) + "\n"


def quote(pieces_text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in pieces_text.split("\n"))


def marked(pieces: Sequence[tuple[bool, str]], tag: str) -> str:
    out = []
    for changed, run in pieces:
        out.append(f"<{tag}>{text(run)}</{tag}>" if changed else text(run))
    return "".join(out)


def changes(comparison: Comparison, a_label: str, b_label: str) -> list[str]:
    """The first changed paragraphs as quoted blocks, changed words in `<del>`/`<ins>`."""
    lines: list[str] = []
    shown = comparison.changes[:CHANGES_SHOWN]
    lines.append(f"Changed paragraphs ({len(shown)} of {len(comparison.changes)}):")
    lines.append("")
    for change in shown:
        before, after = word_diff(clip(change.before, PARAGRAPH_CHARS), clip(change.after, PARAGRAPH_CHARS))
        if before:
            lines.extend([f"*{change.op}*, {text(a_label)}:", "", quote(marked(before, "del")), ""])
        if after:
            lines.extend([f"*{change.op}*, {text(b_label)}:", "", quote(marked(after, "ins")), ""])
    return lines


def render_report(report: Report, *, quiet: QuietSources | None = None) -> str:
    folded = quiet or QuietSources({})
    out = [f"## {text(report.title)}", ""]
    out.append(
        f"**{count(len(report.results), 'result')}: {summary_text(report)}** · {text(report.tool)} · "
        f"{when(report.started_at)} to {when(report.finished_at)}"
    )
    out.append("")
    shown = [(n, r) for n, r in enumerate(report.results, start=1) if n not in folded]
    rows = []
    for number, result in shown:
        where = result.citation.found_in
        rows.append(
            [
                str(number),
                f"{url(result.citation.url)}<br>{cell(f'{where.path}:{where.line}:{where.column}')}",
                cell(_live(result)),
                cell(archive_text(result)),
                cell(drift_text(result.drift)),
                f"{ICON[result.overall]} {result.overall.value}",
            ]
        )
    if rows or not folded:
        out.append(
            table(
                ["#", "Citation", "Live", "Archive", "Drift", "Overall"],
                rows,
                ["--:", "---", "---", "---", "---", "---"],
            )
        )
    else:
        out.append("No news: every source has the same verdicts as in the previous run.\n")
    out.extend(f"*{text(note)}*\n" for note in report.notes)
    details = [(n, r) for n, r in shown if r.overall is not Overall.PASS]
    if details:
        out.extend(["### Details", ""])
        for number, result in details:
            out.extend(_details(number, result))
    if folded:
        out.extend(_quiet(report, folded))
    return "\n".join(out).rstrip("\n") + "\n"


def _quiet(report: Report, quiet: QuietSources) -> list[str]:
    """The quiet sources folded: a blank line around the table, or GitHub reads it as HTML text."""
    rows = [
        [str(n), url(report.results[n - 1].citation.url), report.results[n - 1].overall.value, cell(state)]
        for n, state in sorted(quiet.states.items())
    ]
    return [
        "### Quiet sources",
        "",
        "<details>",
        f"<summary>{text(quiet_summary(report, quiet))}</summary>",
        "",
        table(["#", "Source", "Overall", "Link state"], rows, ["--:", "---", "---", "---"]),
        "</details>",
        "",
    ]


def _live(result: CheckResult) -> str:
    capture = result.live_capture
    status = "" if capture is None or capture.status is None else f" {capture.status}"
    return live_text(result) + status


def _details(number: int, result: CheckResult) -> list[str]:
    where = result.citation.found_in
    out = [
        f"#### {number}. {ICON[result.overall]} {result.overall.value}: {url(result.citation.url)}",
        "",
        f"Found in {text(where.path)}, line {where.line}, column {where.column}.",
        "",
    ]
    out.extend(f"- {cell(reason)}" for reason in result.reasons)
    live = f"- live: {cell(_live(result))}"
    error = capture_error_text(result.live_capture)
    if error:
        live += f" ({cell(error)})"
    out.append(live)
    out.append(f"- archive: {cell(_archive_line(result))}")
    drift = result.drift
    drift_line = f"- drift: {cell(drift_text(drift))}"
    if drift.title_similarity is not None:
        drift_line += f", title similarity {ratio_text(drift.title_similarity)}"
    if drift.reason:
        drift_line += f" ({cell(drift.reason)})"
    out.extend([drift_line, ""])
    if drift.changes:
        out.extend(changes(drift, "archived", "live"))
    return out


def _archive_line(result: CheckResult) -> str:
    memento = result.archive
    parts = [archive_text(result)]
    if memento is None:
        return parts[0]
    parts.append(memento.ref.uri)
    if memento.datetime is not None:
        parts.append(f"captured {when(memento.datetime)}")
    if memento.original_url is not None:
        parts.append(f"of {memento.original_url}")
    if memento.substitute_days is not None:
        parts.append(f"substitute, {memento.substitute_days:.1f} days off")
    if memento.reason:
        parts.append(memento.reason)
    return ", ".join(parts)


def render_captures(
    captures: Sequence[Capture], *, title: str = "captures", markers: Sequence[HistoryMark] | None = None
) -> str:
    header = ["id", "fetched (UTC)", "status", "url", "size", "payload sha256", "text sha256"]
    if markers is not None:
        header.append("changed")
    rows = []
    for i, capture in enumerate(captures):
        where = url(capture.url)
        if capture.final_url not in (None, capture.url):
            where += f"<br>→ {url(capture.final_url or '')}"
        error = capture_error_text(capture)
        if error:
            where += f"<br>{cell(error)}"
        row = [
            cell(capture.id[:8]),
            when(capture.fetched_at),
            "" if capture.status is None else str(capture.status),
            where,
            size_text(capture.payload_size),
            short_hash(capture.payload_sha256, HASH_CHARS),
            short_hash(capture.text_sha256, HASH_CHARS),
        ]
        if markers is not None:
            row.append(mark_text(markers[i]))
        rows.append(row)
    body = table(header, rows) if rows else "No captures.\n"
    return f"## {text(title)}\n\n{body}\n{count(len(captures), 'capture')}\n"


def render_mementos(mementos: Sequence[Memento], *, title: str = "archived copies") -> str:
    header = ["verdict", "archived copy", "original url", "datetime (UTC)", "obtained via", "sha256", "reason"]
    rows = []
    for memento in mementos:
        via = cell(memento.obtained_via)
        if memento.substitute_days is not None:
            via += f"<br>substitute, {memento.substitute_days:.1f} days off"
        hashes = [f"{label} {digest}" for label, digest in memento_hashes(memento, HASH_CHARS)]
        rows.append(
            [
                memento.verdict.value,
                f"{memento.ref.kind.value} {url(memento.ref.uri)}",
                "" if memento.original_url is None else url(memento.original_url),
                when(memento.datetime),
                via,
                "<br>".join(hashes),
                cell(memento.reason or ""),
            ]
        )
    body = table(header, rows) if rows else "No archived copies.\n"
    return f"## {text(title)}\n\n{body}"


def render_comparison(comparison: Comparison, a_label: str, b_label: str) -> str:
    def yes_no(flag: bool | None) -> str:
        return "" if flag is None else ("yes" if flag else "no")

    facts = [
        ["A", url(a_label)],
        ["B", url(b_label)],
        ["verdict", f"**{comparison.verdict.value}**"],
        ["similarity", ratio_text(comparison.similarity)],
        ["title similarity", ratio_text(comparison.title_similarity)],
        ["same bytes", yes_no(comparison.payload_identical)],
        ["same text", yes_no(comparison.text_identical)],
        ["paragraphs", f"{comparison.added} added, {comparison.removed} removed"],
    ]
    if comparison.quote_in_a is not None or comparison.quote_in_b is not None:
        facts.extend([["quote in A", yes_no(comparison.quote_in_a)], ["quote in B", yes_no(comparison.quote_in_b)]])
    if comparison.reason:
        facts.append(["reason", cell(comparison.reason)])
    out = ["## Comparison", "", table(["", ""], facts)]
    if comparison.changes:
        out.extend(changes(comparison, "A", "B"))
    return "\n".join(out).rstrip("\n") + "\n"
