"""The fixing commands as a user runs them: check --archive-missing, annotate, export, export --verify."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.pipeline.test_archiving import ENV, Services, services  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")} | ENV
    return subprocess.run(
        [sys.executable, "-m", "archiver", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )


def test_check_archive_missing_annotate_export(services: Services, tmp_path: Path) -> None:  # noqa: F811
    config = tmp_path / "config.toml"
    config.write_text(
        f'archive_dir = "{tmp_path / "archive"}"\n'
        "[fetch]\nallow_private_networks = true\ntimeout = 3.0\nretries = 0\nhost_interval = 0.0\n"
        f'[perma]\nsite_url = "{services.site}"\napi_url = "{services.api}"\n[wayback]\nurl = "{services.wb}"\n'
        '[archiving]\nservices = ["perma"]\npoll_interval = 0.02\n'
    )
    doc = tmp_path / "notes.md"
    doc.write_text(f"# Sources\n\n1. <{services.live}/one>\n2. [Two]({services.live}/two)\n")
    checked = run(config, "check", str(doc), "--archive-missing", "--format", "json")
    assert checked.returncode == 0, checked.stderr
    assert [r["archive"]["verdict"] for r in json.loads(checked.stdout)["results"]] == ["none", "none"]
    assert checked.stderr.count(" created ") == 2, checked.stderr

    out = tmp_path / "annotated.md"
    annotated = run(config, "annotate", str(doc), "--output", str(out))
    assert annotated.returncode == 0, annotated.stderr
    assert annotated.stdout.count("+") >= 2 and "(archived: <" in out.read_text()
    assert run(config, "annotate", str(doc)).returncode == 3, "no --output and no --in-place is a usage error"

    again = run(config, "check", str(out), "--format", "json")
    assert all(r["archive"]["verdict"] != "none" for r in json.loads(again.stdout)["results"]), again.stdout

    wacz = tmp_path / "evidence.wacz"
    exported = run(config, "export", str(out), "--output", str(wacz), "--sign")
    assert exported.returncode == 0 and "signed" in exported.stdout, exported.stderr
    verified = run(config, "export", "--verify", str(wacz))
    assert verified.returncode == 0 and ": ok" in verified.stdout, verified.stdout + verified.stderr

    archived = run(config, "archive", f"{services.live}/three", "--format", "json")
    assert archived.returncode == 0, archived.stderr
    (item,) = json.loads(archived.stdout)["results"]
    assert item["requests"][0]["verdict"] == "created" and item["capture"]["status"] == 200
