"""Report renderers: golden files for every format, plus the properties a golden file cannot show.

The records below are built by hand with fixed times (the renderers never read a clock), so each
format's whole output is compared with a file in tests/fixtures/report/. After an intended change
of output, regenerate the files and review the diff before committing:

    ARCHIVER_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/report/test_report.py

A regenerating run still fails (so it is never mistaken for a passing one), naming the files written.
"""

from __future__ import annotations

import io
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from lxml import html as lxml_html
from rich.console import Console

from archiver.errors import UsageError
from archiver.jsonform import capture_from_dict
from archiver.models import (
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
    LiveVerdict,
    Memento,
    Overall,
    Report,
    SourceSpan,
    WarcLocation,
)
from archiver.report import (
    FORMATS,
    QuietSources,
    render,
    render_captures,
    render_comparison,
    render_mementos,
    tokens,
    word_diff,
)
from archiver.report.terminal import print_report

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "report"
UPDATE = os.environ.get("ARCHIVER_UPDATE_GOLDEN") == "1"
SUFFIX = {"table": "txt", "json": "json", "markdown": "md", "html": "html"}

T0 = datetime(2026, 1, 15, 9, 30, 0, tzinfo=UTC)
T1 = datetime(2026, 1, 15, 9, 31, 12, tzinfo=UTC)
ARCHIVED_AT = datetime(2025, 4, 26, 8, 12, 44, tzinfo=UTC)

XINHUA = "http://www.news.cn/politics/leaders/20250426/63f5cde8f4b54e22ba35aa7ec7884b3a/c.html"
ZH_BEFORE = "国务院总理李强4月25日主持召开国务院常务会议，研究进一步稳就业的政策措施。"
ZH_AFTER = "国务院总理李强4月25日主持召开国务院常务会议，研究部署进一步稳就业稳经济的政策措施。"
EN_BEFORE = "The ministry said the new rules would take effect in March and apply to all provinces."
EN_AFTER = "The ministry said the revised rules would take effect in June and apply to coastal provinces."


def capture(
    ident: str,
    url: str,
    *,
    status: int | None = 200,
    final_url: str | None = None,
    fetched_at: datetime = T0,
    payload: str | None = "a" * 64,
    text: str | None = "b" * 64,
    size: int | None = 48_213,
    title: str | None = None,
    error: Failure | None = None,
    redirects: tuple[Hop, ...] = (),
) -> Capture:
    ok = error is None
    return Capture(
        id=ident,
        url=url,
        final_url=(final_url or url) if ok else None,
        status=status if ok else None,
        redirects=redirects,
        fetched_at=fetched_at,
        content_type="text/html; charset=utf-8" if ok else None,
        payload_sha256=payload if ok else None,
        payload_size=size if ok else None,
        text_sha256=text if ok else None,
        title=title,
        warc=WarcLocation("warcs/archiver-20260115093000-00001.warc.gz", 1024, 20_000) if ok else None,
        error=error,
        elapsed_ms=312 if ok else None,
    )


def perma(guid: str, original: str, *, verdict: ArchiveVerdict = ArchiveVerdict.OK, **extra: object) -> Memento:
    ref = ArchiveRef(ArchiveKind.PERMA, f"https://perma.cc/{guid}", f"https://perma.cc/{guid}", guid=guid)
    return Memento(
        ref=ref,
        verdict=verdict,
        original_url=original,
        datetime=ARCHIVED_AT,
        obtained_via="perma-memento-headers",
        **extra,  # type: ignore[arg-type]
    )


