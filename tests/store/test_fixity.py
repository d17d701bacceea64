"""The fixity audit: broken files (tests/fixtures/warc, named for their case) and damaged archives."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import importlib.util
import os
import shutil
import time
from pathlib import Path

import pytest

from archiver.models import ArchivePaths, WarcLocation
from archiver.store.fixity import ProblemKind, verify, verify_file
from archiver.store.index import Index
from archiver.store.recovery import MANIFEST_NAME
from archiver.warc.digests import MalformedDigestError, UnknownAlgorithmError, parse_digest
from archiver.warc.scan import iter_records, warc_files
from tests.conftest import shared_file
from tests.store.test_warcfiles import make_store, store_page, warcio_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "warc"


def _fixture_maker():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKER = _fixture_maker()


def kinds(path: Path) -> list[tuple[ProblemKind, int | None]]:
    return [(p.kind, p.offset) for p in verify_file(path, path.name).problems]


def test_fixtures_are_what_the_generator_makes() -> None:
    for name, data in MAKER.build().items():
        assert (FIXTURES / name).read_bytes() == data, f"{name} is stale: run make_fixtures.py"


@pytest.mark.parametrize(
    "digest",
    [
        "sha1:" + "B" * 32,  # base32
        "SHA-1:" + "b" * 32,  # base32, lower case, dashed label
        "sha1:" + "0123456789abcdef" * 2 + "01234567",  # 40 hex (warcprox)
        "sha256:" + "ab" * 32,
        "sha256:" + "A" * 52,  # base32 without padding
    ],
)
def test_digest_forms_accepted(digest: str) -> None:
    parsed = parse_digest(digest)
    assert len(parsed.value) == (20 if parsed.algorithm == "sha1" else 32)


@pytest.mark.parametrize("digest", ["sha1:AB2CD3EF4GH5IJ6KL7MN8OPQ", "sha1:", "sha256", "sha256:" + "g" * 64])
def test_malformed_digests_rejected(digest: str) -> None:
    with pytest.raises(MalformedDigestError):
        parse_digest(digest)


def test_unknown_algorithm_is_not_silently_passed() -> None:
    with pytest.raises(UnknownAlgorithmError):
        parse_digest("whirlpool:" + "0" * 128)
    assert kinds(FIXTURES / "digest-unknown-algorithm.warc") == [(ProblemKind.UNCHECKED_DIGEST, 0)]


def test_every_digest_form_verifies_in_a_file() -> None:
    assert kinds(FIXTURES / "digest-forms.warc") == []
    assert len(list(iter_records(FIXTURES / "digest-forms.warc"))) == 4
    assert kinds(FIXTURES / "digest-malformed.warc") == [(ProblemKind.MALFORMED_DIGEST, 0)]


def test_truncated_warc_fails_where_warcio_check_passes() -> None:
    path = FIXTURES / "truncated-mid-record.warc"
    assert warcio_cli("check", str(path)).returncode == 0  # the hazard (reliability.md §0.2)
    assert kinds(path) == [(ProblemKind.TRUNCATED, MAKER.offsets_of(path.name)[2])]
    gz = FIXTURES / "truncated-mid-member.warc.gz"
    assert warcio_cli("check", str(gz)).returncode == 0
    assert kinds(gz) == [(ProblemKind.TRUNCATED, MAKER.offsets_of(gz.name)[2])]


def test_changed_byte_and_flipped_bit_found_by_record() -> None:
    changed = kinds(FIXTURES / "changed-byte.warc")
    second = MAKER.offsets_of("changed-byte.warc")[1]
    assert changed == [(ProblemKind.DIGEST_MISMATCH, second)] * 2  # block and payload
    flipped = FIXTURES / "flipped-bit.warc.gz"
    assert kinds(flipped) == [(ProblemKind.CORRUPT_RECORD, MAKER.offsets_of(flipped.name)[1])]
    # The reader resynchronises on the next gzip member: the third record is still checked.
    assert sorted(verify_file(flipped, "x").records) == [0, MAKER.offsets_of(flipped.name)[2]]


def test_other_tools_warc_verifies_clean() -> None:
    path = shared_file("interop/perma-example.com.warc.gz")
    assert kinds(path) == []
    assert [r.type for r in iter_records(path)] == ["warcinfo", "response", "request", "response", "request"]


def _archive(root: Path, pages: int = 4) -> list:  # type: ignore[type-arg]
    with make_store(root, max_bytes=9000) as store:
        stored = [store_page(store, f"http://a.test/{i}", os.urandom(2500), f"p{i}") for i in range(pages)]
    with Index(ArchivePaths(root).index) as index:
        for capture in stored:
            index.add_capture(capture)
    return stored


def test_clean_archive_passes(archive_dir: Path) -> None:
    stored = _archive(archive_dir)
    with Index(archive_dir / "index.sqlite3") as index:
        report = verify(ArchivePaths(archive_dir), index)
    assert report.ok, report.problems
    assert report.files_checked == len(warc_files(archive_dir / "warcs")) >= 2
    assert report.records_checked == report.files_checked + 3 * len(stored)


def test_bit_rot_in_closed_warc_gz_and_warc(archive_dir: Path) -> None:
    stored = _archive(archive_dir)
    paths = ArchivePaths(archive_dir)
    target = stored[1].warc
    gz_path = archive_dir / target.file
    data = bytearray(gz_path.read_bytes())
    data[target.offset + target.length // 2] ^= 0x01
    gz_path.write_bytes(bytes(data))
    # A plain .warc in the archive (another tool's, listed in the manifest), one byte changed.
    plain = paths.warcs / "other-tool.warc"
    plain.write_bytes(gzip.decompress((FIXTURES / "clean-three-records.warc.gz").read_bytes()))
    with (paths.warcs / MANIFEST_NAME).open("a") as fh:
        fh.write(f"{hashlib.sha256(plain.read_bytes()).hexdigest()}  other-tool.warc\n")
    raw = bytearray(plain.read_bytes())
    second = MAKER.offsets_of("clean-three-records.warc")[1]
    raw[second + raw[second:].index(b"quick")] = ord("Q")
    plain.write_bytes(bytes(raw))
    with Index(paths.index) as index:
        report = verify(paths, index)
    assert not report.ok
    found = {(p.kind, p.file, p.offset) for p in report.problems}
    assert (ProblemKind.CORRUPT_RECORD, target.file, target.offset) in found
    assert (ProblemKind.MANIFEST_MISMATCH, target.file, None) in found
    assert (ProblemKind.DIGEST_MISMATCH, "warcs/other-tool.warc", second) in found
    assert (ProblemKind.MANIFEST_MISMATCH, "warcs/other-tool.warc", None) in found
    # The index row of the damaged record now points at nothing verifiable.
    assert (ProblemKind.MISSING_RECORD, target.file, target.offset) in found


def test_index_and_files_checked_against_each_other(archive_dir: Path) -> None:
    stored = _archive(archive_dir)
    paths = ArchivePaths(archive_dir)
    first, last = stored[0], stored[-1]
    assert first.warc.file != last.warc.file
    with Index(paths.index) as index:
        moved = WarcLocation(first.warc.file, first.warc.offset + 1, first.warc.length)
        index.add_capture(dataclasses.replace(first, warc=moved))
        index.add_capture(dataclasses.replace(stored[1], id="ghost", warc=WarcLocation("warcs/gone.warc.gz", 0, 10)))
        index.remove_captures_in(last.warc.file)
        shutil.copyfile(archive_dir / first.warc.file, paths.warcs / "stray.warc.gz")
        with (paths.warcs / MANIFEST_NAME).open("a") as fh:
            fh.write(f"{'0' * 64}  deleted.warc.gz\n")
        shutil.copyfile(archive_dir / first.warc.file, paths.warcs / "left-over.warc.gz.open")  # no writer holds it
        with make_store(archive_dir) as live:
            store_page(live, "http://a.test/live", b"live", "live")
            assert live.current_file is not None
            live_name = live.current_file.name
            report = verify(paths, index)
    found = {(p.kind, p.file, p.offset) for p in report.problems}
    # The live writer's file is neither unfinished nor is its capture (queued, not yet indexed) a problem.
    assert live_name.endswith(".open") and not any(live_name in p.file for p in report.problems)
    assert (ProblemKind.MISSING_RECORD, first.warc.file, first.warc.offset + 1) in found
    assert (ProblemKind.MISSING_FILE, "warcs/gone.warc.gz", None) in found
    assert (ProblemKind.MISSING_FILE, "warcs/deleted.warc.gz", None) in found
    assert (ProblemKind.ORPHAN_FILE, "warcs/stray.warc.gz", None) in found
    assert (ProblemKind.UNINDEXED_CAPTURE, last.warc.file, last.warc.offset) in found
    assert (ProblemKind.UNFINISHED_FILE, "warcs/left-over.warc.gz.open", None) in found
    assert len(report.problems) == 6, report.problems


def test_revisits_are_audited_against_their_own_record(archive_dir: Path) -> None:
    """A revisit's capture gets its place and digest from the revisit record; both are cross-checked."""
    paths = ArchivePaths(archive_dir)
    body = b"<p>same every night</p>"
    with make_store(archive_dir) as store:
        first = store_page(store, "http://a.test/", body, "n1")
        second = store_page(store, "http://a.test/", body, "n2", revisit_of=first)
        third = store_page(store, "http://a.test/", body, "n3", revisit_of=second)
    assert second.warc is not None and third.warc is not None
    (path,) = warc_files(paths.warcs)
    audit = verify_file(path, "x")
    assert audit.captures == (first, second, third)  # whole, as the store returned them
    with Index(paths.index) as index:
        index.add_captures([first, second])  # n3 left out of the index
        index.add_capture(dataclasses.replace(second, id="wrong", payload_sha256="00" * 32))
        report = verify(paths, index)
    found = {(p.kind, p.offset) for p in report.problems}
    assert found == {
        (ProblemKind.UNINDEXED_CAPTURE, third.warc.offset),
        (ProblemKind.MISSING_RECORD, second.warc.offset),
    }
    (wrong,) = [p for p in report.problems if p.kind is ProblemKind.MISSING_RECORD]
    assert "wrong" in wrong.message and "declares sha256:" in wrong.message


def test_a_file_a_writer_is_just_creating_is_not_unfinished(archive_dir: Path) -> None:
    """Created (O_EXCL) but not yet locked: empty and recent, as recovery reads it too."""
    _archive(archive_dir)
    paths = ArchivePaths(archive_dir)
    starting = paths.warcs / "archiver-starting.warc.gz.open"
    starting.touch()
    with Index(paths.index) as index:
        assert verify(paths, index).ok
        old = time.time() - 120
        os.utime(starting, (old, old))  # a minute on, still empty: left over by a crash
        found = {(p.kind, p.file) for p in verify(paths, index).problems}
    assert found == {(ProblemKind.UNFINISHED_FILE, "warcs/archiver-starting.warc.gz.open")}
