"""Soak test of crash safety: random SIGKILLs of `archiver fetch` and `archiver run`, then restart and verify.

    python bench/soak.py --kills 100 [--seed 1] [--pages 300] [--watched 150] [--latency-ms 50]

Each round starts `archiver fetch` (even rounds) or `archiver run` over a watch list (odd rounds)
against a local page server with some latency, SIGKILLs it after a random 2.5-9 s, reads the
capture ids the index holds, then runs `archiver verify` (which recovers `.open` files) and reads
them again. Printed: kills, `.open` files recovered, captures stored, captures lost (in the index
before verify, gone after), verify problems and verify crashes. The comparison in the same run is
a control round without a kill: its verify must be clean too.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from capture import free_port  # noqa: E402


def archiver(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "archiver", *args, "--config", str(config)]


def index_ids(archive: Path) -> set[str]:
    path = archive / "index.sqlite3"
    if not path.exists():
        return set()
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return {row[0] for row in db.execute("SELECT id FROM captures")}


def verify(config: Path) -> tuple[int, int, str]:
    done = subprocess.run(archiver(config, "verify", "--format", "json"), capture_output=True, text=True, cwd=ROOT)
    try:
        problems = len(json.loads(done.stdout).get("problems", []))
    except ValueError:
        problems = -1
    return done.returncode, problems, done.stderr[-500:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--pages", type=int, default=300, help="URLs per fetch round")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--watched", type=int, default=150, help="URLs on the watch list `run` checks")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(HERE / "pageserver.py"), "--port", str(port), "--latency-ms", str(args.latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    totals = {"kills": 0, "fetch_kills": 0, "run_kills": 0, "recovered_open_files": 0, "captures_lost": 0,
              "verify_problems": 0, "verify_crashes": 0}  # fmt: skip
    try:
        with tempfile.TemporaryDirectory() as scratch:
            archive = Path(scratch) / "archive"
            config = Path(scratch) / "config.toml"
            config.write_text(
                f'archive_dir = "{archive}"\n[fetch]\nallow_private_networks = true\nhost_interval = 0.0\n'
                "timeout = 5.0\nretries = 0\nconcurrency = 8\n"
            )
            base = f"http://127.0.0.1:{port}"
            for number in range(args.watched):
                subprocess.run(archiver(config, "watch", "add", f"{base}/watched/{number}"), check=True,
                               capture_output=True, cwd=ROOT)  # fmt: skip
            # Control: one uninterrupted fetch, then verify.
            subprocess.run(archiver(config, "fetch", f"{base}/control"), check=True, capture_output=True, cwd=ROOT)
            control = verify(config)
            started = time.monotonic()
            for round_number in range(args.kills):
                use_run = round_number % 2 == 1
                if use_run:
                    command = archiver(config, "run", "--wait", "5")
                else:
                    urls = [f"{base}/r{round_number}/p{i}" for i in range(args.pages)]
                    command = archiver(config, "fetch", *urls)
                child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
                time.sleep(rng.uniform(2.5, 9.0))  # start-up alone takes 2-4 s on a loaded machine
                if child.poll() is None:
                    os.kill(child.pid, signal.SIGKILL)
                    totals["kills"] += 1
                    totals["run_kills" if use_run else "fetch_kills"] += 1
                child.wait()
                before = index_ids(archive)
                open_files = len(list((archive / "warcs").glob("*.open")))
                code, problems, stderr = verify(config)
                after = index_ids(archive)
                totals["recovered_open_files"] += open_files - len(list((archive / "warcs").glob("*.open")))
                totals["captures_lost"] += len(before - after)
                totals["verify_problems"] += max(problems, 0)
                if code not in (0, 2) or problems < 0 or "Traceback" in stderr:
                    totals["verify_crashes"] += 1
                    print(f"round {round_number}: verify exit {code}: {stderr}", file=sys.stderr)
            seconds = time.monotonic() - started
            stored = len(index_ids(archive))
    finally:
        server.terminate()
        server.wait()
    print(f"control round (no kill): verify exit {control[0]}, {control[1]} problems")
    print(f"{args.kills} rounds in {seconds:.0f} s; captures in the index at the end: {stored}")
    for key, value in totals.items():
        print(f"  {key:22} {value}")
    return 0 if totals["captures_lost"] == 0 and totals["verify_crashes"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