def sample_report() -> Report:
    """pass / warn / fail, English and Chinese, a drift with changes, a failed live capture, `|` in a URL."""
    en_url = "https://example.org/policy/2025/rules|draft"
    identical = CheckResult(
        citation=Citation("https://example.com/report.pdf", SourceSpan("docs/analysis.md", 12, 5)),
        live_verdict=LiveVerdict.OK,
        live_capture=capture("c0ffee0000000001", "https://example.com/report.pdf", title="Annual report"),
        archive=perma("5UBL-GCVG", "https://example.com/report.pdf"),
        archive_verdict=ArchiveVerdict.OK,
        drift=Comparison(DriftVerdict.IDENTICAL, 1.0, payload_identical=True, text_identical=True),
        overall=Overall.PASS,
    )
    minor = CheckResult(
        citation=Citation(XINHUA, SourceSpan("docs/translation.md", 3, 1), expected_title="李强主持召开国务院常务会议"),
        live_verdict=LiveVerdict.OK,
        live_capture=capture("c0ffee0000000002", XINHUA, title="李强主持召开国务院常务会议_新华网"),
        archive=perma(
            "ABCD-1234",
            XINHUA,
            substitute_days=1.5,
            substitute_for=ArchiveRef(ArchiveKind.PERMA, "perma.cc/ABCD-1234", "https://perma.cc/ABCD-1234"),
        ),
        archive_verdict=ArchiveVerdict.OK,
        drift=Comparison(
            DriftVerdict.MINOR,
            0.93,
            payload_identical=False,
            text_identical=False,
            title_similarity=1.0,
            changes=(Change("changed", ZH_BEFORE, ZH_AFTER),),
        ),
        overall=Overall.WARN,
        reasons=("正文有小改动 (minor drift): one paragraph edited",),
    )
    major = CheckResult(
        citation=Citation(en_url, SourceSpan("docs/analysis.md", 40, 9)),
        live_verdict=LiveVerdict.REDIRECTED,
        live_capture=capture(
            "c0ffee0000000003",
            en_url,
            final_url="https://example.org/policy/2025/rules-revised",
            redirects=(Hop(en_url, 301, "https://example.org/policy/2025/rules-revised"),),
        ),
        archive=perma("WXYZ-9876", en_url),
        archive_verdict=ArchiveVerdict.OK,
        drift=Comparison(
            DriftVerdict.MAJOR,
            0.61,
            payload_identical=False,
            text_identical=False,
            title_similarity=0.8,
            added=1,
            removed=1,
            changes=(
                Change("changed", EN_BEFORE, EN_AFTER),
                Change("added", "", "A new section on enforcement was added."),
                Change("removed", "Comments are due by 1 February.", ""),
            ),
            quote_in_a=True,
            quote_in_b=False,
        ),
        overall=Overall.FAIL,
        reasons=(
            "the live page drifted: 1 paragraph added, 1 removed",
            "the expected quote is gone\nfrom the live page",
        ),
    )
    unreachable = CheckResult(
        citation=Citation("https://gone.example.net/article/7", SourceSpan("docs/analysis.md", 58, 1)),
        live_verdict=LiveVerdict.UNREACHABLE,
        live_capture=capture(
            "c0ffee0000000004",
            "https://gone.example.net/article/7",
            error=Failure(ErrorKind.DNS, "gone.example.net does not resolve (NXDOMAIN)"),
        ),
        archive=perma(
            "QQQQ-0000",
            "https://gone.example.net/article/7",
            verdict=ArchiveVerdict.METADATA_ONLY,
            reason="no PERMA_API_KEY: content not retrievable",
        ),
        archive_verdict=ArchiveVerdict.METADATA_ONLY,
        drift=Comparison(
            DriftVerdict.UNKNOWN, None, payload_identical=False, text_identical=False, reason="live copy missing"
        ),
        overall=Overall.FAIL,
        reasons=("the live URL is unreachable: dns",),
    )
    return Report(
        tool="archiver",
        started_at=T0,
        finished_at=T1,
        results=(identical, minor, major, unreachable),
        title="Citations in docs/",
        notes=("4 citations in 2 documents",),
    )


