"""The published JSON contract: schemas match the code, goldens and real CLI output validate.

Strictness is tested too: a golden with a renamed or dropped field, or a verdict outside the
vocabulary, must fail validation.
"""

from __future__ import annotations

import copy
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
from archiver.schemas import schema_names, schema_text
from tests import schema_build

ROOT = Path(__file__).resolve().parents[1]
GOLDENS = ROOT / "tests" / "fixtures" / "report"
# golden file -> the schema it follows
GOLDEN_SCHEMAS = {
    "report.json": "report",
    "comparison.json": "comparison",
    "mementos.json": "memento",
    "history.json": "capture",
}


def validate(document: Any, name: str) -> None:
    """Raise jsonschema.ValidationError unless `document` follows schema `name` (for CLI tests to call)."""
    schema = json.loads(schema_text(name))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(document)


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
