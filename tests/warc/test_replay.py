"""Our WARCs replay in pywb, and py-wacz finds their pages (issue 12).

A small site on a raw local server (HTML, CSS, PNG, gzip-encoded, chunked, a redirect, a 404, and
a revisit of the home page) is captured with `archiver fetch` run as a process; the WARCs go into
a pywb collection (`wb-manager add`), `wayback` serves it on 127.0.0.1, and every URL is replayed
raw (`id_`) and compared with what the site sent. pywb lives in `.venv-pywb` (built by
`.ci/pywb-replay`: its pins clash with ours), so the tests skip when it is absent, unless
ARCHIVER_REQUIRE_PYWB is set (CI), when that is a failure.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from archiver.archives.downloads import verify_wacz
from tests.wire import WireServer, chunked_response, response, routes

ROOT = Path(__file__).resolve().parents[2]
PYWB = Path(os.environ.get("ARCHIVER_PYWB_VENV", ROOT / ".venv-pywb")) / "bin"

HOME = b'<html><head><title>Replay home</title><link rel="stylesheet" href="/style.css"></head>'
HOME += b'<body><h1>Home</h1><img src="/logo.png"><a href="/gz">gz</a></body></html>'
CSS = b"body { color: #123456; }\nh1 { font-size: 2em; }\n"
# A real 1x1 PNG (signature, IHDR, IDAT, IEND), built rather than pasted.
_IHDR = b"\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
_IDAT = zlib.compress(b"\x00\xff\x00\x00")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


PNG = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", _IHDR) + _chunk(b"IDAT", _IDAT) + _chunk(b"IEND", b"")
GZ_TEXT = b"<html><title>Compressed</title><p>served with Content-Encoding: gzip</p></html>"
CHUNKS = [b"<html><title>Chunked</title>", b"<p>one</p>", b"<p>two</p></html>"]
MISSING = b"<html><title>Not here</title><p>no such page</p></html>"
HTML = ("Content-Type", "text/html; charset=utf-8")


def site_routes() -> dict[str, bytes]:
    return {
        "/": response(200, HOME, [HTML]),
        "/style.css": response(200, CSS, [("Content-Type", "text/css")]),
        "/logo.png": response(200, PNG, [("Content-Type", "image/png")]),
        "/gz": response(200, gzip.compress(GZ_TEXT, mtime=0), [HTML, ("Content-Encoding", "gzip")]),
        "/chunked": chunked_response(CHUNKS, headers=[HTML]),
        "/redirect": response(302, b"", [("Location", "/style.css")]),
        "/missing": response(404, MISSING, [HTML]),
    }


def pywb_tool(name: str) -> Path:
    tool = PYWB / name
    if not tool.is_file():
        reason = f"{tool} is absent: run .ci/pywb-replay to build .venv-pywb (pywb and py-wacz, test-only)"
        if os.environ.get("ARCHIVER_REQUIRE_PYWB"):
            pytest.fail(reason)
        pytest.skip(reason)
    return tool


def fetch(config: Path, *urls: str) -> list[dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    result = subprocess.run(
        [sys.executable, "-m", "archiver", "fetch", *urls, "--format", "json", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout)["captures"])


def stamp(capture: dict[str, object]) -> str:
    """pywb's 14-digit timestamp of a capture."""
    return datetime.fromisoformat(str(capture["fetched_at"])).strftime("%Y%m%d%H%M%S")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Replay:
    base: str  # the collection's replay prefix
    captures: dict[str, dict[str, object]]  # path -> its (first) capture
    revisit: dict[str, object]
    site: str
    warcs: list[Path]
    work: Path

    def raw(self, path: str, capture: dict[str, object] | None = None) -> httpx.Response:
        wanted = capture or self.captures[path]
        return httpx.get(f"{self.base}/{stamp(wanted)}id_/{self.site}{path}", timeout=30)


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    wb_manager, wayback = pywb_tool("wb-manager"), pywb_tool("wayback")
    work = tmp_path_factory.mktemp("replay")
    config = work / "config.toml"
    config.write_text(f'archive_dir = "{work / "archive"}"\n[fetch]\nallow_private_networks = true\ntimeout = 5.0\n')
    with WireServer(routes(site_routes())) as server:
        site = server.base
        paths = list(site_routes())
        first = fetch(config, *(server.url(p) for p in paths))
        time.sleep(1.1)  # pywb's timestamps have seconds: the revisit must get one of its own
        (revisit,) = fetch(config, server.url("/"))
    assert revisit["revisit_of"] == first[0]["id"], "the second capture of / should be a revisit"
    warcs = sorted((work / "archive" / "warcs").glob("*.warc.gz"))
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    subprocess.run([str(wb_manager), "init", "ours"], cwd=work, check=True, capture_output=True, env=env)
    subprocess.run(
        [str(wb_manager), "add", "ours", *map(str, warcs)], cwd=work, check=True, capture_output=True, env=env
    )
    port = free_port()
    server_log = (work / "wayback.log").open("wb")
    process = subprocess.Popen(
        [str(wayback), "-b", "127.0.0.1", "-p", str(port), "-t", "2"],
        cwd=work,
        stdout=server_log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((work / "wayback.log").read_text()) from None
                time.sleep(0.2)
        yield Replay(
            f"http://127.0.0.1:{port}/ours",
            dict(zip(paths, first, strict=True)),
            revisit,
            site,
            warcs,
            work,
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
        server_log.close()


def test_pywb_indexes_pages_and_not_our_metadata(replay: Replay) -> None:
    index = httpx.get(f"{replay.base}/cdx", params={"url": f"{replay.site}/*", "output": "json"}, timeout=30)
    assert index.status_code == 200
    rows = [json.loads(line) for line in index.text.splitlines()]
    mimes = {row["mime"] for row in rows}
    assert "application/json" not in mimes and "application/warc-fields" not in mimes
    # one row per response (each redirect hop has its own), plus the revisit of /: no metadata
    # record was indexed as the page
    responses = sum(len(c["redirects"]) + 1 for c in replay.captures.values())  # type: ignore[arg-type]
    assert [row["status"] for row in rows if row["url"].endswith("/redirect")] == ["302"]
    assert len(rows) == responses + 1
    revisits = [c for c in (*replay.captures.values(), replay.revisit) if c["revisit_of"]]
    assert revisits and sum(row["mime"] == "warc/revisit" for row in rows) == len(revisits)


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/", "text/html", HOME),
        ("/style.css", "text/css", CSS),
        ("/logo.png", "image/png", PNG),
        ("/gz", "text/html", GZ_TEXT),  # httpx undoes the Content-Encoding pywb passes through
        ("/chunked", "text/html", b"".join(CHUNKS)),
    ],
)
def test_each_resource_replays_as_captured(replay: Replay, path: str, content_type: str, body: bytes) -> None:
    replayed = replay.raw(path)
    assert replayed.status_code == 200
    assert replayed.headers["content-type"].startswith(content_type)
    assert replayed.content == body


