"""Seed inputs for each fuzz target: one small valid file of each kind, so mutation starts from structure."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zipfile
from pathlib import Path

_PAGE = b"<html><head><title>T</title></head><body><a href='https://example.com/a'>a</a> https://perma.cc/AB12-CD34</body></html>"


def _warc() -> bytes:
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(_PAGE) + _PAGE
    head = (
        "WARC/1.1\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-000000000001>\r\n"
        "WARC-Date: 2024-01-01T00:00:00Z\r\nWARC-Target-URI: http://example.com/\r\n"
        "Content-Type: application/http; msgtype=response\r\n"
        f"WARC-Payload-Digest: sha256:{hashlib.sha256(_PAGE).hexdigest()}\r\nContent-Length: {len(http)}\r\n\r\n"
    )
    return head.encode() + http + b"\r\n\r\n"


def _wacz(warc: bytes) -> bytes:
    out = io.BytesIO()
    package = {
        "profile": "data-package",
        "mainPageUrl": "http://example.com/",
        "resources": [
            {"path": "archive/data.warc.gz", "hash": "sha256:" + hashlib.sha256(warc).hexdigest(), "bytes": len(warc)}
        ],
    }
    package_bytes = json.dumps(package).encode()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("archive/data.warc.gz", warc, compress_type=zipfile.ZIP_STORED)
        archive.writestr("datapackage.json", package_bytes)
        archive.writestr(
            "datapackage-digest.json", json.dumps({"hash": "sha256:" + hashlib.sha256(package_bytes).hexdigest()})
        )
    return out.getvalue()


def _docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph("See https://example.com/cited and https://perma.cc/AB12-CD34 for it.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _pdf() -> bytes:
    from pypdf import PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, FloatObject, NameObject, TextStringObject

    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    link = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Link"),
            NameObject("/Rect"): ArrayObject([FloatObject(0), FloatObject(0), FloatObject(10), FloatObject(10)]),
            NameObject("/A"): DictionaryObject(
                {NameObject("/S"): NameObject("/URI"), NameObject("/URI"): TextStringObject("https://example.com/p")}
            ),
        }
    )
    page[NameObject("/Annots")] = ArrayObject([writer._add_object(link)])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def seeds() -> dict[str, list[bytes]]:
    warc = _warc()
    return {
        "document": [
            b"\x00See https://example.com/x.",
            b"\x01# t\n[a](https://example.com/y)\n",
            b"\x02" + _PAGE,
            b"\x03" + _pdf(),
            b"\x04" + _docx(),
        ],
        "warc": [warc, gzip.compress(warc) + gzip.compress(warc)],
        "wacz": [_wacz(gzip.compress(warc))],
        "html": [
            b"\x00\x00" + _PAGE,
            b"\x01\x02" + gzip.compress(_PAGE),
            b"\x03\x01" + "中文 <meta charset=gbk>".encode("gbk"),
        ],
        "url": [
            b"http://example.com/a?b#c",
            b"https://[::ffff:127.0.0.1]:8080/",
            b"http://0x7f.1/",
            b"http://xn--bcher-kva.example/",
        ],
    }


def write_seeds(root: Path) -> None:
    """Fill `root/<target>/` with seeds where it is empty."""
    for target, items in seeds().items():
        folder = root / target
        folder.mkdir(parents=True, exist_ok=True)
        if any(folder.iterdir()):
            continue
        for number, data in enumerate(items):
            (folder / f"seed-{number}").write_bytes(data)
