"""Fuzz targets (atheris): document extractors, WARC reader, WACZ/ZIP reader, HTML decoder, URL parser.

`python fuzz/targets.py TARGET [libFuzzer flags] [corpus dirs]` fuzzes one target. An ArchiverError
is the clear error every bad input is allowed to end in; any other exception, a hang (libFuzzer
`-timeout`) or memory past `-rss_limit_mb` is a finding. `fuzz/run.py` runs them all with budgets.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["archiver"]):
    from archiver.archives.downloads import read_archive_file
    from archiver.content.decoding import decode_payload, html_text_of, plain_text_of
    from archiver.content.fingerprint import fingerprint
    from archiver.errors import ArchiverError
    from archiver.extract import DocKind, document_text, extract_links
    from archiver.urls import comparable, is_public_address, parse_url
    from archiver.warc.scan import scan

_SCRATCH = Path(tempfile.mkdtemp(prefix="fuzz-"))
_KINDS = list(DocKind)
_SUFFIX = {DocKind.TEXT: ".txt", DocKind.MARKDOWN: ".md", DocKind.HTML: ".html", DocKind.PDF: ".pdf"}
_SUFFIX[DocKind.DOCX] = ".docx"
_CODINGS = [None, "gzip", "deflate", "br", "zstd", "gzip, br", "identity", "x-gzip", "br, zstd"]
_LIMIT = 4 * 1024 * 1024


def _file(data: bytes, name: str) -> Path:
    path = _SCRATCH / name
    path.write_bytes(data)
    return path


def document(data: bytes) -> None:
    if not data:
        return
    kind = _KINDS[data[0] % len(_KINDS)]
    body = data[1:]
    try:
        extract_links(body, "doc" + _SUFFIX[kind], kind)
        document_text(body, "doc" + _SUFFIX[kind], kind)
    except ArchiverError:
        pass


def warc(data: bytes) -> None:
    path = _file(data, "f.warc.gz" if data[:2] == b"\x1f\x8b" else "f.warc")
    try:
        for _ in scan(path, keep_metadata=True):
            pass
    except ArchiverError:
        pass
    try:
        read_archive_file(
            path, archive_dir=_SCRATCH, target_urls=["http://example.com/"], capture_id="c", max_decoded_bytes=_LIMIT
        )
    except ArchiverError:
        pass


def wacz(data: bytes) -> None:
    path = _file(data, "f.wacz")
    try:
        read_archive_file(
            path, archive_dir=_SCRATCH, target_urls=["http://example.com/"], capture_id="c", max_decoded_bytes=_LIMIT
        )
    except ArchiverError:
        pass


def html(data: bytes) -> None:
    if len(data) < 2:
        return
    coding = _CODINGS[data[0] % len(_CODINGS)]
    content_type = ["text/html", "text/html; charset=gbk", "text/plain", "application/xml", None][data[1] % 5]
    body = data[2:]
    html_text_of(body, content_type)
    plain_text_of(body, content_type)
    try:
        decode_payload(io.BytesIO(body), coding, _LIMIT)
    except ArchiverError:
        pass
    fingerprint(body, content_type=content_type, content_encoding=coding, max_decoded_bytes=_LIMIT, with_main_text=True)


def url(data: bytes) -> None:
    text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data))
    for candidate in (text, "http://" + text, "http://" + text + "/"):
        try:
            parsed = parse_url(candidate)
        except ArchiverError:
            pass
        else:
            if parsed.is_ip_literal:
                is_public_address(parsed.host)
        try:
            comparable(candidate)
        except (ArchiverError, ValueError):
            pass


TARGETS: dict[str, Callable[[bytes], None]] = {
    "document": document,
    "warc": warc,
    "wacz": wacz,
    "html": html,
    "url": url,
}


def main() -> None:
    name = sys.argv.pop(1)
    os.chdir(_SCRATCH)
    atheris.Setup(sys.argv, TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
