"""The SQLite index: migrations, capture rows, lookups, and the rebuild from WARCs alone."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from archiver.errors import StoreError, UnknownCaptureError
from archiver.models import ArchivePaths, Capture, ErrorKind, Failure, Hop, PageKind, Truncation, WarcLocation
from archiver.store.index import Index, rebuild_index
from archiver.store.rows import BY_URL as _BY_URL
from archiver.store.rows import COLUMNS, capture_row
from archiver.store.rows import SELECT as _SELECT
from archiver.store.schema import MIGRATIONS, Migration
from tests.store.test_warcfiles import T0, capture_for, exchange, make_store, outcome, store_page


def full_capture(capture_id: str, url: str = "http://a.test/", minutes: int = 0, **changes: object) -> Capture:
    base = Capture(
        id=capture_id,
        url=url,
        final_url=url + "final",
        status=200,
        redirects=(Hop(url, 301, url + "final"),),
        fetched_at=T0 + timedelta(minutes=minutes),
        content_type="text/html; charset=gb2312",
        payload_sha256="ab" * 32,
        payload_size=1234,
        text_sha256="cd" * 32,
        title="标题",
        warc=WarcLocation("warcs/x.warc.gz", 100, 200),
        error=None,
        truncated=Truncation.TIME,
        ip_address="127.0.0.1",
        encoding="gb18030",
        text_error=None,
        revisit_of="earlier",
        elapsed_ms=17,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_every_capture_field_round_trips(tmp_path: Path) -> None:
    failed = full_capture(
        "f", status=None, final_url=None, warc=None, error=Failure(ErrorKind.TLS, "expired"), redirects=()
    )
    with Index(tmp_path / "index.sqlite3") as index:
        index.add_capture(full_capture("c"))
        index.add_capture(failed)
        assert index.get_capture("c") == full_capture("c")
        assert index.get_capture("f") == failed
        assert index.count() == 2
    with Index(tmp_path / "index.sqlite3") as index:  # persisted
        assert index.get_capture("c") == full_capture("c")


def test_migrations_applied_once_and_recorded(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    with Index(path) as index:
        assert index.applied_migrations() == [m.name for m in MIGRATIONS]
        assert index.migrate(MIGRATIONS) == []  # nothing left to do
    extra = Migration("0002_notes", ("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)",))
    with Index(path, migrations=[*MIGRATIONS, extra]) as index:
        assert index.applied_migrations() == [*(m.name for m in MIGRATIONS), "0002_notes"]
    with Index(path, migrations=[*MIGRATIONS, extra]) as index:
        assert index.applied_migrations().count("0002_notes") == 1
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM migrations").fetchone()[0] == len(MIGRATIONS) + 1
    finally:
        db.close()


def test_a_failing_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    broken = Migration("0002_broken", ("CREATE TABLE half (id INTEGER)", "CREATE TABLE half (id INTEGER)"))
    with pytest.raises(StoreError, match="0002_broken"):
        Index(path, migrations=[*MIGRATIONS, broken])

    def python_step(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE other (id INTEGER)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        Index(path, migrations=[*MIGRATIONS, Migration("0002_python", python_step)])
    with Index(path) as index:
        assert index.applied_migrations() == [m.name for m in MIGRATIONS]
        tables = {r[0] for r in index.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "half" not in tables and "other" not in tables


def test_get_capture_by_prefix_with_clear_errors(tmp_path: Path) -> None:
    with Index(tmp_path / "index.sqlite3") as index:
        index.add_captures([full_capture("abc123"), full_capture("abd456"), full_capture("a_c")])
        assert index.get_capture("abc").id == "abc123"
        assert index.get_capture("a_").id == "a_c"  # LIKE wildcards are escaped
        with pytest.raises(UnknownCaptureError, match="ambiguous") as ambiguous:
            index.get_capture("ab")
        assert ambiguous.value.matches == ("abc123", "abd456")
        with pytest.raises(UnknownCaptureError, match="no capture"):
            index.get_capture("zzz")


def test_history_and_latest_capture(tmp_path: Path) -> None:
    url = "http://a.test/page"
    with Index(tmp_path / "index.sqlite3") as index:
        index.add_captures(
            [
                full_capture("old", url, 0, truncated=None),
                full_capture("mid", url, 10, truncated=None, final_url="http://a.test/elsewhere"),
                full_capture("failed", url, 20, error=Failure(ErrorKind.TIMEOUT, "slow"), warc=None, status=None),
                full_capture("cut", url, 30, truncated=Truncation.LENGTH),
                full_capture("via", "http://b.test/", 40, final_url=url, truncated=None),
                full_capture("other", "http://c.test/", 50),
            ]
        )
        assert [c.id for c in index.history(url)] == ["via", "cut", "failed", "mid", "old"]
        latest = index.latest_capture(url)
        assert latest is not None and latest.id == "via"
        assert index.latest_capture("http://a.test/elsewhere").id == "mid"  # type: ignore[union-attr]
        assert index.latest_capture("http://nothing.test/") is None


def test_remove_and_sync_file(tmp_path: Path) -> None:
    with Index(tmp_path / "index.sqlite3") as index:
        in_a = [full_capture(f"a{i}", warc=WarcLocation("warcs/a.warc.gz", i * 100, 50)) for i in range(3)]
        index.add_captures([*in_a, full_capture("b", warc=WarcLocation("warcs/b.warc.gz", 0, 5))])
        index.sync_file("warcs/a.warc.gz", in_a[:2])
        assert [c.id for c in index.captures_in("warcs/a.warc.gz")] == ["a0", "a1"]
        assert len(index.remove_captures_in("warcs/a.warc.gz")) == 2
        assert [c.id for c in index.all_captures()] == ["b"]


def test_rebuild_equals_the_original(archive_dir: Path) -> None:
    paths = ArchivePaths(archive_dir)
    with make_store(archive_dir, max_bytes=12_000) as store, Index(paths.index) as index:
        first = store_page(store, "http://a.test/", b"<p>one</p>", "r01")
        index.add_capture(first)
        index.add_capture(store_page(store, "http://a.test/", b"<p>one</p>", "r02", revisit_of=first))
        for number in range(3, 9):
            index.add_capture(store_page(store, f"http://a.test/{number}", os.urandom(2000), f"r{number:02d}"))
        hops = (
            exchange("http://a.test/r", b"", (("Location", "/x"),), status=302, reason="Found"),
            exchange("http://a.test/x", b"x", truncated=Truncation.LENGTH),
        )
        with outcome("http://a.test/r", *hops) as result:
            index.add_capture(store.write(result, capture_for(result, "r09")))
        with outcome("http://bad.invalid/", failure=Failure(ErrorKind.DNS, "no such host")) as result:
            index.add_capture(store.write(result, capture_for(result, "r10")))
        original = index.all_captures()
        rows = index.query("SELECT * FROM captures ORDER BY id")
        original_rows = [tuple(r) for r in rows]
    assert len(original) == 10
    rebuilt = rebuild_index(paths)
    try:
        assert rebuilt.all_captures() == original
        assert [tuple(r) for r in rebuilt.query("SELECT * FROM captures ORDER BY id")] == original_rows
        assert rebuilt.applied_migrations() == [m.name for m in MIGRATIONS]
    finally:
        rebuilt.close()
    assert not list(archive_dir.glob(".index.sqlite3.rebuild-*"))


def test_rebuild_replaces_a_damaged_index(archive_dir: Path) -> None:
    paths = ArchivePaths(archive_dir)
    with make_store(archive_dir) as store:
        stored = store_page(store, "http://a.test/", b"page", "only")
    archive_dir.joinpath("index.sqlite3").write_bytes(b"this is not a database")
    with rebuild_index(paths) as index:
        assert index.all_captures() == [stored]


def test_apply_recovery_makes_the_index_match_the_recovered_files(archive_dir: Path, tmp_path: Path) -> None:
    source = make_store(tmp_path / "source")
    stored = [store_page(source, f"http://a.test/{i}", os.urandom(1000), f"k{i}") for i in range(3)]
    open_file = source.current_file
    assert open_file is not None
    data = open_file.read_bytes()
    source.close()
    (archive_dir / "warcs").mkdir(parents=True)
    (archive_dir / "warcs" / open_file.name).write_bytes(data[:-40])  # k2's metadata record cut
    (archive_dir / "warcs" / "archiver-broken.warc.gz.open").write_bytes(data[:50])
    paths = ArchivePaths(archive_dir)
    with Index(paths.index) as index:
        # As after a power loss: rows for all three, and one for a file that recovery finds unusable.
        index.add_captures(stored)
        index.add_capture(full_capture("lost", warc=WarcLocation("warcs/archiver-broken.warc.gz", 0, 10)))
        report = make_store(archive_dir).recover()
        assert sorted(f.valid for f in report.files) == [False, True]
        lines = index.apply_recovery(report)
        assert [c.id for c in index.all_captures()] == ["k0", "k1"]
        # Each indexed capture recovery could not keep is said, with its file (issue 11).
        assert sorted(line.split()[4] for line in lines) == ["k2", "lost"]
        assert all(line.startswith("recovery dropped indexed capture ") for line in lines)
    with rebuild_index(paths) as rebuilt:
        assert [c.id for c in rebuilt.all_captures()] == ["k0", "k1"]


def _plan(index: Index, sql: str, params: tuple[object, ...]) -> str:
    return " | ".join(str(r[3]) for r in index.query(f"EXPLAIN QUERY PLAN {sql}", params))


def test_lookups_use_the_lean_indexes_and_nothing_else_is_indexed(tmp_path: Path) -> None:
    """0004: (url) and a partial (final_url) where it differs; the payload/warc_file indexes are gone."""
    with Index(tmp_path / "index.sqlite3") as index:
        index.add_captures([full_capture(f"c{i}", f"http://a.test/{i}", i) for i in range(50)])
        names = {r[0] for r in index.query("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
        assert {n for n in names if n.startswith("captures")} == {"captures_by_url", "captures_redirected"}
        index.query("ANALYZE")
        plan = _plan(index, f"{_SELECT} WHERE {_BY_URL} ORDER BY fetched_at DESC", ("u", "u"))
        assert "captures_by_url (url=?)" in plan and "captures_redirected (final_url=?)" in plan, plan
        assert "SCAN captures" not in plan
        partial = index.query("SELECT sql FROM sqlite_master WHERE name = 'captures_redirected'")[0][0]
        assert "WHERE final_url <> url" in partial


def test_redirected_and_unredirected_captures_are_found_by_either_url(tmp_path: Path) -> None:
    """The partial index holds only redirected rows; the query must still find every capture."""
    with Index(tmp_path / "index.sqlite3") as index:
        index.add_captures(
            [
                full_capture("same", "http://a.test/", 0, final_url="http://a.test/", truncated=None),
                full_capture("moved", "http://old.test/", 1, final_url="http://a.test/", truncated=None),
                full_capture("away", "http://a.test/", 2, final_url="http://b.test/", truncated=None),
                full_capture("failed", "http://a.test/", 3, final_url=None, status=None, warc=None),
            ]
        )
        assert [c.id for c in index.history("http://a.test/")] == ["failed", "away", "moved", "same"]
        assert [c.id for c in index.history("http://b.test/")] == ["away"]
        assert [c.id for c in index.history("http://old.test/")] == ["moved"]
        assert index.latest_capture("http://a.test/").id == "away"  # type: ignore[union-attr]
        partial = "SELECT id FROM captures INDEXED BY captures_redirected WHERE final_url = ? AND final_url <> url"
        assert [r[0] for r in index.query(partial, ("http://a.test/",))] == ["moved"]  # "same" is not in it


def test_an_index_made_before_0004_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    with Index(path, migrations=MIGRATIONS[:3]) as old:
        # Rows as the code of that time wrote them: without the page-kind columns of 0005.
        old_columns = COLUMNS[:-2]
        insert = f"INSERT INTO captures ({', '.join(old_columns)}) VALUES ({', '.join('?' * len(old_columns))})"
        with old.transaction() as db:
            db.executemany(
                insert,
                [
                    capture_row(full_capture("a", "http://a.test/", 0))[:-2],
                    capture_row(full_capture("b", "http://b.test/", 1))[:-2],
                ],
            )
        assert old.applied_migrations() == [m.name for m in MIGRATIONS[:3]]
    with Index(path) as index:
        assert index.applied_migrations()[-2:] == ["0004_lean_capture_indexes", "0005_capture_page_kind"]
        assert [c.id for c in index.history("http://a.test/final")] == ["a"]
        assert index.get_capture("b") == full_capture("b", "http://b.test/", 1)


def test_digests_are_stored_as_bytes_and_read_back_as_hex(tmp_path: Path) -> None:
    odd = full_capture("odd", payload_sha256="AB" * 32, text_sha256="not-hex")  # kept as given
    with Index(tmp_path / "index.sqlite3") as index:
        index.add_captures([full_capture("c"), odd])
        row = index.query("SELECT payload_sha256, text_sha256 FROM captures WHERE id = 'c'")[0]
        assert bytes(row[0]) == bytes.fromhex("ab" * 32) and len(row[1]) == 32
        assert index.get_capture("c") == full_capture("c")
        assert index.get_capture("odd") == odd
        assert index.query("SELECT typeof(payload_sha256) FROM captures WHERE id = 'odd'")[0][0] == "text"


def test_page_kind_and_evidence_round_trip(tmp_path: Path) -> None:
    wall = full_capture("w", page_kind=PageKind.LOGIN_WALL, page_evidence=("title says 'Sina Visitor System'",))
    with Index(tmp_path / "index.sqlite3") as index:
        index.add_captures([wall, full_capture("c")])
        assert index.get_capture("w") == wall
        assert index.get_capture("c").page_kind is None
