"""Plain-text and Markdown extraction, type detection and stdin: one fixture per tricky case."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archiver.extract import DocKind, LinkSource, detect_kind, extract_links, scan_urls
from archiver.models import ArchiveKind, SourceSpan

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "extract"


def urls(name: str) -> list[str]:
    return [link.url for link in extract_links((FIXTURES / name).read_bytes(), name)]


def test_angle_brackets_delimit_and_a_wrapped_url_inside_them_is_joined() -> None:
    links = extract_links((FIXTURES / "angle-brackets.txt").read_bytes(), "angle-brackets.txt")
    assert [link.url for link in links] == [
        "https://www.example.org/a/b.html",
        "https://perma.cc/ABCD-EFGH",
        "https://www.example.org/very/long/path/that-goes-on.html",
    ]
    assert links[0].found_in == SourceSpan(path="angle-brackets.txt", line=1, column=19)
    assert links[1].archive is not None and links[1].archive.kind is ArchiveKind.PERMA
    assert links[1].archive.guid == "ABCD-EFGH"
    assert links[2].found_in.line == 2


def test_cjk_punctuation_ends_a_url_but_cjk_letters_in_a_path_do_not() -> None:
    assert urls("cjk-punctuation.txt") == [
        "https://www.news.example.cn/politics/20250426/c.html",
        "https://perma.cc/5UBL-GCVG",
        "https://www.example.cn/a/b",
        "https://www.example.cn/c",
        "https://www.example.cn/d",
        "https://www.example.cn/e",
        "https://www.example.cn/f",
        "https://www.example.cn/g",
        "https://zh.wikipedia.org/wiki/人工智能",
    ]


def test_cjk_columns_count_characters_not_bytes() -> None:
    links = extract_links((FIXTURES / "cjk-punctuation.txt").read_bytes(), "c.txt")
    assert links[0].found_in.column == len("新华社消息，原文见") + 1


def test_trailing_punctuation_and_quotes_are_not_part_of_the_url() -> None:
    assert urls("trailing-punctuation.txt") == [
        "https://www.example.org/one",
        "https://www.example.org/two",
        "https://www.example.org/three",
        "https://www.example.org/four",
        "https://www.example.org/five",
        "https://www.example.org/six",
        "https://www.example.org/seven",
        "https://www.example.org/eight",
        "https://www.example.org/nine",
        "https://www.example.org/ten?q=1&r=2",
    ]


def test_balanced_parentheses_stay_in_the_url_unbalanced_ones_do_not() -> None:
    assert urls("wikipedia-parens.txt") == [
        "https://en.wikipedia.org/wiki/Python_(programming_language)",
        "https://www.example.org/plain",
        "https://www.example.org/bracketed",
    ]


def test_footnote_markers_after_a_url_are_not_part_of_it() -> None:
    assert urls("footnotes.txt") == ["https://www.example.org/readout", "https://www.example.org/note-two"]


def test_www_urls_get_a_scheme_and_non_urls_are_skipped() -> None:
    assert urls("bare-www-and-non-urls.txt") == ["http://www.example.org/no-scheme"]


def test_every_occurrence_is_returned_in_order_with_its_line_as_context() -> None:
    data = b"First https://a.example.org/x and again\nhttps://a.example.org/x here.\n"
    links = extract_links(data, "dup.txt")
    assert [(link.url, link.found_in.line, link.found_in.column) for link in links] == [
        ("https://a.example.org/x", 1, 7),
        ("https://a.example.org/x", 2, 1),
    ]
    assert links[0].context == "First https://a.example.org/x and again"


def test_a_url_alone_on_its_line_takes_the_line_before_as_context() -> None:
    links = extract_links(b"The source is available online at:\n\n<https://a.example.org/x>\n", "c.txt")
    assert links[0].context == "The source is available online at: <https://a.example.org/x>"


def test_line_breaks_in_free_text_end_a_url() -> None:
    assert urls_in(b"see https://a.example.org/path/\nnext-line.html\n") == ["https://a.example.org/path/"]


def urls_in(data: bytes, path: str = "t.txt") -> list[str]:
    return [link.url for link in extract_links(data, path)]


def test_crlf_line_endings_count_lines_like_an_editor() -> None:
    links = extract_links(b"one\r\ntwo https://a.example.org/\r\n", "crlf.txt")
    assert links[0].found_in == SourceSpan(path="crlf.txt", line=2, column=5)


def test_gbk_text_is_decoded() -> None:
    data = "新华社报道，原文链接：https://www.news.example.cn/a.html。这是一段较长的中文文本，用于字符集检测。".encode(
        "gbk"
    )
    assert urls_in(data) == ["https://www.news.example.cn/a.html"]


# Markdown


def test_markdown_parentheses_in_link_destinations_and_bare_urls() -> None:
    links = extract_links((FIXTURES / "wikipedia-parens.md").read_bytes(), "wikipedia-parens.md")
    assert [(link.url, link.source) for link in links] == [
        ("https://en.wikipedia.org/wiki/Python_(programming_language)", LinkSource.HYPERLINK),
        ("https://en.wikipedia.org/wiki/Monty_Python_(disambiguation)", LinkSource.PROSE),
        ("https://www.example.org/a path/", LinkSource.HYPERLINK),
    ]
    assert links[0].found_in.column == len("The [Python article](") + 1
    assert links[0].text == "Python article"


def test_markdown_code_blocks_and_inline_code_are_ignored() -> None:
    links = extract_links((FIXTURES / "code-block-ignored.md").read_bytes(), "code-block-ignored.md")
    assert [(link.url, link.found_in.line) for link in links] == [
        ("https://www.example.org/cited", 3),
        ("https://www.example.org/in-list", 14),
        ("https://www.example.org/after-code", 22),
    ]


def test_markdown_reference_definitions_with_titles() -> None:
    links = extract_links((FIXTURES / "reference-definitions.md").read_bytes(), "reference-definitions.md")
    assert [(link.url, link.source, link.text) for link in links] == [
        ("https://www.example.org/xinhua.html", LinkSource.REFERENCE, "Xi Jinping Stresses Self-Reliance in AI"),
        ("https://perma.cc/ABCD-EFGH", LinkSource.REFERENCE, "perma"),
        ("https://www.example.org/footnote", LinkSource.PROSE, None),
    ]
    assert links[1].is_archive
    assert links[0].found_in == SourceSpan(path="reference-definitions.md", line=5, column=11)


def test_markdown_inline_links_autolinks_and_no_images() -> None:
    links = extract_links((FIXTURES / "inline-links-and-autolinks.md").read_bytes(), "inline-links-and-autolinks.md")
    assert [(link.url, link.source) for link in links] == [
        ("https://www.example.org/readout", LinkSource.HYPERLINK),
        ("https://www.example.org/autolink", LinkSource.AUTOLINK),
        ("https://www.example.org/emphasised", LinkSource.PROSE),
        ("https://web.archive.org/web/20250101000000/https://www.example.org/readout", LinkSource.HYPERLINK),
    ]
    assert links[0].text == "Readout of the 2018 Politburo study session"
    assert links[3].archive is not None and links[3].archive.original_url == "https://www.example.org/readout"


# Detection


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("a.md", b"plain words", DocKind.MARKDOWN),
        ("a.txt", b"# Heading\n[x](https://a.example.org)", DocKind.TEXT),
        ("a.txt", b"%PDF-1.4\n...", DocKind.PDF),
        ("a.pdf", b"not a pdf at all", DocKind.PDF),
        ("-", b"<!DOCTYPE html><html><body></body></html>", DocKind.HTML),
        ("-", b"\xef\xbb\xbf  <!-- c --> <HTML lang=en>", DocKind.HTML),
        ("-", b"Intro\n\n[a link](https://a.example.org/)\n", DocKind.MARKDOWN),
        ("-", b"Intro\n\n## Heading\n", DocKind.MARKDOWN),
        ("-", b"The source: <https://a.example.org/>\n    indented https://b.example.org/\n", DocKind.TEXT),
        ("notes", b"just text", DocKind.TEXT),
        ("DOC.HTM", b"anything", DocKind.HTML),
    ],
)
def test_detect_kind(name: str, data: bytes, kind: DocKind) -> None:
    assert detect_kind(data, name) is kind


def test_detect_docx_by_content_and_override_kind() -> None:
    data = (FIXTURES / "hyperlinks.docx").read_bytes()
    assert detect_kind(data, "-") is DocKind.DOCX
    assert detect_kind(data, "upload.bin") is DocKind.DOCX
    markdown = b"    https://a.example.org/indented\n"
    assert urls_in(markdown, "x.md") == []
    assert [link.url for link in extract_links(markdown, "x.md", DocKind.TEXT)] == ["https://a.example.org/indented"]


def test_stdin_is_named_dash_and_sniffed() -> None:
    links = extract_links(b"<html><body><a href='https://a.example.org/'>a</a></body></html>", "-")
    assert [(link.url, link.found_in.path, link.source) for link in links] == [
        ("https://a.example.org/", "-", LinkSource.HYPERLINK)
    ]


# The scanner's trimming, as a property: any plain URL followed by sentence punctuation is found whole.

_segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_~%", min_size=1, max_size=12)


@given(
    host=st.from_regex(r"[a-z]{1,10}\.(org|com|cn)", fullmatch=True),
    path=st.lists(_segment, max_size=4),
    trailer=st.sampled_from(["", ".", ",", ";", ":", "!", "?", ")", "。", "，", "）", "」", '"', "'", "”", ">"]),
)
def test_property_url_followed_by_punctuation(host: str, path: list[str], trailer: str) -> None:
    url = f"https://{host}/" + "/".join(path)
    found = scan_urls(f"see {url}{trailer} next")
    assert [f.url for f in found] == [url]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a https://a.example.org/path/\n20250426/c.html x", ["https://a.example.org/path/20250426/c.html"]),
        ("a https://a.example.org/report.\nThe next sentence.", ["https://a.example.org/report"]),
        ("a https://a.example.org/report.\nhtml is the rest", ["https://a.example.org/report.html"]),
        ("a https://a.example.org/\nhttps://b.example.org/", ["https://a.example.org/", "https://b.example.org/"]),
        ("a https://a.example.org/x \ncontinued", ["https://a.example.org/x"]),
        ("a https://a.example.org/x/\nand more", ["https://a.example.org/x/"]),
        ("a https://a.example.org/ab12\ncd34ef/z", ["https://a.example.org/ab12cd34ef/z"]),
    ],
)
def test_wrapped_url_joining_rules(text: str, expected: list[str]) -> None:
    assert [found.url for found in scan_urls(text, join_wrapped=True)] == expected
