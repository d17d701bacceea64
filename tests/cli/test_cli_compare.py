"""`archiver compare A B`, run as a user runs it: exit codes, the JSON contract, each kind of side.

Pages come from the drift corpus (tests/fixtures/drift/) on a real local HTTP server; the
archived copy from the local Wayback imitation. Exit codes: 0 identical/equivalent/minor,
2 major/replaced/unknown or a --quote missing, 3 usage errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tests.clirun import Result, invoke
from tests.imitations import serve
from tests.imitations.wayback import WaybackCapture, WaybackImitation
from tests.jsoncheck import printed_json

ROOT = Path(__file__).resolve().parents[2]
DRIFT = Path(__file__).resolve().parents[1] / "fixtures" / "drift"
HTML = "text/html; charset=utf-8"
QUOTE = "the cost had risen by almost a third"


def page(case: str, side: str) -> bytes:
    return (DRIFT / case / f"{side}.html").read_bytes()


@pytest.fixture
def site(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request("/article").respond_with_data(page("en-one-sentence-edited", "a"), content_type=HTML)
    httpserver.expect_request("/edited").respond_with_data(page("en-one-sentence-edited", "b"), content_type=HTML)
    httpserver.expect_request("/replaced-a").respond_with_data(page("en-replaced", "a"), content_type=HTML)
    httpserver.expect_request("/replaced-b").respond_with_data(page("en-replaced", "b"), content_type=HTML)
    return httpserver


@pytest.fixture
def config_file(tmp_path: Path, site: HTTPServer) -> Iterator[Path]:
    imitation = WaybackImitation(
        [WaybackCapture("20250426010203", site.url_for("/article"), body=page("en-one-sentence-edited", "a"))]
    )
    with serve(imitation) as wayback:
        path = tmp_path / "config.toml"
        path.write_text(
            f'archive_dir = "{tmp_path / "archive"}"\n'
            "[fetch]\nallow_private_networks = true\ntimeout = 3.0\ndeadline = 10.0\nretries = 0\n"
            f'[wayback]\nurl = "{wayback}"\n'
        )
        yield path


def run(config_file: Path, *args: str) -> Result[str]:
    return invoke(*args, "--config", str(config_file))


def document(result: Result[str]) -> dict[str, Any]:
    data: dict[str, Any] = printed_json(result.stdout, "comparison")
    return data


def wayback_of(config_file: Path) -> str:
    return config_file.read_text().split('url = "')[1].split('"')[0]


def test_identical_urls_json_contract(config_file: Path, site: HTTPServer) -> None:
    url = site.url_for("/article")
    result = run(config_file, "compare", url, url, "--format", "json")
    assert result.returncode == 0, result.stderr
    data = document(result)
    assert data["schema_version"] == 1 and data["tool"] == "archiver"
    assert set(data) >= {"a", "b", "comparison", "sides", "quote", "acceptable"}
    comparison = data["comparison"]
    assert set(comparison) >= {"verdict", "similarity", "added", "removed", "excerpt"}
    assert comparison["verdict"] == "identical" and comparison["payload_identical"] is True
    assert data["a"].startswith(url) and "fetched now" in data["a"]
    for side in ("a", "b"):
        described = data["sides"][side]
        assert described["kind"] == "live" and described["input"] == url
        assert described["capture"]["status"] == 200 and described["capture"]["warc"]["file"].startswith("warcs/")


@pytest.mark.parametrize(
    ("path_a", "path_b", "verdict", "code"),
    [("/article", "/edited", "minor", 0), ("/replaced-a", "/replaced-b", "replaced", 2)],
)
def test_drift_verdict_sets_the_exit_code(
    config_file: Path, site: HTTPServer, path_a: str, path_b: str, verdict: str, code: int
) -> None:
    result = run(config_file, "compare", site.url_for(path_a), site.url_for(path_b))
    assert result.returncode == code, result.stderr
    assert "verdict" in result.stdout and verdict in result.stdout
    assert "similarity" in result.stdout


def test_quote_missing_in_b_exits_2(config_file: Path, site: HTTPServer) -> None:
    result = run(config_file, "compare", site.url_for("/article"), site.url_for("/edited"), "--quote", QUOTE)
    assert result.returncode == 2
    assert "major" in result.stdout and "quote in A" in result.stdout


def test_url_against_capture_id_and_archive_reference(config_file: Path, site: HTTPServer) -> None:
    fetched = run(config_file, "fetch", site.url_for("/article"), "--format", "json")
    capture_id = printed_json(fetched.stdout, "capture")["captures"][0]["id"]
    by_id = run(config_file, "compare", capture_id[:8], site.url_for("/article"), "--format", "json")
    assert by_id.returncode == 0, by_id.stderr
    data = document(by_id)
    assert data["comparison"]["verdict"] == "identical"
    assert data["sides"]["a"]["kind"] == "capture" and data["sides"]["a"]["capture"]["id"] == capture_id
    ref = f"{wayback_of(config_file)}/web/20250426010203/{site.url_for('/article')}"
    archived = run(config_file, "compare", ref, site.url_for("/edited"), "--format", "json")
    assert archived.returncode == 0, archived.stderr
    data = document(archived)
    assert data["comparison"]["verdict"] == "minor"
    memento = data["sides"]["a"]["memento"]
    assert data["sides"]["a"]["kind"] == "archive" and memento["verdict"] == "ok" and memento["kind"] == "wayback"
    assert memento["capture"]["url"] == f"{wayback_of(config_file)}/web/20250426010203id_/{site.url_for('/article')}"


def test_a_side_that_cannot_be_had_is_unknown_and_exits_2(config_file: Path, site: HTTPServer) -> None:
    result = run(config_file, "compare", "http://127.0.0.1:9/gone", site.url_for("/article"), "--format", "json")
    assert result.returncode == 2
    data = document(result)
    assert data["comparison"]["verdict"] == "unknown" and data["comparison"]["reason"].startswith("A has no text")
    assert data["sides"]["a"]["capture"]["error"]["kind"] == "connect"


@pytest.mark.parametrize(
    ("a", "words"),
    [("example.com/page", "a URL (http:// or https://"), ("capture:0123abcd", "no capture with ID '0123abcd'")],
)
def test_usage_errors_exit_3(config_file: Path, site: HTTPServer, a: str, words: str) -> None:
    result = run(config_file, "compare", a, site.url_for("/article"))
    assert result.returncode == 3, result.stdout + result.stderr
    assert words in " ".join(result.stderr.split())


def test_two_copies_of_a_wall_are_not_identical(config_file: Path, site: HTTPServer) -> None:
    """The Sina Visitor System twice is no evidence that the post is unchanged: unknown, exit 2."""
    wall = (Path(__file__).resolve().parents[1] / "fixtures" / "pages" / "weibo-visitor-system.html").read_bytes()
    site.expect_request("/wall").respond_with_data(wall, content_type=HTML)
    url = site.url_for("/wall")
    result = run(config_file, "compare", url, url, "--format", "json")
    data = document(result)
    assert data["comparison"]["verdict"] == "unknown", data["comparison"]
    assert "login wall" in data["comparison"]["reason"]
    assert result.returncode == 2
