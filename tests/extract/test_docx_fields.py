"""DOCX links written as HYPERLINK field codes (simple and complex fields), in the body and in notes."""

from __future__ import annotations

import io

import docx
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls

from archiver.extract import ArchiveHosts, extract_links
from archiver.extract.link import LinkSource

W = nsdecls("w")


def _simple(url: str, shown: str) -> str:
    return f'<w:fldSimple {W} w:instr=" HYPERLINK &quot;{url}&quot; "><w:r><w:t>{shown}</w:t></w:r></w:fldSimple>'


def field_runs(instr: str, shown: str) -> list[str]:
    """The runs of a complex HYPERLINK field, as Word writes them."""
    return [
        f'<w:r {W}><w:fldChar w:fldCharType="begin"/></w:r>',
        f'<w:r {W}><w:instrText xml:space="preserve">{instr}</w:instrText></w:r>',
        f'<w:r {W}><w:fldChar w:fldCharType="separate"/></w:r>',
        f"<w:r {W}><w:t>{shown}</w:t></w:r>",
        f'<w:r {W}><w:fldChar w:fldCharType="end"/></w:r>',
    ]


def field_docx() -> bytes:
    document = docx.Document()
    first = document.add_paragraph("The Chinese source text: ")
    first._p.append(parse_xml(_simple("http://www.news.cn/politics/c.html", "新华网原文")))
    second = document.add_paragraph("An archived version: ")
    for xml in field_runs(' HYPERLINK "https://perma.cc/5UBL-GCVG" \\o "archived" ', "the Perma.cc copy"):
        second._p.append(parse_xml(xml))
    third = document.add_paragraph("A section: ")
    for xml in field_runs(' HYPERLINK "https://example.org/report" \\l "part2" ', "part two"):
        third._p.append(parse_xml(xml))
    fourth = document.add_paragraph("Not a web link: ")
    for xml in field_runs(' HYPERLINK "mailto:desk@example.org" ', "write to us"):
        fourth._p.append(parse_xml(xml))
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_simple_and_complex_hyperlink_fields_are_links() -> None:
    links = extract_links(field_docx(), "fields.docx", hosts=ArchiveHosts())
    urls = [link.url for link in links]
    assert urls == [
        "http://www.news.cn/politics/c.html",
        "https://perma.cc/5UBL-GCVG",
        "https://example.org/report#part2",
    ]
    assert all(link.source is LinkSource.HYPERLINK for link in links)
    assert [link.found_in.line for link in links] == [1, 2, 3]
    assert links[1].text == "the Perma.cc copy"
    assert links[1].is_archive and not links[0].is_archive  # recognised as an archive link
