"""The compare use case from Python: what A and B are, reading payloads back, drift of the two.

Pages come from the drift corpus (tests/fixtures/drift/), served by a real local HTTP server;
archived copies from the local imitations of the Wayback Machine and Perma.cc.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from archiver.archives.downloads import read_archive_file
from archiver.config import Config, load_config
from archiver.errors import UnknownCaptureError, UsageError
from archiver.models import ArchiveKind, ArchiveVerdict, DriftVerdict
from archiver.pipeline.capture import capture_urls
from archiver.pipeline.compare import (
    SourceKind,
    compare,
    compared_document,
    parse_source,
    text_of_capture,
)
from archiver.store.index import Index
from archiver.warc.read import payload_at
from tests.conftest import shared_file
from tests.imitations import serve
from tests.imitations.perma import PermaImitation, StoredLink
from tests.imitations.wayback import WaybackCapture, WaybackImitation

DRIFT = Path(__file__).resolve().parents[1] / "fixtures" / "drift"
ARTICLE = (DRIFT / "en-one-sentence-edited" / "a.html").read_bytes()
EDITED = (DRIFT / "en-one-sentence-edited" / "b.html").read_bytes()
REPLACED_A = (DRIFT / "en-replaced" / "a.html").read_bytes()
REPLACED_B = (DRIFT / "en-replaced" / "b.html").read_bytes()
QUOTE = "the cost had risen by almost a third"
HTML = "text/html; charset=utf-8"
PERMA_KEY = "compare-key-1"
SITE = "https://perma.cc"
WAYBACK = "https://web.archive.org"


def settings(archive_dir: Path, **sections: dict[str, Any]) -> Config:
    fetch = {"allow_private_networks": True, "timeout": 3.0, "deadline": 10.0, "retries": 0, "host_interval": 0.0}
    return load_config(None, {"archive_dir": str(archive_dir), "fetch": fetch, **sections})


@pytest.fixture
def pages(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request("/article").respond_with_data(ARTICLE, content_type=HTML)
    httpserver.expect_request("/article-edited").respond_with_data(EDITED, content_type=HTML)
    httpserver.expect_request("/replaced-a").respond_with_data(REPLACED_A, content_type=HTML)
    httpserver.expect_request("/replaced-b").respond_with_data(REPLACED_B, content_type=HTML)
    return httpserver


# -- what A is -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "archive"),
    [
        ("http://example.com/a", SourceKind.LIVE, None),
        ("capture:0123abcd", SourceKind.CAPTURE, None),
        ("0123abcd", SourceKind.CAPTURE, None),
        ("5UBL-GCVG", SourceKind.ARCHIVE, ArchiveKind.PERMA),
        ("https://perma.cc/5ubl-gcvg", SourceKind.ARCHIVE, ArchiveKind.PERMA),
        ("perma.cc/5UBL-GCVG", SourceKind.ARCHIVE, ArchiveKind.PERMA),
        ("https://web.archive.org/web/2025id_/http://example.com/", SourceKind.ARCHIVE, ArchiveKind.WAYBACK),
        ("memento:https://archive.example/m/1/http://x.com/", SourceKind.ARCHIVE, ArchiveKind.MEMENTO),
    ],
)
def test_parse_source(text: str, kind: SourceKind, archive: ArchiveKind | None) -> None:
    source = parse_source(text, perma_site_url=SITE, wayback_url=WAYBACK)
    assert source.kind is kind
    if kind is SourceKind.ARCHIVE:
        assert source.ref is not None and source.ref.kind is archive
    if kind is SourceKind.CAPTURE:
        assert source.capture_id == "0123abcd" and source.ref is None


def test_hex_token_that_looks_like_a_guid_keeps_the_perma_fallback() -> None:
    source = parse_source("0123abcdef", perma_site_url=SITE, wayback_url=WAYBACK)
    assert source.kind is SourceKind.CAPTURE
    assert source.ref is not None and source.ref.kind is ArchiveKind.PERMA and source.ref.guid == "0123abcdef"


@pytest.mark.parametrize("text", ["", "  ", "foo bar", "example.com/a", "ftp://example.com/a", "capture:", "memento:x"])
def test_parse_source_usage_errors_name_the_accepted_forms(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_source(text, perma_site_url=SITE, wayback_url=WAYBACK)
    assert "capture" in str(caught.value)


# -- two URLs, fetched now -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path_a", "path_b", "verdict", "acceptable"),
    [
        ("/article", "/article", DriftVerdict.IDENTICAL, True),
        ("/article", "/article-edited", DriftVerdict.MINOR, True),
        ("/replaced-a", "/replaced-b", DriftVerdict.REPLACED, False),
    ],
)
def test_two_urls(
    archive_dir: Path, pages: HTTPServer, path_a: str, path_b: str, verdict: DriftVerdict, acceptable: bool
) -> None:
    compared = compare(settings(archive_dir), pages.url_for(path_a), pages.url_for(path_b))
    assert compared.comparison.verdict is verdict, compared.comparison.reason
    assert compared.acceptable is acceptable
    assert compared.a.source.kind is SourceKind.LIVE and compared.b.source.kind is SourceKind.LIVE
    assert compared.a.capture is not None and compared.a.capture.warc is not None  # stored like any capture
    assert compared.a.text is not None and compared.a.text.main_text  # fingerprinted with main text
    with Index(archive_dir / "index.sqlite3") as index:
        assert index.count() == 2


def test_quote_lost_in_b_makes_a_minor_edit_fail(archive_dir: Path, pages: HTTPServer) -> None:
    compared = compare(settings(archive_dir), pages.url_for("/article"), pages.url_for("/article-edited"), quote=QUOTE)
    assert compared.comparison.verdict is DriftVerdict.MAJOR
    assert (compared.comparison.quote_in_a, compared.comparison.quote_in_b) == (True, False)
    assert not compared.acceptable


def test_a_side_that_cannot_be_had_is_unknown(archive_dir: Path, pages: HTTPServer) -> None:
    compared = compare(settings(archive_dir), "http://127.0.0.1:9/nothing", pages.url_for("/article"))
    assert compared.comparison.verdict is DriftVerdict.UNKNOWN
    assert compared.a.text is None and compared.a.note
    assert compared.comparison.reason is not None and compared.comparison.reason.startswith("A has no text")
    assert not compared.acceptable


# -- captures read back ----------------------------------------------------------------------------


def test_capture_id_prefix_and_a_revisit_are_read_back(archive_dir: Path, pages: HTTPServer) -> None:
    config = settings(archive_dir)
    url = pages.url_for("/article")
    first, second = (asyncio.run(capture_urls([url], config))[0] for _ in range(2))
    assert second.revisit_of == first.id  # the second fetch is stored as a revisit record
    compared = compare(config, first.id[:10], f"capture:{second.id}")
    assert compared.comparison.verdict is DriftVerdict.IDENTICAL
    assert compared.a.capture == first and compared.a.note is None
    # Read back through the revisit to the original record: the same bytes, hashed again.
    assert compared.b.text is not None and compared.b.text.payload_sha256 == hashlib.sha256(ARTICLE).hexdigest()
    live = compare(config, first.id, pages.url_for("/article-edited"))
    assert live.comparison.verdict is DriftVerdict.MINOR
    assert live.a.source.kind is SourceKind.CAPTURE and live.b.source.kind is SourceKind.LIVE


def test_unknown_capture_id_is_a_usage_error(archive_dir: Path) -> None:
    with pytest.raises(UnknownCaptureError):
        compare(settings(archive_dir), "capture:deadbeef", "capture:deadbeef")


def test_stored_payload_reads_a_compressed_wacz_member(tmp_path: Path) -> None:
    source = shared_file("interop/scoop-example.com.wacz")
    out = io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(out, "w") as copy:
        for info in original.infolist():
            copy.writestr(info.filename, original.read(info), zipfile.ZIP_DEFLATED)
    mirrors = tmp_path / "mirrors" / "perma"
    mirrors.mkdir(parents=True)
    path = mirrors / "DEFL-ATED.wacz"
    path.write_bytes(out.getvalue())
    reading = read_archive_file(
        path, archive_dir=tmp_path, target_urls=["https://example.com/"], capture_id="c1", max_decoded_bytes=1 << 20
    )
    capture = reading.capture
    assert capture is not None and capture.warc is not None and "#" in capture.warc.file
    payload = payload_at(tmp_path, capture.warc)
    body, content_type = payload.body, payload.content_type
    try:
        assert body.sha256 == capture.payload_sha256
        assert content_type is not None and "text/html" in content_type
    finally:
        body.close()


# -- archived copies -------------------------------------------------------------------------------


@pytest.fixture
def wayback(pages: HTTPServer) -> Iterator[str]:
    imitation = WaybackImitation(
        [
            WaybackCapture("20250426010203", pages.url_for("/article"), body=ARTICLE, content_type=HTML),
            WaybackCapture("20250101000000", pages.url_for("/replaced-a"), body=REPLACED_A, content_type=HTML),
        ]
    )
    with serve(imitation) as url:
        yield url


def test_url_against_a_wayback_reference(archive_dir: Path, pages: HTTPServer, wayback: str) -> None:
    config = settings(archive_dir, wayback={"url": wayback})
    ref = f"{wayback}/web/20250426010203/{pages.url_for('/article')}"
    compared = compare(config, ref, pages.url_for("/article-edited"))
    assert compared.a.source.kind is SourceKind.ARCHIVE
    memento = compared.a.memento
    assert memento is not None and memento.verdict is ArchiveVerdict.OK
    assert compared.comparison.verdict is DriftVerdict.MINOR
    identical = compare(config, ref, pages.url_for("/article"))
    assert identical.comparison.verdict is DriftVerdict.IDENTICAL  # id_ gives the archived bytes exactly
    with Index(archive_dir / "index.sqlite3") as index:
        recorded = index.mementos()
    assert [m["verdict"] for m in recorded] == ["ok", "ok"]
    document = compared_document(compared)
    assert set(document) >= {"schema_version", "tool", "a", "b", "comparison", "sides", "acceptable", "quote"}
    assert document["sides"]["a"]["memento"]["obtained_via"] == "wayback-cdx+wayback-id"
    assert document["sides"]["b"]["kind"] == "live"


def test_archive_reference_that_is_not_found_is_unknown(archive_dir: Path, pages: HTTPServer, wayback: str) -> None:
    config = settings(archive_dir, wayback={"url": wayback})
    compared = compare(config, f"{wayback}/web/2020/http://nowhere.example/", pages.url_for("/article"))
    assert compared.a.memento is not None and compared.a.memento.verdict is ArchiveVerdict.NOT_FOUND
    assert compared.comparison.verdict is DriftVerdict.UNKNOWN and not compared.acceptable


def test_perma_wacz_and_warc_downloads_are_read_back(archive_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warc = shared_file("interop/perma-example.com.warc.gz").read_bytes()
    wacz = shared_file("interop/scoop-example.com.wacz").read_bytes()
    keys = frozenset({PERMA_KEY})
    perma = PermaImitation(
        [
            StoredLink("5UBL-GCVG", "https://example.com/", datetime(2023, 2, 19, tzinfo=UTC), wacz=wacz, owners=keys),
            StoredLink("W5MF-N9EV", "http://example.com", datetime(2014, 4, 14, tzinfo=UTC), warc=warc, owners=keys),
        ],
        api_keys=keys,
    )
    monkeypatch.setenv("PERMA_API_KEY", PERMA_KEY)
    with serve(perma.api) as api, serve(perma.site) as site:
        config = settings(archive_dir, perma={"api_url": api, "site_url": site})
        compared = compare(config, "W5MF-N9EV", f"{site}/5ubl-gcvg")
    for side, mirror_file in (
        (compared.a, "mirrors/perma/W5MF-N9EV.warc.gz"),
        (compared.b, "mirrors/perma/5UBL-GCVG.wacz"),
    ):
        assert side.memento is not None and side.memento.mirror_file == mirror_file
        assert side.capture is not None and side.capture.warc is not None
        assert side.capture.warc.file == mirror_file
        assert side.text is not None and side.text.payload_sha256 == side.capture.payload_sha256
        assert side.note is None  # the payload read back has the hash it was indexed with
    # example.com's wording changed between Perma's 2014 capture and Scoop's of 2023.
    assert compared.comparison.verdict is DriftVerdict.MAJOR, compared.comparison.reason


def test_a_capture_whose_warc_is_gone_is_one_sides_problem(config: Config, httpserver: HTTPServer) -> None:
    """text_of_capture answers (None, why) for a missing file: a nightly run or a check carries on."""
    httpserver.expect_request("/p").respond_with_data("<title>T</title><p>text</p>", content_type="text/html")
    (capture,) = asyncio.run(capture_urls([httpserver.url_for("/p")], config))
    assert capture.warc is not None
    (config.archive_dir / capture.warc.file).unlink()
    side, why = text_of_capture(config.archive_dir, capture, config.fetch.max_decoded_bytes)
    assert side is None
    assert why is not None and "could not be read back" in why and capture.warc.file in why
