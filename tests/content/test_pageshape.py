"""The page shape measured on the fingerprint's own parse: the same shape, texts and digests as two parses gave.

Stored captures compare `text_sha256` across nights, so the faster whitespace handling must give the
old results exactly: it is checked against the definitions it replaces (`" ".join(text.split())`, and
NFC + `splitlines` + per-line collapse), and a few digests and page kinds of the corpus are pinned as
the two-parse implementation gave them (bench/pagekind.py compares both over every page at hand).
"""

from __future__ import annotations

import random
import sys
import unicodedata

import pytest
from selectolax.lexbor import LexborHTMLParser

from archiver.content import fingerprint as fingerprints
from archiver.content.fingerprint import MARKUP_CHARS, fingerprint, normalise_text
from archiver.content.pageshape import ASCII_SPACES, SCRIPTING, collapse, html_shape, measure
from archiver.judge.pagekind import PageInput, classify, classify_fingerprint
from tests.pagecorpus import corpus_pages

SPACES = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
# Every space and line break, letters that NFC composes or keeps, and CJK.
ALPHABET = [*SPACES, "a", "b", "Z", "中", "é", "e\u0301", "\u212b", "\r\n", "\u200b", "\ufeff", "ſ"]


def random_texts(count: int, longest: int) -> list[str]:
    rnd = random.Random(14)
    return ["".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, longest))) for _ in range(count)]


def old_normalise(text: str) -> str:
    """The definition `text_sha256` has always hashed (before the ASCII fast path)."""
    lines = (" ".join(line.split()) for line in unicodedata.normalize("NFC", text).splitlines())
    return "\n".join(line for line in lines if line)


def test_the_ascii_space_tables_are_every_ascii_space_and_line_break() -> None:
    ascii_spaces = {chr(c) for c in range(128) if chr(c).isspace()}
    assert set(ASCII_SPACES) | {" "} == ascii_spaces
    breaks = {chr(c) for c in range(128) if len(f"a{chr(c)}b".splitlines()) == 2}
    assert set(fingerprints._ASCII_BREAKS) | {"\n"} == breaks
    assert set(fingerprints._ASCII_SPACES) | breaks | {" "} == ascii_spaces


@pytest.mark.parametrize("longest", [12, 400, 6000])
def test_collapse_is_split_and_join(longest: int) -> None:
    texts = random_texts(3000 if longest < 1000 else 60, longest)
    ascii_texts = [t.encode("ascii", "ignore").decode() for t in texts]
    for text in texts + ascii_texts + ["  lorem  ipsum \n\t dolor " * 300]:
        assert collapse(text) == " ".join(text.split())


@pytest.mark.parametrize("longest", [12, 400, 6000])
def test_normalise_text_is_nfc_then_lines_collapsed(longest: int) -> None:
    texts = random_texts(3000 if longest < 1000 else 60, longest)
    ascii_texts = [t.encode("ascii", "ignore").decode() for t in texts]
    for text in texts + ascii_texts + ["\r\n  lorem  ipsum \x0b\x1c dolor \x1f\t" * 300]:
        assert normalise_text(text) == old_normalise(text)


def test_the_fingerprints_shape_is_the_shape_of_its_markup_on_every_corpus_page() -> None:
    measured = 0
    for name, body, args in corpus_pages():
        ctype = str(args["content_type"])
        fp = fingerprint(body, content_type=ctype, content_encoding=None, max_decoded_bytes=1 << 23, with_markup=True)
        assert fp.markup is not None, name
        if fp.markup.shape is not None:
            measured += 1
            assert fp.markup.shape == html_shape(fp.markup.text), name
        by_markup = classify(PageInput(html=fp.markup.text, **args))
        assert classify_fingerprint(fp, **args) == by_markup, name
    assert measured > 150


