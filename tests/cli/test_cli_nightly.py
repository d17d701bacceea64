"""`archiver watch ...`, `run` and `status` run as a user runs them: a process, a real local site,
a real archive folder; checked by exit code, output and the files left."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from archiver.store.locks import run_lock
from tests.cli.test_cli_capture import run, write_config
from tests.jsoncheck import printed_json

PAGE = "<html><head><title>Source</title></head><body><p>The ministry announced new measures.</p></body></html>"


@pytest.mark.slow  # a dozen CLI processes
def test_watch_add_list_remove(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    added = run(
        config, "watch", "add", "http://example.com/a", "--label", "A", "--archive", "https://perma.cc/5UBL-GCVG"
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("added: http://example.com/a") and "perma.cc/5UBL-GCVG" in added.stdout
    again = run(config, "watch", "add", "HTTP://example.com/a/")
    assert again.returncode == 0 and again.stdout.startswith("unchanged:")
    listed = run(config, "watch", "list", "--format", "json")
    (entry,) = printed_json(listed.stdout, "watch")["watch"]
    assert entry["url"] == "http://example.com/a" and entry["label"] == "A"
    assert entry["state"]["condition"] == "unknown"
    assert run(config, "watch", "add", "http://ex ample.com/").returncode == 3
    bad_ref = run(config, "watch", "add", "http://example.com/b", "--archive", "not a reference")
    assert bad_ref.returncode == 3 and "not an archive reference" in bad_ref.stderr
    assert run(config, "watch", "remove", "http://example.com/a").returncode == 0
    missing = run(config, "watch", "remove", "http://example.com/a")
    assert missing.returncode == 3 and "not on the watch list" in missing.stderr


@pytest.mark.slow  # a dozen CLI processes
def test_run_exit_codes_reports_and_status(tmp_path: Path, httpserver: HTTPServer) -> None:
    config = write_config(tmp_path, retries=0)
    archive = tmp_path / "archive"
    httpserver.expect_request("/source").respond_with_data(PAGE, content_type="text/html")
    httpserver.expect_request("/other").respond_with_data(PAGE.replace("Source", "Other"), content_type="text/html")
    httpserver.no_handler_status_code = 404
    source, other = httpserver.url_for("/source"), httpserver.url_for("/other")
    assert run(config, "watch", "add", source).returncode == 0

    first = run(config, "run")
    assert first.returncode == 0, first.stderr  # no archive cited: a warning, not a failure
    assert "1 sources checked" in first.stdout and "0 pass, 1 warn, 0 fail" in first.stdout
    assert run(config, "run", "--strict").returncode == 2
    reports = sorted(p.name for p in (archive / "reports").iterdir())
    assert len(reports) == 6 and {Path(r).suffix for r in reports} == {".json", ".html", ".md", ".gz"}
    assert sum(r.endswith(".gz") for r in reports) == 3, "the first run's reports are gzipped by the second"

    # An archive reference that captured another URL is a mismatch: a failure, exit 2.
    fetched = printed_json(run(config, "fetch", other, "--format", "json").stdout, "capture")["captures"][0]
    assert run(config, "watch", "add", source, "--archive", f"capture:{fetched['id']}").returncode == 0
    mismatch = run(config, "run", "--format", "json")
    assert mismatch.returncode == 2, mismatch.stderr
    (result,) = printed_json(mismatch.stdout, "run")["results"]
    assert result["archive"]["verdict"] == "mismatch" and result["overall"] == "fail"
    assert "Link state: ok" in " ".join(result["reasons"])

    status = run(config, "status", "--format", "json")
    assert status.returncode == 0, status.stderr
    info = json.loads(status.stdout)
    assert info["watched"] == 1 and info["link_states"]["ok"] == 1
    assert info["last_run"]["outcome"] == "finished" and info["last_run_counts"]["overall"] == {"fail": 1}
    assert info["schedule"]["cron"] == "0 3 * * *" and info["schedule"]["next_run_at"]
    assert info["archive_bytes"] > info["warc_bytes"] > 0
    assert "last run: manual-" in run(config, "status").stdout

    with run_lock(archive, 0, purpose="scheduled run for tonight"):
        busy = run(config, "run")
    assert busy.returncode == 1 and "busy" in busy.stderr and "scheduled run for tonight" in busy.stderr


def test_a_bad_format_is_refused_before_the_run(tmp_path: Path, httpserver: HTTPServer) -> None:
    config = write_config(tmp_path, retries=0)
    httpserver.expect_request("/source").respond_with_data(PAGE, content_type="text/html")
    assert run(config, "watch", "add", httpserver.url_for("/source")).returncode == 0
    refused = run(config, "run", "--format", "xml")
    assert refused.returncode == 3 and "xml" in refused.stderr
    assert not (tmp_path / "archive" / "reports").exists() or not list((tmp_path / "archive" / "reports").iterdir())
    assert len(httpserver.log) == 0, "nothing was fetched"
