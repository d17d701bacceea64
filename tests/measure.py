"""A subprocess run with its wall time and peak RSS (`os.wait4`'s rusage of that one child)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float


def run_measured(command: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> Measured:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        child = subprocess.Popen(command, stdout=out, stderr=err, cwd=cwd, env=env)
        killer = threading.Timer(timeout, child.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            killer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait for it again
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return Measured(
            child.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            seconds,
            usage.ru_maxrss / 1024,
        )
