"""The fetcher against real servers on 127.0.0.1: redirects, bodies, deadlines, retries, TLS, batches.

Wire-level hazards come from tests/wire.py (raw-socket servers with chosen bytes on the wire).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import hashlib
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import brotli
import pytest
import trustme
import zstandard

from archiver.config import Config, FetchConfig
from archiver.models import ErrorKind, Truncation
from archiver.net.exchange import FetchOutcome
from archiver.net.fetcher import Fetcher, redirect_target
from tests.wire import (
    SilentServer,
    WireConnection,
    WireRequest,
    WireServer,
    brotli_bomb,
    chunked_response,
    drip,
    endless,
    free_port,
    gzip_bomb,
    gzip_bytes,
    response,
    routes,
    zstd_bomb,
)

FIXED = datetime(2025, 4, 26, 3, 0, tzinfo=UTC)
BODY = b"<html><body>The cited page, as it was.</body></html>"

Fetch = Callable[..., list[FetchOutcome]]


async def _gather(config: FetchConfig, urls: Sequence[str], kwargs: dict[str, Any]) -> list[FetchOutcome]:
    async with Fetcher(config, **kwargs) as fetcher:
        return list(await asyncio.gather(*(fetcher.fetch(u) for u in urls)))


@pytest.fixture
def fetch() -> Iterator[Fetch]:
    """fetch(fetch_config, *urls, **Fetcher kwargs) -> outcomes; their bodies are closed afterwards."""
    opened: list[FetchOutcome] = []

    def run(config: FetchConfig, *urls: str, **kwargs: Any) -> list[FetchOutcome]:
        outcomes = asyncio.run(_gather(config, urls, kwargs))
        opened.extend(outcomes)
        return outcomes

    yield run
    for outcome in opened:
        outcome.close()


@pytest.fixture
def fc(config: Config) -> FetchConfig:
    """The test config's fetch section with short timeouts and quick retries."""
    return dataclasses.replace(config.fetch, timeout=2.0, deadline=5.0, retries=2, backoff_base=0.05)


def stub_resolver(table: dict[str, list[str]], calls: list[str] | None = None) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        return table[host]

    return resolve


def message(outcome: FetchOutcome) -> str:
    assert outcome.failure is not None, "expected a failure"
    return outcome.failure.message


# ---- redirects -------------------------------------------------------------------------------


def test_redirect_chain_records_every_hop(fetch: Fetch, fc: FetchConfig) -> None:
    table = {
        "/start": response(301, b"moved", [("Location", "/middle")]),
        "/middle": response(302, b"", [("Location", "final?x=1")]),
        "/final": response(200, BODY, [("Content-Type", "text/html"), ("X-Order", "b"), ("X-Order", "a")]),
    }
    with WireServer(routes(table)) as server:
        [outcome] = fetch(fc, server.url("/start"), clock=lambda: FIXED)
    assert outcome.failure is None
    assert [(e.url, e.status, e.reason) for e in outcome.exchanges] == [
        (server.url("/start"), 301, "Moved Permanently"),
        (server.url("/middle"), 302, "Found"),
        (server.url("/final?x=1"), 200, "OK"),
    ]
    first, _, final = outcome.exchanges
    assert first.header("location") == "/middle" and first.body.read_all() == b"moved"
    assert final.body.read_all() == BODY and final.body.sha256 == hashlib.sha256(BODY).hexdigest()
    # Response headers as received: order and repeats kept.
    assert [v for k, v in final.response_headers if k == "X-Order"] == ["b", "a"]
    sent = dict(final.request_headers)
    assert sent["User-Agent"] == fc.user_agent and sent["Accept-Encoding"] == fc.accept_encoding == "gzip, deflate"
    assert sent["Host"] == f"127.0.0.1:{server.port}"
    assert all(e.ip_address == "127.0.0.1" and e.http_version == "HTTP/1.1" for e in outcome.exchanges)
    assert outcome.started_at == FIXED and final.started_at == FIXED
    assert [r.path for r in server.requests] == ["/start", "/middle", "/final"]


