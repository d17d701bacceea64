"""The capture document's record: `application/warc-fields` now, `application/json` before issue 12.

`legacy-json-metadata.warc.gz` was written by archiver at commit 993f452 (before issue 12) with the
store of `tests/store/test_warcfiles.py` (a response, a compact revisit of it, a redirect), so it
is exactly what archives in use today hold; `index rebuild`, recovery and verify must still read it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from archiver.config import load_config
from archiver.models import ArchivePaths
from archiver.pipeline.stored import rebuild, verify
from archiver.store.index import rebuild_index
from archiver.warc.metadata import METADATA_FORMAT, decode_document, encode_document, iter_file_captures
from tests.store.test_warcfiles import make_store, store_page

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "warc"
LEGACY = FIXTURES / "legacy-json-metadata.warc.gz"
# The name it was written under: its documents name their own file, as every capture location does.
LEGACY_NAME = "archiver-20250426083000123-00001-4b8f3925.warc.gz"
WARCIO = Path(sys.executable).with_name("warcio")


def metadata_records(path: Path) -> list[tuple[str, str, bytes]]:
    """(Content-Type, WARC-Target-URI, block) of every metadata record, read by warcio."""
    with path.open("rb") as fh:
        return [
            (
                r.rec_headers.get_header("Content-Type"),
                r.rec_headers.get_header("WARC-Target-URI"),
                r.content_stream().read(),
            )
            for r in ArchiveIterator(fh)
            if r.rec_type == "metadata"
        ]


def test_the_block_is_one_warc_fields_line_that_reads_back() -> None:
    # U+0085 and U+2028 are line breaks to some readers, DEL a control: none may reach the line raw.
    document = {"format": METADATA_FORMAT, "capture": {"title": "新华社 \x85 a\u2028b \x7f", "url": "http://a.test/"}}
    block = encode_document(document)
    assert block.endswith(b"\r\n") and block.count(b"\n") == 1
    name, _, value = block.decode().partition(": ")
    assert name == "archiver-capture"
    assert not any(c in value for c in "\x85\u2028\x7f")
    assert "新华社" in value  # UTF-8 stays readable
    assert decode_document("application/warc-fields", block) == document


def test_other_blocks_are_not_capture_documents() -> None:
    assert decode_document("application/warc-fields", b"software: heritrix\r\nhopsFromSeed: L\r\n") is None
    assert decode_document("application/warc-fields", b'archiver-capture: {"format": "other"}\r\n') is None
    assert decode_document("application/warc-fields", b"archiver-capture: {not json\r\n") is None
    assert decode_document("text/plain", encode_document({"format": METADATA_FORMAT})) is None
    assert decode_document("application/json", b'{"format": "archiver-capture/1", "capture": {}}') is not None


def test_new_records_describe_the_page_and_pass_warcio_check(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with make_store(archive) as store:
        first = store_page(store, "http://a.test/page", b"<title>x</title>", "n1")
        store_page(store, "http://a.test/page", b"<title>x</title>", "n2", revisit_of=first)
    (path,) = sorted((archive / "warcs").glob("*.warc.gz"))
    records = metadata_records(path)
    assert [(ctype, target) for ctype, target, _ in records] == [("application/warc-fields", "http://a.test/page")] * 2
    ids = [decode_document(ctype, block)["capture"]["id"] for ctype, _, block in records]  # type: ignore[index]
    assert ids == ["n1", "n2"]
    assert [c.id for c in iter_file_captures(path)] == ["n1", "n2"]
    assert subprocess.run([str(WARCIO), "check", str(path)], capture_output=True).returncode == 0


def test_legacy_records_still_rebuild_beside_new_ones(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with make_store(archive) as store:
        store_page(store, "http://a.test/new", b"<title>new</title>", "new-1")
    warcs = archive / "warcs"
    shutil.copy(LEGACY, warcs / LEGACY_NAME)
    with (warcs / "manifest.sha256").open("a") as manifest:
        manifest.write(f"{hashlib.sha256(LEGACY.read_bytes()).hexdigest()}  {LEGACY_NAME}\n")
    assert [ctype for ctype, _, _ in metadata_records(LEGACY)] == ["application/json"] * 3

    index = rebuild_index(ArchivePaths(archive))
    try:
        captures = {c.id: c for c in index.all_captures()}
    finally:
        index.close()
    assert set(captures) == {"legacy-1", "legacy-2", "legacy-3", "new-1"}
    original, revisit, redirected = captures["legacy-1"], captures["legacy-2"], captures["legacy-3"]
    assert revisit.revisit_of == "legacy-1"
    # the compact revisit document gets its location and digest back from the revisit record
    assert revisit.warc is not None and revisit.warc.file == f"warcs/{LEGACY_NAME}"
    assert revisit.payload_sha256 == original.payload_sha256 is not None
    assert redirected.final_url == "http://legacy.test/page" and [h.status for h in redirected.redirects] == [301]
    assert original.title == "A title" and original.payload_size == len(
        "<html><title>旧</title>old format</html>".encode()
    )

    config = load_config(None, {"archive_dir": str(archive)})
    assert rebuild(config) == 4  # the command's Python API, as `archiver index rebuild` calls it
    report = verify(config)
    assert report.ok, report.problems
    assert subprocess.run([str(WARCIO), "check", str(LEGACY)], capture_output=True).returncode == 0
