"""`archiver mirror REF... [--for URL]`, run as a user runs it, against local Perma.cc and Wayback imitations.

The command line runs as a process (`python -m archiver`); the imitations run in this process on
127.0.0.1. PERMA_API_KEY is passed through the environment only, as in production.
The last tests drive `archiver.pipeline.mirror` from Python (the pieces the command is made of).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from archiver.config import Config
from archiver.errors import UsageError
from archiver.models import ArchiveKind, ArchiveVerdict
from archiver.pipeline.capture import CaptureEngine
from archiver.pipeline.mirror import check_cited_url, mirror, mirror_with, parse_refs, usable
from tests.clirun import Result, invoke
from tests.conftest import shared_file
from tests.imitations import serve
from tests.imitations.perma import PermaImitation, StoredLink
from tests.imitations.wayback import WaybackCapture, WaybackImitation

ROOT = Path(__file__).resolve().parents[2]
KEY = "mirror-key-0123"
PERMA_DATE = datetime(2014, 4, 14, 14, 36, 35, tzinfo=UTC)
SCOOP_DATE = datetime(2023, 2, 19, 0, 49, 59, tzinfo=UTC)
SUBSTITUTE = b"<html><head><title>Example Domain</title></head><body>From the Wayback Machine.</body></html>"
CITED = "http://example.com/a"
APRIL = b"<html><head><title>April</title></head><body><p>The page as archived in April.</p></body></html>"


@dataclass
class World:
    perma: PermaImitation
    wayback: WaybackImitation
    api_url: str
    site_url: str
    wayback_url: str
    config: Path
    archive: Path


def write_config(path: Path, archive: Path, api: str, site: str, wayback: str) -> Path:
    path.write_text(
        f'archive_dir = "{archive}"\n'
        "[fetch]\nallow_private_networks = true\ntimeout = 3.0\ndeadline = 10.0\nretries = 0\n"
        f'[perma]\napi_url = "{api}"\nsite_url = "{site}"\n'
        f'[wayback]\nurl = "{wayback}"\n'
    )
    return path


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    warc = shared_file("interop/perma-example.com.warc.gz").read_bytes()
    wacz = shared_file("interop/scoop-example.com.wacz").read_bytes()
    owners = frozenset({KEY})
    perma = PermaImitation(
        [
            StoredLink("5UBL-GCVG", "https://example.com/", SCOOP_DATE, wacz=wacz, owners=owners),
            StoredLink("W5MF-N9EV", "http://example.com", PERMA_DATE, warc=warc, owners=owners),
            StoredLink("M3TA-2222", "http://unarchived.example/", PERMA_DATE, warc=warc, owners=owners),
        ],
        api_keys=owners,
    )
    wayback = WaybackImitation(
        [
            WaybackCapture("20140416143635", "http://example.com/", body=SUBSTITUTE),
            WaybackCapture("20250426010203", CITED, body=APRIL),
        ]
    )
    archive = tmp_path / "archive"
    with serve(perma.api) as api, serve(perma.site) as site, serve(wayback) as wayback_url:
        config = write_config(tmp_path / "config.toml", archive, api, site, wayback_url)
        yield World(perma, wayback, api, site, wayback_url, config, archive)


def run(world: World, *args: str, key: str | None = None, columns: int | None = None) -> Result[str]:
    env = {} if key is None else {"PERMA_API_KEY": key}
    return invoke(*args, "--config", str(world.config), env=env, columns=columns)


def mementos_of(result: Result[str]) -> list[dict[str, Any]]:
    document = json.loads(result.stdout)
    assert document["schema_version"] == 1 and document["tool"] == "archiver"
    return list(document["mementos"])


def index_rows(world: World, table: str) -> list[sqlite3.Row]:
    with sqlite3.connect(world.archive / "index.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return list(db.execute(f"SELECT * FROM {table}"))  # noqa: S608 - a fixed table name


# -- Perma.cc without and with a key ---------------------------------------------------------------


def test_without_key_substitute_and_metadata_only(world: World) -> None:
    result = run(world, "mirror", "perma.cc/w5mf-n9ev", f"{world.site_url}/M3TA-2222", "--format", "json")
    assert result.returncode == 2, result.stderr  # metadata_only is not a usable copy
    substituted, metadata = mementos_of(result)
    assert substituted["verdict"] == "ok" and substituted["kind"] == "perma"
    assert substituted["ref"] == f"{world.site_url}/W5MF-N9EV"  # the configured site stands for perma.cc
    assert substituted["original_url"] == "http://example.com"
    assert substituted["datetime"] == "2014-04-14T14:36:35Z"
    assert substituted["obtained_via"] == "perma-memento-headers+wayback-substitute"
    assert substituted["substitute_days"] == 2.0
    assert substituted["substitute_for"] == f"{world.wayback_url}/web/20140416143635/http://example.com/"
    capture = substituted["capture"]
    assert capture["payload_sha256"] == hashlib.sha256(SUBSTITUTE).hexdigest()
    assert "PERMA_API_KEY" in substituted["reason"]
    assert metadata["verdict"] == "metadata_only" and metadata["capture"] is None
    assert metadata["original_url"] == "http://unarchived.example/" and metadata["datetime"] is not None
    assert [host for host, _, _ in world.perma.requests].count("api") == 0  # no key: the API is not asked
    # The index: one memento row per reference, the substitute's capture among the captures.
    rows = {row["ref"]: row for row in index_rows(world, "mementos")}
    assert rows[f"{world.site_url}/W5MF-N9EV"]["verdict"] == "ok"
    assert rows[f"{world.site_url}/W5MF-N9EV"]["capture_id"] == capture["id"]
    assert rows[f"{world.site_url}/M3TA-2222"]["verdict"] == "metadata_only"
    assert json.loads(rows[f"{world.site_url}/M3TA-2222"]["document"])["reason"]
    captures = {row["id"]: row for row in index_rows(world, "captures")}
    assert captures[capture["id"]]["url"] == f"{world.wayback_url}/web/20140416143635id_/http://example.com/"
    verify = run(world, "verify")
    assert verify.returncode == 0, verify.stdout  # what mirror stored re-hashes against the index


def test_with_key_downloads_the_wacz_and_judges_for_the_cited_url(world: World) -> None:
    result = run(world, "mirror", "5ubl-gcvg", "--for", "http://example.com", "--format", "json", key=KEY)
    assert result.returncode == 0, result.stdout + result.stderr
    (memento,) = mementos_of(result)
    assert memento["verdict"] == "ok" and memento["obtained_via"] == "perma-api+wacz-download"
    assert memento["mirror_file"] == "mirrors/perma/5UBL-GCVG.wacz" and memento["substitute_for"] is None
    stored = world.archive / memento["mirror_file"]
    assert stored.read_bytes() == shared_file("interop/scoop-example.com.wacz").read_bytes()
    assert memento["mirror_sha256"] == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert memento["capture"]["warc"]["file"] == "mirrors/perma/5UBL-GCVG.wacz"
    assert KEY not in result.stdout + result.stderr
    (row,) = index_rows(world, "mementos")
    assert (row["verdict"], row["mirror_file"], row["mirror_sha256"]) == (
        "ok",
        "mirrors/perma/5UBL-GCVG.wacz",
        memento["mirror_sha256"],
    )
    assert world.perma.requests[0][2] == f"ApiKey {KEY}"  # the key went in the Authorization header

    other = run(world, "mirror", "5UBL-GCVG", "--for", "https://example.com/other", "--format", "json", key=KEY)
    assert other.returncode == 2
    (mismatch,) = mementos_of(other)
    assert mismatch["verdict"] == "mismatch" and mismatch["original_url"] == "https://example.com/"


# -- the Wayback Machine and our own captures -------------------------------------------------------


def test_wayback_reference_is_stored_as_a_capture(world: World) -> None:
    ref = f"{world.wayback_url}/web/20250426010203/{CITED}"
    result = run(world, "mirror", ref, "--for", "https://example.com/a/", "--format", "json")
    assert result.returncode == 0, result.stderr
    (memento,) = mementos_of(result)
    assert memento["verdict"] == "ok" and memento["kind"] == "wayback"
    assert memento["datetime"] == "2025-04-26T01:02:03Z" and memento["obtained_via"] == "wayback-cdx+wayback-id"
    capture = memento["capture"]
    raw = f"{world.wayback_url}/web/20250426010203id_/{CITED}"
    assert capture["url"] == raw and capture["payload_sha256"] == hashlib.sha256(APRIL).hexdigest()
    history = run(world, "history", raw, "--format", "json")
    assert history.returncode == 0, history.stderr
    assert [c["id"] for c in json.loads(history.stdout)["captures"]] == [capture["id"]]
    shown = run(world, "show", capture["id"][:10], "--body")
    assert shown.returncode == 0 and "The page as archived in April." in shown.stdout


def test_local_capture_references_and_table_output(world: World, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/page").respond_with_data("<title>Mine</title><p>ours</p>", content_type="text/html")
    fetched = run(world, "fetch", httpserver.url_for("/page"), "--format", "json")
    assert fetched.returncode == 0, fetched.stderr
    capture_id = json.loads(fetched.stdout)["captures"][0]["id"]
    # Wide enough that no phrase looked for is folded across two lines of a cell.
    result = run(world, "mirror", f"capture:{capture_id}", "capture:ffffffff", columns=120)
    assert result.returncode == 2  # the second names no capture
    for words in ("ok", "not_found", "local-index", httpserver.url_for("/page"), "no capture with ID 'ffffffff'"):
        assert words in result.stdout
    report = world.archive.parent / "out" / "mirror.html"
    html = run(world, "mirror", f"capture:{capture_id[:8]}", "--format", "html", "--output", str(report))
    assert html.returncode == 0 and html.stdout == ""
    assert "local-index" in report.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["mirror", "not a ref", "ftp://x/y"], ["'not a ref'", "'ftp://x/y'", "Perma.cc link or GUID", "capture:<id>"]),
        (["mirror", "5UBL-GCVG", "--for", "http://exa mple.com/"], ["--for"]),
        (["mirror", "5UBL-GCVG", "--format", "yaml"], ["unknown format"]),
    ],
)
def test_usage_errors_exit_3(world: World, args: list[str], words: list[str]) -> None:
    result = run(world, *args)
    assert result.returncode == 3, result.stdout + result.stderr
    message = " ".join(result.stderr.split())
    for word in words:
        assert word in message
    assert world.perma.requests == []  # nothing was asked of an archive


# -- the pieces, from Python ------------------------------------------------------------------------


def test_parse_refs_canonicalises_and_names_every_bad_one(config: Config) -> None:
    refs = parse_refs(["perma.cc/5ubl-gcvg", "https://web.archive.org/web/2025/example.com", "capture:ab12"], config)
    assert [r.kind for r in refs] == [ArchiveKind.PERMA, ArchiveKind.WAYBACK, ArchiveKind.LOCAL]
    assert refs[0].guid == "5UBL-GCVG" and refs[1].original_url == "http://example.com"
    with pytest.raises(UsageError, match="'x y'.*'z z'"):
        parse_refs(["x y", "5UBL-GCVG", "z z"], config)
    with pytest.raises(UsageError, match="no archive reference"):
        parse_refs([], config)
    assert check_cited_url(None) is None and check_cited_url("https://example.com/") == "https://example.com/"
    with pytest.raises(UsageError):
        check_cited_url("http://example.com:99999/")


def test_local_reference_judged_by_its_status(config: Config, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/gone").respond_with_data("gone", status=404)
    httpserver.expect_request("/here").respond_with_data("<p>here</p>", content_type="text/html")

    async def run_it() -> tuple[str, str]:
        async with CaptureEngine(config) as engine:
            gone = await engine.capture(httpserver.url_for("/gone"))
            here = await engine.capture(httpserver.url_for("/here"))
            mementos = await mirror_with(engine, parse_refs([f"capture:{gone.id}", f"capture:{here.id}"], config))
            assert [m.verdict for m in mementos] == [ArchiveVerdict.NOT_FOUND, ArchiveVerdict.OK]
            assert mementos[0].reason is not None and "HTTP 404" in mementos[0].reason
            return gone.id, here.id

    gone_id, here_id = asyncio.run(run_it())
    (judged,) = mirror(config, [f"capture:{here_id}"], cited_url="http://elsewhere.example/")
    assert judged.verdict is ArchiveVerdict.MISMATCH and not usable(judged)
    (same,) = mirror(config, [f"capture:{here_id}"], cited_url=httpserver.url_for("/here"))
    assert usable(same)
    assert not usable(replace(same, problems=("datapackage.json: hash mismatch",)))  # a tampered download
    assert not usable(replace(same, capture=None))


# -- verify covers mirrors/, and mirror says what `wacz validate` would reject (issue 12) ----------


def test_verify_checks_the_downloaded_files_and_finds_a_tampered_byte(world: World) -> None:
    assert run(world, "mirror", "5UBL-GCVG", "W5MF-N9EV", "--format", "json", key=KEY).returncode == 0
    clean = run(world, "verify", "--format", "json")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    report = json.loads(clean.stdout)
    assert report["ok"] and report["files_checked"] >= 2 and report["records_checked"] >= 10

    mirrored = world.archive / "mirrors" / "perma" / "W5MF-N9EV.warc.gz"
    data = bytearray(mirrored.read_bytes())
    data[len(data) // 2] ^= 0x01
    mirrored.write_bytes(bytes(data))
    tampered = run(world, "verify", "--format", "json")
    assert tampered.returncode == 2
    problems = json.loads(tampered.stdout)["problems"]
    assert {p["file"] for p in problems} == {"mirrors/perma/W5MF-N9EV.warc.gz"}
    assert "manifest_mismatch" in {p["kind"] for p in problems}  # the sha256 the index recorded
    table = run(world, "verify")
    assert table.returncode == 2 and "mirrors/perma/W5MF-N9EV.warc.gz" in table.stdout


def test_mirror_notes_a_wacz_that_would_fail_wacz_validate(world: World, tmp_path: Path) -> None:
    import zipfile

    source = shared_file("interop/scoop-example.com.wacz")
    stripped = tmp_path / "no-pages.wacz"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(stripped, "w") as new:
        # pages.jsonl dropped and unlisted, the package's digest recomputed: every hash still holds
        package = json.loads(old.read("datapackage.json"))
        package["resources"] = [r for r in package["resources"] if r["path"] != "pages/pages.jsonl"]
        package_bytes = json.dumps(package).encode()
        digest = json.loads(old.read("datapackage-digest.json"))
        digest["hash"] = "sha256:" + hashlib.sha256(package_bytes).hexdigest()
        replaced = {"datapackage.json": package_bytes, "datapackage-digest.json": json.dumps(digest).encode()}
        for info in old.infolist():
            if info.filename != "pages/pages.jsonl":
                new.writestr(info, replaced.get(info.filename, old.read(info.filename)))
    world.perma.links.append(
        StoredLink("N0PG-5555", "https://example.com/", SCOOP_DATE, wacz=stripped.read_bytes(), owners=frozenset({KEY}))
    )
    result = run(world, "mirror", "N0PG-5555", "--format", "json", key=KEY)
    assert result.returncode == 0, result.stdout + result.stderr  # the content is intact: still usable
    (memento,) = mementos_of(result)
    assert memento["verdict"] == "ok" and memento["problems"] == []
    assert "would fail `wacz validate`: pages/pages.jsonl is missing" in memento["reason"]
    assert "wacz validate" in run(world, "mirror", "N0PG-5555", key=KEY).stdout
