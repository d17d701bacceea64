"""The page-kind classifier against the hand-written corpus (tests/fixtures/pages) and focused cases."""

from __future__ import annotations

import importlib
import re
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser

from archiver.judge import pagekind
from archiver.judge import pagesigns as signs
from archiver.judge.pagekind import MAX_CHARS, PageClass, PageInput, classify
from archiver.models import PageKind

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "pages"
FLOOR = 0.95


def load_corpus() -> dict[str, dict[str, Any]]:
    labels: dict[str, dict[str, Any]] = tomllib.loads((PAGES / "labels.toml").read_text(encoding="utf-8"))["pages"]
    return labels


def page_input(name: str, label: Mapping[str, Any]) -> PageInput:
    headers: dict[str, str] = label.get("headers", {})
    return PageInput(
        html=(PAGES / f"{name}.html").read_text(encoding="utf-8"),
        status=label["status"],
        headers=headers,
        url=label["url"],
        requested_url=label.get("requested_url"),
        content_type=headers.get("content-type"),
    )


@pytest.fixture(scope="module")
def results() -> dict[str, tuple[PageKind, PageClass]]:
    return {name: (PageKind(label["kind"]), classify(page_input(name, label))) for name, label in load_corpus().items()}


def test_corpus_is_big_and_varied() -> None:
    labels = load_corpus()
    kinds = Counter(label["kind"] for label in labels.values())
    assert len(labels) >= 90
    assert kinds["content"] >= 25
    assert all(kinds[kind] >= 8 for kind in PageKind), kinds
    assert len({name.split("-", 1)[0] for name in labels}) >= 18
    assert sorted(p.stem for p in PAGES.glob("*.html")) == sorted(labels)


def test_precision_and_recall_per_kind(results: dict[str, tuple[PageKind, PageClass]]) -> None:
    confusion = Counter((want, got.kind) for want, got in results.values())
    scores = {}
    for kind in PageKind:
        hits = confusion[(kind, kind)]
        predicted = sum(n for (_, got), n in confusion.items() if got is kind)
        actual = sum(n for (want, _), n in confusion.items() if want is kind)
        scores[kind] = (hits / predicted if predicted else 0.0, hits / actual if actual else 0.0)
    failing = {kind: pr for kind, pr in scores.items() if min(pr) < FLOOR}
    missed = [f"{name}: labelled {want}, read {got.kind} {got.evidence}" for name, (want, got) in results.items()]
    missed = [line for line, (want, got) in zip(missed, results.values(), strict=True) if want is not got.kind]
    grid = "\n".join(f"{want:>11} -> {got:<11} {n}" for (want, got), n in sorted(confusion.items()))
    assert not failing, f"precision/recall below {FLOOR}: {failing}\n{grid}\n" + "\n".join(missed)


def test_every_wall_and_notice_says_why(results: dict[str, tuple[PageKind, PageClass]]) -> None:
    for name, (_, got) in results.items():
        if got.kind is not PageKind.CONTENT:
            assert got.evidence and all(got.evidence), name
            assert got.describe().startswith(("a ", "an ")), name


def test_a_412_script_wall_is_a_challenge() -> None:
    html = (
        "<html><head><script>$_x=window['$_x'];var _0x1=[0x1f,0x2e];function f(){document.cookie='ab'+'cd='+"
        + "'9f'.repeat(40)+';path=/';}f();</script><script src='/Zx9/q.js'></script></head><body></body></html>"
    )
    got = classify(PageInput(html=html, status=412, url="http://www.example.gov.cn/art/1.html"))
    assert got.kind is PageKind.CHALLENGE
    assert any("412" in line for line in got.evidence)


def test_a_long_article_mentioning_404_and_login_stays_content() -> None:
    paragraph = (
        "<p>有读者反映，点开旧链接时看到404页面，页面不存在；也有人说需要登录后查看全文。记者调查发现，"
        "这些问题大多源于网站改版，相关部门表示将逐步修复历史链接，并保留原有地址的跳转。</p>"
    )
    html = (
        "<html><head><title>网站改版后旧链接失效问题调查</title></head><body>"
        "<div class='nav'><a href='/login'>登录</a> <a href='/404.html'>404</a></div>"
        f"<h1>网站改版后旧链接失效问题调查</h1>{paragraph * 12}</body></html>"
    )
    assert classify(PageInput(html=html, status=200, url="https://news.example.cn/a/1.html")).kind is PageKind.CONTENT


def test_a_short_page_with_a_challenge_marker_is_a_challenge_even_with_200() -> None:
    html = "<html><body><div id='px-captcha'></div><p>Press &amp; Hold</p></body></html>"
    assert classify(PageInput(html=html, status=200, url="https://shop.example.com/")).kind is PageKind.CHALLENGE


@pytest.mark.parametrize(
    ("html", "target"),
    [
        ('<meta http-equiv="Refresh" content="0; URL=/new/place.html">', "https://example.org/new/place.html"),
        ("<script>window.location.href = 'https://example.org/b';</script>", "https://example.org/b"),
        ('<script>location.replace("https://example.org/c?x=1")</script>', "https://example.org/c?x=1"),
    ],
)
def test_redirect_targets_are_reported(html: str, target: str) -> None:
    got = classify(PageInput(html=f"<html><head>{html}</head><body></body></html>", url="https://example.org/a/old"))
    assert got.redirect_to == target
    assert got.kind is PageKind.EMPTY
    assert target in got.describe()


def test_a_script_redirect_to_a_sign_in_host_is_a_login_wall() -> None:
    html = "<html><body><script>location.href='https://passport.example.com/login?next=%2Fp%2F1'</script></body></html>"
    got = classify(PageInput(html=html, status=200, url="https://m.example.com/p/1"))
    assert got.kind is PageKind.LOGIN_WALL
    assert got.redirect_to == "https://passport.example.com/login?next=%2Fp%2F1"


