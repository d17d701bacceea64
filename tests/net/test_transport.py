"""The asyncio transport against raw-socket servers: framing, keep-alive, stale connections.

The fetcher's hazard tests (test_fetch.py, test_guard.py) already run through this transport,
since it is the default; these cover what only a hand-written HTTP/1.1 client can get wrong.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from archiver.config import Config, FetchConfig
from archiver.models import ErrorKind
from archiver.net.exchange import FetchOutcome
from archiver.net.fetcher import Fetcher
from tests.wire import WireConnection, WireRequest, WireServer, chunked_response, response, routes

BODY = b"<p>the page</p>"


@pytest.fixture
def fc(config: Config) -> FetchConfig:
    return dataclasses.replace(config.fetch, timeout=2.0, deadline=4.0, retries=0, host_concurrency=1)


_OPENED: list[FetchOutcome] = []


@pytest.fixture(autouse=True)
def _close_bodies() -> Iterator[None]:
    yield
    while _OPENED:
        _OPENED.pop().close()


def fetch_in_turn(config: FetchConfig, urls: Sequence[str], **kwargs: Any) -> list[FetchOutcome]:
    """Fetch the URLs one after another with one Fetcher (so connections may be reused)."""

    async def run() -> list[FetchOutcome]:
        async with Fetcher(config, **kwargs) as fetcher:
            return [await fetcher.fetch(url) for url in urls]

    outcomes = asyncio.run(run())
    _OPENED.extend(outcomes)
    return outcomes


def body_of(outcome: FetchOutcome) -> bytes:
    assert outcome.failure is None, outcome.failure
    assert outcome.final is not None
    return outcome.final.body.read_all()


def test_a_connection_the_server_dropped_while_idle_is_replaced() -> None:
    """The server answers once per connection, then reads the next request and hangs up."""
    # Keyed by id() with the connection kept alive in the value: a freed connection's id could be
    # reused by the next one, which would then be taken for a kept-alive connection.
    served: dict[int, tuple[WireConnection, int]] = {}
    lock = threading.Lock()

    def once(request: WireRequest, conn: WireConnection) -> None:
        with lock:
            count = served.get(id(conn), (conn, 0))[1] + 1
            served[id(conn)] = (conn, count)
        if count > 1:
            conn.close()  # the request arrived on a kept-alive connection: no answer at all
            return
        conn.send(response(200, BODY))

    config = FetchConfig(allow_private_networks=True, timeout=2.0, deadline=4.0, retries=0)
    with WireServer(once) as server:
        outcomes = fetch_in_turn(config, [server.url(f"/{i}") for i in range(3)])
        assert server.connections == 3
    assert [body_of(o) for o in outcomes] == [BODY] * 3
    assert all(o.attempts == [] for o in outcomes)  # resent by the transport, not retried by the fetcher


def test_keep_alive_reuses_and_connection_close_does_not(fc: FetchConfig) -> None:
    with WireServer(routes({}, default=response(200, BODY))) as server:
        assert [body_of(o) for o in fetch_in_turn(fc, [server.url(f"/{i}") for i in range(4)])] == [BODY] * 4
        assert server.connections == 1
    closing = response(200, BODY, [("Connection", "close")])
    with WireServer(routes({}, default=closing)) as server:
        assert [body_of(o) for o in fetch_in_turn(fc, [server.url(f"/{i}") for i in range(3)])] == [BODY] * 3
        assert server.connections == 3


def test_http_1_0_body_without_length_is_read_to_the_close(fc: FetchConfig) -> None:
    def old(request: WireRequest, conn: WireConnection) -> None:
        conn.send(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" + BODY)
        conn.close()

    with WireServer(old) as server:
        outcomes = fetch_in_turn(fc, [server.url("/a"), server.url("/b")])
        assert server.connections == 2
    assert [body_of(o) for o in outcomes] == [BODY, BODY]
    assert all(o.final is not None and o.final.http_version == "HTTP/1.0" for o in outcomes)


def test_informational_responses_are_skipped_and_lf_only_heads_read(fc: FetchConfig) -> None:
    early = b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
    lf_only = b"HTTP/1.1 200 OK\nContent-Type: text/html\nX-Folded: first\n  second\nContent-Length: %d\n\n" % len(BODY)
    with WireServer(routes({"/early": early + response(200, BODY), "/lf": lf_only + BODY})) as server:
        first, second = fetch_in_turn(fc, [server.url("/early"), server.url("/lf")])
    assert body_of(first) == BODY and first.final is not None and first.final.status == 200
    assert body_of(second) == BODY and second.final is not None
    assert second.final.header("x-folded") == "first second"


def test_chunk_extensions_and_trailers_are_de_framed(fc: FetchConfig) -> None:
    raw = chunked_response([b"<p>the ", b"page</p>"])
    with_extras = raw.replace(b"\r\n7\r\n", b"\r\n7;name=value\r\n").replace(
        b"0\r\n\r\n", b"0\r\nX-Trailer: yes\r\n\r\n"
    )
    assert with_extras != raw
    with WireServer(routes({"/": with_extras}, default=response(200, b"next"))) as server:
        outcomes = fetch_in_turn(fc, [server.url("/"), server.url("/after")])
        assert server.connections == 1  # the trailer was consumed, so the connection stayed usable
    assert [body_of(o) for o in outcomes] == [BODY, b"next"]


@pytest.mark.parametrize(
    "wire",
    [
        b"HTTP/1.1 OK 200\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n",
    ],
    ids=["status-line", "conflicting-length", "header-name", "chunk-size", "not-http"],
)
def test_malformed_responses_are_protocol_failures(fc: FetchConfig, wire: bytes) -> None:
    def broken(request: WireRequest, conn: WireConnection) -> None:
        conn.send(wire)
        conn.close()

    with WireServer(broken) as server:
        [outcome] = fetch_in_turn(fc, [server.url("/")])
    assert outcome.failure is not None and outcome.failure.kind is ErrorKind.PROTOCOL, outcome.failure


def test_server_closing_before_any_answer_is_a_protocol_failure(fc: FetchConfig) -> None:
    def hang_up(request: WireRequest, conn: WireConnection) -> None:
        conn.close()

    with WireServer(hang_up) as server:
        [outcome] = fetch_in_turn(fc, [server.url("/")])
    assert outcome.failure is not None and outcome.failure.kind is ErrorKind.PROTOCOL
    assert "without sending a response" in outcome.failure.message and outcome.exchanges == []


@pytest.mark.parametrize("transport", ["asyncio", "httpx"])
def test_both_transports_record_the_same_exchange(fc: FetchConfig, transport: str) -> None:
    page = response(200, BODY, [("Content-Type", "text/html"), ("X-Case", "Kept")])
    with WireServer(routes({"/": page})) as server:
        [outcome] = fetch_in_turn(fc, [server.url("/")], transport=transport)
    final = outcome.final
    assert outcome.failure is None and final is not None
    assert (final.status, final.reason, final.http_version, final.ip_address) == (200, "OK", "HTTP/1.1", "127.0.0.1")
    assert ("X-Case", "Kept") in final.response_headers and final.body.read_all() == BODY
    assert [name.lower() for name, _ in final.request_headers][:1] == ["host"]


# URL shapes whose request target must reach the server exactly as httpx would send it.
TARGETS = ["/", "/a/b/", "/p;x=1?q=a%20b&r=%7E~", "/caf%C3%A9?x=%zz", "/a?b?c", "/%2F..%2f?", "/a//b"]
TARGETS += ["/a/./b/../c?d=.."]


def _seen(config: FetchConfig, urls: Sequence[str], transport: str) -> list[tuple[str, str, tuple[Any, ...]]]:
    with WireServer(routes({}, default=response(200, BODY))) as server:
        outcomes = fetch_in_turn(config, [server.url(u) for u in urls], transport=transport)
        requests = list(server.requests)  # fetched one after another, so in order
    assert requests[-1].target == "/a/c?d=.."  # httpx removes dot segments; so must the other path
    assert all(o.failure is None for o in outcomes) and len(requests) == len(urls)
    # The port differs between the two servers; everything else must be byte for byte the same.
    return [(r.method, r.target, tuple((k, v) for k, v in r.headers if k.lower() != "host")) for r in requests]


def test_the_fetchers_own_requests_are_what_httpx_would_send(fc: FetchConfig) -> None:
    """The default path builds its request heads itself (one httpx build per origin): same bytes."""
    assert _seen(fc, TARGETS, "asyncio") == _seen(fc, TARGETS, "httpx")
    with WireServer(routes({}, default=response(200, BODY))) as server:
        [outcome] = fetch_in_turn(fc, [server.url("/x")])
        [request] = server.requests
    assert outcome.final is not None and outcome.final.request_headers == request.headers
    assert request.header("host") == f"127.0.0.1:{server.port}"


@pytest.mark.parametrize("transport", ["asyncio", "httpx"])
def test_a_cookie_set_on_a_redirect_is_not_sent_to_the_next_hop(fc: FetchConfig, transport: str) -> None:
    """Cookies stay off on both paths: each fetch is a fresh visitor, its hops included (docs/politeness.md)."""
    table = {
        "/login": response(302, b"", [("Set-Cookie", "session=abc; Path=/"), ("Location", "/page")]),
        "/page": response(200, BODY),
    }
    with WireServer(routes(table)) as server:
        [outcome] = fetch_in_turn(fc, [server.url("/login")], transport=transport)
        assert [r.path for r in server.requests] == ["/login", "/page"]
        assert all(r.header("cookie") is None for r in server.requests)
    assert [e.status for e in outcome.exchanges] == [302, 200] and body_of(outcome) == BODY
    assert outcome.exchanges[0].header("set-cookie") == "session=abc; Path=/"


@pytest.mark.parametrize("transport", ["asyncio", "httpx"])
def test_repeated_retry_after_headers_read_as_httpx_joins_them(fc: FetchConfig, transport: str) -> None:
    answers = iter([response(429, b"", [("Retry-After", "0"), ("Retry-After", "0")]), response(200, BODY)])
    with WireServer(lambda request, conn: conn.send(next(answers))) as server:
        [outcome] = fetch_in_turn(dataclasses.replace(fc, retries=1), [server.url("/")], transport=transport)
    # "0, 0" is no valid Retry-After, so the backoff applies, as it did through httpx's Headers.get.
    assert [a.status for a in outcome.attempts] == [429] and outcome.attempts[0].waited_s == fc.backoff_base
    assert body_of(outcome) == BODY
