"""Pairing archive links with cited URLs: by embedded URL, by resolved original, by Robust Links,
by position (the "An archived version ... is available online at" pattern), and uncited archives."""

from __future__ import annotations

from pathlib import Path

from archiver.extract import extract_links
from archiver.extract.link import ArchiveHosts, Link, LinkSource, make_link
from archiver.extract.pairing import UNCITED_NOTE, UNRESOLVED_NOTE, candidate_refs, pair
from archiver.models import ArchiveKind, SourceSpan
from tests.conftest import shared_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "extract"
NEWS_CN = "http://www.news.cn/politics/leaders/20250426/63f5cde8f4b54e22ba35aa7ec7884b3a/c.html"
NEW_AMERICA = (
    "https://www.newamerica.org/cybersecurity-initiative/digichina/blog/"
    "xi-jinping-calls-for-healthy-development-of-ai-translation/"
)


def links_of(name: str) -> list[Link]:
    return extract_links((FIXTURES / name).read_bytes(), name)


def link(url: str, line: int, *, text: str | None = None, context: str = "", path: str = "d.txt") -> Link:
    return make_link(url, SourceSpan(path, line, 1), LinkSource.PROSE, ArchiveHosts(), context=context, text=text)


def test_sample_document_yields_exactly_its_two_citations() -> None:
    path = shared_file("samples/000_051ad646e9f7dedc.txt")
    links = extract_links(path.read_bytes(), str(path))
    refs = candidate_refs(links)
    assert [ref.uri for ref in refs] == ["https://perma.cc/5UBL-GCVG"]
    for originals in ({}, {"https://perma.cc/5UBL-GCVG": None}, {"https://perma.cc/5UBL-GCVG": NEWS_CN}):
        citations = pair(links, originals)
        assert [(c.url, [a.uri for a in c.archives]) for c in citations] == [
            (NEWS_CN, ["https://perma.cc/5UBL-GCVG"]),
            (NEW_AMERICA, []),
        ]
        assert citations[0].found_in.line == 21 and citations[1].found_in.line == 47
    assert pair(links, {"https://perma.cc/5UBL-GCVG": NEWS_CN})[0].note is None  # matched, not by position


def test_archive_next_to_citation_with_a_different_original_is_attached_with_a_note() -> None:
    links = links_of("archive-next-to-citation.txt")
    other = "https://www.example.org/something-else"
    citations = pair(links, {"https://perma.cc/AAAA-BBBB": other})
    assert [(c.url, [a.guid for a in c.archives]) for c in citations] == [
        ("http://www.news.example.cn/politics/20250426/c.html", ["AAAA-BBBB"]),
        ("https://www.example.org/second", []),
    ]
    assert citations[0].note is not None and f"it captured {other}" in citations[0].note


def test_matching_original_pairs_wherever_the_citation_stands() -> None:
    links = [
        link("https://perma.cc/AAAA-BBBB", 1),
        link("https://www.example.org/b", 2),
        link("https://www.example.org/a", 40),
    ]
    # An uncited original is listed where its archive link stands: first here.
    citations = pair(links, {"https://perma.cc/AAAA-BBBB": "http://example.org/a/"})
    assert [(c.url, len(c.archives), c.note) for c in citations] == [
        ("http://example.org/a/", 1, UNCITED_NOTE),
        ("https://www.example.org/b", 0, None),
        ("https://www.example.org/a", 0, None),
    ]
    # same_resource ignores scheme and trailing slash, not the host: www.example.org is another host
    citations = pair(links, {"https://perma.cc/AAAA-BBBB": "http://www.example.org/a/"})
    assert [(c.url, len(c.archives), c.found_in.line) for c in citations] == [
        ("https://www.example.org/b", 0, 2),
        ("https://www.example.org/a", 1, 40),
    ]


def test_wayback_pairs_by_its_embedded_url_and_an_uncited_archive_becomes_a_citation() -> None:
    citations = pair(links_of("uncited-archive.txt"), {})
    assert [(c.url, [a.kind for a in c.archives], c.note) for c in citations] == [
        ("https://www.example.org/report", [ArchiveKind.WAYBACK], None),
        ("http://www.example.com/never-cited", [ArchiveKind.WAYBACK], UNCITED_NOTE),
    ]
    assert citations[1].found_in.line == 8


def test_neighbour_that_already_has_its_archive_is_not_taken() -> None:
    links = [
        link("https://www.example.org/a", 1),
        link("https://web.archive.org/web/2025/https://www.example.org/a", 2),
        link("https://perma.cc/CCCC-DDDD", 3, context="archived copy"),
    ]
    citations = pair(links, {"https://perma.cc/CCCC-DDDD": None})
    assert [(c.url, len(c.archives), c.note) for c in citations] == [
        ("https://www.example.org/a", 1, None),
        ("https://perma.cc/CCCC-DDDD", 1, UNRESOLVED_NOTE),
    ]