def sample_captures() -> list[Capture]:
    url = "https://example.com/news/1"
    return [
        capture("0a1b2c3d4e5f0001", url, fetched_at=T1, payload="c" * 64, text="b" * 64, title="新闻"),
        capture("0a1b2c3d4e5f0002", url, fetched_at=T0, payload="a" * 64, text="b" * 64, title="新闻"),
        capture(
            "0a1b2c3d4e5f0003",
            url,
            fetched_at=ARCHIVED_AT,
            error=Failure(ErrorKind.TIMEOUT, "no response within 15 s"),
        ),
    ]


def sample_markers(captures: list[Capture]) -> list[HistoryMark]:
    older = [*captures[1:], None]
    return [HistoryMark.between(newer, old) for newer, old in zip(captures, older, strict=True)]


def sample_mementos() -> list[Memento]:
    archived = capture("0a1b2c3d4e5f0009", XINHUA, fetched_at=ARCHIVED_AT, title="李强主持召开国务院常务会议")
    wayback = ArchiveRef(
        ArchiveKind.WAYBACK,
        f"https://web.archive.org/web/20250427000000/{XINHUA}",
        f"https://web.archive.org/web/20250427000000/{XINHUA}",
        timestamp="20250427000000",
        original_url=XINHUA,
    )
    return [
        perma("5UBL-GCVG", XINHUA, verdict=ArchiveVerdict.METADATA_ONLY, reason="no PERMA_API_KEY"),
        Memento(
            ref=wayback,
            verdict=ArchiveVerdict.OK,
            original_url=XINHUA,
            datetime=datetime(2025, 4, 27, 0, 0, 0, tzinfo=UTC),
            obtained_via="wayback-id",
            capture=archived,
            substitute_for=ArchiveRef(ArchiveKind.PERMA, "perma.cc/5UBL-GCVG", "https://perma.cc/5UBL-GCVG"),
            substitute_days=0.66,
            mirror_sha256="d" * 64,
        ),
        perma("NOPE-0000", "https://example.com/other", verdict=ArchiveVerdict.MISMATCH, reason="archived another URL"),
    ]


def sample_comparison() -> Comparison:
    return Comparison(
        DriftVerdict.MAJOR,
        0.58,
        payload_identical=False,
        text_identical=False,
        title_similarity=0.9,
        added=1,
        removed=0,
        changes=(Change("changed", ZH_BEFORE, ZH_AFTER), Change("added", "", "新增一段：会议还研究了其他事项。")),
        quote_in_a=True,
        quote_in_b=True,
    )


