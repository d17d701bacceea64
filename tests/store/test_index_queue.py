"""Queued index rows: committed in batches, yet read back at once through the same Index."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import timedelta, timezone
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


def test_latest_captures_answers_as_latest_capture_does_for_each_url(tmp_path: Path) -> None:
    with Index(tmp_path / "index.sqlite3") as index:
        index.add_captures(
            [
                baseline("a-old", 0, "http://a.test/"),
                baseline("a-new", 5, "http://a.test/"),
                full_capture("a-partial", url="http://a.test/", minutes=9),  # truncated: never a baseline
                baseline("b", 1, "http://b.test/"),  # also found as http://b.test/final
                full_capture("c-failed", url="http://c.test/", minutes=2, truncated=None, status=None),
            ]
            + [baseline(f"many{n}", n, f"http://many.test/{n}") for n in range(600)]  # more than one statement
        )
        index.queue_capture(baseline("b-queued", 7, "http://b.test/"))  # newer, not committed
        urls = ["http://a.test/", "http://b.test/", "http://b.test/final", "http://c.test/", "http://none.test/"]
        urls += [f"http://many.test/{n}" for n in range(600)] + ["http://a.test/"]  # a repeat
        batch = index.latest_captures(urls)
        assert list(batch) == list(dict.fromkeys(urls))
        assert {url: None if c is None else c.id for url, c in batch.items() if "many" not in url} == {
            "http://a.test/": "a-new",
            "http://b.test/": "b-queued",
            "http://b.test/final": "b-queued",
            "http://c.test/": None,
            "http://none.test/": None,
        }
        assert batch == {url: index.latest_capture(url) for url in urls}
        assert index.pending == 1  # reading baselines commits nothing


def test_prefetched_baselines_answer_once_without_a_query(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    with Index(path) as index:
        index.add_captures([baseline("a", 0, "http://a.test/"), baseline("b", 0, "http://b.test/")])
        statements: list[str] = []
        index._db.set_trace_callback(statements.append)
        index.prefetch_latest(["http://a.test/", "http://b.test/", "http://new.test/"])
        assert len(statements) == 1
        index.queue_capture(baseline("a2", 3, "http://a.test/"))  # queued after the read-ahead: it wins
        assert [index.latest_capture(u) for u in ("http://b.test/", "http://new.test/")] == [
            baseline("b", 0, "http://b.test/"),
            None,
        ]
        latest = index.latest_capture("http://a.test/")
        assert latest is not None and latest.id == "a2"
        assert len(statements) == 1  # all three answered from the read-ahead
        assert index.latest_capture("http://b.test/") == baseline("b", 0, "http://b.test/")
        assert len(statements) == 2  # used once: the second time is a query again

        index.prefetch_latest(["http://b.test/"])
        index.add_capture(baseline("b2", 4, "http://b.test/"))  # bypasses the queue: the read-ahead is dropped
        again = index.latest_capture("http://b.test/")
        assert again is not None and again.id == "b2"
        index._db.set_trace_callback(None)


def test_queued_baselines_are_ordered_by_instant_then_id_whatever_their_zone(tmp_path: Path) -> None:
    east = timezone(timedelta(hours=2))
    utc = baseline("z-utc", 0)
    same_instant = dataclasses.replace(baseline("a-east", 0), fetched_at=utc.fetched_at.astimezone(east))
    with Index(tmp_path / "index.sqlite3") as index:
        index.queue_capture(utc)
        index.queue_capture(same_instant)  # later on the wall clock of its zone, the same instant
        latest = index.latest_capture("http://a.test/")
        assert latest is not None and latest.id == "z-utc"  # the same instant: the larger id, as ORDER BY says
        second_later = same_instant.fetched_at + timedelta(seconds=1)
        later = dataclasses.replace(same_instant, id="a-later", fetched_at=second_later)
        index.queue_capture(later)
        assert index.latest_capture("http://a.test/") == later
        index.flush()
        assert index.latest_capture("http://a.test/") == later  # the committed rows sort the same way