def test_position_pairing_has_a_reach_wider_when_the_line_announces_an_archive() -> None:
    far = [link("https://www.example.org/a", 1), link("https://perma.cc/CCCC-DDDD", 7)]
    assert [len(c.archives) for c in pair(far, {})] == [0, 1]
    announced = [
        link("https://www.example.org/a", 1),
        link("https://perma.cc/CCCC-DDDD", 7, context="An archived version is available at:"),
    ]
    assert [len(c.archives) for c in pair(announced, {})] == [1]
    other_file = [link("https://www.example.org/a", 1), link("https://perma.cc/CCCC-DDDD", 2, path="other.txt")]
    assert len(pair(other_file, {})) == 2


def test_two_archives_of_one_citation_are_merged_and_duplicates_collapse() -> None:
    links = [
        link("https://www.example.org/a", 1),
        link("https://perma.cc/CCCC-DDDD", 2),
        link("https://web.archive.org/web/2025/https://www.example.org/a", 3),
        link("http://www.example.org/a/", 9),
        link("https://perma.cc/cccc-dddd", 10),
    ]
    citations = pair(links, {"https://perma.cc/CCCC-DDDD": "https://www.example.org/a"})
    assert len(citations) == 1
    assert [a.kind for a in citations[0].archives] == [ArchiveKind.PERMA, ArchiveKind.WAYBACK]
    assert citations[0].found_in.line == 1


def test_robust_links_pair_explicitly() -> None:
    citations = pair(links_of("robust-links.html"), {})
    by_url = {c.url: c for c in citations}
    assert list(by_url) == [
        "https://www.example.org/readout",
        "https://www.example.org/reversed",
        "https://www.example.org/plain",
        "https://www.example.org/bare-in-html",
    ]
    readout = by_url["https://www.example.org/readout"]
    assert [a.uri for a in readout.archives] == ["https://archive.example.net/memento/20250101/readout"]
    assert readout.expected_title == "Readout of the study session"
    assert readout.note == "paired by its Robust Links attributes"
    assert [a.guid for a in by_url["https://www.example.org/reversed"].archives] == ["WXYZ-2345"]
    assert by_url["https://www.example.org/plain"].archives == ()
    assert [ref.uri for ref in candidate_refs(links_of("robust-links.html"))] == [
        "https://archive.example.net/memento/20250101/readout",
        "https://perma.cc/WXYZ-2345",
    ]


def test_expected_title_only_when_the_link_text_reads_as_a_title() -> None:
    citations = pair(
        [
            link("https://www.example.org/a", 1, text="here"),
            link("https://www.example.org/a", 2, text="Xi Jinping Stresses Self-Reliance"),
            link("https://www.example.org/b", 3, text="https://www.example.org/b"),
            link("https://www.example.org/c", 4, text="Source"),
        ],
        {},
    )
    assert [c.expected_title for c in citations] == ["Xi Jinping Stresses Self-Reliance", None, None]


def test_each_format_end_to_end_through_extract_and_pair() -> None:
    markdown = pair(links_of("inline-links-and-autolinks.md"), {})
    assert [(c.url, len(c.archives)) for c in markdown] == [
        ("https://www.example.org/readout", 1),
        ("https://www.example.org/autolink", 0),
        ("https://www.example.org/emphasised", 0),
    ]
    assert markdown[0].expected_title == "Readout of the 2018 Politburo study session"

    references = pair(links_of("reference-definitions.md"), {"https://perma.cc/ABCD-EFGH": None})
    assert [(c.url, len(c.archives)) for c in references] == [
        ("https://www.example.org/xinhua.html", 1),
        ("https://www.example.org/footnote", 0),
    ]
    assert references[0].expected_title == "Xi Jinping Stresses Self-Reliance in AI"

    pdf = pair(links_of("broken-url-across-lines.pdf"), {})
    assert [(c.url, len(c.archives)) for c in pdf] == [
        ("https://www.example.edu/linked-by-annotation", 0),
        ("https://www.example.org/politics/leaders/20250426/63f5cde8f4b54e22ba35/c.html", 1),
        ("https://www.example.com/report", 0),
        ("https://www.example.net/annual-report.pdf", 0),
        ("https://www.example.org/page-two", 0),
    ]

    docx = pair(links_of("hyperlinks.docx"), {"https://perma.cc/ABCD-EFGH": None})
    assert [(c.url, len(c.archives)) for c in docx] == [
        ("https://www.example.org/source.html", 1),
        ("https://www.example.com/plain-text-url", 0),
        ("https://www.example.net/in-table", 0),
        ("https://www.example.edu/footnote-hyperlink", 0),
        ("https://www.example.com/footnote-text", 0),
    ]
    assert docx[0].expected_title == "Xinhua report on the study session"
    assert docx[0].note is not None and "not resolved" in docx[0].note

    html = pair(links_of("base-href.html"), {})
    assert [c.url for c in html] == [
        "https://www.example.org/docs/page.html",
        "https://www.example.org/root.html",
        "https://www.example.com/q?a=1&b=2",
    ]

    cjk = pair(links_of("cjk-punctuation.txt"), {})
    assert cjk[0].url == "https://www.news.example.cn/politics/20250426/c.html"
    assert [a.guid for a in cjk[0].archives] == ["5UBL-GCVG"]