def test_redirect_loop_ends_at_the_cap_with_every_hop_kept(fetch: Fetch, fc: FetchConfig) -> None:
    table = {"/a": response(302, b"", [("Location", "/b")]), "/b": response(302, b"", [("Location", "/a")])}
    with WireServer(routes(table)) as server:
        [outcome] = fetch(dataclasses.replace(fc, max_redirects=10), server.url("/a"))
    assert outcome.failure is not None and outcome.failure.kind is ErrorKind.TOO_MANY_REDIRECTS
    assert len(outcome.exchanges) == 11 and server.hits() == 11
    assert [e.url.rsplit("/", 1)[1] for e in outcome.exchanges[:3]] == ["a", "b", "a"]


def test_long_chain_stops_after_max_redirects(fetch: Fetch, fc: FetchConfig) -> None:
    table: dict[str, bytes] = {f"/{i}": response(301, b"", [("Location", f"/{i + 1}")]) for i in range(25)}
    table["/25"] = response(200, b"end")
    with WireServer(routes(table)) as server:
        [capped] = fetch(dataclasses.replace(fc, max_redirects=10), server.url("/0"))
        [whole] = fetch(dataclasses.replace(fc, max_redirects=30), server.url("/0"))
    assert capped.failure is not None and capped.failure.kind is ErrorKind.TOO_MANY_REDIRECTS
    assert "10 hops" in capped.failure.message
    assert [e.status for e in capped.exchanges] == [301] * 11
    assert whole.failure is None and len(whole.exchanges) == 26 and whole.exchanges[-1].status == 200
    assert server.hits() == 11 + 26


def test_redirect_to_a_refused_scheme_fails_that_hop(fetch: Fetch, fc: FetchConfig) -> None:
    with WireServer(routes({"/": response(302, b"", [("Location", "file:///etc/passwd")])})) as server:
        [outcome] = fetch(fc, server.url("/"))
    assert outcome.failure is not None and outcome.failure.kind is ErrorKind.INVALID_URL
    assert "file:///etc/passwd" in outcome.failure.message and "scheme" in outcome.failure.message
    assert [e.status for e in outcome.exchanges] == [302]


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/some page.html?q=a b", "http://site.test/some%20page.html?q=a%20b"),
        ("next", "http://site.test/dir/next"),
        ("/caf\u00c3\u00a9", "http://site.test/caf%C3%A9"),  # UTF-8 bytes, as read from the wire
        ("/already%20encoded", "http://site.test/already%20encoded"),
        ("//other.test/p#fragment", "http://other.test/p"),
        ("  https://other.test/  ", "https://other.test/"),
    ],
)
def test_redirect_target_is_encoded_like_a_browser_would(location: str, expected: str) -> None:
    assert redirect_target("http://site.test/dir/page", location) == expected


def test_redirect_with_raw_utf8_and_spaces_is_followed(fetch: Fetch, fc: FetchConfig) -> None:
    location = "/caf\u00e9 menu".encode()
    moved = b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n"
    with WireServer(routes({"/": moved, "/caf%C3%A9%20menu": response(200, b"menu")})) as server:
        [outcome] = fetch(fc, server.url("/"))
    assert outcome.failure is None and outcome.final is not None
    assert outcome.final.url == server.url("/caf%C3%A9%20menu") and outcome.final.body.read_all() == b"menu"


# ---- statuses and retries --------------------------------------------------------------------


def test_404_and_500_are_responses_not_failures(fetch: Fetch, fc: FetchConfig) -> None:
    table = {"/gone": response(404, b"no such page"), "/broken": response(500, b"oops")}
    with WireServer(routes(table)) as server:
        gone, broken = fetch(fc, server.url("/gone"), server.url("/broken"))
        assert server.hits("/gone") == 1  # 404 is never retried
        assert server.hits("/broken") == 3  # 500 is retried twice, then the last answer stands
    assert gone.failure is None and gone.final is not None and gone.final.status == 404
    assert gone.final.body.read_all() == b"no such page" and gone.attempts == []
    assert broken.failure is None and broken.final is not None and broken.final.status == 500
    assert broken.final.body.read_all() == b"oops"
    assert [(a.status, a.waited_s) for a in broken.attempts] == [(500, 0.05), (500, 0.1)]


