"""Reading downloaded archive files: the two interop files, tampered WACZs, revisits, redirects."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archiver.archives.downloads import ArchiveFileReading, read_archive_file, verify_wacz
from archiver.errors import ArchiveAccessError
from tests.conftest import shared_file

PERMA_WARC = "interop/perma-example.com.warc.gz"
SCOOP_WACZ = "interop/scoop-example.com.wacz"
LIMIT = 16 * 1024 * 1024


def read(path: Path, archive_dir: Path, *urls: str) -> ArchiveFileReading:
    return read_archive_file(path, archive_dir=archive_dir, target_urls=urls, capture_id="c1", max_decoded_bytes=LIMIT)


def record_at(path: Path, offset: int) -> tuple[str, str | None, bytes]:
    """What a plain seek + warcio read finds at a WarcLocation: the index's view of the file."""
    with path.open("rb") as handle:
        handle.seek(offset)
        record = next(iter(ArchiveIterator(handle)))
        return record.rec_type, record.rec_headers.get_header("WARC-Target-URI"), record.raw_stream.read()


def test_perma_warc_primary_record(tmp_path: Path) -> None:
    source = shared_file(PERMA_WARC)
    reading = read_archive_file(
        source, archive_dir=source.parent.parent, target_urls=["http://example.com"], capture_id="c1",
        max_decoded_bytes=LIMIT,
    )  # fmt: skip
    capture = reading.capture
    assert reading.problems == () and not reading.is_wacz
    assert capture is not None
    assert capture.id == "c1"
    assert capture.url == "http://example.com/" and capture.final_url == "http://example.com/"
    assert capture.status == 200 and capture.title == "Example Domain"
    assert capture.fetched_at == datetime(2014, 4, 14, 14, 36, 35, tzinfo=UTC)
    assert capture.warc is not None and capture.warc.file == PERMA_WARC
    rec_type, uri, payload = record_at(source, capture.warc.offset)
    assert (rec_type, uri) == ("response", "http://example.com/")
    # Same payload hash as our own captures: the entity body as stored. warcprox's sha1 agrees.
    body = payload
    assert hashlib.sha256(body).hexdigest() == capture.payload_sha256 and len(body) == capture.payload_size
    assert reading.primary_record is not None
    assert reading.primary_record.payload_digest == "sha1:" + hashlib.sha1(body).hexdigest()
    assert capture.text_sha256 is not None and len(capture.text_sha256) == 64


def test_scoop_wacz_verifies_and_locates_the_page(tmp_path: Path) -> None:
    source = shared_file(SCOOP_WACZ)
    reading = read_archive_file(
        source, archive_dir=source.parent.parent, target_urls=["http://example.com"], capture_id="c2",
        max_decoded_bytes=LIMIT,
    )  # fmt: skip
    capture = reading.capture
    assert reading.is_wacz and reading.problems == ()
    assert reading.main_page_url == "https://example.com/"
    assert capture is not None and capture.url == "https://example.com/" and capture.status == 200
    assert capture.title == "Example Domain"
    # Scoop's own sha256 payload digest covers the gzip-encoded body as stored, as ours does.
    assert capture.payload_sha256 == "8ca01cef09c3a2fd26898c1ff2bcfb5c1fcf8d699509ca2a75014fcdc805126c"
    assert capture.warc is not None and capture.warc.file == SCOOP_WACZ
    rec_type, uri, _ = record_at(source, capture.warc.offset)  # absolute offset inside the stored zip
    assert (rec_type, uri) == ("response", "https://example.com/")


def test_scoop_page_and_plain_text_hash_same_as_perma(tmp_path: Path) -> None:
    perma = shared_file(PERMA_WARC)
    scoop = shared_file(SCOOP_WACZ)
    a = read(perma, tmp_path, "http://example.com/")
    b = read(scoop, tmp_path, "https://example.com/")
    assert a.capture is not None and b.capture is not None
    assert a.capture.title == b.capture.title
    assert a.capture.warc is not None
    assert a.capture.warc.file == perma.as_posix()  # outside the archive folder: the path as given


def rebuild_wacz(source: Path, target: Path, *, replace: dict[str, bytes], compress: bool = False) -> Path:
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for info in original.infolist():
            data = replace.get(info.filename, original.read(info.filename))
            copy.writestr(info.filename, data, zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED)
    return target


def test_tampered_warc_in_wacz_is_reported(tmp_path: Path) -> None:
    source = shared_file(SCOOP_WACZ)
    with zipfile.ZipFile(source) as original:
        warc = original.read("archive/data.warc")
    tampered = warc.replace(b"2023-02-19T00:50:00.527Z", b"2023-02-19T00:50:09.527Z", 1)
    assert tampered != warc
    path = rebuild_wacz(source, tmp_path / "tampered-warc.wacz", replace={"archive/data.warc": tampered})
    reading = read(path, tmp_path, "https://example.com/")
    assert any(p.startswith("archive/data.warc hash mismatch") for p in reading.problems)
    assert reading.capture is not None  # the content is still read: it may be all there is


def test_tampered_datapackage_is_reported(tmp_path: Path) -> None:
    source = shared_file(SCOOP_WACZ)
    with zipfile.ZipFile(source) as original:
        package = json.loads(original.read("datapackage.json"))
    package["resources"][0]["hash"] = "sha256:" + "0" * 64
    package_bytes = json.dumps(package, indent=2).encode()
    path = rebuild_wacz(source, tmp_path / "tampered-datapackage.wacz", replace={"datapackage.json": package_bytes})
    with zipfile.ZipFile(path) as archive:
        problems, _ = verify_wacz(archive)
    assert any(p.startswith("datapackage.json hash mismatch") for p in problems)
    assert any(p.startswith("archive/data.warc hash mismatch") for p in problems)


