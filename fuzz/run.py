"""Run every fuzz target for a share of a time budget and summarise: executions, crashes, hangs, peak RSS.

    python fuzz/run.py --seconds 150            # CI: the budget shared by all targets (~30 s each)
    python fuzz/run.py --seconds 3600 --log fuzz/runs.jsonl

Each target runs in its own libFuzzer process (atheris) with a per-input timeout and an RSS cap;
its corpus grows in `fuzz/corpus/<target>/` (not committed) and findings land in
`fuzz/findings/`. The exit status is 1 when any target crashed, hung or ran out of memory.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from fuzz.seeds import write_seeds  # noqa: E402

TARGETS = ("document", "warc", "wacz", "html", "url")
_STAT = re.compile(r"^stat::(\w+):\s*(\d+)", re.M)


def run_target(target: str, seconds: int, *, rss_limit_mb: int, timeout: int) -> dict[str, object]:
    corpus = HERE / "corpus" / target
    findings = HERE / "findings"
    findings.mkdir(exist_ok=True)
    command = [
        sys.executable,
        str(HERE / "targets.py"),
        target,
        f"-max_total_time={seconds}",
        f"-rss_limit_mb={rss_limit_mb}",
        f"-malloc_limit_mb={rss_limit_mb}",
        f"-timeout={timeout}",
        "-print_final_stats=1",
        "-max_len=65536",
        f"-artifact_prefix={findings}/{target}-",
        str(corpus),
    ]
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=HERE.parent, check=False)
    stats = {k: int(v) for k, v in _STAT.findall(done.stderr)}
    log = done.stderr
    outcome = "ok"
    if "ERROR: libFuzzer: timeout" in log:
        outcome = "hang"
    elif "out-of-memory" in log or "malloc(" in log and "exceeds" in log:
        outcome = "oom"
    elif done.returncode != 0:
        outcome = "crash"
    if outcome != "ok":
        (findings / f"{target}-{int(time.time())}.log").write_text(log[-20000:])
        # CI keeps only what is printed: the finding's traceback and artifact name must be in it.
        print(f"--- {target}: {outcome}; the end of libFuzzer's log ---", file=sys.stderr)
        print("\n".join(log.splitlines()[-60:]), file=sys.stderr, flush=True)
    return {
        "target": target,
        "seconds": round(time.monotonic() - started, 1),
        "executions": stats.get("number_of_executed_units", 0),
        "peak_rss_mb": stats.get("peak_rss_mb", 0),
        "outcome": outcome,
        "exit": done.returncode,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=150, help="total budget shared by the targets")
    parser.add_argument("--targets", nargs="*", default=list(TARGETS), choices=TARGETS)
    parser.add_argument("--rss-limit-mb", type=int, default=1024)
    parser.add_argument("--timeout", type=int, default=20, help="seconds one input may take")
    parser.add_argument("--log", type=Path, help="append one JSON line per target run here")
    args = parser.parse_args()
    write_seeds(HERE / "corpus")
    share = max(5, args.seconds // len(args.targets))
    failed = False
    for target in args.targets:
        result = run_target(target, share, rss_limit_mb=args.rss_limit_mb, timeout=args.timeout)
        print(json.dumps(result), flush=True)
        if args.log:
            with args.log.open("a") as handle:
                handle.write(json.dumps(result) + "\n")
        failed |= result["outcome"] != "ok"
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
