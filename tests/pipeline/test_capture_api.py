"""The one-call Python API: `archiver.capture(urls, config) -> list[Capture]`."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

import archiver
import archiver.pipeline.capture
from archiver.config import Config
from archiver.models import ErrorKind


def test_capture_is_callable_from_the_package(httpserver: HTTPServer, config: Config) -> None:
    httpserver.expect_request("/page").respond_with_data("<title>T</title><p>hello</p>", content_type="text/html")
    captures = archiver.capture([httpserver.url_for("/page"), "ftp://example.com/"], config)
    page, refused = captures
    assert page.status == 200 and page.title == "T" and page.warc is not None
    assert (config.archive_dir / page.warc.file).is_file()
    assert refused.error is not None and refused.error.kind is ErrorKind.INVALID_URL


def test_a_sealed_warc_never_has_uncommitted_index_rows(
    httpserver: HTTPServer, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recovery repairs only .open files, so a file gets its final name only after the index rows of
    its captures are committed: a crash right after a rollover loses no row."""
    import asyncio
    import dataclasses
    import sqlite3

    from archiver.pipeline.capture import CaptureEngine

    monkeypatch.setattr(archiver.pipeline.capture, "INDEX_FLUSH_SECONDS", 3600.0)  # only sealing commits now
    httpserver.expect_request("/p").respond_with_data("<p>" + "x" * 3000 + "</p>", content_type="text/html")
    small = dataclasses.replace(config, warc_max_bytes=4000)  # every capture rolls the file over

    async def scenario() -> dict[str, int]:
        async with CaptureEngine(small) as engine:
            for _ in range(4):
                await engine.capture(httpserver.url_for("/p"))
            sealed = sorted(p.name for p in (small.archive_dir / "warcs").glob("*.warc.gz"))
            assert len(sealed) >= 3
            # What another process would see now, if this one were killed.
            with sqlite3.connect(small.archive_dir / "index.sqlite3") as db:
                rows = dict(db.execute("SELECT warc_file, count(*) FROM captures GROUP BY warc_file").fetchall())
            return {name: rows.get(f"warcs/{name}", 0) for name in sealed}

    committed = asyncio.run(scenario())
    assert all(count >= 1 for count in committed.values()), committed


def test_a_capture_lost_to_recovery_is_said_at_once(config: Config, caplog: pytest.LogCaptureFixture) -> None:
    """`fetch` and `run` recover the archive first: an indexed capture it must drop is a loss, said on stderr."""
    import asyncio
    import logging

    from archiver.models import ArchivePaths, WarcLocation
    from archiver.pipeline.capture import CaptureEngine
    from archiver.store.index import Index
    from tests.store.test_index import full_capture

    paths = ArchivePaths(config.archive_dir)
    paths.warcs.mkdir(parents=True)
    (paths.warcs / "archiver-broken.warc.gz.open").write_bytes(b"\x1f\x8b\x08" + b"\x00" * 47)
    with Index(paths.index) as index:
        index.add_capture(full_capture("lost", warc=WarcLocation("warcs/archiver-broken.warc.gz", 0, 10)))

    async def open_and_close() -> list[str]:
        async with CaptureEngine(config) as engine:
            return engine.recovery_notes

    with caplog.at_level(logging.WARNING, logger="archiver"):
        notes = asyncio.run(open_and_close())
    assert notes and "lost" in notes[0]
    assert any("recovery dropped indexed capture lost" in r.getMessage() for r in caplog.records)


def test_capture_ids_are_distinct_uuid4_and_a_forked_child_draws_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import uuid

    ids = archiver.pipeline.capture._RandomIds()
    drawn = [ids() for _ in range(3000)]  # more than one pool of 256
    assert len(set(drawn)) == len(drawn)
    for value in drawn:
        parsed = uuid.UUID(hex=value)
        assert parsed.hex == value and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    before = ids()
    parent = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: parent + 1)  # what a fork looks like to the pool
    pools: list[int] = []
    real = os.urandom
    monkeypatch.setattr(os, "urandom", lambda n: pools.append(n) or real(n))
    after = ids()
    assert pools == [16 * 256], "the child refilled instead of reusing the parent's bytes"
    assert after != before
