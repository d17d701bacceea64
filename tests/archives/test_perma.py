"""Perma.cc against a local imitation of its API and site (both profiles), with the Wayback substitute."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from warcio.archiveiterator import ArchiveIterator

from archiver.archives.perma import Perma
from archiver.archives.protocol import Archives
from archiver.archives.wayback import Wayback
from archiver.config import Config, PermaConfig, WaybackConfig
from archiver.judge.archive import judge
from archiver.models import ArchiveKind, ArchiveVerdict, Memento
from archiver.pipeline.capture import CaptureEngine
from archiver.refs import parse_archive_ref
from tests.conftest import shared_file
from tests.imitations import serve
from tests.imitations.perma import PermaImitation, StoredLink
from tests.imitations.wayback import WaybackCapture, WaybackImitation

GOOD_KEY = "good-key-0123"
OTHER_KEY = "other-key-4567"
SCOOP_DATE = datetime(2023, 2, 19, 0, 49, 59, 837000, tzinfo=UTC)
PERMA_DATE = datetime(2014, 4, 14, 14, 36, 35, tzinfo=UTC)
SUBSTITUTE = b"<html><head><title>Example Domain</title></head><body>From the Wayback Machine.</body></html>"
SCOOP_PAYLOAD = "8ca01cef09c3a2fd26898c1ff2bcfb5c1fcf8d699509ca2a75014fcdc805126c"


@dataclass
class World:
    perma: PermaImitation
    wayback: WaybackImitation
    api_url: str
    site_url: str
    wayback_url: str


def tampered_wacz(source: Path) -> bytes:
    """A copy of the Scoop WACZ whose datapackage.json claims another hash for its WARC."""
    from io import BytesIO

    out = BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(out, "w") as copy:
        package = json.loads(original.read("datapackage.json"))
        package["resources"][0]["hash"] = "sha256:" + "1" * 64
        for info in original.infolist():
            data = json.dumps(package).encode() if info.filename == "datapackage.json" else original.read(info)
            copy.writestr(info.filename, data, zipfile.ZIP_STORED)
    return out.getvalue()


def links() -> list[StoredLink]:
    warc = shared_file("interop/perma-example.com.warc.gz").read_bytes()
    wacz_path = shared_file("interop/scoop-example.com.wacz")
    wacz = wacz_path.read_bytes()
    good = frozenset({GOOD_KEY})
    old = "http://example.com"
    return [
        StoredLink("5UBL-GCVG", "https://example.com/", SCOOP_DATE, wacz=wacz, owners=good),
        StoredLink("W5MF-N9EV", old, PERMA_DATE, warc=warc, owners=good),
        StoredLink("ABCD-0006", old, PERMA_DATE, warc=warc, replaced_by="W5MF-N9EV", owners=good),
        StoredLink("ABCD-0001", old, PERMA_DATE, warc=warc, private=True, owners=good),
        StoredLink("ABCD-0003", old, PERMA_DATE, warc=warc, deleted=True, owners=good),
        StoredLink("ABCD-0010", old, PERMA_DATE, primary_status="pending", owners=good),
        StoredLink("F2L3-4567", old, PERMA_DATE, primary_status="failed", owners=good),
        StoredLink("U2L3-4567", old, PERMA_DATE, warc=warc, unlisted=True, owners=good),
        StoredLink("X2Y3-4567", old, PERMA_DATE, warc=warc, owners=frozenset({OTHER_KEY})),
        StoredLink("T4MP-3R2D", "https://example.com/", SCOOP_DATE, wacz=tampered_wacz(wacz_path), owners=good),
    ]


@pytest.fixture(params=["current", "legacy"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    perma = PermaImitation(links(), profile=request.param, api_keys=frozenset({GOOD_KEY, OTHER_KEY}))
    wayback = WaybackImitation(
        [
            WaybackCapture("20140415000000", "http://example.com/", status=404, body=b"<title>404</title>"),
            WaybackCapture("20140416143635", "http://example.com/", body=SUBSTITUTE),
            WaybackCapture("20230301000000", "https://example.com/", body=SUBSTITUTE),
        ]
    )
    with serve(perma.api) as api, serve(perma.site) as site, serve(wayback) as wayback_url:
        yield World(perma, wayback, api, site, wayback_url)


def mirror(
    config: Config,
    world: World,
    text: str,
    *,
    key: str | None = None,
    legacy: bool = False,
    substitute: bool = True,
    max_days: float = 30.0,
    max_body: int | None = None,
) -> Memento:
    perma_config = PermaConfig(
        site_url=world.site_url, api_url=world.api_url, legacy_public_api=legacy, max_substitute_days=max_days
    )
    fetch = config.fetch if max_body is None else dataclasses.replace(config.fetch, max_body_bytes=max_body)

    async def main() -> Memento:
        async with httpx.AsyncClient(timeout=3) as client, CaptureEngine(config) as engine:
            wayback = Wayback(client, WaybackConfig(url=world.wayback_url), engine)
            perma = Perma(
                client,
                perma_config,
                fetch,
                api_key=key,
                mirrors_dir=config.archive_dir / "mirrors",
                wayback=wayback if substitute else None,
            )
            ref = parse_archive_ref(text, perma_site_url=world.site_url)
            assert ref is not None and ref.kind is ArchiveKind.PERMA
            return await Archives({ArchiveKind.PERMA: perma, ArchiveKind.WAYBACK: wayback}).mirror(ref)

    return asyncio.run(main())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- with an API key -------------------------------------------------------------------------------


def test_key_downloads_the_wacz(config: Config, world: World) -> None:
    memento = mirror(config, world, f"{world.site_url}/5ubl-gcvg", key=GOOD_KEY)
    assert memento.verdict is ArchiveVerdict.OK, memento.reason
    assert memento.obtained_via == "perma-api+wacz-download"
    assert memento.original_url == "https://example.com/" and memento.datetime == SCOOP_DATE
    assert memento.mirror_file == "mirrors/perma/5UBL-GCVG.wacz"
    stored = config.archive_dir / memento.mirror_file
    assert stored.read_bytes() == shared_file("interop/scoop-example.com.wacz").read_bytes()  # unchanged
    assert memento.mirror_sha256 == sha256(stored)
    assert memento.problems == () and memento.substitute_for is None
    capture = memento.capture
    assert capture is not None and capture.payload_sha256 == SCOOP_PAYLOAD and capture.title == "Example Domain"
    assert capture.warc is not None and capture.warc.file == "mirrors/perma/5UBL-GCVG.wacz"
    # The GUID was canonicalised before the API call (the API looks GUIDs up exactly).
    host, path, auth = world.perma.requests[0]
    assert (host, path, auth) == ("api", "/v1/archives/5UBL-GCVG/", f"ApiKey {GOOD_KEY}")
    assert judge(memento, "http://example.com") is ArchiveVerdict.OK
    assert judge(memento, "https://example.com/other") is ArchiveVerdict.MISMATCH
    assert GOOD_KEY not in (memento.reason or "")


def test_key_falls_back_to_the_warc_download(config: Config, world: World) -> None:
    memento = mirror(config, world, "W5MF-N9EV", key=GOOD_KEY)
    assert memento.verdict is ArchiveVerdict.OK
    assert memento.obtained_via == "perma-api+warc-download"
    assert memento.mirror_file == "mirrors/perma/W5MF-N9EV.warc.gz"
    stored = config.archive_dir / memento.mirror_file
    with stored.open("rb") as handle:
        records = ArchiveIterator(handle)
        infos = [(r.rec_type, r.content_stream().read()) for _, r in zip(range(2), records, strict=False)]
    assert [t for t, _ in infos] == ["warcinfo", "warcinfo"]  # Perma's two download records come first
    assert all(b"operator: Perma.cc download" in b and b"Perma-GUID: W5MF-N9EV" in b for _, b in infos)
    capture = memento.capture
    assert capture is not None and capture.url == "http://example.com/"
    assert capture.fetched_at == PERMA_DATE and capture.title == "Example Domain"
    assert [p for _, p, _ in world.perma.requests if "download" in p] == [
        "/v1/archives/W5MF-N9EV/download?file_format=wacz",
        "/v1/archives/W5MF-N9EV/download?file_format=warc",
    ]


def test_replaced_link_follows_the_download_redirect(config: Config, world: World) -> None:
    memento = mirror(config, world, "https://perma.cc/ABCD-0006", key=GOOD_KEY)
    assert memento.verdict is ArchiveVerdict.OK and memento.capture is not None
    assert memento.mirror_file == "mirrors/perma/ABCD-0006.warc.gz"
    assert memento.reason is not None and "/v1/archives/W5MF-N9EV/download" in memento.reason


def test_tampered_wacz_is_reported(config: Config, world: World) -> None:
    memento = mirror(config, world, "T4MP-3R2D", key=GOOD_KEY)
    assert memento.capture is not None
    assert any("hash mismatch" in p for p in memento.problems)
    assert memento.reason is not None and "hash mismatch" in memento.reason


@pytest.mark.parametrize(
    ("guid", "verdict"),
    [
        ("ABCD-0010", ArchiveVerdict.PENDING),
        ("F2L3-4567", ArchiveVerdict.FAILED),
        ("ZZ22-2222", ArchiveVerdict.NOT_FOUND),
    ],
)
def test_key_capture_states(config: Config, world: World, guid: str, verdict: ArchiveVerdict) -> None:
    memento = mirror(config, world, guid, key=GOOD_KEY)
    assert memento.verdict is verdict, memento.reason
    assert memento.capture is None


def test_key_refused_uses_the_site_and_a_substitute(config: Config, world: World) -> None:
    memento = mirror(config, world, "X2Y3-4567", key=GOOD_KEY)
    assert memento.verdict is ArchiveVerdict.OK
    assert memento.obtained_via == "perma-memento-headers+wayback-substitute"
    assert memento.reason is not None and "You do not have permission to perform this action." in memento.reason
    assert memento.substitute_for is not None and memento.substitute_for.timestamp == "20140416143635"
    assert GOOD_KEY not in memento.reason
    assert [p for h, p, _ in world.perma.requests if h == "api"] == ["/v1/archives/X2Y3-4567/"]  # asked once


def test_invalid_key_uses_the_site(config: Config, world: World) -> None:
    memento = mirror(config, world, "W5MF-N9EV", key="wrong")
    assert memento.verdict is ArchiveVerdict.OK
    assert memento.reason is not None and "Invalid token." in memento.reason
    assert memento.obtained_via.startswith("perma-memento-headers")


def test_download_over_the_size_cap_is_not_kept(config: Config, world: World) -> None:
    memento = mirror(config, world, "5UBL-GCVG", key=GOOD_KEY, max_body=10_000)
    assert memento.reason is not None and "larger than fetch.max_body_bytes" in memento.reason
    assert memento.mirror_file is None
    assert memento.substitute_for is not None  # the content came from the Wayback Machine instead
    assert list((config.archive_dir / "mirrors" / "perma").iterdir()) == []


# -- without a key ----------------------------------------------------------------------------------


def test_no_key_memento_headers_and_wayback_substitute(config: Config, world: World) -> None:
    memento = mirror(config, world, "perma.cc/w5mf-n9ev")
    assert memento.verdict is ArchiveVerdict.OK
    assert memento.original_url == "http://example.com" and memento.datetime == PERMA_DATE
    assert memento.obtained_via == "perma-memento-headers+wayback-substitute"
    substitute = memento.substitute_for
    # 2014-04-15 is nearer but an archived 404: the 200 of 2014-04-16 stands in.
    assert substitute is not None and substitute.kind is ArchiveKind.WAYBACK
    assert substitute.timestamp == "20140416143635"
    assert memento.substitute_days == 2.0
    assert memento.capture is not None
    assert memento.capture.payload_sha256 == hashlib.sha256(SUBSTITUTE).hexdigest()
    assert memento.capture.url == f"{world.wayback_url}/web/20140416143635id_/http://example.com/"
    assert memento.reason is not None and "substitute" in memento.reason and "PERMA_API_KEY" in memento.reason
    assert [p for h, p, _ in world.perma.requests if h == "api"] == []  # no key: the API is not asked
    assert judge(memento, "https://example.com/") is ArchiveVerdict.OK


def test_no_substitute_within_days_is_metadata_only(config: Config, world: World) -> None:
    memento = mirror(config, world, "W5MF-N9EV", max_days=1)
    assert memento.verdict is ArchiveVerdict.METADATA_ONLY
    assert memento.original_url == "http://example.com" and memento.datetime == PERMA_DATE
    assert memento.capture is None
    assert memento.reason is not None and "within 1 days" in memento.reason
    assert judge(memento, "http://example.org/") is ArchiveVerdict.MISMATCH


def test_no_substitute_archive_is_metadata_only(config: Config, world: World) -> None:
    memento = mirror(config, world, "W5MF-N9EV", substitute=False)
    assert memento.verdict is ArchiveVerdict.METADATA_ONLY
    assert memento.reason is not None and "no substitute archive is configured" in memento.reason


@pytest.mark.parametrize(
    ("guid", "verdict", "words"),
    [
        ("ABCD-0001", ArchiveVerdict.UNAVAILABLE, "private"),
        ("ABCD-0003", ArchiveVerdict.NOT_FOUND, "deleted"),
        ("ZZ22-2222", ArchiveVerdict.NOT_FOUND, "has no link"),
        ("ABCD-0010", ArchiveVerdict.PENDING, "pending"),
        ("F2L3-4567", ArchiveVerdict.FAILED, "failed"),
        ("U2L3-4567", ArchiveVerdict.UNAVAILABLE, "no Memento headers"),
    ],
)
def test_site_cases(config: Config, world: World, guid: str, verdict: ArchiveVerdict, words: str) -> None:
    memento = mirror(config, world, guid)
    assert memento.verdict is verdict
    assert memento.reason is not None and words in memento.reason


def test_site_replaced_link_is_followed(config: Config, world: World) -> None:
    memento = mirror(config, world, "ABCD-0006", substitute=False)
    assert memento.verdict is ArchiveVerdict.METADATA_ONLY and memento.datetime == PERMA_DATE
    assert memento.reason is not None and "replaced by" in memento.reason


@pytest.mark.parametrize("mode", ["header", "page"])
@pytest.mark.parametrize("key", [None, GOOD_KEY])
def test_challenge_is_unavailable_never_not_found(config: Config, world: World, mode: str, key: str | None) -> None:
    world.perma.challenge = mode
    memento = mirror(config, world, "W5MF-N9EV", key=key)
    assert memento.verdict is ArchiveVerdict.UNAVAILABLE
    assert memento.reason is not None and "Cloudflare challenge" in memento.reason


def test_rate_limit_page_is_unavailable(config: Config, world: World) -> None:
    world.perma.rate_limited = True
    memento = mirror(config, world, "W5MF-N9EV")
    assert memento.verdict is ArchiveVerdict.UNAVAILABLE and "rate-limit" in (memento.reason or "")


# -- the legacy public routes -----------------------------------------------------------------------


def test_legacy_public_api(config: Config, world: World) -> None:
    memento = mirror(config, world, "W5MF-N9EV", legacy=True)
    if world.perma.profile == "legacy":
        assert memento.obtained_via == "perma-public-api+warc-download"
        assert memento.mirror_file == "mirrors/perma/W5MF-N9EV.warc.gz"
        assert memento.capture is not None and memento.capture.url == "http://example.com/"
        assert memento.substitute_for is None
    else:  # the routes are gone (#3748): the site and the substitute still answer
        assert memento.obtained_via == "perma-memento-headers+wayback-substitute"
        assert memento.reason is not None and "public Perma API answered HTTP 404" in memento.reason
    assert memento.verdict is ArchiveVerdict.OK


# -- the imitation is faithful where a client can trip -----------------------------------------------


def test_imitation_api_behaviour(world: World) -> None:
    auth = {"Authorization": f"ApiKey {GOOD_KEY}"}
    with httpx.Client(base_url=world.api_url, timeout=3) as client:
        assert client.get("/v1/archives/5ubl-gcvg/", headers=auth).json() == {"detail": "Not found."}  # exact match
        assert client.get("/v1/archives/5UBL-GCVG", headers=auth).json()["guid"] == "5UBL-GCVG"  # slash optional
        assert client.get("/v1/user/archives/5UBL-GCVG/", headers=auth).status_code == 200
        missing = client.get("/v1/archives/5UBL-GCVG/")
        assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "ApiKey"
        assert missing.json() == {"detail": "Authentication credentials were not provided."}
        bad = client.get("/v1/archives/5UBL-GCVG/download?file_format=pdf", headers=auth)
        assert bad.status_code == 400
        assert bad.json() == {"file_format": "The specified format is not supported. Options: warc, wacz."}
        download = client.get("/v1/archives/W5MF-N9EV/download", headers=auth)
        assert download.headers["content-type"] == "application/gzip"
        assert download.headers["content-disposition"] == 'attachment; filename="W5MF-N9EV.warc.gz"'
        assert "content-length" not in download.headers  # streamed
        replaced = client.get("/v1/archives/ABCD-0006/download?file_format=wacz", headers=auth)
        assert replaced.status_code == 302
        assert replaced.headers["location"].endswith("/v1/archives/W5MF-N9EV/download?file_format=wacz")
        page = client.get("/v1/public/archives/").json()
        assert "total_count" not in page["meta"] and page["meta"]["next"]
        assert list(page["meta"]) == ["limit", "next", "offset", "previous"]
        assert client.get("/v1/bogus").text == "Page Not Found"
        if world.perma.profile == "current":
            assert client.get("/v1/public/archives/W5MF-N9EV/").text == "Page Not Found"
            assert "warc_download_url" not in page["objects"][0]
            assert client.get("/v1/public/archives/?offset=100000").status_code == 400


def test_imitation_site_behaviour(world: World) -> None:
    with httpx.Client(base_url=world.site_url, timeout=3) as client:
        lower = client.get("/w5mf-n9ev")
        assert lower.status_code == 301 and lower.headers["location"] == "/W5MF-N9EV"
        page = client.get("/W5MF-N9EV")
        assert page.headers["memento-datetime"] == "Mon, 14 Apr 2014 14:36:35 GMT"
        assert page.headers["link"].startswith("<http://example.com>; rel=original, ")
        assert client.get("/ABCD-0006").status_code == 302
        assert client.get("/ABCD-0001").status_code == 403
        assert client.get("/ABCD-0003").status_code == 410
        assert client.get("/ZZ22-2222").status_code == 404
