"""PDF and DOCX extraction from generated fixtures (tests/fixtures/extract/make_fixtures.py),
and broken files reported as ExtractError."""

from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from archiver.errors import ExtractError
from archiver.extract import DocKind, LinkSource, extract_links
from archiver.models import ArchiveKind

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "extract"


def _maker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_pdf_fixture_is_what_the_script_makes() -> None:
    maker = _maker()
    expected = maker.make_pdf(maker.PDF_PAGES, maker.ANNOTATION_URI)
    assert (FIXTURES / "broken-url-across-lines.pdf").read_bytes() == expected


def test_pdf_urls_broken_across_lines_are_joined_without_gluing_the_next_word() -> None:
    links = extract_links((FIXTURES / "broken-url-across-lines.pdf").read_bytes(), "broken-url-across-lines.pdf")
    assert [(link.url, link.source, link.page, link.found_in.line, link.found_in.column) for link in links] == [
        ("https://www.example.edu/linked-by-annotation", LinkSource.ANNOTATION, 1, 1, 1),
        ("https://www.example.org/politics/leaders/20250426/63f5cde8f4b54e22ba35/c.html", LinkSource.PROSE, 1, 1, 9),
        (
            "https://web.archive.org/web/20250427000000/"
            "https://www.example.org/politics/leaders/20250426/63f5cde8f4b54e22ba35/c.html",
            LinkSource.PROSE,
            1,
            3,
            37,
        ),
        ("https://www.example.com/report", LinkSource.PROSE, 1, 5, 5),
        ("https://www.example.net/annual-report.pdf", LinkSource.PROSE, 1, 7, 14),
        ("https://www.example.org/page-two", LinkSource.PROSE, 2, 10, 14),
    ]
    wayback = links[2].archive
    assert wayback is not None and wayback.kind is ArchiveKind.WAYBACK
    assert wayback.original_url == "https://www.example.org/politics/leaders/20250426/63f5cde8f4b54e22ba35/c.html"


def test_pdf_annotation_shown_in_the_text_is_placed_where_it_is_shown() -> None:
    data = _maker().make_pdf([["intro line", "Source: https://www.example.org/shown"]], "https://www.example.org/shown")
    links = extract_links(data, "shown.pdf")
    assert [(link.source, link.found_in.line, link.found_in.column) for link in links] == [
        (LinkSource.PROSE, 2, 9),
        (LinkSource.ANNOTATION, 2, 9),
    ]


@pytest.mark.parametrize("name", ["corrupt.pdf", "corrupt.docx"])
def test_broken_documents_raise_extract_error_naming_the_file(name: str) -> None:
    with pytest.raises(ExtractError, match=name):
        extract_links((FIXTURES / name).read_bytes(), name)


def test_not_a_pdf_forced_as_pdf_and_a_zip_without_a_word_document() -> None:
    with pytest.raises(ExtractError, match="PDF"):
        extract_links(b"plain words", "x.txt", DocKind.PDF)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not word")
    with pytest.raises(ExtractError, match="DOCX"):
        extract_links(buffer.getvalue(), "x.docx")


def test_docx_hyperlinks_text_tables_and_footnotes() -> None:
    links = extract_links((FIXTURES / "hyperlinks.docx").read_bytes(), "hyperlinks.docx")
    assert [(link.url, link.source, link.found_in.line, link.found_in.column, link.text) for link in links] == [
        (
            "https://www.example.org/source.html",
            LinkSource.HYPERLINK,
            2,
            len("The source text is available online at: ") + 1,
            "Xinhua report on the study session",
        ),
        ("https://perma.cc/ABCD-EFGH", LinkSource.HYPERLINK, 3, 37, "https://perma.cc/ABCD-EFGH"),
        ("https://www.example.com/plain-text-url", LinkSource.PROSE, 4, 17, None),
        ("https://www.example.net/in-table", LinkSource.PROSE, 7, 13, None),
        ("https://www.example.edu/footnote-hyperlink", LinkSource.HYPERLINK, 8, 15, "the footnote source"),
        ("https://www.example.com/footnote-text", LinkSource.PROSE, 8, 39, None),
    ]
    assert links[1].archive is not None and links[1].archive.guid == "ABCD-EFGH"


def _encrypted_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(100, 100)
    writer.encrypt("", "owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("old", "new"),
    [(b"/V 4", b"/V 9"), (b"/Filter /Standard", b"/Filter /Unknown"), (b"/AESV2", b"/AESV9")],
    ids=["encryption-version", "security-handler", "crypt-filter-method"],
)
def test_a_pdf_using_an_encryption_the_reader_lacks_is_an_extract_error(old: bytes, new: bytes) -> None:
    # Found by fuzz/targets.py document: pypdf raises NotImplementedError for these, from PdfReader itself.
    data = _encrypted_pdf()
    assert old in data
    with pytest.raises(ExtractError, match=r"locked\.pdf: the PDF uses a feature the PDF reader does not support"):
        extract_links(data.replace(old, new), "locked.pdf")
    assert extract_links(data, "locked.pdf") == []  # the unaltered file, empty user password, reads