def _check_golden(name: str, output: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(output, encoding="utf-8", newline="")
        pytest.fail(f"regenerated {path}; review the diff and run again without ARCHIVER_UPDATE_GOLDEN")
    assert path.is_file(), f"{path} is missing: run with ARCHIVER_UPDATE_GOLDEN=1 to write it"
    expected = path.read_text(encoding="utf-8")
    assert output == expected, f"{name} differs from the golden file; see the module docstring to regenerate"


@pytest.mark.parametrize("fmt", FORMATS)
def test_report_matches_golden_file(fmt: str) -> None:
    _check_golden(f"report.{SUFFIX[fmt]}", render(sample_report(), fmt, width=120))


@pytest.mark.parametrize("fmt", FORMATS)
def test_history_matches_golden_file(fmt: str) -> None:
    captures = sample_captures()
    output = render_captures(
        captures, fmt, title="history of https://example.com/news/1", markers=sample_markers(captures), width=120
    )
    _check_golden(f"history.{SUFFIX[fmt]}", output)


@pytest.mark.parametrize("fmt", FORMATS)
def test_mementos_match_golden_file(fmt: str) -> None:
    _check_golden(f"mementos.{SUFFIX[fmt]}", render_mementos(sample_mementos(), fmt, width=120))


@pytest.mark.parametrize("fmt", FORMATS)
def test_comparison_matches_golden_file(fmt: str) -> None:
    output = render_comparison(sample_comparison(), "perma.cc/5UBL-GCVG", XINHUA, fmt, width=120)
    _check_golden(f"comparison.{SUFFIX[fmt]}", output)


# A nightly run's report: the identical source and the long-unreachable one said the same the night
# before (quiet), the two drifted ones are news.
NIGHTLY_QUIET = QuietSources({1: "ok since 2026-01-02", 4: "gone since 2026-01-09"})


@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_nightly_report_with_quiet_sources_matches_golden_file(fmt: str) -> None:
    _check_golden(f"nightly.{SUFFIX[fmt]}", render(sample_report(), fmt, quiet=NIGHTLY_QUIET))


def test_quiet_sources_are_folded_and_news_kept_in_full() -> None:
    md = render(sample_report(), "markdown", quiet=NIGHTLY_QUIET)
    news, quiet = md.split("### Quiet sources")
    assert "https://example.com/report.pdf" not in news and "gone.example.net" not in news
    assert "#### 2. " in news and "#### 3. " in news and "#### 4. " not in news  # no details for quiet ones
    assert "| 4 | <https://gone.example.net/article/7> | fail | gone since 2026-01-09 |" in quiet
    assert "2 quiet sources, the same verdicts as in the previous run and no news: 1 pass · 1 fail" in quiet
    assert quiet.count("\n| ") == 3 and "<details>" in quiet and quiet.rstrip().endswith("</details>")
    root = lxml_html.document_fromstring(render(sample_report(), "html", quiet=NIGHTLY_QUIET))
    assert [int(n) for n in root.xpath("//table[@class='results']/tbody/tr/td[1]//text()")] == [2, 3]
    rows = root.xpath("//section[@class='quiet']/details/table/tbody/tr")
    assert [[td.text_content() for td in row] for row in rows] == [
        ["1", "https://example.com/report.pdf", "pass", "ok since 2026-01-02"],
        ["4", "https://gone.example.net/article/7", "fail", "gone since 2026-01-09"],
    ]
    assert root.xpath("//article[@id='item-4']") == [] and root.xpath("//article[@id='item-3']")
    # The header still counts every result; the JSON and the table are never folded.
    assert "4 results: 1 pass · 1 warn · 2 fail" in md
    assert render(sample_report(), "json", quiet=NIGHTLY_QUIET) == render(sample_report(), "json")
    assert render(sample_report(), "table", quiet=NIGHTLY_QUIET) == render(sample_report(), "table")
    # Without quiet sources the output is the check report, byte for byte (the golden files above).
    assert render(sample_report(), "markdown", quiet=QuietSources({})) == render(sample_report(), "markdown")


def test_a_night_without_news_says_so() -> None:
    everything = QuietSources({n: "ok since 2026-01-02" for n in range(1, 5)})
    md = render(sample_report(), "markdown", quiet=everything)
    assert "No news: every source has the same verdicts as in the previous run." in md
    assert "| Citation |" not in md and "### Details" not in md
    page = render(sample_report(), "html", quiet=everything)
    etree.fromstring(page.encode("utf-8"))
    assert '<table class="results">' not in page and "4 quiet sources" in page


def test_quiet_sources_must_be_results_of_the_report() -> None:
    with pytest.raises(ValueError, match="numbered 1 to 4"):
        render(sample_report(), "markdown", quiet=QuietSources({5: "ok"}))
    with pytest.raises(ValueError, match="numbered 1 to 4"):
        render(sample_report(), "html", quiet=QuietSources({0: "ok"}))


def test_compact_json_is_the_same_document_on_one_line() -> None:
    compact = render(sample_report(), "json", compact=True)
    indented = render(sample_report(), "json")
    assert json.loads(compact) == json.loads(indented) and compact.count("\n") == 1 and compact.endswith("}\n")
    assert len(compact) < 0.75 * len(indented) and "国务院" in compact


def hostile_report() -> Report:
    """Text a page or a document controls, crafted to break out of each format."""
    evil = "<script>alert(1)</script>"
    result = CheckResult(
        citation=Citation(f"javascript:alert(1)//{evil}", SourceSpan(f"docs/{evil}.md", 1, 1)),
        live_verdict=LiveVerdict.OK,
        live_capture=capture("feedface00000001", f"https://evil.example/{evil}?a=1&b=2", title=evil),
        archive=None,
        archive_verdict=ArchiveVerdict.NONE,
        drift=Comparison(
            DriftVerdict.MINOR,
            0.9,
            payload_identical=False,
            text_identical=False,
            changes=(Change("changed", f"safe {evil}", f"<img src=x onerror=alert(1)> {evil}"),),
        ),
        overall=Overall.WARN,
        reasons=(f"[bold red]markup[/] | pipe\n# heading {evil}", "\x1b[2Jterminal escape\x00"),
    )
    return Report(tool="archiver", started_at=T0, finished_at=T1, results=(result,), title=f"Report {evil}")


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="choose one of table, json, markdown, html"):
        render(sample_report(), "pdf")
    with pytest.raises(UsageError):
        render_captures(sample_captures(), "yaml")
    with pytest.raises(UsageError):
        render_mementos(sample_mementos(), "TABLE")
    with pytest.raises(UsageError):
        render_comparison(sample_comparison(), "a", "b", "")


