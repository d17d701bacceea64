"""A stand-in nightly pass and a scheduler process for the scheduler tests.

`record_pass` is what the scheduler runs (by its textual reference "tests.nightly.schedule_child:record_pass"):
it appends a line to `<archive_dir>/passes.jsonl` when it starts and when it ends, and sleeps
`PASS_SECONDS` (environment) in short steps, raising RunInterrupted when the run is told to stop.
Run as a script, it starts `run_scheduler` on an archive with a cron given on the command line
and writes `<archive_dir>/ready.json` once the scheduler runs.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

from archiver.config import Config, load_config
from archiver.errors import RunInterrupted, ScheduleError
from archiver.nightly.schedule import ScheduledRun, ScheduleStatus, run_scheduler

PASS_REF = "tests.nightly.schedule_child:record_pass"


def _append(config: Config, record: dict[str, object]) -> None:
    with (config.archive_dir / "passes.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")
        out.flush()
        os.fsync(out.fileno())


def record_pass(config: Config, run: ScheduledRun) -> None:
    base = {"pid": os.getpid(), "run_id": run.run_id, "kind": run.kind.value, "label": run.label}
    _append(config, {**base, "event": "start", "logical_at": run.logical_at.isoformat(), "at": time.time()})
    deadline = time.monotonic() + float(os.environ.get("PASS_SECONDS", "0"))
    while time.monotonic() < deadline and not run.stop.is_set():
        time.sleep(0.02)
    if run.stop.is_set():
        _append(config, {**base, "event": "stopped", "at": time.time()})
        raise RunInterrupted(f"{run.label} stopped on request")
    _append(config, {**base, "event": "end", "at": time.time()})


def read_passes(archive_dir: Path) -> list[dict[str, object]]:
    path = archive_dir / "passes.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def child_config(archive_dir: Path, cron: str, grace: int) -> Config:
    return load_config(
        None,
        {
            "archive_dir": str(archive_dir),
            "schedule": {"cron": cron, "timezone": "UTC", "misfire_grace_seconds": grace},
        },
    )


def main(argv: list[str]) -> int:
    archive_dir, cron, grace = Path(argv[0]), argv[1], int(argv[2])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    config = child_config(archive_dir, cron, grace)

    def ready(status: ScheduleStatus) -> None:
        info = {"pid": os.getpid(), "catch_up_for": status.catch_up_for.isoformat() if status.catch_up_for else None}
        tmp = archive_dir / "ready.json.tmp"
        tmp.write_text(json.dumps(info), encoding="utf-8")
        tmp.replace(archive_dir / "ready.json")

    try:
        run_scheduler(config, PASS_REF, on_ready=ready)
    except ScheduleError as exc:
        print(f"tests.nightly.schedule_child: {exc}", file=sys.stderr)
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
