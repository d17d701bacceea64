"""`verify` while a fetch writes: a real `archiver fetch` process captures pages from a slow local
server, rolling its WARC file over every few captures (.open -> final renames), while verify
runs again and again. It must never report a problem that is not there, nor crash."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from archiver.config import load_config
from archiver.pipeline.stored import verify
from tests.wire import WireConnection, WireRequest, WireServer, response

ROOT = Path(__file__).resolve().parents[2]
PAGE = b"<html><head><title>Live</title></head><body><p>" + b"verify while writing " * 400 + b"</p></body></html>"


def slow_page(request: WireRequest, conn: WireConnection) -> None:
    conn.wait(0.02)
    conn.send(response(200, PAGE, [("Content-Type", "text/html")]))


def test_verify_during_a_fetch_reports_no_false_problem(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    config_path = tmp_path / "config.toml"
    config_path.write_text(
        f'archive_dir = "{archive}"\nwarc_max_bytes = 60000\n'
        "[fetch]\nallow_private_networks = true\nhost_interval = 0.0\nretries = 0\nconcurrency = 4\n"
    )
    with WireServer(slow_page) as site:
        urls = [site.url(f"/page/{n}") for n in range(400)]
        with (tmp_path / "fetch.err").open("wb") as err:
            fetch = subprocess.Popen(
                [sys.executable, "-m", "archiver", "fetch", *urls, "--config", str(config_path)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        config = load_config(config_path)
        runs = files_seen = 0
        problems: list[str] = []
        try:
            while not (archive / "index.sqlite3").exists() or not (archive / "warcs").is_dir():
                assert fetch.poll() is None, (tmp_path / "fetch.err").read_text()
                time.sleep(0.05)
            while fetch.poll() is None or runs < 10:
                report = verify(config)
                runs += 1
                files_seen = max(files_seen, report.files_checked)
                problems += [f"{p.kind} {p.file} {p.offset}: {p.message}" for p in report.problems]
        finally:
            if fetch.poll() is None:
                fetch.kill()
            fetch.wait()
    assert fetch.returncode == 0, (tmp_path / "fetch.err").read_text()
    assert runs >= 10 and files_seen > 3, (runs, files_seen)
    assert problems == []
    final = verify(config)
    assert final.ok and final.records_checked > 400
