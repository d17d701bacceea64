"""`archiver fetch / show / history / verify / index rebuild`, run as a user runs them.

Each test drives the real command line (`main(argv)`, in-process; the SIGKILL test as a process)
against a real local HTTP server and a real archive folder, and checks the exit code, the printed
output and the files left.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from tests.clirun import Result, invoke
from tests.wire import WireServer, drip, response, routes

ROOT = Path(__file__).resolve().parents[2]
CHINESE = (
    "<html><head><title>新华社</title></head><body><p>朱镕基会见了代表团。人工智能健康有序发展。</p></body></html>"
)


def write_config(tmp_path: Path, **fetch: object) -> Path:
    settings = {"allow_private_networks": True, "timeout": 3.0, "deadline": 10.0, "backoff_base": 0.05} | fetch
    lines = [f'archive_dir = "{tmp_path / "archive"}"', "[fetch]"]
    for key, value in settings.items():
        lines.append(f"{key} = {json.dumps(value)}")
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(config: Path, *args: str) -> Result[str]:
    return invoke(*args, "--config", str(config))


def captures_of(result: Result[str]) -> list[dict[str, object]]:
    return list(json.loads(result.stdout)["captures"])


@pytest.fixture
def site(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request("/a").respond_with_response(Response(status=301, headers={"Location": "/b"}))
    httpserver.expect_request("/b").respond_with_response(Response(status=302, headers={"Location": "/c"}))
    httpserver.expect_request("/c").respond_with_data("<title>C</title><p>final page</p>", content_type="text/html")
    httpserver.expect_request("/missing").respond_with_data("no such page", status=404)
    httpserver.expect_request("/broken").respond_with_data("oops", status=500)
    httpserver.expect_request("/gbk").respond_with_data(CHINESE.encode("gbk"), content_type="text/html; charset=gb2312")
    httpserver.expect_request("/utf8").respond_with_data(CHINESE.encode(), content_type="text/html; charset=utf-8")
    return httpserver


def test_fetch_prints_json_captures_and_stores_them(tmp_path: Path, site: HTTPServer) -> None:
    config = write_config(tmp_path, retries=0)
    result = run(
        config, "fetch", site.url_for("/a"), site.url_for("/missing"), site.url_for("/broken"), "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    chain, missing, broken = captures_of(result)
    assert chain["status"] == 200 and chain["final_url"] == site.url_for("/c")
    assert [(h["url"], h["status"]) for h in chain["redirects"]] == [  # type: ignore[union-attr]
        (site.url_for("/a"), 301),
        (site.url_for("/b"), 302),
    ]
    assert missing["status"] == 404 and missing["error"] is None
    assert broken["status"] == 500
    for capture in (chain, missing, broken):
        warc = capture["warc"]
        assert isinstance(warc, dict) and (tmp_path / "archive" / warc["file"]).is_file()
        assert len(str(capture["payload_sha256"])) == 64
    files = sorted((tmp_path / "archive" / "warcs").glob("*.warc.gz"))
    assert files, "the WARC file was not closed and renamed"
    check = subprocess.run(
        [str(Path(sys.executable).parent / "warcio"), "check", *map(str, files)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_fetch_exits_2_when_a_fetch_failed_and_carries_on(tmp_path: Path, site: HTTPServer) -> None:
    config = write_config(tmp_path)
    result = run(
        config, "fetch", "http://ex ample.com/", "http://nowhere.invalid/", site.url_for("/c"), "--format", "json"
    )
    assert result.returncode == 2
    bad, dns, good = captures_of(result)
    assert bad["error"]["kind"] == "invalid_url"  # type: ignore[index]
    assert dns["error"]["kind"] == "dns"  # type: ignore[index]
    assert good["status"] == 200


def test_fetch_table_output_and_url_list(tmp_path: Path, site: HTTPServer) -> None:
    config = write_config(tmp_path)
    url_list = tmp_path / "urls.txt"
    url_list.write_text(f"# a comment\n{site.url_for('/c')}\n\n{site.url_for('/missing')}\n")
    result = run(config, "fetch", "--from-file", str(url_list))
    assert result.returncode == 0, result.stderr
    assert site.url_for("/c") in result.stdout and "404" in result.stdout


def test_gbk_and_utf8_pages_share_text_hash_and_show_decodes_body(tmp_path: Path, site: HTTPServer) -> None:
    config = write_config(tmp_path)
    gbk, utf8 = captures_of(run(config, "fetch", site.url_for("/gbk"), site.url_for("/utf8"), "--format", "json"))
    assert gbk["payload_sha256"] != utf8["payload_sha256"]
    assert gbk["text_sha256"] == utf8["text_sha256"]
    assert gbk["title"] == "新华社"
    shown = run(config, "show", str(gbk["id"])[:10], "--body")
    assert shown.returncode == 0, shown.stderr
    assert "朱镕基会见了代表团" in shown.stdout


def test_history_marks_changes_newest_first(tmp_path: Path) -> None:
    versions = iter([b"<p>one</p>", b"<p>one</p>", b"<p>two</p>"])
    server = HTTPServer(host="127.0.0.1")
    server.expect_request("/page").respond_with_handler(
        lambda request: Response(next(versions), content_type="text/html")
    )
    server.start()
    try:
        config = write_config(tmp_path)
        url = server.url_for("/page")
        for _ in range(3):
            assert run(config, "fetch", url).returncode == 0
        result = run(config, "history", url, "--format", "json")
    finally:
        server.clear()
        server.stop()
    assert result.returncode == 0, result.stderr
    rows = captures_of(result)
    assert len(rows) == 3
    assert [r["fetched_at"] for r in rows] == sorted((r["fetched_at"] for r in rows), reverse=True)
    assert rows[0]["changed"] == {"payload": True, "text": True}
    assert rows[1]["changed"] == {"payload": False, "text": False}
    assert rows[1]["revisit_of"] == rows[2]["id"], "an unchanged payload is stored as a revisit"


def test_verify_finds_a_flipped_byte_and_rebuild_restores_the_index(tmp_path: Path, site: HTTPServer) -> None:
    config = write_config(tmp_path)
    assert run(config, "fetch", site.url_for("/a"), site.url_for("/gbk")).returncode == 0
    clean = run(config, "verify", "--format", "json")
    assert clean.returncode == 0, clean.stdout
    assert json.loads(clean.stdout)["ok"] is True

    index = tmp_path / "archive" / "index.sqlite3"
    with sqlite3.connect(index) as db:
        before = sorted(db.execute("SELECT * FROM captures").fetchall())
    index.unlink()
    rebuilt = run(config, "index", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "2 captures" in rebuilt.stdout
    with sqlite3.connect(index) as db:
        after = sorted(db.execute("SELECT * FROM captures").fetchall())
    assert after == before

    warc = sorted((tmp_path / "archive" / "warcs").glob("*.warc.gz"))[0]
    data = bytearray(warc.read_bytes())
    data[len(data) // 2] ^= 0x01
    warc.write_bytes(bytes(data))
    broken = run(config, "verify", "--format", "json")
    assert broken.returncode == 2
    problems = json.loads(broken.stdout)["problems"]
    assert any(p["file"].endswith(warc.name) for p in problems)


def test_usage_and_config_errors_exit_3(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert run(config, "fetch").returncode == 3
    assert run(config, "fetch", "http://x.example/", "--format", "yaml").returncode == 3
    bad = tmp_path / "bad.toml"
    bad.write_text("[fetch]\ntimout = 3\n")
    result = run(bad, "fetch", "http://x.example/")
    assert result.returncode == 3
    assert "timout" in result.stderr and "bad.toml" in result.stderr
    missing = run(config, "show", "deadbeef")
    assert missing.returncode == 3 and "holds no archive index" in missing.stderr


def test_sigkill_mid_write_then_restart_loses_nothing_reported(tmp_path: Path) -> None:
    """Kill `archiver fetch` while it is storing a slow body; the next command recovers the archive."""
    fast_body = b"<p>quick page</p>"

    handler = routes(
        {"/slow": drip(b"x" * 400, 0.05)},
        default=response(200, fast_body, [("Content-Type", "text/html")]),
    )
    with WireServer(handler) as server:
        config = write_config(tmp_path, deadline=60.0, host_concurrency=8)
        urls = [server.url(f"/fast/{i}") for i in range(5)] + [server.url("/slow")]
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "archiver", "fetch", *urls, "--config", str(config)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        warcs = tmp_path / "archive" / "warcs"
        deadline = time.monotonic() + 20
        index = tmp_path / "archive" / "index.sqlite3"
        while time.monotonic() < deadline:
            if index.exists():
                with sqlite3.connect(index) as db:
                    try:
                        if db.execute("SELECT count(*) FROM captures").fetchone()[0] >= 5:
                            break
                    except sqlite3.OperationalError:
                        pass
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert list(warcs.glob("*.open")), "the kill should leave an open WARC file behind"
    with sqlite3.connect(index) as db:
        reported = {row[0] for row in db.execute("SELECT id FROM captures")}
    assert len(reported) >= 5

    result = run(config, "verify", "--format", "json")
    assert result.returncode == 0, result.stdout
    assert not list(warcs.glob("*.open"))
    with sqlite3.connect(index) as db:
        after = {row[0] for row in db.execute("SELECT id FROM captures")}
    assert reported <= after
    check = subprocess.run(
        [str(Path(sys.executable).parent / "warcio"), "check", *map(str, warcs.glob("*.warc.gz"))],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout
