"""HTML extraction: anchors, Robust Links, cite attributes, <base>, skipped schemes, positions."""

from __future__ import annotations

from pathlib import Path

from archiver.extract import ArchiveHosts, Link, LinkSource, extract_links
from archiver.models import ArchiveKind, SourceSpan

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "extract"


def links_of(name: str) -> list[Link]:
    return extract_links((FIXTURES / name).read_bytes(), name)


def test_robust_links_attributes_are_read() -> None:
    links = links_of("robust-links.html")
    assert [(link.url, link.source) for link in links] == [
        ("https://www.example.org/readout", LinkSource.HYPERLINK),
        ("https://perma.cc/WXYZ-2345", LinkSource.HYPERLINK),
        ("https://www.example.org/plain", LinkSource.HYPERLINK),
        ("https://www.example.org/bare-in-html", LinkSource.PROSE),
    ]
    versioned, reversed_, plain, _bare = links
    assert versioned.version_url == "https://archive.example.net/memento/20250101/readout"
    assert versioned.version_date == "2025-01-01"
    assert versioned.version_archive is not None and versioned.version_archive.kind is ArchiveKind.MEMENTO
    assert versioned.archive is None and versioned.is_robust
    assert versioned.text == "Readout of the study session"
    assert reversed_.original_url == "https://www.example.org/reversed"
    assert reversed_.archive is not None and reversed_.archive.kind is ArchiveKind.PERMA
    assert not plain.is_robust


def test_positions_point_at_the_attribute_value() -> None:
    links = links_of("robust-links.html")
    line = (FIXTURES / "robust-links.html").read_text().splitlines()[3]
    assert links[0].found_in == SourceSpan(
        path="robust-links.html", line=4, column=line.index("https://www.example.org/readout") + 1
    )
    bare_line = (FIXTURES / "robust-links.html").read_text().splitlines()[6]
    assert links[3].found_in.column == bare_line.index("https://www.example.org/bare-in-html") + 1


def test_code_pre_and_script_text_is_not_cited() -> None:
    assert not [link for link in links_of("robust-links.html") if "in-pre" in link.url or "in-script" in link.url]


def test_base_href_makes_relative_links_absolute_and_other_schemes_are_skipped() -> None:
    assert [link.url for link in links_of("base-href.html")] == [
        "https://www.example.org/docs/page.html",
        "https://www.example.org/root.html",
        "https://www.example.com/q?a=1&b=2",
    ]


def test_relative_links_without_base_are_ignored() -> None:
    links = links_of("relative-without-base.html")
    assert [link.url for link in links] == [
        "https://www.example.org/protocol-relative",
        "https://www.example.org/upper",
    ]
    assert links[1].found_in.column == len("<a HREF='") + 1


def test_blockquote_and_q_cite() -> None:
    links = links_of("blockquote-cite.html")
    assert [(link.url, link.source) for link in links] == [
        ("https://www.example.org/quoted-speech", LinkSource.CITE),
        ("https://www.example.org/short-quote", LinkSource.CITE),
    ]


def test_charset_from_meta_and_archive_hosts_from_config() -> None:
    html = (
        '<html><head><meta charset="gbk"></head><body><p>新华社 <a href="http://127.0.0.1:8999/ABCD-EFGH">存档</a>'
        ' <a href="https://www.example.cn/新闻">source</a></p></body></html>'
    ).encode("gbk")
    hosts = ArchiveHosts(perma_site_url="http://127.0.0.1:8999")
    links = extract_links(html, "gbk.html", hosts=hosts)
    assert links[0].archive is not None and links[0].archive.kind is ArchiveKind.PERMA
    assert links[0].context.startswith("新华社")
    assert links[1].url == "https://www.example.cn/新闻"
    assert links[1].archive is None
    assert extract_links(html, "gbk.html")[0].archive is None  # not an archive host by default


def test_unclosed_anchor_takes_text_until_the_next_anchor() -> None:
    links = extract_links(
        b"<p><a href='https://a.example.org/'>first <a href='https://b.example.org/'>second</p>", "x.html"
    )
    assert [(link.url, link.text) for link in links] == [
        ("https://a.example.org/", "first"),
        ("https://b.example.org/", "second"),
    ]


def test_archive_hosts_from_config() -> None:
    from archiver.config import load_config

    config = load_config(None, {"perma": {"site_url": "http://127.0.0.1:8999"}})
    hosts = ArchiveHosts.from_config(config)
    links = extract_links(b"<a href='http://127.0.0.1:8999/ABCD-EFGH'>copy</a>", "x.html", hosts=hosts)
    assert links[0].archive is not None and links[0].archive.uri == "http://127.0.0.1:8999/ABCD-EFGH"


def test_a_url_repeated_in_one_text_node_is_placed_at_each_occurrence() -> None:
    html = b"<p>First https://example.org/x then &amp; https://example.org/x again\nand https://example.org/x</p>"
    links = extract_links(html, "repeat.html")
    assert [(link.found_in.line, link.found_in.column) for link in links] == [(1, 10), (1, 43), (2, 5)]
    assert {link.context for link in links} == {"First https://example.org/x then & https://example.org/x again and "
                                                "https://example.org/x"}  # fmt: skip


def test_prose_context_in_a_long_text_node_is_its_start_cut_to_size() -> None:
    words = " ".join(f"word{n} https://example.org/{n}" for n in range(3000))
    links = extract_links(f"<p>{words}</p>".encode(), "long.html")
    assert len(links) == 3000
    assert all(link.context == links[0].context for link in links)
    assert len(links[0].context) == 400 and links[0].context.startswith("word0 https://example.org/0 word1")


def test_a_base_or_relative_link_urljoin_cannot_parse_leaves_the_link_out() -> None:
    # Found by fuzz/targets.py document: urljoin raised ValueError ("Invalid IPv6 URL") through check.
    html = (b'<base href="http://[x/"><a href="rel">r</a><a href="https://example.org/abs">a</a>'
            b'<a href="//[y/" data-versionurl="z">v</a>')  # fmt: skip
    assert [link.url for link in extract_links(html, "base.html")] == ["https://example.org/abs"]
    fine_base = b'<base href="https://example.org/"><a href="//[y/">r</a><a href="ok">o</a>'
    assert [link.url for link in extract_links(fine_base, "base.html")] == ["https://example.org/ok"]
