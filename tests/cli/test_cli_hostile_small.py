"""Issue 11's smaller cases, run as a user runs them: an index row pointing outside the archive, an
empty or binary document, a 100 KB URL, a recovery that drops an indexed capture."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from archiver.errors import InvalidURLError, StoreError
from archiver.urls import parse_url
from archiver.warc.scan import locate
from tests.cli.test_cli_capture import captures_of, run, write_config


def test_index_path_outside_the_archive_is_refused(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/a").respond_with_data("<title>A</title>", content_type="text/html")
    config = write_config(tmp_path)
    (capture,) = captures_of(run(config, "fetch", httpserver.url_for("/a"), "--format", "json"))
    with sqlite3.connect(tmp_path / "archive" / "index.sqlite3") as db:
        db.execute("UPDATE captures SET warc_file = '../../etc/passwd'")
    shown = run(config, "show", str(capture["id"]), "--body")
    assert shown.returncode == 1 and "Traceback" not in shown.stderr, shown.stderr
    assert "outside the archive folder" in shown.stderr and "root:" not in shown.stdout
    for bad in ("../../etc/passwd", "/etc/passwd", "warcs/../../x"):
        with pytest.raises(StoreError, match="outside the archive folder"):
            locate(tmp_path / "archive", bad)


@pytest.mark.parametrize("content", [b"", bytes(range(256)) * 40], ids=["empty", "binary"])
def test_document_without_citations_says_so_and_fails_strict(tmp_path: Path, content: bytes) -> None:
    document = tmp_path / "doc.txt"
    document.write_bytes(content)
    config = write_config(tmp_path)
    plain = run(config, "check", str(document), "--no-live", "--no-archive")
    assert plain.returncode == 0, plain.stderr
    assert f"No citation was found in {document}" in " ".join(plain.stdout.split())  # the table wraps lines
    strict = run(config, "check", str(document), "--no-live", "--no-archive", "--strict")
    assert strict.returncode == 2, strict.stdout + strict.stderr


def test_a_100_kb_url_is_quoted_shortened(tmp_path: Path) -> None:
    url = "http://exa mple.com/" + "a" * 100_000
    with pytest.raises(InvalidURLError) as caught:
        parse_url(url)
    assert len(str(caught.value)) < 400 and "100020 characters" in str(caught.value)
    result = run(write_config(tmp_path), "fetch", url, "--format", "json")
    (capture,) = captures_of(result)
    assert capture["error"]["kind"] == "invalid_url"
    assert len(capture["error"]["message"]) < 400, len(capture["error"]["message"])
    # (The table format's URL column is the report formatter's, being reworked with item 5.)
