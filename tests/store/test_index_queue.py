"""Queued index rows: committed in batches, yet read back at once through the same Index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from archiver.models import Capture, WarcLocation
from archiver.store.index import Index
from tests.store.test_index import full_capture


def committed(path: Path) -> set[str]:
    """IDs another connection (another process) can see."""
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT id FROM captures")}


def baseline(capture_id: str, minutes: int, url: str = "http://a.test/") -> Capture:
    return full_capture(capture_id, url=url, minutes=minutes, truncated=None)


def test_queued_rows_wait_for_flush_but_readers_here_see_them(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    with Index(path) as index:
        index.queue_capture(full_capture("q1"))
        index.queue_capture(full_capture("q2", minutes=1))
        assert index.pending == 2 and committed(path) == set()
        assert {c.id for c in index.history("http://a.test/")} == {"q1", "q2"}  # a read flushes first
        assert index.pending == 0 and committed(path) == {"q1", "q2"}
        index.queue_capture(full_capture("q3", minutes=2))
        assert index.flush() == 1 and committed(path) == {"q1", "q2", "q3"}
        index.queue_capture(full_capture("q4", minutes=3))
    assert committed(path) == {"q1", "q2", "q3", "q4"}  # close commits what is left


def test_latest_capture_sees_queued_rows_without_committing_them(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    with Index(path) as index:
        index.add_capture(baseline("old", 0))
        index.queue_capture(baseline("new", 5))
        index.queue_capture(full_capture("partial", minutes=9))  # truncated: never a baseline
        latest = index.latest_capture("http://a.test/")
        assert latest is not None and latest.id == "new"
        assert index.latest_capture("http://a.test/final") == latest  # found by final URL too
        assert committed(path) == {"old"} and index.pending == 2
        index.queue_capture(baseline("older", -5))
        again = index.latest_capture("http://a.test/")
        assert again is not None and again.id == "new"


def test_a_batch_is_committed_when_the_queue_is_full(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    with Index(path) as index:
        for number in range(Index.QUEUE_LIMIT):
            index.queue_capture(full_capture(f"c{number:04d}", url=f"http://a.test/{number}"))
        assert index.pending == 0 and len(committed(path)) == Index.QUEUE_LIMIT


def test_recovery_sync_drops_queued_baselines_of_a_cut_file(tmp_path: Path) -> None:
    lost = WarcLocation("warcs/cut.warc.gz", 0, 10)
    with Index(tmp_path / "index.sqlite3") as index:
        index.queue_capture(full_capture("gone", truncated=None, warc=lost))
        index.sync_file("warcs/cut.warc.gz", [])
        assert index.latest_capture("http://a.test/") is None and index.count() == 0
