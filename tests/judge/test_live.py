"""Live verdicts against a real local server: soft 404s, bot walls, moves that are not moves."""

from __future__ import annotations

import hashlib
import random
import re
import socket
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from pytest_httpserver import HTTPServer

from archiver.content.fingerprint import Fingerprint, fingerprint
from archiver.judge.live import judge_live, probe_url, same_page
from archiver.models import Capture, ErrorKind, Failure, Hop, LiveVerdict

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "drift"
LIVE_CASES = sorted(
    p.name
    for p in CORPUS.iterdir()
    if (p / "label.toml").is_file() and "live" in tomllib.loads((p / "label.toml").read_text("utf-8"))
)
ARTICLE = (CORPUS / "en-new-template" / "a.html").read_bytes()
HTML = "text/html; charset=utf-8"


def fetch(url: str) -> tuple[Capture, Fingerprint | None, tuple[tuple[str, str], ...]]:
    """A minimal stand-in for the fetcher: follow redirects by hand, record each hop."""
    hops: list[Hop] = []
    current = url
    try:
        with httpx.Client(timeout=2.0) as client:
            for _ in range(10):
                response = client.get(current)
                location = response.headers.get("location")
                if response.is_redirect and location:
                    hops.append(Hop(current, response.status_code, location))
                    current = urljoin(current, location)
                    continue
                break
    except httpx.ConnectError as exc:
        failed = Capture("c", url, None, None, (), datetime(2025, 4, 26, tzinfo=UTC), None, None, None, None, None,
                         None, error=Failure(ErrorKind.CONNECT, f"connection refused: {exc}"))  # fmt: skip
        return failed, None, ()
    content_type = response.headers.get("content-type")
    fp = fingerprint(response.content, content_type=content_type, content_encoding=None, max_decoded_bytes=1 << 22)
    capture = Capture(
        "c", url, current, response.status_code, tuple(hops), datetime(2025, 4, 26, tzinfo=UTC), content_type,
        hashlib.sha256(response.content).hexdigest(), len(response.content), fp.text_sha256, fp.title, None,
    )  # fmt: skip
    return capture, fp, tuple(response.headers.multi_items())


def judge(url: str, probe: bool = False) -> LiveVerdict:
    capture, fp, headers = fetch(url)
    probed = None
    if probe:
        probe_capture, probe_fp, _ = fetch(probe_url(url, random.Random(1)))
        probed = (probe_capture, probe_fp)
    verdict, reason = judge_live(capture, fp, probed, headers)
    assert reason
    return verdict


@pytest.mark.parametrize("case", LIVE_CASES)
def test_corpus_pages_served_live_get_their_label(httpserver: HTTPServer, case: str) -> None:
    live = tomllib.loads((CORPUS / case / "label.toml").read_text("utf-8"))["live"]
    body = (CORPUS / case / "b.html").read_bytes()
    headers = {name: value for name, value in live.get("headers", [])}
    httpserver.expect_request("/news/2025/article.html").respond_with_data(
        body, status=live["status"], headers=headers, content_type="text/html"
    )
    assert judge(httpserver.url_for("/news/2025/article.html")) == live["verdict"]


def test_statuses_map_to_verdicts_and_bot_walls_are_never_gone(httpserver: HTTPServer) -> None:
    expected = {404: "gone", 410: "gone", 401: "blocked", 402: "blocked", 403: "blocked", 429: "blocked",
                451: "blocked", 500: "server_error", 503: "server_error", 400: "blocked", 200: "ok"}  # fmt: skip
    for status in expected:
        httpserver.expect_request(f"/s{status}").respond_with_data(ARTICLE, status=status, content_type=HTML)
    for status, verdict in expected.items():
        assert judge(httpserver.url_for(f"/s{status}")) == verdict, status
    # Cloudflare's old challenge came as 503, and a 404 behind a challenge is not known to be gone.
    httpserver.expect_request("/cf503").respond_with_data(
        b"<title>Just a moment...</title>", status=503, headers={"Server": "cloudflare"}, content_type=HTML
    )
    httpserver.expect_request("/cf404").respond_with_data(
        ARTICLE, status=404, headers={"cf-mitigated": "challenge"}, content_type=HTML
    )
    assert judge(httpserver.url_for("/cf503")) == "blocked"
    assert judge(httpserver.url_for("/cf404")) == "blocked"


def test_redirects_that_are_not_moves_and_ones_that_are(httpserver: HTTPServer) -> None:
    def redirect(path: str, to: str) -> None:
        httpserver.expect_request(path).respond_with_data(b"", status=301, headers={"Location": to})

    redirect("/story", "/story/")
    redirect("/Old-Story.html", "/new/other-story.html")
    redirect("/deleted/article.html", "/")
    redirect("/gone/article.html", "/errors/404.html?from=gone")
    redirect("/members/article.html", "/account/login?next=/members/article.html")
    for path in ("/story/", "/new/other-story.html", "/errors/404.html"):
        httpserver.expect_request(path).respond_with_data(ARTICLE, content_type=HTML)
    httpserver.expect_request("/").respond_with_data(b"<title>Home</title><p>Front page</p>", content_type=HTML)
    httpserver.expect_request("/account/login").respond_with_data(b"<title>Sign in</title>", content_type=HTML)
    assert judge(httpserver.url_for("/story")) == "ok"
    assert judge(httpserver.url_for("/Old-Story.html")) == "redirected"
    assert judge(httpserver.url_for("/deleted/article.html")) == "soft_404"
    assert judge(httpserver.url_for("/gone/article.html")) == "soft_404"
    assert judge(httpserver.url_for("/members/article.html")) == "blocked"