# Digests and kinds as the two-parse implementation (ae55628) gave them: a change here changes
# every stored capture's text_sha256, or a page's kind.
PINNED = [
    ("xinhua-article-politics", "d33598669c67be9926265ae055b50f1cbdc9cf8df4d596a3fd2bc1451414ffb1",
     "国务院新闻办公室举行新闻发布会介绍经济运行情况-新华网", "utf-8", "content", ()),
    ("blog-en-captcha-essay", "8cfeb8ea90050861d6aee271d8f304afb620c1e2cca8466d96c40823f57bb5e0",
     "Why archives keep capturing bot walls - Field Notes", "utf-8", "content", ()),
    ("react-cra-shell", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "Example NGO Dashboard",
     "utf-8", "app_shell", ("noscript says 'You need to enable JavaScript to run this app.'",)),
    ("cloudflare-just-a-moment", "486da370030bba56caba6e0a52a6a7b610229291956b714321f57988cc184299",
     "Just a moment...", "utf-8", "challenge",
     ("header cf-mitigated: challenge", "title says 'Just a moment...'",
      "markup has _cf_chl_opt (Cloudflare challenge script)",
      "heading says 'Verify you are human by completing the action below.'",
      "HTTP 403 (the server refused the request)", "text says 'Verify you are human by completing the'",
      "sets cookie __cf_bm (Cloudflare)")),
    ("server-error-200", "50390942feb2fb83143b3959f3c73cc3efed96c83c05a988e0c3da21be606877",
     "500 Internal Server Error", "utf-8", "error_page",
     ("title says '500 Internal Server Error'", "text says 'Internal Server Error The server'")),
    ("weibo-visitor-system", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "Sina Visitor System", "gb18030", "login_wall",
     ("final URL is a sign-in page (passport.weibo.com/visitor/visitor)", "title says 'Sina Visitor System'")),
    ("xinhua-404", "28640a119b490762a40ba5e277d0b137c103e08e4ced6d367f4a61e5276e6a77", "404-新华网", "utf-8",
     "not_found", ("HTTP 404", "title of a short page says '404-新华网'",
                   "heading says '对不起，您访问的页面不存在或已被删除！'",
                   "text says '首页 时政 国际 财经 登录 对不起，您访问的页面不存在或已被删除！ 5 秒后自动返回'")),
    ("wechat-removed-violation", "907792726bd22dcfd8696e420a0dffb7861450d7b35da4062a53185bfd5e1ee7", None,
     "utf-8", "removed", ("heading says '此内容因违规无法查看'",
                          "text says '此内容因违规无法查看 根据用户投诉及平台审核，"
                          "该内容违反《即时通信工具公众信息服务发展管理暂行规定》，已被停止访问。'")),
    ("rfc-plain-text", "945e0b25b0fc56c352f695f373646e7e1805bb9d4d7961c3c6b8a1e3ebd2ef9b", None, "utf-8",
     "content", ()),
]  # fmt: skip


@pytest.mark.parametrize(("name", "sha256", "title", "encoding", "kind", "evidence"), PINNED)
def test_digests_and_kinds_are_as_before(
    name: str, sha256: str, title: str | None, encoding: str, kind: str, evidence: tuple[str, ...]
) -> None:
    body, args = next((body, args) for page, body, args in corpus_pages() if page == name)
    ctype = str(args["content_type"])
    fp = fingerprint(body, content_type=ctype, content_encoding=None, max_decoded_bytes=1 << 23, with_markup=True)
    page = classify_fingerprint(fp, **args)
    assert (fp.text_sha256, fp.title, fp.encoding, page.kind.value, page.evidence) == (
        sha256,
        title,
        encoding,
        kind,
        evidence,
    )


SVG_PAGE = (
    "<html><head><title>t</title><script>var a=1;</script><style>p{}</style></head><body>"
    "<h1>Head<svg><title>icon</title></svg>line</h1><p>one<svg><svg><desc>inner</desc></svg><text>x</text></svg>"
    "two</p><noscript>js</noscript><svg></svg><template><p>t</p></template></body></html>"
)


def test_measuring_strips_only_the_scripting_and_puts_svg_back() -> None:
    tree = LexborHTMLParser(SVG_PAGE)
    shape = measure(tree, len(SVG_PAGE))
    expected = LexborHTMLParser(SVG_PAGE)
    expected.strip_tags(SCRIPTING)
    assert tree.html == expected.html and "<desc>inner</desc>" in (tree.html or "")
    # SVG text is no visible text of the shape, and is of the fingerprint's.
    assert shape.headings == ("Headline",) and "icon" not in shape.text and "inner" not in shape.text
    assert fingerprints.visible_text(SVG_PAGE)[0] == "Headiconline\noneinnerxtwo"


def test_a_page_past_the_markup_window_is_measured_on_the_window_alone() -> None:
    notice = "<html><head><title>页面不存在</title></head><body><h1>页面不存在</h1>"
    body = (notice + "<!--" + "x" * MARKUP_CHARS + "--><p>" + "An article. " * 2000 + "</p></body></html>").encode()
    fp = fingerprint(body, content_type="text/html", content_encoding=None, max_decoded_bytes=1 << 23, with_markup=True)
    assert fp.markup is not None and fp.markup.shape is None and len(fp.markup.text) == MARKUP_CHARS
    assert "An article." in (fp.text or "")  # the fingerprint reads the whole page, the kind its window
    page = classify_fingerprint(fp, status=200, headers=(), url="http://x.cn/a", requested_url=None, content_type=None)
    assert page.kind.value == "not_found"
