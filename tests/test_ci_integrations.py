"""The pre-commit hook and the GitHub Action run `archiver check` as the README says they do."""

from __future__ import annotations

import re
import subprocess

import yaml

from tests.clirun import ROOT


def test_pre_commit_hook_runs_archiver_check_on_documents() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "archiver-check" and hook["entry"] == "archiver check" and hook["language"] == "python"
    for name in ("notes.md", "page.html", "paper.docx", "memo.pdf"):
        assert re.search(hook["files"], name), name
    assert not re.search(hook["files"], "setup.py")
    assert "id: archiver-check" in (ROOT / "README.md").read_text()


def test_action_is_composite_and_calls_archiver_check() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    script = "\n".join(step.get("run", "") for step in action["runs"]["steps"])
    assert 'archiver check "${docs[@]}"' in script and '--format "$FORMAT"' in script
    assert set(action["inputs"]) >= {"files", "args", "format", "report"}
    assert action["inputs"]["format"]["default"] == "junit"
    syntax = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    readme = (ROOT / "README.md").read_text()
    assert "uses: OWNER/archiver@" in readme
    first_two = re.findall(r"^    python3 -m venv .*$", readme, re.M)[:2]
    assert first_two[0].endswith(".venv/bin/archiver check examples/translation.md")
    assert first_two[1].endswith(".venv/bin/python -m pytest -q -n auto")
    assert first_two[1].strip() in (ROOT / ".ci" / "run").read_text().splitlines()  # CI runs it verbatim
