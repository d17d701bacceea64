"""A capture engine tunes glibc's heap so a page's buffers do not fault in again (pipeline/heap.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not hasattr(os, "confstr") or not os.confstr("CS_GNU_LIBC_VERSION"), reason="mallopt is glibc's"
)

# What a capture does to the heap for each page, without the network: parse the page with Lexbor,
# deflate a record, keep a little (the heap grows during a run). Minor page faults per page are
# counted after a warm-up; a fresh interpreter each time, so the heap starts the same.
WORKLOAD = textwrap.dedent(
    """
    import asyncio, resource, sys
    from pathlib import Path
    from selectolax.lexbor import LexborHTMLParser
    from zlib_ng import zlib_ng

    if sys.argv[1] == "engine":
        from archiver.config import load_config
        from archiver.pipeline.capture import CaptureEngine

        async def open_and_close() -> None:
            async with CaptureEngine(load_config(None, {"archive_dir": sys.argv[2]})):
                pass

        asyncio.run(open_and_close())
    page = b"<title>t</title><p>" + b"lorem ipsum dolor sit amet " * 380 + b"</p>"
    kept = []

    def one() -> None:
        LexborHTMLParser(page).body.text()
        zlib_ng.compress(page, 6, 31)
        zlib_ng.compress(page[:300], 6, 31)
        kept.append(bytearray(3000))

    for _ in range(100):
        one()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(2000):
        one()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 2000)
    """
)


def faults_per_page(mode: str, archive: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", WORKLOAD, mode, str(archive)], check=True, capture_output=True, text=True
    ).stdout
    return float(out.split()[-1])


def test_an_open_capture_engine_stops_the_heap_faulting_its_pages_in_again(tmp_path: Path) -> None:
    untuned = faults_per_page("plain", tmp_path / "a")
    tuned = faults_per_page("engine", tmp_path / "b")
    # Measured: 3.6 faults a page untuned, 0.8 tuned (48 and 1.4 in bench/capture.py's real run).
    assert tuned < untuned / 2, (untuned, tuned)


def test_tuning_is_once_per_process_and_says_whether_it_took(monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.pipeline import heap
    from archiver.pipeline.heap import tune_heap

    calls: list[dict[int, int]] = []
    real = heap._mallopt
    monkeypatch.setattr(heap, "_tuned", None)  # as in a fresh process
    monkeypatch.setattr(heap, "_mallopt", lambda settings: calls.append(settings) or real(settings))
    assert tune_heap() is True
    assert tune_heap() is True
    assert calls == [{heap.M_MMAP_THRESHOLD: heap.MMAP_THRESHOLD, heap.M_TRIM_THRESHOLD: heap.TRIM_THRESHOLD}]
