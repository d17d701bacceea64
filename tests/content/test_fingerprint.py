"""Fingerprints: bounded decompression, charsets per WHATWG, visible/main text, hashing."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import zlib
from pathlib import Path

import brotli
import httpx
import pytest
import zstandard
from pytest_httpserver import HTTPServer

from archiver.content.body import Body
from archiver.content.decoding import decode_payload
from archiver.content.fingerprint import Fingerprint, PayloadKind, comparable_text, fingerprint, text_digest
from archiver.errors import DecodeError, DecompressionLimitError

MiB = 1024 * 1024
HTML = "<html><head><title> 朱镕基 谈 改革 </title></head><body><p>朱<b>镕基</b>：价格 €</p><p>Second</p></body></html>"
GBK_PAGE = (
    "<html><head><title>朱镕基答记者问</title></head><body>"
    "<nav>首页 | 新闻</nav><p>朱镕基总理在记者会上说：“不管前面是地雷阵还是万丈深渊。”</p>"
    "<p>价格为100€。</p><script>var a = '不可见';</script></body></html>"
)


def gbk_bytes(text: str) -> bytes:
    """Text as a GBK (Windows cp936) file holds it: Python's gbk codec lacks the 0x80 euro sign."""
    return b"\x80".join(part.encode("gbk") for part in text.split("€"))


def fp_of(
    data: bytes, content_type: str | None = "text/html", encoding: str | None = None, cap: int = 8 * MiB
) -> Fingerprint:
    return fingerprint(data, content_type=content_type, content_encoding=encoding, max_decoded_bytes=cap)


# ---- Content-Encoding


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", _raw_deflate),
        ("br", brotli.compress),
        ("zstd", lambda d: zstandard.ZstdCompressor().compress(d)),
        ("identity", lambda d: d),
        ("gzip, br", lambda d: brotli.compress(gzip.compress(d))),
        ("deflate, zstd, gzip", lambda d: gzip.compress(zstandard.ZstdCompressor().compress(zlib.compress(d)))),
    ],
)
def test_every_coding_and_stack_is_undone(coding: str, encode) -> None:  # type: ignore[no-untyped-def]
    body = ("<p>" + "word " * 20000 + "</p>").encode()
    assert decode_payload(io.BytesIO(encode(body)), coding, 8 * MiB) == body


def test_multi_member_gzip_is_read_to_the_end() -> None:
    data = gzip.compress(b"first ") + gzip.compress(b"second")
    assert decode_payload(io.BytesIO(data), "gzip", MiB) == b"first second"


