"""`archiver check` as CI runs it: `--format junit` read back by junitparser, `--format csv` by the
csv module, `--exclude`/`--include` and the config's `[check] exclude` (asserted from what the
local server was asked), and `--accept` for statuses a team treats as fine."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml
from pytest_httpserver import HTTPServer

from archiver.report.csv import COLUMNS
from tests.clirun import invoke

PAGE = "<html><head><title>Source</title></head><body><p>The ministry announced new measures.</p></body></html>"


@pytest.fixture
def site(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request("/ok").respond_with_data(PAGE, content_type="text/html")
    httpserver.expect_request("/forbidden").respond_with_data("no robots", status=403)
    httpserver.expect_request("/gone").respond_with_data("not here", status=404)
    httpserver.expect_request("/skip/page").respond_with_data(PAGE, content_type="text/html")
    return httpserver


def setup(tmp_path: Path, site: HTTPServer, check: str = "") -> tuple[Path, Path]:
    config = tmp_path / "config.toml"
    config.write_text(
        f'archive_dir = "{tmp_path / "archive"}"\n'
        "[fetch]\nallow_private_networks = true\ntimeout = 3.0\ndeadline = 10.0\nretries = 0\n"
        "[live]\nsoft_404_probe = false\n" + (f"[check]\n{check}\n" if check else "")
    )
    doc = tmp_path / "notes.md"
    doc.write_text(
        "# Sources\n\n"
        + "".join(
            f"{i}. <{site.url_for(path)}>\n" for i, path in enumerate(("/ok", "/forbidden", "/gone", "/skip/page"))
        )
    )
    return config, doc


def asked(site: HTTPServer) -> list[str]:
    return [request.path for request, _ in site.log]


def test_junit_with_exclude_and_accept(tmp_path: Path, site: HTTPServer) -> None:
    config, doc = setup(tmp_path, site)
    args = ["check", str(doc), "--no-archive", "--config", str(config), "--exclude", "/skip/"]
    result = invoke(*args, "--accept", "200..299,403", "--format", "junit")
    assert result.returncode == 2, result.stderr  # /gone fails
    xml = JUnitXml.fromstring(result.stdout.encode())
    (suite,) = list(xml)
    assert suite.name == str(doc)
    cases = {case.name: case for case in suite}
    assert set(cases) == {site.url_for("/ok"), site.url_for("/forbidden"), site.url_for("/gone")}
    assert suite.tests == 3 and suite.failures == 1
    gone = cases[site.url_for("/gone")]
    (failure,) = gone.result
    assert isinstance(failure, Failure) and "gone" in failure.message.lower()
    assert cases[site.url_for("/ok")].is_passed and cases[site.url_for("/forbidden")].is_passed
    assert "accepted" in (cases[site.url_for("/forbidden")].system_out or "")
    assert "/skip/page" not in asked(site), "an excluded citation is not fetched"
    assert "Excluded, not fetched: 1 citation" in result.stdout and "matches exclude pattern '/skip/'" in result.stdout

    without_accept = invoke(*args, "--format", "junit")
    forbidden = {c.name: c for c in list(JUnitXml.fromstring(without_accept.stdout.encode()))[0]}[
        site.url_for("/forbidden")
    ]
    assert "blocked" in (forbidden.system_out or ""), "without --accept a 403 is `blocked` (a warning)"


def test_csv_parses_back_with_one_row_per_checked_citation(tmp_path: Path, site: HTTPServer) -> None:
    config, doc = setup(tmp_path, site)
    result = invoke("check", str(doc), "--no-archive", "--config", str(config), "--format", "csv")
    assert result.returncode == 2
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 4
    by_url = {row["url"]: row for row in rows}
    assert by_url[site.url_for("/ok")]["live"] == "ok" and by_url[site.url_for("/ok")]["status"] == "200"
    assert by_url[site.url_for("/gone")]["overall"] == "fail" and by_url[site.url_for("/gone")]["status"] == "404"
    assert by_url[site.url_for("/forbidden")]["live"] == "blocked"
    assert all(row["document"] == str(doc) and row["line"].isdigit() for row in rows)


def test_config_exclude_and_include_overriding_it(tmp_path: Path, site: HTTPServer) -> None:
    config, doc = setup(tmp_path, site, check='exclude = ["/skip/", "/gone$"]\naccept = ["403"]')
    result = invoke("check", str(doc), "--no-archive", "--config", str(config), "--format", "csv")
    assert result.returncode == 0, result.stdout  # /gone is excluded, 403 accepted by the config
    assert [row["url"] for row in csv.DictReader(io.StringIO(result.stdout))] == [
        site.url_for("/ok"),
        site.url_for("/forbidden"),
    ]
    assert "/skip/page" not in asked(site) and "/gone" not in asked(site)
    included = invoke(
        "check", str(doc), "--no-archive", "--config", str(config), "--include", "/skip/", "--format", "json"
    )
    assert included.returncode == 0
    assert "/skip/page" in asked(site) and "/gone" not in asked(site)
    only = invoke(
        "check", str(doc), "--no-archive", "--archive-dir", str(tmp_path / "b"), "--include", "/ok$", "--format", "json"
    )
    report = json.loads(only.stdout)
    assert [r["citation"]["url"] for r in report["results"]] == [site.url_for("/ok")]
    assert any(note.startswith("Excluded, not fetched: 3 citation(s)") for note in report["notes"])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--accept", "2xx"], "'2xx' is not a status or a range"),
        (["--accept", "299..200"], "not a range of HTTP statuses"),
        (["--exclude", "(unclosed"], "is not a regular expression"),
        (["--format", "tap"], "unknown format 'tap'"),
    ],
)
def test_bad_ci_options_are_usage_errors(tmp_path: Path, site: HTTPServer, args: list[str], words: str) -> None:
    config, doc = setup(tmp_path, site)
    result = invoke("check", str(doc), "--no-archive", "--config", str(config), *args)
    assert result.returncode == 3 and words in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert asked(site) == []


def test_a_bad_check_table_in_the_config_is_a_config_error(tmp_path: Path, site: HTTPServer) -> None:
    config, doc = setup(tmp_path, site, check='exclude = ["(unclosed"]')
    result = invoke("check", str(doc), "--config", str(config))
    assert result.returncode == 3 and "check.exclude" in result.stderr