def test_marks_must_match_captures() -> None:
    captures = sample_captures()
    with pytest.raises(ValueError, match="one marker per capture"):
        render_captures(captures, "json", markers=sample_markers(captures)[:1])


def test_json_round_trips_with_the_contract_keys() -> None:
    data = json.loads(render(sample_report(), "json"))
    assert {"schema_version", "tool", "started_at", "finished_at", "results", "summary"} <= data.keys()
    assert data["schema_version"] == 1
    assert data["started_at"] == "2026-01-15T09:30:00Z"
    assert data["summary"] == {"pass": 1, "warn": 1, "fail": 2}
    capture_keys = {
        "url",
        "final_url",
        "status",
        "redirects",
        "fetched_at",
        "content_type",
        "payload_sha256",
        "payload_size",
        "text_sha256",
        "title",
        "warc",
        "error",
    }
    for result in data["results"]:
        assert {"citation", "live", "archive", "drift", "overall", "reasons"} <= result.keys()
        assert {"url", "archives", "found_in"} <= result["citation"].keys()
        assert result["citation"]["found_in"].keys() >= {"path", "line", "column"}
        assert {"verdict", "capture"} <= result["live"].keys()
        assert {"verdict", "kind", "ref", "original_url", "datetime", "capture"} <= result["archive"].keys()
        assert {"verdict", "similarity", "added", "removed", "excerpt"} <= result["drift"].keys()
        assert LiveVerdict(result["live"]["verdict"])
        assert ArchiveVerdict(result["archive"]["verdict"])
        assert DriftVerdict(result["drift"]["verdict"])
        assert Overall(result["overall"])
        assert capture_keys <= result["live"]["capture"].keys()
    failed = data["results"][3]["live"]["capture"]
    assert failed["error"] == {"kind": "dns", "message": "gone.example.net does not resolve (NXDOMAIN)"}
    redirected = data["results"][2]["live"]["capture"]
    assert {"url", "status"} <= redirected["redirects"][0].keys()
    assert redirected["warc"].keys() == {"file", "offset", "length"}
    assert data["results"][1]["drift"]["excerpt"] == ZH_AFTER
    assert "国务院" in render(sample_report(), "json")  # UTF-8 text, not \\u escapes


def test_capture_json_rebuilds_the_captures() -> None:
    captures = sample_captures()
    data = json.loads(render_captures(captures, "json", markers=sample_markers(captures)))
    assert data["schema_version"] == 1 and data["tool"] == "archiver"
    assert [capture_from_dict(item) for item in data["captures"]] == captures
    assert [item["changed"] for item in data["captures"]] == [
        {"payload": True, "text": False},
        {"payload": None, "text": None},
        {"payload": None, "text": None},
    ]
    assert "changed" not in json.loads(render_captures(captures, "json"))["captures"][0]