def _sequence(answers: list[bytes]) -> Callable[[WireRequest, WireConnection], None]:
    """A handler giving each answer in turn, then repeating the last."""
    lock = threading.Lock()
    left = list(answers)

    def handle(request: WireRequest, conn: WireConnection) -> None:
        with lock:
            answer = left.pop(0) if len(left) > 1 else left[0]
        conn.send(answer)

    return handle


def test_429_with_retry_after_waits_then_succeeds(fetch: Fetch, fc: FetchConfig) -> None:
    answers = [response(429, b"slow down", [("Retry-After", "1")]), response(200, BODY)]
    with WireServer(_sequence(answers)) as server:
        [outcome] = fetch(fc, server.url("/"))
    assert outcome.failure is None and outcome.final is not None and outcome.final.status == 200
    assert [(a.status, a.waited_s) for a in outcome.attempts] == [(429, 1.0)]
    first, second = server.requests
    assert second.at - first.at >= 0.95  # the wait is seen by the server, not just claimed
    assert len(outcome.exchanges) == 1  # the retried 429 is an attempt, not a hop


def test_retry_after_is_capped(fetch: Fetch, fc: FetchConfig) -> None:
    answers = [response(503, b"", [("Retry-After", "999999999")]), response(200, BODY)]
    with WireServer(_sequence(answers)) as server:
        [outcome] = fetch(dataclasses.replace(fc, retry_after_max=0.2), server.url("/"))
    assert outcome.failure is None and [a.waited_s for a in outcome.attempts] == [0.2]
    assert 0.15 <= server.requests[1].at - server.requests[0].at < 2


def test_503_twice_then_200(fetch: Fetch, fc: FetchConfig) -> None:
    answers = [response(503, b"busy"), response(503, b"busy"), response(200, BODY)]
    with WireServer(_sequence(answers)) as server:
        [outcome] = fetch(fc, server.url("/"))
        assert server.hits() == 3
    assert outcome.failure is None and outcome.final is not None and outcome.final.status == 200
    assert [a.status for a in outcome.attempts] == [503, 503]


def test_503_after_the_last_retry_is_a_stored_response(fetch: Fetch, fc: FetchConfig) -> None:
    with WireServer(routes({}, default=response(503, b"down for maintenance"))) as server:
        [outcome] = fetch(dataclasses.replace(fc, retries=1), server.url("/"))
        assert server.hits() == 2
    assert outcome.failure is None and outcome.final is not None
    assert outcome.final.status == 503 and outcome.final.body.read_all() == b"down for maintenance"


def test_connection_refused_is_not_retried(fetch: Fetch, fc: FetchConfig) -> None:
    calls: list[str] = []
    url = f"http://refused.test:{free_port()}/"
    [outcome] = fetch(fc, url, resolver=stub_resolver({"refused.test": ["127.0.0.1"]}, calls))
    assert outcome.failure is not None and outcome.failure.kind is ErrorKind.CONNECT
    assert "refused" in outcome.failure.message
    assert calls == ["refused.test"] and outcome.attempts == []


def test_invalid_tld_is_a_dns_failure(fetch: Fetch, fc: FetchConfig) -> None:
    [outcome] = fetch(fc, "http://no-such-host.invalid/page")
    assert outcome.failure is not None and outcome.failure.kind is ErrorKind.DNS
    assert "no-such-host.invalid" in outcome.failure.message and outcome.attempts == []


