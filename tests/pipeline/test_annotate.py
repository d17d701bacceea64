"""`archiver annotate`: archives made by `archive` written into HTML, Markdown and text documents,
then a fresh `check` of the annotated document pairs every citation with its new archive."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from archiver.errors import UsageError
from archiver.extract.annotate import Placement, annotate
from archiver.models import ArchiveVerdict
from archiver.pipeline.annotate import annotate_document
from archiver.pipeline.archiving import archive_urls
from archiver.pipeline.check import check_documents, read_documents
from tests.pipeline.test_archiving import ENV, Services, services  # noqa: F401  (fixture)


def documents(live: str, site: str) -> dict[str, str]:
    return {
        "page.html": (
            "<html><body>\n"
            f'<p>First <a class="src" href="{live}/one">the one story</a>.</p>\n'
            f"<p>Second <a href='{live}/two'/> and "
            f'<a href="{live}/kept" data-versionurl="{site}/2KKK-2KKK">kept</a></p>\n'
            "</body></html>\n"
        ),
        "notes.md": (
            f'# Sources\n\n1. The first story: <{live}/one>\n2. [The second story]({live}/two "title") said so.\n'
            f"3. Bare: {live}/three, in passing.\n"
        ),
        "notes.txt": f"See {live}/one for the first.\r\nAnd {live}/two.\r\n",
    }


@pytest.mark.parametrize("name", ["page.html", "notes.md", "notes.txt"])
def test_annotate_then_check_pairs_every_citation(services: Services, tmp_path: Path, name: str) -> None:  # noqa: F811
    config = services.config(tmp_path, services=["perma"])
    live, site = services.live, services.site
    source = tmp_path / name
    source.write_bytes(documents(live, site)[name].encode())
    before = source.read_bytes()
    urls = [f"{live}/one", f"{live}/two", f"{live}/three"]
    outcomes = archive_urls(config, urls, env=ENV)
    made = {o.url: o.requests[0].archive_url for o in outcomes}

    out = tmp_path / "out" / name
    result = annotate_document(config, source, output=out)
    assert source.read_bytes() == before, "never in place unless asked"
    annotated = out.read_bytes().decode("utf-8")
    assert result.diff.startswith(f"--- a/{name}") and "+" in result.diff
    if name == "page.html":
        assert f'href="{live}/one" data-originalurl="{live}/one" data-versionurl="{made[live + "/one"]}"' in annotated
        assert f"href='{live}/two' data-originalurl=" in annotated and annotated.count("data-versiondate=") == 2
        assert "/>" in annotated.split(f"{live}/two'")[1].split("\n")[0], "a self-closing tag stays self-closing"
        assert f'data-versionurl="{site}/2KKK-2KKK">kept' in annotated, "an existing Robust Link is left alone"
    elif name == "notes.md":
        assert f"<{live}/one> (archived: <{made[live + '/one']}>)" in annotated
        assert f'({live}/two "title") (archived: <{made[live + "/two"]}>) said so' in annotated
        assert f"{live}/three (archived: <{made[live + '/three']}>), in passing" in annotated
    else:
        assert annotated.count("\r\n") == 2, "CRLF kept"
        assert f"{live}/one (archived: <{made[live + '/one']}>) for the first" in annotated

    report = asyncio.run(check_documents(read_documents([out]), config))
    judged = {r.citation.url: r for r in report.results if r.citation.url in made}
    assert judged, "the annotated document still cites the URLs"
    for url, item in judged.items():
        assert [a.uri for a in item.citation.archives] == [made[url]], url
        assert item.archive_verdict is not ArchiveVerdict.NONE and item.archive_verdict is not ArchiveVerdict.MISMATCH

    again = annotate_document(config, out, in_place=True)
    assert again.placements == () and out.read_bytes().decode("utf-8") == annotated, "annotating twice changes nothing"


def test_annotate_refuses_what_it_cannot_do(services: Services, tmp_path: Path) -> None:  # noqa: F811
    config = services.config(tmp_path)
    doc = tmp_path / "d.md"
    doc.write_text(f"<{services.live}/nothing>\n")
    with pytest.raises(UsageError, match="no index"):
        annotate_document(config, doc, output=tmp_path / "o.md")
    archive_urls(config, [f"{services.live}/other"], env={})
    result = annotate_document(config, doc, output=tmp_path / "o.md")
    assert result.placements == () and "no archive of it is recorded" in result.skipped[0][1]
    with pytest.raises(UsageError, match="not both"):
        annotate_document(config, doc, output=tmp_path / "o.md", in_place=True)
    pdf = tmp_path / "d.pdf"
    pdf.write_bytes(b"%PDF-1.4\n")
    with pytest.raises(UsageError, match="only HTML, Markdown and text"):
        annotate_document(config, pdf, output=tmp_path / "o.pdf")


def test_annotate_skips_positions_it_cannot_edit() -> None:
    text = '<p cite="http://a/">x</p>\n'
    result = annotate(text, "html", [Placement(1, 10, "http://a/", "https://perma.cc/2AAA-2AAA", None)])
    assert result.text == text and "not the href of an <a> tag" in result.skipped[0][1]
