"""`archiver schedule` with the real nightly pass, as a process: a night missed while the machine
was off is caught up at start, with real captures and a real report, then SIGTERM stops it cleanly.

The other scheduler tests use a stand-in pass (tests/schedule_child.py) to pin down the timing
rules; this one proves the pieces are wired: CLI -> scheduler -> archiver.nightly.run -> archive.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pytest_httpserver import HTTPServer

from archiver.nightly.ledger import LEDGER_NAME, Ledger, RunOutcome
from tests.nightly.test_schedule import daily_cron_at, miss_the_night, wait_for

ROOT = Path(__file__).resolve().parents[2]


def start(config: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return subprocess.Popen(
        [sys.executable, "-m", "archiver", *args, "--config", str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    return proc.returncode, err


def test_schedule_catches_up_a_missed_night_with_the_real_pass(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/article").respond_with_data("<title>A</title><p>text</p>", content_type="text/html")
    archive = tmp_path / "archive"
    fire = (datetime.now(UTC) - timedelta(hours=3)).replace(second=0, microsecond=0)
    config = tmp_path / "config.toml"
    config.write_text(
        f'archive_dir = "{archive}"\n'
        "[fetch]\nallow_private_networks = true\ntimeout = 3.0\nretries = 0\nhost_interval = 0.0\n"
        "[live]\nsoft_404_probe = false\n"
        f'[schedule]\ncron = "{daily_cron_at(fire)}"\ntimezone = "UTC"\nmisfire_grace_seconds = 60\n'
    )
    added = subprocess.run(
        [sys.executable, "-m", "archiver", "watch", "add", httpserver.url_for("/article"), "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr

    first = start(config, "schedule")
    try:
        # Generous: a loaded machine takes long to start a Python process; the wait ends when it is up.
        wait_for(lambda: (archive / "schedule.sqlite3").is_file(), 60, "the job store")
    except AssertionError:
        first.kill()
        first.communicate()
        raise
    code, err = stop(first)
    assert code == 0, err
    assert not list((archive / "reports").glob("*.json")), "nothing was due at the first start"

    miss_the_night(archive, fire)
    second = start(config, "schedule")
    reports = archive / "reports"
    try:
        wait_for(lambda: reports.is_dir() and list(reports.glob("*.json")), 90, "the catch-up run's report")
    except AssertionError:
        second.kill()
        second.communicate()
        raise
    code, err = stop(second)
    assert code == 0, err

    (report_file,) = reports.glob("*.json")
    report = json.loads(report_file.read_text(encoding="utf-8"))
    (result,) = report["results"]
    assert result["citation"]["url"] == httpserver.url_for("/article")
    assert result["live"]["verdict"] == "ok"
    assert [e.outcome for e in Ledger(archive / LEDGER_NAME).entries(fire)] == [RunOutcome.FINISHED]
    with sqlite3.connect(archive / "index.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM captures").fetchone()[0] == 1
    assert not list((archive / "warcs").glob("*.open")), "SIGTERM left the WARC file closed"