def test_server_that_never_answers_times_out_and_is_retried(fetch: Fetch, fc: FetchConfig) -> None:
    with SilentServer() as silent:
        [outcome] = fetch(dataclasses.replace(fc, timeout=0.3, retries=1), silent.url("/"))
        time.sleep(0.05)
        assert silent.connections == 2
    assert outcome.failure is not None and outcome.failure.kind is ErrorKind.TIMEOUT
    assert outcome.exchanges == [] and len(outcome.attempts) == 1


# ---- bodies ----------------------------------------------------------------------------------


def test_chunked_and_content_length_bodies_hash_the_same(fetch: Fetch, fc: FetchConfig) -> None:
    table = {
        "/plain": response(200, BODY),
        "/chunked": chunked_response([BODY[:1], BODY[1:8], BODY[8:]]),
    }
    with WireServer(routes(table)) as server:
        plain, chunked = fetch(fc, server.url("/plain"), server.url("/chunked"))
    assert plain.final is not None and chunked.final is not None
    assert chunked.final.header("transfer-encoding") == "chunked"  # as received; the store renames it
    assert chunked.final.body.read_all() == BODY  # de-chunked
    assert plain.final.body.sha256 == chunked.final.body.sha256 == hashlib.sha256(BODY).hexdigest()


def test_gzip_body_is_kept_compressed(fetch: Fetch, fc: FetchConfig) -> None:
    packed = gzip_bytes(BODY * 50)
    headers = [("Content-Encoding", "gzip"), ("Content-Type", "text/html")]
    with WireServer(routes({"/": response(200, packed, headers)})) as server:
        [outcome] = fetch(fc, server.url("/"))
    assert outcome.final is not None
    assert outcome.final.body.read_all() == packed
    assert outcome.final.body.sha256 == hashlib.sha256(packed).hexdigest()
    assert outcome.final.body.size == len(packed) < len(BODY * 50)


def test_wire_bombs_inflate_to_what_they_claim() -> None:
    size = 4 * 1024 * 1024
    assert gzip.decompress(gzip_bomb(size)) == bytes(size)
    assert brotli.decompress(brotli_bomb(size)) == bytes(size)
    assert zstandard.ZstdDecompressor().decompressobj().decompress(zstd_bomb(size)) == bytes(size)


@pytest.mark.parametrize(
    ("coding", "bomb"),
    [
        ("gzip", lambda: gzip_bomb(64 << 20)),
        ("br", lambda: brotli_bomb(256 << 20)),
        ("zstd", lambda: zstd_bomb(256 << 20)),
    ],
)
def test_compression_bombs_are_stored_raw_never_inflated(
    fetch: Fetch, fc: FetchConfig, coding: str, bomb: Callable[[], bytes]
) -> None:
    packed = bomb()
    with WireServer(routes({"/": response(200, packed, [("Content-Encoding", coding)])})) as server:
        [outcome] = fetch(fc, server.url("/"))
    assert outcome.failure is None and outcome.final is not None and outcome.final.truncated is None
    assert outcome.final.body.size == len(packed) and outcome.final.body.read_all() == packed


def test_endless_body_is_cut_at_the_cap(fetch: Fetch, fc: FetchConfig) -> None:
    cap = 300_000
    with WireServer(routes({"/": endless(b"x" * 16384)})) as server:
        [outcome] = fetch(dataclasses.replace(fc, max_body_bytes=cap), server.url("/"))
    assert outcome.failure is None and outcome.final is not None
    assert outcome.final.truncated is Truncation.LENGTH
    assert outcome.final.body.size == cap


def test_absurd_content_length_is_cut_early(fetch: Fetch, fc: FetchConfig) -> None:
    handler = endless(b"y" * 65536, declared_length=10_000_000_000)
    with WireServer(routes({"/": handler})) as server:
        began = time.monotonic()
        [outcome] = fetch(dataclasses.replace(fc, max_body_bytes=100_000), server.url("/"))
    assert time.monotonic() - began < 2
    assert outcome.final is not None and outcome.final.truncated is Truncation.LENGTH
    assert outcome.final.body.size == 100_000 and outcome.final.header("content-length") == "10000000000"


