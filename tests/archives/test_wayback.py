"""The Wayback Machine archive against a local imitation: CDX, `id_` bytes, the redirect fallback."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import TypeVar

import httpx
import pytest

from archiver.archives.protocol import Archives, MementoArchive, is_challenge, link_relations
from archiver.archives.wayback import Wayback, parse_cdx_json, timestamp_datetime
from archiver.config import Config, WaybackConfig
from archiver.judge.archive import judge
from archiver.models import ArchiveKind, ArchiveRef, ArchiveVerdict, Memento
from archiver.pipeline.capture import CaptureEngine
from archiver.refs import parse_archive_ref
from tests.imitations import serve
from tests.imitations.wayback import WaybackCapture, WaybackImitation

CITED = "http://example.com/a"
PAGE = b'<html><head><title>April</title></head><body><a href="/next">next</a> The page.</body></html>'
T = TypeVar("T")


@pytest.fixture
def site() -> Iterator[tuple[WaybackImitation, str]]:
    imitation = WaybackImitation(
        [
            WaybackCapture("20250101000000", CITED, body=b"<title>January</title>"),
            WaybackCapture("20250420000000", CITED, status=404, body=b"<title>Not Found</title>"),
            WaybackCapture("20250426010203", CITED, body=PAGE),
            WaybackCapture("20250601000000", "https://example.com/a/", body=b"<title>June</title>"),
        ]
    )
    with serve(imitation) as url:
        yield imitation, url


def with_wayback(config: Config, url: str, use: Callable[[Wayback], Awaitable[T]]) -> T:
    async def main() -> T:
        async with httpx.AsyncClient(timeout=3) as client, CaptureEngine(config) as engine:
            return await use(Wayback(client, WaybackConfig(url=url), engine))

    return asyncio.run(main())


def mirror(config: Config, url: str, text: str) -> Memento:
    async def use(wayback: Wayback) -> Memento:
        ref = parse_archive_ref(text, wayback_url=url)
        assert ref is not None and ref.kind is ArchiveKind.WAYBACK
        return await Archives({ArchiveKind.WAYBACK: wayback}).mirror(ref)

    return with_wayback(config, url, use)


def test_resolve_and_retrieve_raw_bytes(config: Config, site: tuple[WaybackImitation, str]) -> None:
    imitation, url = site
    memento = mirror(config, url, f"{url}/web/20250426010203/{CITED}")
    assert memento.verdict is ArchiveVerdict.OK and memento.reason is None
    assert memento.original_url == CITED
    assert memento.datetime == datetime(2025, 4, 26, 1, 2, 3, tzinfo=UTC)
    assert memento.obtained_via == "wayback-cdx+wayback-id"
    capture = memento.capture
    assert capture is not None and capture.url == f"{url}/web/20250426010203id_/{CITED}"
    # The archived bytes exactly: not the replay page with its toolbar and rewritten links.
    assert capture.payload_sha256 == hashlib.sha256(PAGE).hexdigest() and capture.title == "April"
    assert capture.warc is not None and (config.archive_dir / capture.warc.file).is_file()
    cdx = next(r for r in imitation.requests if r.startswith("/cdx/"))
    assert "output=json" in cdx and "filter=statuscode%3A200" in cdx
    assert judge(memento, "https://example.com/a/") is ArchiveVerdict.OK
    assert judge(memento, "http://example.com/b") is ArchiveVerdict.MISMATCH


def test_archived_404_is_never_content(config: Config, site: tuple[WaybackImitation, str]) -> None:
    _, url = site
    memento = mirror(config, url, f"{url}/web/20250420000000/{CITED}")
    assert memento.verdict is ArchiveVerdict.OK
    assert memento.datetime == datetime(2025, 4, 26, 1, 2, 3, tzinfo=UTC)  # the nearest 200, not the 404
    assert memento.reason is not None and "no archived 200 response at 20250420000000" in memento.reason
    assert memento.capture is not None and memento.capture.title == "April"


def test_closest_within_days(config: Config, site: tuple[WaybackImitation, str]) -> None:
    _, url = site

    async def use(wayback: Wayback) -> tuple[object, object]:
        near = await wayback.closest(CITED, datetime(2025, 5, 30, tzinfo=UTC), max_days=5)
        none = await wayback.closest(CITED, datetime(2025, 3, 1, tzinfo=UTC), max_days=5)
        return near, none

    (near, route, _), (none, _, why) = with_wayback(config, url, use)  # type: ignore[misc]
    assert near.timestamp == "20250601000000" and near.original_url == "https://example.com/a/"
    assert route == "wayback-cdx"
    assert none is None and "within 5 days" in why


def test_cdx_failure_falls_back_to_redirect(config: Config, site: tuple[WaybackImitation, str]) -> None:
    imitation, url = site
    imitation.cdx_status = 503
    memento = mirror(config, url, f"{url}/web/20250425/{CITED}")
    assert memento.verdict is ArchiveVerdict.OK
    assert memento.obtained_via == "wayback-redirect+wayback-id"
    assert memento.datetime == datetime(2025, 4, 26, 1, 2, 3, tzinfo=UTC)  # from Memento-Datetime
    assert memento.capture is not None and memento.capture.payload_sha256 == hashlib.sha256(PAGE).hexdigest()
    assert any(r.startswith("/web/20250425000000/") for r in imitation.requests)


def test_cdx_failure_and_archived_404_is_not_found(config: Config, site: tuple[WaybackImitation, str]) -> None:
    imitation, url = site
    imitation.cdx_status = 502
    memento = mirror(config, url, f"{url}/web/20250420000000/{CITED}")
    assert memento.verdict is ArchiveVerdict.NOT_FOUND
    assert memento.reason is not None and "archived HTTP 404" in memento.reason
    assert memento.capture is None


def test_never_archived_is_not_found(config: Config, site: tuple[WaybackImitation, str]) -> None:
    _, url = site
    memento = mirror(config, url, f"{url}/web/20250426010203/http://example.com/never")
    assert memento.verdict is ArchiveVerdict.NOT_FOUND
    assert memento.reason is not None and "no archived 200 response" in memento.reason


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_wayback_is_unavailable(config: Config) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    memento = mirror(config, url, f"{url}/web/20250426010203/{CITED}")
    assert memento.verdict is ArchiveVerdict.UNAVAILABLE
    assert memento.reason is not None and "could not be" in memento.reason


def test_parse_cdx_json() -> None:
    rows = [
        ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"],
        ["com,example)/a", "20250101000000", "http://example.com/a", "text/html", "200", "X", "10"],
        ["com,example)/a", "20250102000000", "http://example.com/a", "warc/revisit", "-", "X", "10"],
        [],
        ["resume-key"],
    ]
    found = parse_cdx_json(rows)
    assert [(s.timestamp, s.status) for s in found] == [("20250101000000", 200), ("20250102000000", None)]
    assert parse_cdx_json([]) == []
    with pytest.raises(ValueError):
        parse_cdx_json({"error": "x"})


def test_timestamps() -> None:
    assert timestamp_datetime("2025") == datetime(2025, 1, 1, tzinfo=UTC)
    assert timestamp_datetime("202504") == datetime(2025, 4, 1, tzinfo=UTC)
    assert timestamp_datetime("20250426010203") == datetime(2025, 4, 26, 1, 2, 3, tzinfo=UTC)


# -- the generic Memento archive (any URI-M) and the shared helpers, served by the same imitation ----


def resolve_memento(config: Config, uri: str) -> Memento:
    async def main() -> Memento:
        async with httpx.AsyncClient(timeout=3) as client, CaptureEngine(config) as engine:
            archives = Archives({ArchiveKind.MEMENTO: MementoArchive(client, engine)})
            return await archives.mirror(ArchiveRef(kind=ArchiveKind.MEMENTO, raw=uri, uri=uri))

    return asyncio.run(main())


def test_memento_uri_m_headers(config: Config, site: tuple[WaybackImitation, str]) -> None:
    _, url = site
    memento = resolve_memento(config, f"{url}/web/20250425/{CITED}")  # redirects to the nearest memento
    assert memento.verdict is ArchiveVerdict.OK and memento.obtained_via == "memento"
    assert memento.original_url == CITED
    assert memento.datetime == datetime(2025, 4, 26, 1, 2, 3, tzinfo=UTC)
    assert memento.capture is not None and memento.capture.status == 200


def test_memento_not_found_and_not_a_memento(config: Config, site: tuple[WaybackImitation, str]) -> None:
    _, url = site
    gone = resolve_memento(config, f"{url}/web/20250426010203/http://example.com/never")
    assert gone.verdict is ArchiveVerdict.NOT_FOUND
    plain = resolve_memento(config, f"{url}/cdx/search/cdx?url={CITED}&output=json")
    assert plain.verdict is ArchiveVerdict.UNAVAILABLE
    assert plain.reason is not None and "not a Memento" in plain.reason


def test_dispatch_without_an_archive_for_the_kind() -> None:
    ref = ArchiveRef(kind=ArchiveKind.LOCAL, raw="capture:x", uri="capture:x", capture_id="x")
    memento = asyncio.run(Archives({}).mirror(ref))
    assert memento.verdict is ArchiveVerdict.UNAVAILABLE
    assert memento.reason == "no archive is configured for local references"


def test_link_relations() -> None:
    header = (
        '<http://example.com/a,b>; rel="original timegate", <https://perma.cc/timemap/link/x>; rel=timemap; '
        'type=application/link-format, <https://perma.cc/ABCD-1234>; rel=memento; datetime="Mon, 14 Apr 2014"'
    )
    rels = link_relations(header)
    assert rels["original"] == "http://example.com/a,b" and rels["timegate"] == "http://example.com/a,b"
    assert rels["memento"] == "https://perma.cc/ABCD-1234"
    assert link_relations(None) == {}


def test_challenge_detection() -> None:
    assert is_challenge(403, {"cf-mitigated": "challenge"}, b"")
    assert is_challenge(403, {}, b"<html><title>Just a moment...</title>")
    assert is_challenge(200, {}, b'<script src="/cdn-cgi/challenge-platform/x.js">')
    assert not is_challenge(403, {}, b"<p>This record is private.</p>")
    assert not is_challenge(404, {}, b"<title>Just a moment...</title>")


def test_an_archive_that_drip_feeds_its_answer_is_cut_at_the_deadline(config: Config) -> None:
    """Per-read timeouts never fire on a byte a second: the archives' own deadline does."""
    import time

    from tests.wire import WireServer, drip

    headers = [("Content-Type", "text/html"), ("Memento-Datetime", "Sat, 26 Apr 2025 01:02:03 GMT")]
    with WireServer(drip(b"x" * 100, 0.5, headers)) as server:

        async def main() -> Memento:
            async with httpx.AsyncClient(timeout=3) as client, CaptureEngine(config) as engine:
                archives = Archives({ArchiveKind.MEMENTO: MementoArchive(client, engine)}, deadline=1.0)
                uri = server.url("/memento")
                return await archives.resolve(ArchiveRef(kind=ArchiveKind.MEMENTO, raw=uri, uri=uri))

        began = time.monotonic()
        memento = asyncio.run(main())
        took = time.monotonic() - began
    assert memento.verdict is ArchiveVerdict.UNAVAILABLE
    assert memento.reason is not None and "did not answer within the 1 s deadline" in memento.reason
    assert took < 3.0
