"""The audit of `mirrors/`: real files from Perma (warcprox) and Scoop, tampered copies, chunked digests."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

from archiver.archives.mirrorcheck import audit_mirrors
from archiver.archives.wacz import structure_failures
from archiver.warc.record import ProblemKind
from tests.conftest import shared_file

PERMA_WARC = "interop/perma-example.com.warc.gz"
SCOOP_WACZ = "interop/scoop-example.com.wacz"


def mirrors_with(tmp_path: Path, *files: str) -> Path:
    folder = tmp_path / "archive" / "mirrors" / "perma"
    folder.mkdir(parents=True)
    for name in files:
        shutil.copy(shared_file(name), folder / Path(name).name)
    return tmp_path / "archive"


def audit(root: Path, recorded: dict[str, str] | None = None) -> list[tuple[ProblemKind, str, str]]:
    report = audit_mirrors(root, root / "mirrors", recorded or {})
    return [(p.kind, p.file, p.message) for p in report.problems]


def rezip(source: Path, target: Path, change: dict[str, bytes | None]) -> None:
    """`source` rewritten with members replaced (or dropped, for None), CRCs recomputed as zip tools do."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = change.get(info.filename, old.read(info.filename))
            if data is not None:
                new.writestr(info, data)


def test_the_interop_files_verify_clean_with_their_recorded_hashes(tmp_path: Path) -> None:
    root = mirrors_with(tmp_path, PERMA_WARC, SCOOP_WACZ)
    recorded = {
        f"mirrors/perma/{Path(n).name}": hashlib.sha256(shared_file(n).read_bytes()).hexdigest()
        for n in (PERMA_WARC, SCOOP_WACZ)
    }
    report = audit_mirrors(root, root / "mirrors", recorded)
    assert report.problems == ()
    assert report.files == 2 and report.records == 10  # 5 in the Perma WARC, 5 in the Scoop WACZ's data.warc


def test_a_flipped_byte_in_a_downloaded_warc_is_found(tmp_path: Path) -> None:
    root = mirrors_with(tmp_path, PERMA_WARC)
    path = root / "mirrors" / "perma" / "perma-example.com.warc.gz"
    original = hashlib.sha256(path.read_bytes()).hexdigest()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    found = audit(root, {"mirrors/perma/perma-example.com.warc.gz": original})
    kinds = {kind for kind, _, _ in found}
    assert ProblemKind.MANIFEST_MISMATCH in kinds  # the index's sha256 from the download
    assert kinds & {ProblemKind.CORRUPT_RECORD, ProblemKind.DIGEST_MISMATCH}  # and the record itself


def test_a_byte_changed_inside_a_wacz_is_found_by_hash_and_by_digest(tmp_path: Path) -> None:
    root = mirrors_with(tmp_path, SCOOP_WACZ)
    path = root / "mirrors" / "perma" / "scoop-example.com.wacz"
    with zipfile.ZipFile(path) as archive:
        warc = archive.read("archive/data.warc")
    at = warc.index(b"\x89PNG") + 100  # inside the screenshot's payload
    tampered = warc[:at] + bytes([warc[at] ^ 0x01]) + warc[at + 1 :]
    rezip(shared_file(SCOOP_WACZ), path, {"archive/data.warc": tampered})
    found = audit(root)
    assert any(k is ProblemKind.INVALID_PACKAGE and "archive/data.warc hash mismatch" in m for k, _, m in found)
    assert any(
        k is ProblemKind.DIGEST_MISMATCH and f == "mirrors/perma/scoop-example.com.wacz#archive/data.warc"
        for k, f, _ in found
    )


def test_a_raw_flipped_byte_in_a_wacz_is_reported_not_raised(tmp_path: Path) -> None:
    root = mirrors_with(tmp_path, SCOOP_WACZ)
    path = root / "mirrors" / "perma" / "scoop-example.com.wacz"
    data = bytearray(path.read_bytes())
    data[data.index(b"\x89PNG") + 100] ^= 0x01  # inside the stored data.warc: the zip CRC no longer holds
    path.write_bytes(bytes(data))
    found = audit(root)
    assert found and all(f.startswith("mirrors/perma/scoop-example.com.wacz") for _, f, _ in found)
    assert any("CRC" in m for _, _, m in found)


def _chunked_record(digest_over: str) -> bytes:
    body = b"<p>one</p><p>two</p>"
    framed = b"a\r\n<p>one</p>\r\na\r\n<p>two</p>\r\n0\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
    covered = {"framed": framed, "dechunked": body, "other": b"something else"}[digest_over]
    fields = [
        ("WARC-Type", "response"),
        ("WARC-Record-ID", "<urn:uuid:00000000-0000-0000-0000-000000000001>"),
        ("WARC-Date", "2023-02-19T00:49:59Z"),
        ("WARC-Target-URI", "https://example.com/"),
        ("Content-Type", "application/http; msgtype=response"),
        ("WARC-Block-Digest", "sha256:" + hashlib.sha256(head + framed).hexdigest()),
        ("WARC-Payload-Digest", "sha256:" + hashlib.sha256(covered).hexdigest()),
        ("Content-Length", str(len(head + framed))),
    ]
    warc_head = "WARC/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n"
    return warc_head.encode() + head + framed + b"\r\n\r\n"


def test_chunked_payload_digests_honour_either_convention(tmp_path: Path) -> None:
    """Scoop and warcprox digest the chunked body as sent; warcio-based tools the de-chunked one."""
    folder = tmp_path / "archive" / "mirrors"
    folder.mkdir(parents=True)
    for convention in ("framed", "dechunked", "other"):
        (folder / f"{convention}.warc").write_bytes(_chunked_record(convention))
    found = audit(tmp_path / "archive")
    assert [(k, f) for k, f, _ in found] == [(ProblemKind.DIGEST_MISMATCH, "mirrors/other.warc")]


def test_structure_failures_are_what_wacz_validate_rejects(tmp_path: Path) -> None:
    source = shared_file(SCOOP_WACZ)
    with zipfile.ZipFile(source) as archive:
        package = json.loads(archive.read("datapackage.json"))
        assert structure_failures(archive, package) == ()
    no_pages = tmp_path / "no-pages.wacz"
    rezip(source, no_pages, {"pages/pages.jsonl": None})
    bad_pages = tmp_path / "bad-pages.wacz"
    rezip(source, bad_pages, {"pages/pages.jsonl": b'{"format": "json-pages-1.0", "id": "pages"}\n{"url": "x"}\n'})
    extra = tmp_path / "extra.wacz"
    rezip(source, extra, {})
    with zipfile.ZipFile(extra, "a") as archive:
        archive.writestr("notes/readme.txt", b"unlisted")
    old_version = tmp_path / "old.wacz"
    rezip(source, old_version, {"datapackage.json": json.dumps(package | {"wacz_version": "1.0.0"}).encode()})
    expected = {
        no_pages: "pages/pages.jsonl is missing",
        bad_pages: "pages/pages.jsonl line 2 lacks ts",
        extra: "not listed in datapackage.json: notes/readme.txt",
        old_version: "wacz_version '1.0.0'",
    }
    for path, words in expected.items():
        with zipfile.ZipFile(path) as archive:
            failures = structure_failures(archive, json.loads(archive.read("datapackage.json")))
        assert any(words in f for f in failures), (path.name, failures)
