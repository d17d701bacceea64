"""Messages built once (STYLE 16): offline, each failure is said once, with a hint that fits, and
the report says once that the network looks unreachable. Hosts under `.invalid` (RFC 2606) never
resolve, so this is the offline case without touching any network."""

from __future__ import annotations

import json
from pathlib import Path

from archiver.errors import FetchFailure
from archiver.models import ErrorKind, Problem
from tests.clirun import invoke


def test_problem_parts_and_the_failure_that_carries_them() -> None:
    problem = Problem("host 'a.invalid'", "could not be resolved (Name or service not known)", "check the host name")
    assert problem.text() == "host 'a.invalid' could not be resolved (Name or service not known); check the host name"
    failure = FetchFailure(ErrorKind.DNS, problem)
    assert failure.message == str(failure) == problem.text()
    assert failure.sentence() == problem.sentence() and failure.problem is problem
    plain = FetchFailure(ErrorKind.CONNECT, "refused")
    assert plain.sentence() == plain.message == "refused" and plain.problem is None


def test_offline_check_says_each_failure_once_with_fitting_hints(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'archive_dir = "{tmp_path / "archive"}"\n'
        "[fetch]\ntimeout = 3.0\ndeadline = 10.0\nretries = 0\n"
        '[perma]\nsite_url = "https://perma.invalid"\napi_url = "https://api.perma.invalid"\n'
        '[wayback]\nurl = "https://wayback.invalid"\n'
    )
    doc = tmp_path / "doc.md"
    doc.write_text(
        "1. <http://news.invalid/story.html>, archived at <https://perma.invalid/5UBL-GCVG>\n"
        "2. <https://blog.invalid/post/> (archived: <https://wayback.invalid/web/2025/https://blog.invalid/post/>)\n"
    )
    result = invoke("check", str(doc), "--config", str(config), "--format", "json")
    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    assert sum("network looks unreachable" in note for note in report["notes"]) == 1
    for item in report["results"]:
        live, archive, drift, *rest = item["reasons"]
        assert "check the host name for typos" in live, "the hint fits the cited site"
        for reason in (archive, drift, *rest):
            assert "typos" not in reason and "API key" not in reason, reason
        assert "see archive" in drift and "could not be resolved" not in drift, drift
        assert archive.count("could not be resolved") == 1, archive
        assert archive.count("try again later") == 1, archive
    table = invoke("check", str(doc), "--config", str(config))
    assert table.stdout.count("network looks unreachable") == 1
