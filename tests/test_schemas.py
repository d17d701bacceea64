"""The published JSON contract: schemas match the code, goldens and real CLI output validate.

Strictness is tested too: a golden with a renamed or dropped field, or a verdict outside the
vocabulary, must fail validation.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pytest_httpserver import HTTPServer

from archiver.models import ArchiveVerdict, DriftVerdict, LiveVerdict, Overall, PageKind
from archiver.nightly.linkstate import LinkCondition, LinkState
from archiver.schemas import schema_names, schema_text
from archiver.warc.record import ProblemKind
from tests import schema_build
from tests.jsoncheck import validate_json

ROOT = Path(__file__).resolve().parents[1]
GOLDENS = ROOT / "tests" / "fixtures" / "report"
# golden file -> the schema it follows
GOLDEN_SCHEMAS = {
    "report.json": "report",
    "comparison.json": "comparison",
    "mementos.json": "memento",
    "history.json": "capture",
    "nightly.json": "run",
}


def validate(document: Any, name: str) -> None:
    """Raise jsonschema.ValidationError unless `document` follows schema `name`."""
    validate_json(document, name)


def test_committed_schemas_are_what_the_code_generates() -> None:
    committed = {p.name: p.read_text() for p in (ROOT / "archiver" / "schemas").glob("*.json")}
    assert committed == schema_build.rendered(), "run: python tests/schema_build.py"


def test_verdict_enums_are_the_models_vocabularies() -> None:
    report = json.loads(schema_text("report"))
    result = report["properties"]["results"]["items"]["properties"]
    assert result["overall"]["enum"] == [m.value for m in Overall]
    assert result["live"]["properties"]["verdict"]["anyOf"][0]["enum"] == [m.value for m in LiveVerdict]
    assert result["archive"]["properties"]["verdict"]["enum"] == [m.value for m in ArchiveVerdict]
    assert report["$defs"]["comparison"]["properties"]["verdict"]["enum"] == [m.value for m in DriftVerdict]
    page = report["$defs"]["capture"]["properties"]["page"]["anyOf"][0]
    assert page["properties"]["kind"]["enum"] == [m.value for m in PageKind]


@pytest.mark.parametrize(("golden", "name"), sorted(GOLDEN_SCHEMAS.items()))
def test_goldens_validate(golden: str, name: str) -> None:
    validate(json.loads((GOLDENS / golden).read_text()), name)


def test_every_json_golden_has_a_schema() -> None:
    assert {p.name for p in GOLDENS.glob("*.json")} == set(GOLDEN_SCHEMAS)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d["results"][0].pop("overall"),
        lambda d: d["results"][0]["live"].update(verdict="fine"),
        lambda d: d.pop("summary"),
        lambda d: d["results"][0]["citation"].update(found=d["results"][0]["citation"].pop("found_in")),
        lambda d: d["results"][0]["drift"].update(verdict="same"),
        lambda d: d.update(schema_version=2),
    ],
)
def test_a_renamed_or_dropped_field_fails(damage: Any) -> None:
    document = json.loads((GOLDENS / "report.json").read_text())
    broken = copy.deepcopy(document)
    damage(broken)
    assert broken != document
    with pytest.raises(jsonschema.ValidationError):
        validate(broken, "report")


def test_schema_command_prints_one_and_names_them_when_unknown() -> None:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    for name in schema_names():
        shown = subprocess.run(
            [sys.executable, "-m", "archiver", "schema", name],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=60,
        )
        assert shown.returncode == 0 and json.loads(shown.stdout)["$id"].endswith(f"/{name}.json")
    unknown = subprocess.run(
        [sys.executable, "-m", "archiver", "schema", "nope"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert unknown.returncode == 3 and "Traceback" not in unknown.stderr
    assert all(name in unknown.stderr for name in schema_names())


def test_what_the_cli_prints_validates(tmp_path: Path, httpserver: HTTPServer) -> None:
    """fetch, history and compare against a local site, their JSON validated as a user's tool would."""
    httpserver.expect_request("/a").respond_with_data("<title>A</title><p>one</p>", content_type="text/html")
    httpserver.expect_request("/b").respond_with_data("<title>B</title><p>two</p>", content_type="text/html")
    config = tmp_path / "config.toml"
    config.write_text(
        f'archive_dir = "{tmp_path / "archive"}"\n[fetch]\nallow_private_networks = true\ntimeout = 3.0\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}

    def run(*args: str) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "archiver", *args, "--format", "json", "--config", str(config)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=60,
        )
        assert done.returncode in (0, 2), done.stderr
        return json.loads(done.stdout)

    fetched = run("fetch", httpserver.url_for("/a"), httpserver.url_for("/b"), "http://nowhere.invalid/")
    validate(fetched, "capture")
    validate(run("history", httpserver.url_for("/a")), "capture")
    first, second = (c["id"] for c in fetched["captures"][:2])
    validate(run("compare", f"capture:{first}", f"capture:{second}"), "comparison")
    validate(run("mirror", f"capture:{first}"), "memento")
    document = tmp_path / "doc.md"
    document.write_text(f"Source: <{httpserver.url_for('/a')}>\n")
    validate(run("check", str(document)), "report")


