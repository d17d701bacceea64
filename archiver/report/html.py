"""The `html` format: one self-contained file a person opens from the archive's reports/ folder.

No external assets and no script, so it renders the same offline years on; polyglot HTML5 that is
also well-formed XML, so tools and tests can parse it. Everything from a page, document or URL is
escaped, and only http(s) URLs become links. Quiet nightly sources are folded into one table in
<details>. See docs/reports.md.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources

from archiver.jsonform import iso
from archiver.models import DRIFTED, Capture, CheckResult, Comparison, HistoryMark, Memento, Overall, Report
from archiver.report import (
    FAIL,
    PASS,
    WARN,
    QuietSources,
    archive_text,
    capture_error_text,
    clip,
    count,
    live_text,
    mark_text,
    memento_hashes,
    quiet_summary,
    ratio_text,
    short_hash,
    size_text,
    tone,
    when,
    word_diff,
)

# Paragraphs longer than this are cut: a report is for reading, the WARCs hold the whole text.
PARAGRAPH_CHARS = 4000
HASH_CHARS = 12

_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")


@cache
def stylesheet() -> str:
    """report.css, read once from the package (works from a wheel, a zip or a checkout)."""
    return resources.files("archiver.report").joinpath("report.css").read_text(encoding="utf-8")


def esc(value: str) -> str:
    """Escaped for element text and attribute values, without the characters XML forbids."""
    return html.escape(_XML_INVALID.sub("", value), quote=True)


def lang_of(value: str) -> str | None:
    """A BCP 47 tag for text in a CJK script, None for everything else (the page is `en`)."""
    if _KANA.search(value):
        return "ja"
    if _HANGUL.search(value):
        return "ko"
    if _HAN.search(value):
        return "zh"
    return None


def lang_attr(value: str) -> str:
    lang = lang_of(value)
    return "" if lang is None else f' lang="{lang}"'


def lines(value: str) -> str:
    """Escaped text whose line breaks stay visible (reasons may span lines)."""
    return "<br />".join(esc(line) for line in value.splitlines())


def span(value: str, cls: str | None = None) -> str:
    attrs = lang_attr(value) + ("" if cls is None else f' class="{cls}"')
    return f"<span{attrs}>{esc(value)}</span>" if attrs else esc(value)


def link(url: str) -> str:
    """An anchor for http(s) URLs; anything else (javascript:, data:, junk) stays text."""
    if re.match(r"(?i)https?://", url):
        return f'<a href="{esc(url)}">{esc(url)}</a>'
    return esc(url)


def badge(label: str, tone_name: str, *extra: str) -> str:
    classes = " ".join(("badge", tone_name, *extra))
    return f'<span class="{classes}">{esc(label)}</span>'


def page(title: str, body: Iterable[str]) -> str:
    head = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8" />\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1" />\n'
        '<meta name="generator" content="archiver" />\n'
        f"<title>{esc(title)}</title>\n<style>\n{stylesheet()}</style>\n</head>\n<body>\n"
    )
    return head + "\n".join(body) + "\n</body>\n</html>\n"


def render_report(report: Report, *, quiet: QuietSources | None = None) -> str:
    folded = quiet or QuietSources({})
    counts = report.summary
    body = [
        "<header>",
        f"<h1{lang_attr(report.title)}>{esc(report.title)}</h1>",
        f'<p class="meta">{esc(report.tool)} · started {_time(report)} · finished {_time(report, end=True)}</p>',
        '<p class="summary">'
        + " ".join(badge(f"{counts[o.value]} {o.value}", o.value) for o in Overall)
        + f' <span class="count">{count(len(report.results), "result")}</span></p>',
        "</header>",
        "<main>",
    ]
    shown = [(n, r) for n, r in enumerate(report.results, start=1) if n not in folded]
    detailed = {n for n, r in shown if _has_details(r)}
    if shown or not folded:
        body.extend(
            [
                '<table class="results">',
                "<thead><tr><th>#</th><th>Citation</th><th>Live</th><th>Archive</th><th>Drift</th><th>Overall</th>"
                "</tr></thead>",
                "<tbody>",
            ]
        )
        body.extend(_row(number, result, number in detailed) for number, result in shown)
        body.extend(["</tbody>", "</table>"])
    else:
        body.append('<p class="summary">No news: every source has the same verdicts as in the previous run.</p>')
    body.extend(f'<p class="notes"{lang_attr(note)}>{esc(note)}</p>' for note in report.notes)
    if detailed:
        body.append('<section class="details">\n<h2>Details</h2>')
        body.extend(_item(number, result) for number, result in shown if number in detailed)
        body.append("</section>")
    if folded:
        body.append(_quiet(report, folded))
    body.extend(["</main>", f"<footer>{esc(report.tool)} report · JSON schema version 1</footer>"])
    return page(report.title, body)


def _quiet(report: Report, quiet: QuietSources) -> str:
    rows = [
        '<section class="quiet" id="quiet">\n<h2>Quiet sources</h2>',
        f"<details>\n<summary>{esc(quiet_summary(report, quiet))}</summary>",
        "<table>\n<thead><tr><th>#</th><th>Source</th><th>Overall</th><th>Link state</th></tr></thead>\n<tbody>",
    ]
    for number, state in sorted(quiet.states.items()):
        result = report.results[number - 1]
        verdict = result.overall.value
        rows.append(
            f'<tr class="row-{verdict}"><td>{number}</td><td>{link(result.citation.url)}</td>'
            f"<td>{verdict}</td><td>{esc(state)}</td></tr>"
        )
    rows.append("</tbody>\n</table>\n</details>\n</section>")
    return "\n".join(rows)


def _time(report: Report, *, end: bool = False) -> str:
    moment = report.finished_at if end else report.started_at
    return f'<time datetime="{esc(iso(moment) or "")}">{esc(when(moment))}</time>'


def _has_details(result: CheckResult) -> bool:
    drifted = result.drift.verdict in DRIFTED and bool(result.drift.changes)
    return result.overall is not Overall.PASS or drifted


def _row(number: int, result: CheckResult, detailed: bool) -> str:
    where = result.citation.found_in
    num = f'<a href="#item-{number}">{number}</a>' if detailed else str(number)
    reasons = "".join(f"<li{lang_attr(r)}>{lines(r)}</li>" for r in result.reasons)
    cells = [
        f'<td class="num">{num}</td>',
        '<td class="citation">'
        + link(result.citation.url)
        + f'<div class="where">{esc(f"{where.path}:{where.line}:{where.column}")}</div>'
        + (f'<ul class="reasons">{reasons}</ul>' if reasons else "")
        + "</td>",
        f"<td>{_live(result)}</td>",
        f"<td>{_archive(result)}</td>",
        f"<td>{badge(result.drift.verdict.value, tone(result.drift.verdict))}"
        + (f" {ratio_text(result.drift.similarity)}" if result.drift.similarity is not None else "")
        + "</td>",
        f"<td>{badge(result.overall.value, result.overall.value, 'big')}</td>",
    ]
    return f'<tr class="row-{result.overall.value}" id="row-{number}">' + "".join(cells) + "</tr>"


def _live(result: CheckResult) -> str:
    out = badge(live_text(result), tone(result.live_verdict))
    capture = result.live_capture
    if capture is not None and capture.status is not None:
        out += f" {capture.status}"
    if capture is not None and capture.final_url not in (None, capture.url):
        out += f'<div class="sub">→ {link(capture.final_url or "")}</div>'
    error = capture_error_text(capture)
    if error:
        out += f'<div class="error">{esc(error)}</div>'
    return out


def _archive(result: CheckResult) -> str:
    out = badge(result.archive_verdict.value, tone(result.archive_verdict))
    memento = result.archive
    if memento is None:
        return out
    out += f' {esc(memento.ref.kind.value)}<div class="sub">{link(memento.ref.uri)}</div>'
    if memento.datetime is not None:
        out += f'<div class="sub">{esc(when(memento.datetime))}</div>'
    if memento.substitute_days is not None:
        out += f'<div class="sub">substitute, {memento.substitute_days:.1f} days off</div>'
    return out


def _item(number: int, result: CheckResult) -> str:
    where = result.citation.found_in
    drift = result.drift
    facts = [
        ("found in", esc(f"{where.path}, line {where.line}, column {where.column}")),
        ("live", _live(result)),
        ("archive", esc(archive_text(result)) + _memento_facts(result.archive)),
        (
            "drift",
            badge(drift.verdict.value, tone(drift.verdict))
            + (f" similarity {ratio_text(drift.similarity)}" if drift.similarity is not None else "")
            + (f", title {ratio_text(drift.title_similarity)}" if drift.title_similarity is not None else "")
            + (f" ({span(drift.reason)})" if drift.reason else ""),
        ),
    ]
    parts = [
        f'<article class="item {result.overall.value}" id="item-{number}">',
        f"<h3>{number}. {badge(result.overall.value, result.overall.value)} {link(result.citation.url)}</h3>",
    ]
    if result.reasons:
        parts.append('<ul class="reasons">' + "".join(f"<li{lang_attr(r)}>{lines(r)}</li>" for r in result.reasons))
        parts[-1] += "</ul>"
    parts.append('<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>")
    if drift.changes:
        parts.append(diff_table(drift, "archived", "live"))
    parts.append("</article>")
    return "\n".join(parts)


def _memento_facts(memento: Memento | None) -> str:
    if memento is None:
        return ""
    out = f" · {link(memento.ref.uri)}"
    if memento.datetime is not None:
        out += f" · captured {esc(when(memento.datetime))}"
    if memento.original_url is not None:
        out += f" · of {link(memento.original_url)}"
    if memento.reason:
        out += f" · {span(memento.reason)}"
    return out


def diff_table(comparison: Comparison, a_label: str, b_label: str) -> str:
    """Changed paragraphs side by side: `a_label` (before) left with <del>, `b_label` (after) right with <ins>."""
    rows = [
        '<table class="diff">',
        f'<thead><tr><th class="op"></th><th{lang_attr(a_label)}>{esc(a_label)}</th>'
        f"<th{lang_attr(b_label)}>{esc(b_label)}</th></tr></thead>",
        "<tbody>",
    ]
    for change in comparison.changes:
        before, after = clip(change.before, PARAGRAPH_CHARS), clip(change.after, PARAGRAPH_CHARS)
        left, right = word_diff(before, after)
        rows.append(
            f'<tr class="{esc(change.op)}"><td class="op">{esc(change.op)}</td>'
            + _side(before, left, "del")
            + _side(after, right, "ins")
            + "</tr>"
        )
    rows.extend(["</tbody>", "</table>"])
    return "\n".join(rows)


def _side(whole: str, pieces: Sequence[tuple[bool, str]], tag: str) -> str:
    if not pieces:
        return '<td class="side empty"></td>'
    inner = "".join(f"<{tag}>{esc(run)}</{tag}>" if changed else esc(run) for changed, run in pieces)
    return f'<td class="side"{lang_attr(whole)}>{inner}</td>'


def render_captures(
    captures: Sequence[Capture], *, title: str = "captures", markers: Sequence[HistoryMark] | None = None
) -> str:
    header = ["id", "fetched (UTC)", "status", "url", "size", "payload sha256", "text sha256"]
    if markers is not None:
        header.append("changed")
    body = [f"<h1{lang_attr(title)}>{esc(title)}</h1>", "<table>"]
    body.append("<thead><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr></thead>\n<tbody>")
    for i, capture in enumerate(captures):
        url = link(capture.url)
        if capture.final_url not in (None, capture.url):
            url += f'<div class="sub">→ {link(capture.final_url or "")}</div>'
        error = capture_error_text(capture)
        if error:
            url += f'<div class="error">{esc(error)}</div>'
        if capture.title:
            url += f'<div class="sub"{lang_attr(capture.title)}>{esc(capture.title)}</div>'
        status_tone = PASS if capture.status is not None and capture.status < 300 else WARN
        status = "" if capture.status is None else badge(str(capture.status), status_tone)
        cells = [
            f'<span class="hash">{esc(capture.id[:8])}</span>',
            esc(when(capture.fetched_at)),
            status if capture.error is None else badge(capture.error.kind.value, FAIL),
            url,
            esc(size_text(capture.payload_size)),
            f'<span class="hash">{short_hash(capture.payload_sha256, HASH_CHARS)}</span>',
            f'<span class="hash">{short_hash(capture.text_sha256, HASH_CHARS)}</span>',
        ]
        if markers is not None:
            cells.append(esc(mark_text(markers[i])))
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    body.extend(["</tbody>", "</table>", f'<p class="meta">{count(len(captures), "capture")}</p>'])
    return page(title, body)


def render_mementos(mementos: Sequence[Memento], *, title: str = "archived copies") -> str:
    header = ["verdict", "archived copy", "original url", "datetime (UTC)", "obtained via", "sha256", "reason"]
    body = [f"<h1{lang_attr(title)}>{esc(title)}</h1>", "<table>"]
    body.append("<thead><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr></thead>\n<tbody>")
    for memento in mementos:
        via = esc(memento.obtained_via)
        if memento.substitute_days is not None:
            via += f'<div class="sub">substitute, {memento.substitute_days:.1f} days off</div>'
        hashes = [f"{label} {digest}" for label, digest in memento_hashes(memento, HASH_CHARS)]
        cells = [
            badge(memento.verdict.value, tone(memento.verdict)),
            f"{esc(memento.ref.kind.value)} {link(memento.ref.uri)}",
            "" if memento.original_url is None else link(memento.original_url),
            esc(when(memento.datetime)),
            via,
            "<br />".join(f'<span class="hash">{esc(h)}</span>' for h in hashes),
            span(memento.reason or ""),
        ]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    body.extend(["</tbody>", "</table>"])
    return page(title, body)


def render_comparison(comparison: Comparison, a_label: str, b_label: str) -> str:
    def yes_no(flag: bool | None) -> str:
        return "" if flag is None else ("yes" if flag else "no")

    facts = [
        ("A", link(a_label)),
        ("B", link(b_label)),
        ("verdict", badge(comparison.verdict.value, tone(comparison.verdict), "big")),
        ("similarity", ratio_text(comparison.similarity)),
        ("title similarity", ratio_text(comparison.title_similarity)),
        ("same bytes", yes_no(comparison.payload_identical)),
        ("same text", yes_no(comparison.text_identical)),
        ("paragraphs", f"{comparison.added} added, {comparison.removed} removed"),
    ]
    if comparison.quote_in_a is not None or comparison.quote_in_b is not None:
        facts.extend([("quote in A", yes_no(comparison.quote_in_a)), ("quote in B", yes_no(comparison.quote_in_b))])
    if comparison.reason:
        facts.append(("reason", span(comparison.reason)))
    body = ["<h1>Comparison</h1>", '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)]
    body.append("</dl>")
    if comparison.changes:
        body.extend(["<h2>Changed paragraphs</h2>", diff_table(comparison, f"A: {a_label}", f"B: {b_label}")])
    return page("Comparison", body)