def test_truncated_gzip_keeps_what_inflated() -> None:
    whole = gzip.compress(b"<p>" + b"abc " * 50000 + b"</p>")
    partial = decode_payload(io.BytesIO(whole[: len(whole) // 2]), "gzip", 8 * MiB)
    assert partial.startswith(b"<p>abc abc") and len(partial) < 200004


def test_unknown_and_corrupt_codings_are_decode_errors_and_fingerprint_says_so() -> None:
    with pytest.raises(DecodeError, match="unknown content-encoding 'compress'"):
        decode_payload(io.BytesIO(b"x"), "compress", MiB)
    with pytest.raises(DecodeError, match="not valid gzip"):
        decode_payload(io.BytesIO(b"this is not gzip at all"), "gzip", MiB)
    fp = fp_of(b"\x00garbage", encoding="br")
    assert fp.text is None and fp.text_sha256 is None and fp.error and "brotli" in fp.error


def test_cap_applies_to_plain_bodies_too() -> None:
    with pytest.raises(DecompressionLimitError):
        decode_payload(io.BytesIO(b"a" * 2000), None, 1000)
    assert decode_payload(io.BytesIO(b"a" * 1000), None, 1000) == b"a" * 1000


def test_small_bomb_reports_the_limit_in_the_fingerprint() -> None:
    bomb = gzip.compress(b"\0" * (4 * MiB))
    fp = fp_of(bomb, encoding="gzip", cap=MiB)
    assert fp.text is None and fp.error is not None
    assert fp.error.startswith("decompressed size limit exceeded (1048576 bytes)")


_BOMB_CHILD = """
import json, sys
import psutil
from archiver.content.fingerprint import fingerprint

def peak():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent (pytest) across exec.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

path, coding, cap = sys.argv[1], sys.argv[2], int(sys.argv[3])
before = max(peak(), psutil.Process().memory_info().rss)
with open(path, "rb") as stream:
    fp = fingerprint(stream, content_type="text/html", content_encoding=coding, max_decoded_bytes=cap)
print(json.dumps({"error": fp.error, "grew": peak() - before}))
"""


def _gzip_bomb(path: Path) -> None:
    # 1 MB that inflates to 1 GiB: 1024 gzip members of 1 MiB of zeros (a valid gzip stream).
    member = gzip.compress(b"\0" * MiB, compresslevel=9)
    path.write_bytes(member * 1024)


def _brotli_bomb(path: Path) -> None:
    compressor = brotli.Compressor(quality=5)
    zeros = b"\0" * MiB
    with path.open("wb") as out:
        for _ in range(256):
            out.write(compressor.process(zeros))
        out.write(compressor.finish())


def _zstd_bomb(path: Path) -> None:
    compressor = zstandard.ZstdCompressor(level=3).compressobj()
    zeros = b"\0" * MiB
    with path.open("wb") as out:
        for _ in range(256):
            out.write(compressor.compress(zeros))
        out.write(compressor.flush())


@pytest.mark.parametrize(
    ("coding", "make", "inflated"),
    [("gzip", _gzip_bomb, 1024 * MiB), ("br", _brotli_bomb, 256 * MiB), ("zstd", _zstd_bomb, 256 * MiB)],
)
def test_bombs_stop_at_the_cap_with_bounded_memory(tmp_path: Path, coding: str, make, inflated: int) -> None:  # type: ignore[no-untyped-def]
    bomb = tmp_path / f"bomb.{coding}"
    make(bomb)
    assert bomb.stat().st_size * 100 < inflated  # a real bomb: over 100x
    cap = 16 * MiB
    # A child process, so its peak RSS is this decoding's and no other test's.
    result = subprocess.run(
        [sys.executable, "-c", _BOMB_CHILD, str(bomb), coding, str(cap)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        check=True,
    )
    report = json.loads(result.stdout)
    assert report["error"].startswith("decompressed size limit exceeded")
    # Memory: the capped output plus decoder state; generous margin, far below the inflated size.
    assert cap / 2 < report["grew"] < cap + 48 * MiB, report  # it did decode up to the cap, no further
    print(f"{coding} bomb: peak RSS grew {report['grew'] / MiB:.1f} MiB with a {cap // MiB} MiB cap")


# ---- charsets


def test_gb2312_label_decodes_gbk_only_characters_and_0x80_as_euro() -> None:
    body = "<p>朱镕基 说</p>".encode("gbk") + b" \x80"
    fp = fp_of(b"<html><body>" + body + b"</body></html>", "text/html; charset=gb2312")
    assert fp.encoding == "gb18030"
    assert fp.text == "朱镕基 说\n€"


def test_meta_only_charset_gives_the_same_text() -> None:
    body = b'<html><head><meta charset="gb2312"></head><body><p>' + "朱镕基".encode("gbk") + b" \x80</p></body></html>"
    fp = fp_of(body, "text/html")
    assert (fp.encoding, fp.text) == ("gb18030", "朱镕基 €")
    http_equiv = body.replace(
        b'<meta charset="gb2312">', b'<meta http-equiv="Content-Type" content="text/html; charset=gbk">'
    )
    assert fp_of(http_equiv, None).text == "朱镕基 €"


def test_gbk_page_and_utf8_page_hash_the_same_over_real_http(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/gbk").respond_with_data(gbk_bytes(GBK_PAGE), content_type="text/html; charset=gb2312")
    httpserver.expect_request("/utf8").respond_with_data(
        GBK_PAGE.encode("utf-8"), content_type="text/html; charset=utf-8"
    )
    prints = []
    with httpx.Client() as client:
        for path in ("/gbk", "/utf8"):
            response = client.get(httpserver.url_for(path))
            prints.append(fp_of(response.content, response.headers["content-type"]))
    gbk, utf8 = prints
    assert (gbk.encoding, utf8.encoding) == ("gb18030", "utf-8")
    assert gbk.text_sha256 == utf8.text_sha256 == text_digest(utf8.text or "")
    assert gbk.title == "朱镕基答记者问"
    assert "不可见" not in (gbk.text or "") and "100€" in (gbk.text or "")


def test_gzip_served_page_fingerprints_from_the_raw_payload(httpserver: HTTPServer) -> None:
    raw = gzip.compress(GBK_PAGE.encode("utf-8"))
    httpserver.expect_request("/z").respond_with_data(
        raw, headers={"Content-Encoding": "gzip"}, content_type="text/html; charset=utf-8"
    )
    with httpx.Client() as client, client.stream("GET", httpserver.url_for("/z")) as response:
        stored = b"".join(response.iter_raw())  # what the WARC holds: still gzip
        coding = response.headers["content-encoding"]
    body = Body.from_bytes(stored)
    try:
        fp = fingerprint(body, content_type="text/html", content_encoding=coding, max_decoded_bytes=MiB)
    finally:
        body.close()
    assert stored == raw
    assert fp.text_sha256 == fp_of(GBK_PAGE.encode("utf-8"), "text/html; charset=utf-8").text_sha256


def test_invalid_utf8_without_label_never_raises_and_names_the_encoding() -> None:
    fp = fp_of(b"<html><body><p>caf\xc3\xa9 \xff\xfe broken \xc3</p></body></html>", "text/html")
    assert fp.error is None and fp.encoding and fp.text
    assert "broken" in fp.text
    plain = fp_of(b"plain caf\xe9 text \xff", "text/plain")
    assert plain.error is None and plain.encoding and "plain caf" in (plain.text or "")


def test_utf16_with_bom_decodes() -> None:
    page = "<html><head><title>标题</title></head><body><p>UTF-16 页面</p></body></html>"
    fp = fp_of(page.encode("utf-16"), "text/html")
    assert (fp.encoding or "").startswith("utf-16") and fp.text == "UTF-16 页面" and fp.title == "标题"
    # The BOM wins over a wrong header label, as in browsers.
    assert fp_of(page.encode("utf-16"), "text/html; charset=iso-8859-1").text == "UTF-16 页面"


def test_latin1_label_is_windows_1252() -> None:
    fp = fp_of(b"<p>\x93quoted\x94 caf\xe9</p>", "text/html; charset=iso-8859-1")
    assert fp.encoding == "cp1252" and fp.text == "\u201cquoted\u201d caf\u00e9"


# ---- kinds and text


def test_visible_text_drops_scripts_and_keeps_inline_words_together() -> None:
    html = (
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        "<script>var x = 'hidden';</script><noscript>enable js</noscript><template><p>tpl</p></template>"
        "<div>One <span>two</span> three<br>four</div><ul><li>a</li><li>b</li></ul></body></html>"
    )
    fp = fp_of(html.encode(), "text/html; charset=utf-8")
    assert fp.kind is PayloadKind.HTML
    assert fp.text == "One two three\nfour\na\nb"
    assert fp.title == "T"


def test_text_sha256_is_nfc_and_whitespace_insensitive() -> None:
    composed = fp_of("<p>Café   au\u00a0lait</p>".encode(), "text/html; charset=utf-8")
    decomposed = fp_of("<p>Cafe\u0301 au lait</p>\n\n".encode(), "text/html; charset=utf-8")
    assert composed.text == "Café au lait" and composed.text_sha256 == decomposed.text_sha256


def test_plain_text_binary_and_sniffed_types() -> None:
    plain = fp_of("línea uno\n\n  línea   dos ".encode(), "text/plain; charset=utf-8")
    assert (plain.kind, plain.text, plain.title) == (PayloadKind.TEXT, "línea uno\nlínea dos", None)
    for content_type, data in (
        ("image/png", b"\x89PNG\r\n"),
        ("application/pdf", b"%PDF-1.7"),
        ("application/zip", b"PK"),
    ):
        binary = fp_of(data, content_type)
        assert (binary.kind, binary.text_sha256, binary.error) == (PayloadKind.BINARY, None, None)
    assert fp_of(b"%PDF-1.4 ...", None).kind is PayloadKind.BINARY
    assert fp_of(b"  <!DOCTYPE html><title>x</title><p>hi</p>", None).kind is PayloadKind.HTML
    assert fp_of(b"just words", "application/octet-stream").kind is PayloadKind.TEXT


def test_main_text_drops_boilerplate_and_falls_back_to_visible_text() -> None:
    paragraphs = "".join(
        f"<p>Paragraph {i} of the article says something long enough to count as text.</p>" for i in range(8)
    )
    nav = "".join(f"<li><a href='/s{i}'>Section {i}</a></li>" for i in range(30))
    article = f"<article><h1>Head</h1>{paragraphs}</article>"
    page = f"<html><body><nav><ul>{nav}</ul></nav>{article}<footer>© Site</footer></body></html>"
    fp = fingerprint(page.encode(), content_type="text/html; charset=utf-8", content_encoding=None,
                     max_decoded_bytes=MiB, with_main_text=True)  # fmt: skip
    assert fp.main_text is not None and "Paragraph 7 of the article" in fp.main_text
    assert "Section 12" not in fp.main_text and "Section 12" in (fp.text or "")
    empty = fingerprint(b"<html><body></body></html>", content_type="text/html", content_encoding=None,
                        max_decoded_bytes=MiB, with_main_text=True)  # fmt: skip
    assert empty.main_text == "" and empty.text == ""
    assert fp_of(page.encode()).main_text is None  # only when asked


def test_comparable_text_folds_width_zero_width_and_cjk_spaces() -> None:
    assert comparable_text("朱镕基 总理\u200b说：“ＡＢＣ，１２３”！") == '朱镕基总理说:"ABC,123"!'
    assert comparable_text("a\u00a0 b\n\n\u3000c — d") == "a b\nc - d"
