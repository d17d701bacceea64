"""A scheduler that goes away mid-run ends the run as interrupted, and the same run id resumes it.

Real processes: `dask scheduler` and `dask worker` started from the venv, the scheduler killed
with SIGKILL while the worker is capturing. Slow (two cluster start-ups), so marked `slow`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from archiver.errors import RunInterrupted
from archiver.models import ArchivePaths
from archiver.nightly.run import run_once
from archiver.nightly.watchlist import open_watch
from archiver.pipeline import stored as store_ops
from archiver.store.index import Index
from tests.cluster.test_cluster import Site, settings, site_urls
from tests.wire import WireServer, free_port

pytest.importorskip("distributed")
DASK = Path(sys.executable).with_name("dask")
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def cluster() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A scheduler and one worker, in processes of their own; yields the address and the scheduler."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # both must import archiver to run its tasks
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    scheduler = subprocess.Popen([str(DASK), "scheduler", "--port", str(port), "--no-dashboard"], **quiet)  # type: ignore[call-overload]
    address = f"tcp://127.0.0.1:{port}"
    worker = subprocess.Popen(  # type: ignore[call-overload]
        [str(DASK), "worker", address, "--nthreads", "1", "--no-dashboard", "--no-nanny"], **quiet
    )
    try:
        yield address, scheduler
    finally:
        for process in (worker, scheduler):
            process.kill()
            process.wait(10)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which(str(DASK)) is None, reason="the dask command is not installed")
def test_a_lost_scheduler_interrupts_the_run_and_the_run_id_resumes_it(tmp_path: Path) -> None:
    handler = Site(latency=0.05)
    with WireServer(handler, host="0.0.0.0") as server:
        urls = site_urls(server.port, 6, hosts=6)
        with cluster() as (address, scheduler):
            config = settings(tmp_path, address, host_interval=0.2, host_concurrency=1)
            with open_watch(config) as watch:
                for url in urls:
                    watch.add(url)
            outcome: dict[str, BaseException] = {}

            def night() -> None:
                try:
                    run_once(config, run_id="night-1")
                except BaseException as exc:  # handed to the test
                    outcome["error"] = exc

            thread = threading.Thread(target=night)
            thread.start()
            deadline = time.monotonic() + 60
            while len(handler.log) < 12 and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            scheduler.kill()
            thread.join(60)
            assert not thread.is_alive(), "the run did not end when its scheduler went away"
        error = outcome.get("error")
        assert isinstance(error, RunInterrupted), error
        assert "went away" in str(error) and "same run id resumes" in str(error)

        with cluster() as (address, _scheduler):
            config = settings(tmp_path, address, host_interval=0.2, host_concurrency=1)
            summary = run_once(config, run_id="night-1")
    assert sorted(s.key for s in summary.sources) == sorted(s.key for s in summary.sources) and len(
        summary.sources
    ) == len(urls), "every source has exactly one result in the run"
    assert {s.result.live_capture.status for s in summary.sources} == {200}
    with Index(ArchivePaths(tmp_path).index) as index:
        indexed = index.all_captures()
    assert len({c.id for c in indexed}) == len(indexed)
    assert {c.url for c in indexed} == set(urls)
    assert not list(ArchivePaths(tmp_path).warcs.glob("*.open"))
    assert store_ops.verify(settings(tmp_path)).ok