def test_random_url_probe_exposes_a_catch_all_server(httpserver: HTTPServer) -> None:
    # Every path under /cms/ answers 200 with the same generic page: the cited one is a soft 404.
    generic = b"<html><head><title>Riverside Herald</title></head><body><p>Latest news and sport.</p></body></html>"
    httpserver.expect_request(re.compile(r"^/cms/.*")).respond_with_data(generic, content_type=HTML)
    # A real server: the article exists, made-up neighbours are 404.
    httpserver.expect_request("/real/article.html").respond_with_data(ARTICLE, content_type=HTML)
    httpserver.expect_request(re.compile(r"^/real/.*")).respond_with_data(b"nope", status=404)
    assert judge(httpserver.url_for("/cms/2019/story.html"), probe=False) == "ok"
    assert judge(httpserver.url_for("/cms/2019/story.html"), probe=True) == "soft_404"
    assert judge(httpserver.url_for("/real/article.html"), probe=True) == "ok"


def test_probe_that_redirects_to_the_same_place_as_the_page(httpserver: HTTPServer) -> None:
    httpserver.expect_request(re.compile(r"^/topics/.*")).respond_with_data(
        b"", status=302, headers={"Location": "/topics-index"}
    )
    httpserver.expect_request("/topics-index").respond_with_data(
        b"<title>Topics</title><p>All topics</p>", content_type=HTML
    )
    url = httpserver.url_for("/topics/flood-plan")
    assert judge(url, probe=False) == "redirected"
    assert judge(url, probe=True) == "soft_404"


def test_connection_refused_is_unreachable_and_bad_urls_are_invalid() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        assert judge(f"http://127.0.0.1:{port}/x") == "unreachable"
    invalid = Capture("c", "http://ex ample.com/", None, None, (), datetime(2025, 4, 26, tzinfo=UTC), None, None, None,
                      None, None, None, error=Failure(ErrorKind.INVALID_URL, "it contains a space"))  # fmt: skip
    assert judge_live(invalid, None).verdict is LiveVerdict.INVALID_URL
    timeout = Capture("c", "http://example.com/", None, None, (), datetime(2025, 4, 26, tzinfo=UTC), None, None, None,
                      None, None, None, error=Failure(ErrorKind.TIMEOUT, "read timed out"))  # fmt: skip
    assert judge_live(timeout, None) == (LiveVerdict.UNREACHABLE, "timeout: read timed out")


def test_not_found_titles_and_short_bodies_in_both_languages(httpserver: HTTPServer) -> None:
    pages = {
        "/t1": b"<title>404 Not Found</title><p>nginx</p>",
        "/t2": "<title>页面不存在 - 东方新闻网</title><p>返回首页</p>".encode(),
        "/t3": "<title>东方新闻网</title><p>抱歉，您要找的页面找不到了</p>".encode("gbk"),
        "/ok1": b"<title>Highway 404 reopens after repairs</title><p>The road is open again.</p>",
        "/ok2": "<title>找不到工作的年轻人</title><p>一篇关于就业的报道。</p>".encode(),
    }
    for path, body in pages.items():
        charset = "gbk" if path == "/t3" else "utf-8"
        httpserver.expect_request(path).respond_with_data(body, content_type=f"text/html; charset={charset}")
    for path in pages:
        assert judge(httpserver.url_for(path)) == ("ok" if path.startswith("/ok") else "soft_404"), path


def test_same_page_ignores_scheme_case_www_and_trailing_slash() -> None:
    assert same_page("http://Example.com/a/b", "https://www.example.com/a/b/")
    assert same_page("https://www.news.cn:443/x.html", "http://news.cn/x.html")
    assert not same_page("http://example.com/a", "http://example.com/b")
    assert not same_page("http://example.com/a", "http://other.example.com/a")


def test_probe_url_is_a_random_sibling_with_the_same_extension() -> None:
    url = "http://www.news.cn/politics/leaders/20250426/63f5cde8/c.html?x=1#top"
    probe = probe_url(url, random.Random(3))
    assert re.fullmatch(r"http://www\.news\.cn/politics/leaders/20250426/63f5cde8/[a-z0-9]{16}\.html", probe)
    assert probe != probe_url(url, random.Random(4))
    assert re.fullmatch(r"https://a\.org/dir/[a-z0-9]{16}", probe_url("https://a.org/dir/page", random.Random(1)))
    assert re.fullmatch(r"https://a\.org/[a-z0-9]{16}", probe_url("https://a.org/", random.Random(1)))
