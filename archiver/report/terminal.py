"""The `table` format: rich tables for a terminal, and the only module that knows rich.

Each `render_*` builds rich renderables and prints them to a Console writing into a StringIO with a
fixed width and colour switched on or off, so the same function feeds a terminal (colour on), a log
file (colour off) and the golden-file tests (byte-for-byte output). `print_report` prints straight
to a caller's Console instead, so colours follow that terminal. Every piece of user text (titles,
URLs, reasons) goes in as `Plain`, never as a string: rich reads `[...]` in a string as console
markup, and `Plain` also escapes control characters (an ESC in a page title must not reach the
terminal: it shows as `\x1b`). Without colour, word changes are marked as `git diff --word-diff=plain`
(`[-removed-]{+added+}`), does, so a CI log still shows what changed.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich import box
from rich.console import Console, Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text

from archiver.models import DRIFTED, Capture, CheckResult, Comparison, HistoryMark, Memento, Report
from archiver.report import (
    FAIL,
    MUTED,
    PASS,
    WARN,
    archive_text,
    clip,
    count,
    drift_text,
    live_text,
    mark_text,
    memento_hashes,
    ratio_text,
    short_hash,
    shown,
    size_text,
    tone,
    when,
    word_diff,
)

STYLE = {PASS: "green", WARN: "yellow", FAIL: "red", MUTED: "dim"}
CHANGES_SHOWN = 3
PARAGRAPH_CHARS = 600
HASH_CHARS = 8
# Where the table goes to a file or a pipe (the CLI passes the terminal's width when it has one).
WIDTH = 100


class Plain(Text):
    """A rich Text whose strings show their control characters escaped, whichever way they go in."""

    def __init__(self, text: str = "", style: str | Style = "") -> None:
        super().__init__(shown(text), style)

    def append(self, text: str | Text, style: str | Style | None = None) -> Plain:
        super().append(shown(text) if isinstance(text, str) else text, style)
        return self


def console_for(buffer: io.StringIO, *, width: int, color: bool) -> Console:
    return Console(
        file=buffer,
        width=width,
        color_system="standard" if color else None,
        force_terminal=color,
        force_interactive=False,
        force_jupyter=False,
        legacy_windows=False,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )


def to_string(renderables: Sequence[RenderableType], *, width: int, color: bool) -> str:
    buffer = io.StringIO()
    console = console_for(buffer, width=width, color=color)
    for renderable in renderables:
        console.print(renderable)
    if color:
        return buffer.getvalue()
    # rich pads cells with spaces to the table's width; plain text loses nothing without them.
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


def print_report(report: Report, console: Console) -> None:
    """Print the report's table to a terminal (the CLI's default output)."""
    for renderable in report_renderables(report, color=console.is_terminal and console.color_system is not None):
        console.print(renderable)


def render_report(report: Report, *, width: int = WIDTH, color: bool = False) -> str:
    return to_string(report_renderables(report, color=color), width=width, color=color)


def report_renderables(report: Report, *, color: bool) -> list[RenderableType]:
    heading = Plain(report.title, style="bold")
    meta = Plain(f"{report.tool} · started {when(report.started_at)} · finished {when(report.finished_at)}", "dim")
    # Fixed ratios rather than content-fitted widths: the URL column gets the room, and the layout
    # does not jump between runs whose reasons differ in length.
    table = Table(box=box.SQUARE, show_lines=True, expand=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("Citation", overflow="fold", ratio=5)
    table.add_column("Live", overflow="fold", ratio=3)
    table.add_column("Archive", overflow="fold", ratio=3)
    table.add_column("Drift", overflow="fold", ratio=2, min_width=10)
    table.add_column("Overall", no_wrap=True, min_width=7)
    for number, result in enumerate(report.results, start=1):
        table.add_row(
            Plain(str(number)),
            _citation_cell(result),
            _live_cell(result),
            _archive_cell(result),
            Plain(drift_text(result.drift), STYLE[tone(result.drift.verdict)]),
            Plain(result.overall.value.upper(), f"bold {STYLE[tone(result.overall)]}"),
        )
    out: list[RenderableType] = [heading, meta, table, _summary(report)]
    out.extend(Plain(note, "dim") for note in report.notes)
    for number, result in enumerate(report.results, start=1):
        if result.drift.verdict in DRIFTED and result.drift.changes:
            title = Plain(f"{number}. changes in {result.citation.url} ({drift_text(result.drift)})", "bold")
            out.extend([Plain(""), title, changes_table(result.drift, "archived", "live", color=color)])
    return out


def _summary(report: Report) -> Text:
    counts = report.summary
    text = Plain(f"{count(len(report.results), 'result')}: ")
    for i, name in enumerate((PASS, WARN, FAIL)):
        if i:
            text.append(" · ")
        text.append(f"{counts[name]} {name}", STYLE[name])
    return text


def _citation_cell(result: CheckResult) -> Text:
    where = result.citation.found_in
    cell = Plain(result.citation.url)
    cell.append(f"\n{where.path}:{where.line}:{where.column}", "dim")
    for reason in result.reasons:
        cell.append(f"\n• {reason}", "italic")
    return cell


def _live_cell(result: CheckResult) -> Text:
    cell = Plain(live_text(result), STYLE[tone(result.live_verdict)])
    capture = result.live_capture
    if capture is not None and capture.status is not None:
        cell.append(f" {capture.status}")
    # The error's words are in the reasons beside it; its kind is enough here.
    if capture is not None and capture.error is not None:
        cell.append(f"\n{capture.error.kind.value}", "dim")
    return cell


def _archive_cell(result: CheckResult) -> Text:
    cell = Plain(archive_text(result), STYLE[tone(result.archive_verdict)])
    memento = result.archive
    if memento is not None and memento.datetime is not None:
        cell.append(f"\n{when(memento.datetime)}", "dim")
    if memento is not None and memento.substitute_days is not None:
        cell.append(f"\nsubstitute, {memento.substitute_days:.1f} days off", "dim")
    return cell


def changes_table(comparison: Comparison, a_label: str, b_label: str, *, color: bool) -> Table:
    """The first changed paragraphs side by side, with the changed words marked."""
    table = Table(box=box.SIMPLE, show_lines=True, show_edge=False, expand=True)
    table.add_column("", no_wrap=True)
    table.add_column(a_label, overflow="fold", ratio=1)
    table.add_column(b_label, overflow="fold", ratio=1)
    for change in comparison.changes[:CHANGES_SHOWN]:
        before, after = clip(change.before, PARAGRAPH_CHARS), clip(change.after, PARAGRAPH_CHARS)
        left, right = word_diff(before, after)
        table.add_row(Plain(change.op, "dim"), _marked(left, "-", color), _marked(right, "+", color))
    hidden = len(comparison.changes) - CHANGES_SHOWN
    if hidden > 0:
        table.add_row(Plain(""), Plain(f"… {hidden} more", "dim"), Plain(""))
    return table


def _marked(pieces: Sequence[tuple[bool, str]], sign: str, color: bool) -> Text:
    text = Plain()
    style = "bold red strike" if sign == "-" else "bold green underline"
    for changed, run in pieces:
        if not changed:
            text.append(run)
        elif color:
            text.append(run, style)
        else:
            text.append(f"[{sign}{run}{sign}]" if sign == "-" else f"{{{sign}{run}{sign}}}")
    return text


def render_captures(
    captures: Sequence[Capture],
    *,
    title: str = "captures",
    markers: Sequence[HistoryMark] | None = None,
    width: int = WIDTH,
    color: bool = False,
) -> str:
    # Final URL and error sit under the URL, so the columns that must not wrap (times, hash prefixes)
    # still fit a 100-column terminal.
    table = Table(title=Plain(title, "bold"), box=box.SQUARE, title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("fetched (UTC)", no_wrap=True)
    table.add_column("status", overflow="fold")
    table.add_column("url", overflow="fold", ratio=1)
    table.add_column("size", no_wrap=True, justify="right")
    table.add_column("payload", no_wrap=True)
    table.add_column("text", no_wrap=True)
    if markers is not None:
        table.add_column("changed")
    for i, capture in enumerate(captures):
        url = Plain(capture.url)
        if capture.final_url not in (None, capture.url):
            url.append(f"\n→ {capture.final_url}", "dim")
        if capture.error is not None:
            url.append(f"\n{capture.error.message}", STYLE[FAIL])
        row: list[RenderableType] = [
            Plain(capture.id[:8]),
            Plain(when(capture.fetched_at)),
            Plain(_status_text(capture), _status_style(capture)),
            url,
            Plain(size_text(capture.payload_size)),
            Plain(short_hash(capture.payload_sha256, HASH_CHARS)),
            Plain(short_hash(capture.text_sha256, HASH_CHARS)),
        ]
        if markers is not None:
            row.append(Plain(mark_text(markers[i]), STYLE[WARN]))
        table.add_row(*row)
    footer = Plain(f"{count(len(captures), 'capture')} · payload and text: sha256 prefixes", "dim")
    return to_string([table, footer], width=width, color=color)


def _status_text(capture: Capture) -> str:
    if capture.error is not None:
        return capture.error.kind.value
    return "" if capture.status is None else str(capture.status)


def _status_style(capture: Capture) -> str:
    if capture.status is None:
        return STYLE[FAIL]
    if capture.status < 300:
        return STYLE[PASS]
    return STYLE[WARN] if capture.status < 500 else STYLE[FAIL]


def render_mementos(
    mementos: Sequence[Memento], *, title: str = "archived copies", width: int = WIDTH, color: bool = False
) -> str:
    table = Table(title=Plain(title, "bold"), box=box.SQUARE, title_justify="left", show_lines=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("archived copy", overflow="fold", ratio=1)
    table.add_column("datetime (UTC)", no_wrap=True)
    table.add_column("obtained via", overflow="fold")
    table.add_column("sha256", no_wrap=True)
    for memento in mementos:
        copy = Plain(f"{memento.ref.kind.value} {memento.ref.uri}")
        if memento.original_url is not None:
            copy.append(f"\nof {memento.original_url}", "dim")
        if memento.reason:
            copy.append(f"\n{memento.reason}", "italic")
        via = Plain(memento.obtained_via)
        if memento.substitute_days is not None:
            via.append(f"\nsubstitute, {memento.substitute_days:.1f} days off", STYLE[WARN])
        # Labels padded to one width so the hashes line up in the cell.
        hashes = [f"{label:<7} {digest}" for label, digest in memento_hashes(memento, HASH_CHARS)]
        table.add_row(
            Plain(memento.verdict.value, STYLE[tone(memento.verdict)]),
            copy,
            Plain(when(memento.datetime)),
            via,
            Plain("\n".join(hashes)),
        )
    return to_string([table], width=width, color=color)


def render_comparison(
    comparison: Comparison, a_label: str, b_label: str, *, width: int = WIDTH, color: bool = False
) -> str:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    for name, value in comparison_facts(comparison, a_label, b_label):
        facts.add_row(Plain(name), value)
    parts: list[RenderableType] = [facts]
    if comparison.changes:
        parts.append(changes_table(comparison, "A", "B", color=color))
    return to_string([Group(*parts)], width=width, color=color)


def comparison_facts(comparison: Comparison, a_label: str, b_label: str) -> list[tuple[str, Text]]:
    def yes_no(flag: bool | None) -> Text:
        return Plain("" if flag is None else ("yes" if flag else "no"))

    facts = [
        ("A", Plain(a_label)),
        ("B", Plain(b_label)),
        ("verdict", Plain(comparison.verdict.value, f"bold {STYLE[tone(comparison.verdict)]}")),
        ("similarity", Plain(ratio_text(comparison.similarity))),
        ("title similarity", Plain(ratio_text(comparison.title_similarity))),
        ("same bytes", yes_no(comparison.payload_identical)),
        ("same text", yes_no(comparison.text_identical)),
        ("paragraphs", Plain(f"{comparison.added} added, {comparison.removed} removed")),
    ]
    if comparison.quote_in_a is not None or comparison.quote_in_b is not None:
        facts.append(("quote in A", yes_no(comparison.quote_in_a)))
        facts.append(("quote in B", yes_no(comparison.quote_in_b)))
    if comparison.reason:
        facts.append(("reason", Plain(comparison.reason)))
    return facts