def test_headers_are_read_case_insensitively_from_pairs() -> None:
    pairs = (("CF-Mitigated", "challenge"), ("Server", "cloudflare"))
    got = classify(PageInput(html="<html><body><p>One moment.</p></body></html>", status=403, headers=pairs))
    assert got.kind is PageKind.CHALLENGE


def test_a_5mb_page_is_read_within_the_cap() -> None:
    # A not-found notice, 5 MB of markup without text, then an article: read in full it would be
    # an article; read within the cap it is the notice, and fast.
    notice = "<html><head><title>Page not found</title></head><body><h1>Page not found</h1>"
    padding = "<div class='ad-slot'><!-- reserved --></div>\n" * (5_000_000 // 44)
    article = "<p>" + "The committee met on Tuesday to review the draft regulation. " * 8 + "</p>\n"
    html = notice + padding + article * 200 + "</body></html>"
    assert len(html) > 9 * MAX_CHARS
    started = time.perf_counter()
    got = classify(PageInput(html=html, status=200, url="https://example.org/big"))
    elapsed = time.perf_counter() - started
    assert got.kind is PageKind.NOT_FOUND
    assert elapsed < 0.5, f"{elapsed:.3f} s for a 5 MB page: the cap is not holding"


@pytest.mark.parametrize("html", [None, "", "  \n\t", "<html><body></body></html>"])
def test_nothing_is_empty(html: str | None) -> None:
    got = classify(PageInput(html=html, status=200, url="https://example.org/x"))
    assert got.kind is PageKind.EMPTY
    assert got.evidence


def test_a_title_part_that_names_a_topic_is_not_a_notice() -> None:
    html = (
        "<html><head><title>Page not found after deploy · Issue #482 · org/site · GitHub</title></head><body>"
        "<h1>Page not found after deploy #482</h1><p>After deploying v2.3 every page shows a 404.</p>"
        "<p>Set basePath in the config and redeploy; that fixed it for us.</p></body></html>"
    )
    assert classify(PageInput(html=html, status=200, url="https://github.com/org/site/issues/482")).kind is (
        PageKind.CONTENT
    )
    notice = "<html><head><title>Page not found · GitHub</title></head><body><p>Not here.</p></body></html>"
    assert classify(PageInput(html=notice, status=200)).kind is PageKind.NOT_FOUND


def test_a_quoted_phrase_is_mentioned_not_said() -> None:
    said = "<html><body><p>Sorry, the page you requested could not be found.</p></body></html>"
    quoted = '<html><body><p>The old link now shows a "page you requested could not be found" screen.</p></body></html>'
    assert classify(PageInput(html=said, status=200)).kind is PageKind.NOT_FOUND
    assert classify(PageInput(html=quoted, status=200)).kind is PageKind.CONTENT


def test_precedence_a_challenge_title_outweighs_a_5xx_status() -> None:
    html = "<html><head><title>Just a moment...</title></head><body><p>Checking your browser.</p></body></html>"
    got = classify(PageInput(html=html, status=503, headers={"Server": "cloudflare"}))
    assert got.kind is PageKind.CHALLENGE
    assert got.describe() == "a bot challenge (title says 'Just a moment...')"


# ---- the first-character guard on the phrase tables


def test_every_phrase_table_is_guarded_and_the_guard_passes_every_first_character() -> None:
    """The guard may only turn away positions no phrase can start at, case folding included (ſ, K, İ)."""
    constants, parser = importlib.import_module("re._constants"), importlib.import_module("re._parser")
    cased = [chr(i) for i in range(sys.maxunicode + 1) if chr(i).lower() != chr(i) or chr(i).upper() != chr(i)]
    for kind, pattern in signs.SPECIFIC.items():
        guarded = pagekind._SPECIFIC[kind]
        assert guarded is not pattern and guarded.pattern.endswith(f"(?:{pattern.pattern})"), kind
        guard = re.compile(guarded.pattern[: guarded.pattern.index("])(?:") + 2], pattern.flags)
        firsts, nullable = pagekind._first_chars(parser.parse(pattern.pattern, pattern.flags).data, constants)
        assert firsts and not nullable
        for low, high in firsts:
            # A lone character is a literal in the pattern, a range a character set: compiled as they were.
            source = re.escape(low) if low == high else f"[{re.escape(low)}-{re.escape(high)}]"
            starts = re.compile(source, pattern.flags)
            assert all(guard.match(ch) for ch in [*cased, low, high] if starts.fullmatch(ch)), (kind, low, high)


def test_guarded_phrase_tables_find_what_the_plain_ones_find_in_the_corpus() -> None:
    texts = []
    for name in load_corpus():
        tree = LexborHTMLParser((PAGES / f"{name}.html").read_text(encoding="utf-8"))
        texts += [node.text() for node in tree.css("title, h1, h2, h3")]
        texts.append(" ".join((tree.body.text(separator=" ") if tree.body else "").split())[:4000])
    texts += ["ſign in to continue", "LOG İN TO", "Page Not Found", "KEINE 404 Error", "页面不存在或已被删除"]
    for kind, pattern in signs.SPECIFIC.items():
        for text in texts:
            spans = [m.span() for m in pattern.finditer(text)]
            assert [m.span() for m in pagekind._SPECIFIC[kind].finditer(text)] == spans, (kind, text)


def test_a_pattern_that_may_start_anywhere_is_left_unguarded() -> None:
    for source in (r"\w+ not found", r"(?:a)?", r".{0,3}denied", r"[^x]y"):
        pattern = re.compile(source, re.I)
        assert pagekind.guarded(pattern) is pattern