def test_missing_resource_and_size_mismatch(tmp_path: Path) -> None:
    source = shared_file(SCOOP_WACZ)
    with zipfile.ZipFile(source) as original:
        package = json.loads(original.read("datapackage.json"))
    package["resources"][1]["bytes"] = 1
    package["resources"].append({"name": "gone", "path": "archive/gone.warc", "hash": "sha256:00", "bytes": 2})
    path = rebuild_wacz(
        source, tmp_path / "incomplete.wacz", replace={"datapackage.json": json.dumps(package).encode()}
    )
    with zipfile.ZipFile(path) as archive:
        problems, _ = verify_wacz(archive)
    assert any("size mismatch" in p for p in problems)
    assert any(p.startswith("archive/gone.warc is listed in datapackage.json but missing") for p in problems)


def test_compressed_member_location_names_the_member(tmp_path: Path) -> None:
    source = shared_file(SCOOP_WACZ)
    path = rebuild_wacz(source, tmp_path / "deflated.wacz", replace={}, compress=True)
    reading = read(path, tmp_path, "https://example.com/")
    capture = reading.capture
    assert reading.problems == ()
    assert capture.warc.file == "deflated.wacz#archive/data.warc"
    with zipfile.ZipFile(path) as archive, archive.open("archive/data.warc") as member:
        member.seek(capture.warc.offset)
        assert next(iter(ArchiveIterator(member))).rec_headers.get_header("WARC-Target-URI") == "https://example.com/"


def write_warc(path: Path, records: list[tuple[str, str, int, list[tuple[str, str]], bytes, dict[str, str]]]) -> None:
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        for rec_type, uri, status, headers, body, extra in records:
            http = StatusAndHeaders(f"{status} X", headers, protocol="HTTP/1.1")
            record = writer.create_warc_record(
                uri, rec_type, payload=io.BytesIO(body), length=len(body), http_headers=http, warc_headers_dict=extra
            )
            writer.write_record(record)


def test_revisit_is_followed_to_its_response(tmp_path: Path) -> None:
    body = b"<html><title>Shared</title><p>same bytes</p></html>"
    digest = "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()
    path = tmp_path / "revisit.warc.gz"
    write_warc(
        path,
        [
            ("response", "http://example.com/a", 200, [("Content-Type", "text/html")], body, {}),
            (
                "revisit",
                "http://example.com/b",
                200,
                [("Content-Type", "text/html")],
                b"",
                {
                    "WARC-Refers-To-Target-URI": "http://example.com/a",
                    "WARC-Payload-Digest": digest,
                    "WARC-Profile": "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest",
                },
            ),
        ],
    )
    reading = read(path, tmp_path, "https://example.com/b/")
    capture = reading.capture
    assert capture.url == "http://example.com/b"
    assert capture.payload_sha256 == hashlib.sha256(body).hexdigest() and capture.title == "Shared"
    assert capture.revisit_of is not None and capture.revisit_of.startswith("<urn:uuid:")
    # The location is the record holding the payload: this revisit names its original by URI only,
    # which a reader going by offset could not follow.
    assert record_at(path, capture.warc.offset)[0] == "response"
    from archiver.warc.read import payload_at

    payload = payload_at(tmp_path, capture.warc).body
    try:
        assert payload.read_all() == body
    finally:
        payload.close()


def test_captured_redirect_is_followed_within_the_file(tmp_path: Path) -> None:
    path = tmp_path / "redirect.warc.gz"
    write_warc(
        path,
        [
            ("response", "http://example.com/old", 301, [("Location", "https://example.com/new")], b"moved", {}),
            ("response", "https://example.com/new", 200, [("Content-Type", "text/plain")], b"new page", {}),
        ],
    )
    capture = read(path, tmp_path, "http://example.com/old").capture
    assert capture.url == "http://example.com/old" and capture.final_url == "https://example.com/new"
    assert [(h.url, h.status) for h in capture.redirects] == [("http://example.com/old", 301)]
    assert capture.payload_sha256 == hashlib.sha256(b"new page").hexdigest()


def test_chunked_payload_is_hashed_dechunked(tmp_path: Path) -> None:
    path = tmp_path / "chunked.warc.gz"
    wire = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    write_warc(
        path,
        [("response", "http://example.com/c", 200, [("Transfer-Encoding", "chunked")], wire, {})],
    )
    capture = read(path, tmp_path, "http://example.com/c").capture
    assert capture.payload_sha256 == hashlib.sha256(b"hello world").hexdigest() and capture.payload_size == 11


def test_page_not_in_file_is_a_problem(tmp_path: Path) -> None:
    source = shared_file(PERMA_WARC)
    reading = read(source, tmp_path, "http://example.org/elsewhere")
    assert reading.capture is None
    assert reading.problems and "http://example.org/elsewhere" in reading.problems[0]


@pytest.mark.parametrize(
    ("name", "data"), [("garbage.warc.gz", b"not a warc at all\n" * 10), ("broken.wacz", b"PK\x03\x04junk")]
)
def test_unreadable_files_raise(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ArchiveAccessError, match="cannot be read"):
        read(path, tmp_path, "http://example.com/")