def test_the_redirect_replays_as_a_redirect(replay: Replay) -> None:
    replayed = replay.raw("/redirect")
    assert replayed.status_code == 302
    assert replayed.headers["location"].endswith("/style.css")  # as captured: id_ leaves it alone


def test_the_404_replays_as_a_404(replay: Replay) -> None:
    replayed = replay.raw("/missing")
    assert replayed.status_code == 404
    assert replayed.content == MISSING


def test_the_revisit_replays_the_original_payload(replay: Replay) -> None:
    assert stamp(replay.revisit) != stamp(replay.captures["/"])
    replayed = replay.raw("/", replay.revisit)
    assert replayed.status_code == 200
    assert replayed.content == HOME
    assert replayed.headers["memento-datetime"] != replay.raw("/").headers["memento-datetime"]


def test_the_rewritten_page_replays_in_the_frame(replay: Replay) -> None:
    """The replay a reader gets (not id_): pywb's rewritten page, its CSS link pointing into the archive."""
    page = httpx.get(f"{replay.base}/{stamp(replay.captures['/'])}mp_/{replay.site}/", timeout=30)
    assert page.status_code == 200
    assert "Replay home" in page.text
    assert f"/ours/{stamp(replay.captures['/'])}cs_/{replay.site}/style.css" in page.text


def test_py_wacz_finds_the_pages_and_validates(replay: Replay) -> None:
    wacz = pywb_tool("wacz")
    out = replay.work / "site.wacz"
    created = subprocess.run(
        [str(wacz), "create", "-o", str(out), "--detect-pages", *map(str, replay.warcs)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    with zipfile.ZipFile(out) as archive:
        lines = archive.read("pages/pages.jsonl").decode().splitlines()
        problems, _package = verify_wacz(archive)
    pages = {json.loads(line)["url"] for line in lines[1:]}
    html_pages = {f"{replay.site}{p}" for p in ("/", "/gz", "/chunked")}  # 2xx text/html; not the 404
    assert html_pages <= pages
    assert f"{replay.site}/style.css" not in pages
    assert problems == ()
    validated = subprocess.run([str(wacz), "validate", "-f", str(out)], capture_output=True, text=True, timeout=120)
    assert validated.returncode == 0, validated.stdout + validated.stderr