def test_watch_and_verify_schemas_follow_their_vocabularies() -> None:
    entry = json.loads(schema_text("watch"))["properties"]["watch"]["items"]
    state = entry["properties"]["state"]
    assert state["required"] == [f.name for f in dataclasses.fields(LinkState)]
    assert state["properties"]["condition"]["enum"] == [m.value for m in LinkCondition]
    problem = json.loads(schema_text("verify"))["properties"]["problems"]["items"]
    assert problem["properties"]["kind"]["enum"] == [m.value for m in ProblemKind]
    run = json.loads(schema_text("run"))
    assert run["properties"]["results"] == json.loads(schema_text("report"))["properties"]["results"]


def test_what_the_nightly_commands_print_validates(tmp_path: Path, httpserver: HTTPServer) -> None:
    """watch add/list, run (stdout and reports/<run-id>.json) and verify against a local site."""
    page = "<html><head><title>Source</title></head><body><p>The ministry announced new measures.</p></body></html>"
    httpserver.expect_request("/source").respond_with_data(page, content_type="text/html")
    httpserver.expect_request("/gone").respond_with_data("<title>Not here</title>", status=404)
    config = tmp_path / "config.toml"
    config.write_text(
        f'archive_dir = "{tmp_path / "archive"}"\n[fetch]\nallow_private_networks = true\ntimeout = 3.0\nretries = 0\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}

    def run(*args: str, codes: tuple[int, ...] = (0, 2)) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "archiver", *args, "--config", str(config)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
        )
        assert done.returncode in codes, done.stderr
        return done.stdout

    run("watch", "add", httpserver.url_for("/source"), "--label", "A source", codes=(0,))
    run("watch", "add", httpserver.url_for("/gone"), codes=(0,))
    before = json.loads(run("watch", "list", "--format", "json", codes=(0,)))
    validate(before, "watch")
    assert {e["state"]["condition"] for e in before["watch"]} == {"unknown"}
    printed = json.loads(run("run", "--format", "json"))
    validate(printed, "run")
    assert len(printed["results"]) == 2
    (written,) = (tmp_path / "archive" / "reports").glob("*.json")
    validate(json.loads(written.read_text()), "run")
    after = json.loads(run("watch", "list", "--format", "json", codes=(0,)))
    validate(after, "watch")
    assert {e["state"]["last_verdict"] for e in after["watch"]} == {"ok", "gone"}
    clean = json.loads(run("verify", "--format", "json", codes=(0,)))
    validate(clean, "verify")
    assert clean["ok"] and clean["records_checked"] > 0
    # A damaged WARC: verify reports problems, and they follow the schema too.
    warc = sorted((tmp_path / "archive" / "warcs").rglob("*.warc.gz"))[0]
    data = bytearray(warc.read_bytes())
    data[len(data) // 2] ^= 0xFF
    warc.write_bytes(bytes(data))
    damaged = json.loads(run("verify", "--format", "json", codes=(2,)))
    validate(damaged, "verify")
    assert not damaged["ok"] and damaged["problems"]