def test_memento_and_comparison_json() -> None:
    mementos = json.loads(render_mementos(sample_mementos(), "json"))["mementos"]
    assert [m["verdict"] for m in mementos] == ["metadata_only", "ok", "mismatch"]
    assert mementos[1]["substitute_days"] == 0.66 and mementos[1]["capture"]["payload_sha256"] == "a" * 64
    compared = json.loads(render_comparison(sample_comparison(), "A-label", "B-label", "json"))
    assert (compared["a"], compared["b"]) == ("A-label", "B-label")
    assert {"verdict", "similarity", "added", "removed", "excerpt"} <= compared["comparison"].keys()


@pytest.mark.parametrize(
    "output",
    [
        pytest.param(lambda: render(sample_report(), "html"), id="report"),
        pytest.param(lambda: render(hostile_report(), "html"), id="hostile"),
        pytest.param(lambda: render(sample_report(), "html", quiet=NIGHTLY_QUIET), id="nightly"),
        pytest.param(lambda: render(hostile_report(), "html", quiet=QuietSources({1: "<b>x</b>"})), id="hostile-quiet"),
        pytest.param(
            lambda: render_captures(sample_captures(), "html", markers=sample_markers(sample_captures())), id="history"
        ),
        pytest.param(lambda: render_mementos(sample_mementos(), "html"), id="mementos"),
        pytest.param(lambda: render_comparison(sample_comparison(), "perma.cc/X", XINHUA, "html"), id="comparison"),
    ],
)
def test_html_is_well_formed_and_self_contained(output: object) -> None:
    assert callable(output)
    page = output()
    # Strict XML parsing: any unclosed element, bare `&` or stray `<` fails here.
    root = etree.fromstring(page.encode("utf-8"))
    assert root.tag == "html" and root.get("lang") == "en"
    assert root.find("head/meta").get("charset") == "utf-8"
    assert "Noto Sans CJK SC" in root.findtext("head/style")
    assert root.findall(".//script") == [] and root.findall(".//link") == [] and root.findall(".//img") == []
    assert not [el for el in root.iter() if el.get("src") is not None or el.get("onerror") is not None]
    for anchor in root.iter("a"):
        assert anchor.get("href").startswith(("https://", "http://", "#"))


def test_html_side_by_side_diff_marks_changed_characters() -> None:
    root = lxml_html.document_fromstring(render(sample_report(), "html"))
    chinese = root.get_element_by_id("item-2")
    before, after = chinese.xpath(".//table[@class='diff']//td[contains(@class, 'side')]")
    assert before.get("lang") == after.get("lang") == "zh"
    assert before.text_content() == ZH_BEFORE and after.text_content() == ZH_AFTER
    assert [ins.text for ins in after.iter("ins")] == ["部署", "稳经济"]
    english = root.get_element_by_id("item-3")
    rows = english.xpath(".//table[@class='diff']/tbody/tr")
    assert [row.get("class") for row in rows] == ["changed", "added", "removed"]
    assert [d.text for d in rows[0].iter("del")] == ["new", "March", "all"]
    assert [i.text for i in rows[0].iter("ins")] == ["revised", "June", "coastal"]
    assert rows[1].xpath("td")[1].get("class") == "side empty"
    # Passing, undrifted items get no details section; the others link to theirs.
    assert root.xpath("//*[@id='item-1']") == []
    assert root.xpath("//tr[@id='row-2']/td[@class='num']/a/@href") == ["#item-2"]


def test_html_escapes_hostile_text() -> None:
    page = render(hostile_report(), "html")
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    root = lxml_html.document_fromstring(page)
    assert root.findtext(".//title") == "Report <script>alert(1)</script>"
    citation = root.xpath("//td[@class='citation']")[0]
    assert citation.xpath(".//a") == []  # a javascript: URL is text, never a link
    assert "javascript:alert(1)" in citation.text_content()


