"""brotli and zstd bodies, and what the fetcher asks for: run as a user runs them, against a local server.

The fetcher asks for gzip/deflate only (like wget and Heritrix), so a server that negotiates sends
gzip and every WARC reader can undo it. A server that sends br or zstd anyway is stored as
received, and `show --body`, `compare` and our read-back decode it with the bounded decoder.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import brotli
import pytest
import zstandard
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from archiver.config import load_config
from archiver.pipeline.stored import decoded_body, get_capture
from tests.cli.test_cli_capture import captures_of, run, write_config

PAGE = (
    b"<html><head><title>Encoded page</title></head><body><p>"
    + b"The archived text of an encoded page. " * 100
    + b"</p></body></html>"
)


def negotiated(request: Request) -> Response:
    """br when offered, else gzip: what most CDNs do."""
    offered = request.headers.get("Accept-Encoding", "")
    coding, body = ("br", brotli.compress(PAGE)) if "br" in offered else ("gzip", gzip.compress(PAGE))
    return Response(body, headers={"Content-Type": "text/html", "Content-Encoding": coding})


@pytest.fixture
def site(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request("/negotiated").respond_with_handler(negotiated)
    for path, coding, body in (
        ("/br", "br", brotli.compress(PAGE)),
        ("/zstd", "zstd", zstandard.ZstdCompressor().compress(PAGE)),
    ):
        httpserver.expect_request(path).respond_with_response(
            Response(body, headers={"Content-Type": "text/html", "Content-Encoding": coding})
        )
    return httpserver


def warcio_check(archive: Path) -> subprocess.CompletedProcess[str]:
    files = sorted(str(p) for p in (archive / "warcs").glob("*.warc.gz"))
    assert files
    warcio = Path(sys.executable).with_name("warcio")
    return subprocess.run([str(warcio), "check", *files], capture_output=True, text=True, timeout=60)


def test_fetcher_asks_for_gzip_and_deflate_so_warcio_check_reads_it(tmp_path: Path, site: HTTPServer) -> None:
    config = write_config(tmp_path)
    result = run(config, "fetch", site.url_for("/negotiated"), site.url_for("/zstd"), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert [r.headers.get("Accept-Encoding") for r, _ in site.log] == ["gzip, deflate", "gzip, deflate"]
    checked = warcio_check(tmp_path / "archive")
    assert checked.returncode == 0, checked.stdout + checked.stderr  # br here made warcio check crash
    negotiated_capture, _ = captures_of(result)
    shown = run(config, "show", str(negotiated_capture["id"]), "--body")
    assert shown.returncode == 0 and "The archived text of an encoded page." in shown.stdout


def test_accept_encoding_is_a_setting(tmp_path: Path, site: HTTPServer) -> None:
    config = write_config(tmp_path, accept_encoding="gzip")
    assert run(config, "fetch", site.url_for("/negotiated")).returncode == 0
    assert site.log[-1][0].headers.get("Accept-Encoding") == "gzip"


def test_br_and_zstd_sent_anyway_are_read_back(tmp_path: Path, site: HTTPServer) -> None:
    config = write_config(tmp_path)
    result = run(config, "fetch", site.url_for("/br"), site.url_for("/zstd"), "--format", "json")
    assert result.returncode == 0, result.stderr
    br, zstd = captures_of(result)
    assert br["title"] == zstd["title"] == "Encoded page"
    assert br["text_sha256"] == zstd["text_sha256"]
    for capture in (br, zstd):
        shown = run(config, "show", str(capture["id"]), "--body")
        # Before: an AttributeError inside warcio (br), the compressed bytes with exit 0 (zstd).
        assert shown.returncode == 0, shown.stderr
        assert "The archived text of an encoded page." in shown.stdout and "Traceback" not in shown.stderr
    compared = run(config, "compare", str(br["id"]), str(zstd["id"]), "--format", "json")
    assert compared.returncode == 0, compared.stdout + compared.stderr
    # Same text, different encoded bytes: "equivalent" (identical is for the same payload bytes).
    assert json.loads(compared.stdout)["comparison"]["verdict"] in ("identical", "equivalent")
    loaded = load_config(config)
    for capture in (br, zstd):
        assert decoded_body(loaded, get_capture(loaded, str(capture["id"]))).startswith("<html><head><title>Encoded")
    assert run(config, "verify").returncode == 0