def test_body_exactly_at_the_cap_is_not_truncated(fetch: Fetch, fc: FetchConfig) -> None:
    with WireServer(routes({"/": response(200, b"z" * 1000)})) as server:
        [outcome] = fetch(dataclasses.replace(fc, max_body_bytes=1000), server.url("/"))
    assert outcome.final is not None and outcome.final.truncated is None and outcome.final.body.size == 1000


def test_drip_fed_body_hits_the_total_deadline(fetch: Fetch, fc: FetchConfig) -> None:
    # The read timeout (2 s) never trips: a byte arrives every second. Only the deadline can stop it.
    with WireServer(routes({"/": drip(b"0123456789", 1.0)})) as server:
        began = time.monotonic()
        [outcome] = fetch(dataclasses.replace(fc, deadline=2.0), server.url("/"))
        took = time.monotonic() - began
    assert 1.9 <= took < 3.0
    assert outcome.failure is not None and outcome.failure.kind is ErrorKind.DEADLINE
    assert outcome.final is not None and outcome.final.truncated is Truncation.TIME
    assert outcome.final.body.read_all() in (b"0", b"01")
    assert "deadline" in outcome.failure.message and outcome.attempts == []


def test_deadline_also_covers_waiting_for_headers(fetch: Fetch, fc: FetchConfig) -> None:
    with SilentServer() as silent:
        began = time.monotonic()
        [outcome] = fetch(dataclasses.replace(fc, timeout=5.0, deadline=0.5), silent.url("/"))
        assert time.monotonic() - began < 1.5
    assert outcome.failure is not None and outcome.failure.kind is ErrorKind.DEADLINE
    assert outcome.exchanges == [] and "nothing arrived" in outcome.failure.message


def test_connection_closed_mid_body_keeps_what_arrived(fetch: Fetch, fc: FetchConfig) -> None:
    def short(request: WireRequest, conn: WireConnection) -> None:
        conn.send(response(200, b"", [("Content-Length", "100")], content_length=False) + b"only ten b")
        conn.close()

    with WireServer(short) as server:
        [outcome] = fetch(fc, server.url("/"))
    assert outcome.failure is not None and outcome.failure.kind is ErrorKind.PROTOCOL
    assert outcome.final is not None and outcome.final.truncated is Truncation.DISCONNECT
    assert outcome.final.body.read_all() == b"only ten b"


def test_cookies_do_not_travel_between_fetches(fetch: Fetch, fc: FetchConfig) -> None:
    table = {"/set": response(200, b"", [("Set-Cookie", "session=abc; Path=/")]), "/next": response(200, b"")}
    with WireServer(routes(table)) as server:
        fetch(fc, server.url("/set"))
        fetch(fc, server.url("/set"), server.url("/next"))
    assert all(r.header("cookie") is None for r in server.requests)


# ---- batches, URLs, politeness ---------------------------------------------------------------

BAD_URLS = [
    "file:///etc/passwd",
    "ftp://example.com/file",
    "javascript:alert(1)",
    "data:text/html,<b>hi</b>",
    "//example.com/x",
    "http://ℯxample.com/",
    "http://exa\u200bmple.com/",
    "http://[::1/",
    "http://example.com:99999/",
    "http://ex ample.com/",
    "http://xn--zz.com/",  # an ACE label that is not valid punycode: httpx would raise on it
]