def test_markdown_escapes_cells_and_keeps_the_table_shape() -> None:
    out = render(hostile_report(), "markdown")
    assert "<script" not in out and "<img" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    rows = [line for line in out.splitlines() if line.startswith("|")]
    unescaped = re.compile(r"(?<!\\)\|")
    assert len({len(unescaped.findall(row)) for row in rows}) == 1
    assert "\\| pipe<br>\\# heading" in out
    golden_rows = [line for line in render(sample_report(), "markdown").splitlines() if line.startswith("| ")]
    assert len(golden_rows) == 1 + 4
    assert "<https://example.org/policy/2025/rules%7Cdraft>" in golden_rows[3]


def test_table_shows_user_text_verbatim_not_as_markup() -> None:
    out = render(hostile_report(), "table", width=200)
    assert "[bold red]markup[/] | pipe" in out
    assert "1 result: 0 pass · 1 warn · 0 fail" in out


@pytest.mark.parametrize("fmt", FORMATS)
def test_control_characters_never_reach_the_output(fmt: str) -> None:
    out = render(hostile_report(), fmt, color=True)
    assert "\x1b[2J" not in out and "\x00" not in out
    assert "terminal escape" in out


def test_table_colours_verdicts_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)  # rich honours it, as a terminal program should
    out = render(sample_report(), "table", color=True)
    assert "\x1b[1;32mPASS" in out and "\x1b[1;33mWARN" in out and "\x1b[1;31mFAIL" in out
    assert "\x1b[32m1 pass\x1b[0m · \x1b[33m1 warn\x1b[0m · \x1b[31m2 fail" in out
    assert "\x1b[1;32mregulation" not in out
    plain = render(sample_report(), "table", width=200)
    assert "4 results: 1 pass · 1 warn · 2 fail" in plain
    assert "{+部署+}" in plain and "[-March-]" in plain


def test_print_report_writes_the_same_table_to_a_console() -> None:
    buffer = io.StringIO()
    print_report(sample_report(), Console(file=buffer, width=120, color_system=None))
    printed = "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())
    assert printed == render(sample_report(), "table", width=120)


def test_tokens_split_cjk_into_characters_and_words_into_words() -> None:
    assert tokens("Li Qiang 主持会议, 2025年") == [
        "Li",
        " ",
        "Qiang",
        " ",
        "主",
        "持",
        "会",
        "议",
        ",",
        " ",
        "2025",
        "年",
    ]


@given(st.text(), st.text())
def test_word_diff_sides_rebuild_both_texts(before: str, after: str) -> None:
    assert "".join(tokens(before)) == before
    left, right = word_diff(before, after)
    assert "".join(p.text for p in left) == before
    assert "".join(p.text for p in right) == after
    if before == after:
        assert not any(p.changed for p in left + right)


def test_word_diff_gives_up_on_huge_paragraphs_quickly() -> None:
    before, after = "字" * 3000, "字" * 1500 + "词" * 1500
    left, right = word_diff(before, after)
    assert left == [(True, before)] and right == [(True, after)]


def test_junit_and_csv_of_the_sample_report_read_back() -> None:
    import csv
    import io

    from junitparser import Failure, JUnitXml

    report = sample_report()
    xml = JUnitXml.fromstring(render(report, "junit").encode())
    cases = [case for suite in xml for case in suite]
    assert len(cases) == len(report.results)
    failed = [case for case in cases if any(isinstance(r, Failure) for r in case.result)]
    assert len(failed) == report.summary["fail"]
    assert render(report, "junit") == render(report, "junit"), "deterministic"
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"), newline="")))
    assert [row["overall"] for row in rows] == [r.overall.value for r in report.results]
    assert [row["url"] for row in rows] == [r.citation.url for r in report.results]
