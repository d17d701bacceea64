"""`.ci/runtime-smoke`: the CLI in an install with only the runtime dependencies (no test extra)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.clirun import ROOT


@pytest.mark.slow  # builds a venv and installs the package: minutes
@pytest.mark.skipif(
    os.environ.get("ARCHIVER_RUNTIME_SMOKE_DONE") == "1",
    reason=".ci/run ran .ci/runtime-smoke as a step of its own just before the tests",
)
def test_runtime_only_install_gives_one_line_usage_errors() -> None:
    proc = subprocess.run(
        ["bash", str(ROOT / ".ci" / "runtime-smoke")], capture_output=True, text=True, timeout=1500, cwd=ROOT
    )
    if proc.returncode == 4:
        pytest.skip("pip could not install the package into a fresh venv (no package index reachable):\n" + proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "runtime smoke: all checks passed" in proc.stdout
    assert proc.stdout.count("ok: archiver") >= 9