def test_bad_urls_fail_one_by_one_while_the_batch_goes_on(fetch: Fetch, fc: FetchConfig) -> None:
    idn = "http://例子.测试/路径"
    resolver = stub_resolver({"xn--fsqu00a.xn--0zwm56d": ["127.0.0.1"]})
    with WireServer(routes({}, default=response(200, BODY))) as server:
        good = [server.url(f"/page/{i}") for i in range(5)]
        idn_url = idn.replace("测试/", f"测试:{server.port}/")
        outcomes = fetch(fc, *BAD_URLS, *good, idn_url, resolver=resolver)
    by_url = {o.requested: o for o in outcomes}
    for url in BAD_URLS:
        failure = by_url[url].failure
        assert failure is not None and failure.kind is ErrorKind.INVALID_URL, url
        assert by_url[url].exchanges == []
    assert "scheme 'file'" in message(by_url["file:///etc/passwd"])
    assert "space" in message(by_url["http://ex ample.com/"])
    for url in good:
        final = by_url[url].final
        assert by_url[url].failure is None and final is not None and final.status == 200
    idn_outcome = by_url[idn_url]
    assert idn_outcome.failure is None and idn_outcome.requested == idn_url  # the original string is kept
    assert idn_outcome.exchanges[0].url == f"http://xn--fsqu00a.xn--0zwm56d:{server.port}/%E8%B7%AF%E5%BE%84"
    idn_request = next(r for r in server.requests if r.header("host") != f"127.0.0.1:{server.port}")
    assert idn_request.header("host") == f"xn--fsqu00a.xn--0zwm56d:{server.port}"
    assert server.hits() == 6


def test_per_host_interval_is_respected(fetch: Fetch, fc: FetchConfig) -> None:
    with WireServer(routes({}, default=response(200, b"ok"))) as server:
        fetch(dataclasses.replace(fc, host_interval=0.25), *(server.url(f"/{i}") for i in range(5)))
    starts = sorted(r.at for r in server.requests)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert len(starts) == 5 and min(gaps) >= 0.22, gaps


def _slow(active: list[int], peak: list[int], lock: threading.Lock) -> Callable[[WireRequest, WireConnection], None]:
    def handle(request: WireRequest, conn: WireConnection) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        conn.wait(0.15)
        with lock:
            active[0] -= 1
        conn.send(response(200, b"ok"))

    return handle


def test_host_and_global_concurrency_limits(fetch: Fetch, fc: FetchConfig) -> None:
    lock = threading.Lock()
    active, peak = [0], [0]
    with WireServer(_slow(active, peak, lock)) as server:
        fetch(dataclasses.replace(fc, host_concurrency=2, concurrency=10), *(server.url(f"/{i}") for i in range(6)))
        assert peak == [2]
        peak[0] = 0
        fetch(dataclasses.replace(fc, host_concurrency=8, concurrency=3), *(server.url(f"/{i}") for i in range(6)))
        assert peak == [3]


def test_connections_are_kept_alive_across_fetches(fetch: Fetch, fc: FetchConfig) -> None:
    with WireServer(routes({}, default=response(200, b"ok"))) as server:
        outcomes = fetch(dataclasses.replace(fc, host_concurrency=2), *(server.url(f"/{i}") for i in range(12)))
        assert server.hits() == 12 and server.connections <= 2
    assert all(o.failure is None for o in outcomes)


