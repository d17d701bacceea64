"""Every numeric and IPv4-embedding host form is normalised before the guard, on every hop, with
or without `[fetch] proxy`: a refused form never reaches the proxy or a connect attempt.

The proxy imitation is a WireServer on 127.0.0.1 that records the request targets it is asked
for; a SilentServer on 127.0.0.1 counts connections that reached the loopback address itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import httpcore
import pytest

from archiver.config import FetchConfig
from archiver.errors import BlockedAddressError, InvalidURLError
from archiver.models import ErrorKind
from archiver.net.guard import AddressGuard, GuardedBackend
from archiver.urls import is_public_address, parse_url
from tests.net.test_guard import fetch_all, guarded  # noqa: F401 - the fixture
from tests.wire import SilentServer, WireServer, response, routes

NUMERIC = ["2130706433", "0x7f.1", "127.1", "0x7f000001", "017700000001", "0x7F.0.0.1", "127.0.0.1."]
EMBEDDING = ["[::127.0.0.1]", "[64:ff9b::7f00:1]", "[::ffff:0:127.0.0.1]", "[2002:7f00:1::]", "[64:ff9b:1::7f00:1]"]
TEREDO = "[2001:0:4136:e378:8000:63bf:3fff:fdd2]"


@pytest.mark.parametrize("host", NUMERIC)
def test_numeric_hosts_are_read_as_ipv4_like_a_browser(host: str) -> None:
    parsed = parse_url(f"http://{host}:8080/x")
    assert (parsed.host, parsed.is_ip_literal, parsed.wire) == ("127.0.0.1", True, "http://127.0.0.1:8080/x")
    assert parse_url("http://0/").host == "0.0.0.0"
    assert parse_url("http://0x08.0x08.8.010/").host == "8.8.8.8"  # public stays public


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.0.0.1", "0x100000000", "example.09", "1..2"])
def test_hosts_ending_in_a_bad_number_are_invalid(host: str) -> None:
    with pytest.raises(InvalidURLError, match="IPv4|empty label"):
        parse_url(f"http://{host}/")


def test_ipv6_forms_embedding_ipv4_are_judged_as_that_ipv4() -> None:
    for host in EMBEDDING + [TEREDO]:
        assert not is_public_address(parse_url(f"http://{host}/").host), host
    for public in ("[64:ff9b::808:808]", "[2002:808:808::]", "[::ffff:8.8.8.8]", "[2606:4700:4700::1111]"):
        assert is_public_address(parse_url(f"http://{public}/").host), public
    assert "(IPv4 127.0.0.1)" in str(
        pytest.raises(BlockedAddressError, AddressGuard().check, "h", "64:ff9b::7f00:1").value
    )


def test_with_a_proxy_no_numeric_or_embedded_form_reaches_it(guarded: FetchConfig) -> None:  # noqa: F811
    with SilentServer() as secret:
        hosts = NUMERIC + EMBEDDING + [TEREDO, "0"]
        urls = [f"http://{host}:{secret.port}/secret" for host in hosts]
        redirect = response(302, b"", [("Location", f"http://2130706433:{secret.port}/secret")])
        table = {"/hop": redirect}
        with WireServer(routes(table, default=response(200, b"via proxy"))) as proxy:
            config = dataclasses.replace(guarded, proxy=proxy.base)
            outcomes = fetch_all(config, *urls, "http://redirector.test/hop")
            asked = [r.target for r in proxy.requests]
        time.sleep(0.1)
        assert secret.connections == 0
    # Only the named first hop went to the proxy; its redirect to 2130706433 was refused.
    assert asked == ["http://redirector.test/hop"]
    for url, outcome in zip([*urls, "redirect"], outcomes, strict=True):
        assert outcome.failure is not None and outcome.failure.kind is ErrorKind.BLOCKED_ADDRESS, url
    assert [e.status for e in outcomes[-1].exchanges] == [302]


def test_without_a_proxy_no_form_reaches_a_connect_attempt(guarded: FetchConfig) -> None:  # noqa: F811
    with SilentServer() as secret:
        urls = [f"http://{host}:{secret.port}/" for host in NUMERIC + EMBEDDING + [TEREDO]]
        outcomes = fetch_all(guarded, *urls)
        time.sleep(0.1)
        assert secret.connections == 0
    assert all(o.failure is not None and o.failure.kind is ErrorKind.BLOCKED_ADDRESS for o in outcomes)
    assert all(o.exchanges == [] for o in outcomes)


class CountingBackend(httpcore.AsyncNetworkBackend):
    """An inner backend that only counts connect attempts (and refuses them)."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        self.attempts.append(host)
        raise httpcore.ConnectError("counted")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def test_backend_never_attempts_an_embedded_loopback() -> None:
    inner = CountingBackend()
    backend = GuardedBackend(AddressGuard(), inner=inner)
    for host in (
        "::7f00:1",
        "64:ff9b::7f00:1",
        "::ffff:0:7f00:1",
        "2002:7f00:1::",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    ):
        with pytest.raises(BlockedAddressError):
            asyncio.run(backend.connect_tcp(host, 80, timeout=1))
    assert inner.attempts == []
