"""Inputs the fuzzer (fuzz/) found crashing a reader, kept as fixtures named for their case: each now
ends in the reader's own clear error (an ArchiverError) or reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from archiver.archives.downloads import read_archive_file
from archiver.errors import ArchiveAccessError, ExtractError
from archiver.extract import extract_links
from archiver.warc.digests import parse_digest
from archiver.warc.scan import scan

FUZZ = Path(__file__).resolve().parent / "fixtures" / "fuzz"


def read(path: Path, tmp_path: Path) -> None:
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    read_archive_file(copy, archive_dir=tmp_path, target_urls=["http://example.com/"], capture_id="c",
                      max_decoded_bytes=1 << 20)  # fmt: skip


@pytest.mark.parametrize(
    "name",
    [
        "warc-record-without-target-uri.warc",  # warcio: AttributeError on a None URI
        "wacz-unknown-zip-version.wacz",  # zipfile: NotImplementedError
        "warc-mangled-1.warc",
        "warc-mangled-2.warc",
    ],
)
def test_damaged_archive_file_is_an_archive_access_error(name: str, tmp_path: Path) -> None:
    with pytest.raises(ArchiveAccessError, match="cannot be read as a"):
        read(FUZZ / name, tmp_path)


def test_non_ascii_digest_is_a_record_problem_not_a_crash(tmp_path: Path) -> None:
    # base64 raised a bare ValueError on a non-ASCII digest value.
    items = list(scan(FUZZ / "warc-non-ascii-digest.warc"))
    assert items and all(not isinstance(item, Exception) for item in items)
    with pytest.raises(ValueError, match="is not hex, base32 or base64"):
        parse_digest("sha256:" + "\ufffd" * 43)


def test_negative_content_length_is_a_fault_not_a_crash() -> None:
    # parse_record asked the stream for a negative number of bytes (ValueError).
    from archiver.warc.scan import FileFault

    items = list(scan(FUZZ / "warc-negative-content-length.warc"))
    assert any(isinstance(item, FileFault) and "negative Content-Length" in item.message for item in items)


def test_docx_with_corrupt_deflate_data_is_an_extract_error() -> None:
    # zlib.error escaped python-docx.
    with pytest.raises(ExtractError, match="the DOCX could not be read"):
        extract_links((FUZZ / "docx-corrupt-deflate.docx").read_bytes(), "corrupt.docx")


def test_markdown_url_without_slashes_after_trimming_is_skipped() -> None:
    # urlscan indexed past "://" that trimming had removed (IndexError).
    links = extract_links((FUZZ / "markdown-scheme-without-slashes.md").read_bytes(), "doc.md")
    assert all("://" in link.url for link in links)