def test_environment_proxy_is_ignored_unless_trusted(
    fetch: Fetch, fc: FetchConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    with WireServer(routes({}, default=response(200, b"from proxy"))) as proxy:
        with WireServer(routes({}, default=response(200, b"direct"))) as target:
            for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
                monkeypatch.setenv(name, proxy.base)
            monkeypatch.delenv("NO_PROXY", raising=False)
            monkeypatch.delenv("no_proxy", raising=False)
            [direct] = fetch(fc, target.url("/"))
            assert proxy.connections == 0 and target.hits() == 1
            assert direct.final is not None and direct.final.body.read_all() == b"direct"
            # The control: with trust_env the same environment does route through the proxy.
            [proxied] = fetch(dataclasses.replace(fc, trust_env=True), target.url("/"))
            assert proxied.final is not None and proxied.final.body.read_all() == b"from proxy"
            assert proxy.requests[0].target == target.url("/") and target.hits() == 1
            # NO_PROXY is honoured as httpx itself would: the excluded host is reached directly.
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            [bypassed] = fetch(dataclasses.replace(fc, trust_env=True), target.url("/"))
            assert bypassed.final is not None and bypassed.final.body.read_all() == b"direct"
            assert len(proxy.requests) == 1 and target.hits() == 2


@pytest.mark.parametrize("transport", ["asyncio", "httpx"])
def test_a_redirect_to_a_host_httpx_refuses_fails_that_url_only(fetch: Fetch, fc: FetchConfig, transport: str) -> None:
    bad = response(302, b"", [("Location", "http://xn--zz.com/")])
    with WireServer(routes({"/bad": bad}, default=response(200, BODY))) as server:
        hopped, good = fetch(fc, server.url("/bad"), server.url("/good"), transport=transport)
    assert hopped.failure is not None and hopped.failure.kind is ErrorKind.INVALID_URL
    if transport == "httpx":
        # AsyncClient.send parses the Location itself and raises before the 302 can be kept.
        assert "answered with a URL that cannot be requested" in hopped.failure.message
    else:
        # The fetcher's own path keeps the 302 and refuses its target with parse_url's reason.
        assert [e.status for e in hopped.exchanges] == [302]
        assert "redirected to 'http://xn--zz.com/', which is refused" in hopped.failure.message
        assert "not a valid punycode label" in hopped.failure.message
    assert good.failure is None and good.final is not None and good.final.status == 200


# ---- TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_context(cert: trustme.LeafCert | None, ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if cert is not None:
        cert.configure_cert(context)
    else:  # self-signed: the CA's own certificate, presented alone
        with ca.cert_pem.tempfile() as cert_file, ca.private_key_pem.tempfile() as key_file:
            context.load_cert_chain(cert_file, key_file)
    return context


def _client_context(ca: trustme.CA | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca is not None:
        ca.configure_trust(context)
    return context


LOCALHOST = {"localhost": ["127.0.0.1"]}
NOW = datetime.now(UTC)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("valid", None),
        ("wrong_host", "Hostname mismatch"),
        ("expired", "certificate has expired"),
        ("self_signed", "self-signed certificate"),
    ],
)
def test_tls_failures_name_the_reason_and_store_nothing(
    fetch: Fetch, fc: FetchConfig, ca: trustme.CA, case: str, reason: str | None
) -> None:
    cert = {
        "valid": ca.issue_cert("localhost"),
        "wrong_host": ca.issue_cert("other.example"),
        "expired": ca.issue_cert("localhost", not_before=NOW - timedelta(days=9), not_after=NOW - timedelta(days=2)),
        "self_signed": None,
    }[case]
    trusted = None if case == "self_signed" else ca
    with WireServer(routes({"/": response(200, BODY)}), ssl_context=_server_context(cert, ca)) as server:
        url = f"https://localhost:{server.port}/"
        [outcome] = fetch(fc, url, ssl_context=_client_context(trusted), resolver=stub_resolver(LOCALHOST))
        hits = server.hits()
    if reason is None:
        assert outcome.failure is None and outcome.final is not None and outcome.final.body.read_all() == BODY
        assert hits == 1
        return
    assert outcome.failure is not None and outcome.failure.kind is ErrorKind.TLS
    assert reason in outcome.failure.message
    assert outcome.exchanges == [] and outcome.attempts == [] and hits == 0


def test_a_failure_carries_its_parts_as_a_value(fetch: Fetch, fc: FetchConfig) -> None:
    """One sentence and at most one hint, built where the failure happens (issue 12)."""
    url = f"http://refused.test:{free_port()}/"
    [outcome] = fetch(fc, url, resolver=stub_resolver({"refused.test": ["127.0.0.1"]}, []))
    failure = outcome.failure
    assert failure is not None and failure.problem is not None
    assert failure.message == failure.problem.text()
    assert failure.sentence() == failure.problem.sentence() and ";" not in failure.sentence()
    assert failure.problem.hint and failure.message.endswith(failure.problem.hint)
