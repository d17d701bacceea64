"""The address guard (reliability.md C9, C10): every private form refused before a byte is sent.

"Before any byte is sent" is proved on the wire: a listening socket on the loopback address
the URL points at must see no connection. A server on 127.0.0.2, allow-listed as if it were a
public site, stands in for the attacker's page in the redirect and rebinding cases.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import httpcore
import httpx
import pytest

from archiver.config import Config, FetchConfig
from archiver.errors import BlockedAddressError, FetchFailure
from archiver.models import ErrorKind
from archiver.net.exchange import FetchOutcome
from archiver.net.fetcher import Fetcher
from archiver.net.guard import AddressGuard, GuardedBackend, HostPools, guarded_transport
from tests.wire import SilentServer, WireServer, response, routes

PUBLIC_STAND_IN = "127.0.0.2"


@pytest.fixture
def guarded(config: Config) -> FetchConfig:
    return dataclasses.replace(config.fetch, allow_private_networks=False, timeout=2.0, deadline=5.0, retries=0)


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with SilentServer() as server:
        yield server


def fetch_all(config: FetchConfig, *urls: str, **kwargs: Any) -> list[FetchOutcome]:
    async def run() -> list[FetchOutcome]:
        async with Fetcher(config, **kwargs) as fetcher:
            return list(await asyncio.gather(*(fetcher.fetch(u) for u in urls)))

    outcomes = asyncio.run(run())
    for outcome in outcomes:
        outcome.close()
    return outcomes


def forms(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/",
        f"http://2130706433:{port}/",
        f"http://0x7f.1:{port}/",
        f"http://127.1:{port}/",
        f"http://[::1]:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.100.100.200/",
        "http://[fe80::1]/",
        f"http://0.0.0.0:{port}/",
        f"http://localhost.:{port}/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://[fd00::1]/",
    ]


def test_every_private_form_is_refused_before_connecting(guarded: FetchConfig, silent: SilentServer) -> None:
    urls = forms(silent.port)
    outcomes = fetch_all(guarded, *urls)
    time.sleep(0.1)  # give a stray connection time to show up
    assert silent.connections == 0 and silent.received == 0
    for url, outcome in zip(urls, outcomes, strict=True):
        assert outcome.failure is not None and outcome.failure.kind is ErrorKind.BLOCKED_ADDRESS, url
        assert outcome.exchanges == [] and outcome.attempts == []
        assert "not a public address" in outcome.failure.message
        assert "allow_private_networks" in outcome.failure.message
    mapped = outcomes[urls.index(f"http://[::ffff:127.0.0.1]:{silent.port}/")]
    assert mapped.failure is not None and "127.0.0.1" in mapped.failure.message


def test_allow_private_networks_turns_the_guard_off(guarded: FetchConfig) -> None:
    with WireServer(routes({"/": response(200, b"local")})) as server:
        [blocked] = fetch_all(guarded, server.url("/"))
        [allowed] = fetch_all(dataclasses.replace(guarded, allow_private_networks=True), server.url("/"))
        assert server.hits() == 1
    assert blocked.failure is not None and blocked.failure.kind is ErrorKind.BLOCKED_ADDRESS
    assert allowed.failure is None and allowed.final is not None and allowed.final.status == 200


def test_redirect_to_loopback_is_blocked_at_that_hop(guarded: FetchConfig) -> None:
    with SilentServer(host="127.0.0.1") as secret:
        location = f"http://127.0.0.1:{secret.port}/secret"
        with WireServer(routes({"/": response(302, b"", [("Location", location)])}), host=PUBLIC_STAND_IN) as site:
            [outcome] = fetch_all(guarded, site.url("/"), allow_addresses=[PUBLIC_STAND_IN])
        time.sleep(0.1)
        assert secret.connections == 0
    assert outcome.failure is not None and outcome.failure.kind is ErrorKind.BLOCKED_ADDRESS
    assert [(e.status, e.ip_address) for e in outcome.exchanges] == [(302, PUBLIC_STAND_IN)]


def test_redirect_to_a_name_resolving_to_loopback_is_blocked(guarded: FetchConfig) -> None:
    table = {"site.test": [PUBLIC_STAND_IN], "internal.test": ["127.0.0.1"]}
    with SilentServer(host="127.0.0.1") as secret:
        target = f"http://internal.test:{secret.port}/admin"
        with WireServer(routes({"/": response(301, b"", [("Location", target)])}), host=PUBLIC_STAND_IN) as site:
            url = f"http://site.test:{site.port}/"
            [outcome] = fetch_all(guarded, url, allow_addresses=[PUBLIC_STAND_IN], resolver=resolver(table))
        assert secret.connections == 0
    assert outcome.failure is not None and outcome.failure.kind is ErrorKind.BLOCKED_ADDRESS
    assert "internal.test" in outcome.failure.message and len(outcome.exchanges) == 1


def resolver(table: dict[str, list[str]], calls: list[str] | None = None) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        return table[host]

    return resolve


def test_dns_rebinding_cannot_reach_loopback(guarded: FetchConfig) -> None:
    answers = [[PUBLIC_STAND_IN], ["127.0.0.1"]]
    calls: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return answers[min(len(calls), len(answers)) - 1]

    # The site closes every connection, so the second fetch must connect (and resolve) again.
    page = response(200, b"public page", [("Connection", "close")])
    with WireServer(routes({"/": page}), host=PUBLIC_STAND_IN) as site:
        with SilentServer(host="127.0.0.1", port=site.port) as secret:
            url = f"http://rebind.test:{site.port}/"

            async def twice() -> list[FetchOutcome]:
                async with Fetcher(guarded, resolver=rebinding, allow_addresses=[PUBLIC_STAND_IN]) as fetcher:
                    return [await fetcher.fetch(url), await fetcher.fetch(url)]

            first, second = asyncio.run(twice())
            first.close()
            second.close()
            time.sleep(0.1)
            assert secret.connections == 0
        assert site.hits() == 1
    assert calls == ["rebind.test", "rebind.test"]
    assert first.failure is None and first.final is not None and first.final.ip_address == PUBLIC_STAND_IN
    assert second.failure is not None and second.failure.kind is ErrorKind.BLOCKED_ADDRESS


def test_a_name_with_any_private_address_is_refused(guarded: FetchConfig) -> None:
    with WireServer(routes({"/": response(200, b"x")}), host=PUBLIC_STAND_IN) as site:
        table = {"mixed.test": [PUBLIC_STAND_IN, "127.0.0.1"]}
        url = f"http://mixed.test:{site.port}/"
        [outcome] = fetch_all(guarded, url, allow_addresses=[PUBLIC_STAND_IN], resolver=resolver(table))
        assert site.connections == 0
    assert outcome.failure is not None and outcome.failure.kind is ErrorKind.BLOCKED_ADDRESS


def test_explicit_proxy_judges_literal_ips_only(guarded: FetchConfig) -> None:
    with WireServer(routes({}, default=response(200, b"via proxy"))) as proxy:
        config = dataclasses.replace(guarded, proxy=proxy.base)
        literal, named = fetch_all(config, "http://127.0.0.1:9/secret", "http://example.test/page")
        # The proxy resolves names itself, so a name goes through; a private literal never does.
        assert [r.target for r in proxy.requests] == ["http://example.test/page"]
    assert literal.failure is not None and literal.failure.kind is ErrorKind.BLOCKED_ADDRESS
    assert named.failure is None and named.final is not None and named.final.body.size == len(b"via proxy")


def test_backend_refuses_before_opening_a_socket(silent: SilentServer) -> None:
    backend = GuardedBackend(AddressGuard())

    async def connect(host: str) -> None:
        await backend.connect_tcp(host, silent.port, timeout=1)

    for host in ("127.0.0.1", "::ffff:127.0.0.1", "localhost"):
        with pytest.raises(BlockedAddressError):
            asyncio.run(connect(host))
    with pytest.raises(httpcore.ConnectError):
        asyncio.run(backend.connect_unix_socket("/tmp/x.sock"))
    assert silent.connections == 0


def test_backend_connects_to_the_validated_address(silent: SilentServer) -> None:
    backend = GuardedBackend(AddressGuard(allow=["127.0.0.1"], resolver=resolver({"name.test": ["127.0.0.1"]})))

    async def connect() -> Any:
        stream = await backend.connect_tcp("name.test", silent.port, timeout=1)
        try:
            return stream.get_extra_info("server_addr")
        finally:
            await stream.aclose()

    assert asyncio.run(connect()) == ("127.0.0.1", silent.port)


def test_guard_judgements() -> None:
    guard = AddressGuard(allow=["127.0.0.2"])
    for address in ("8.8.8.8", "2606:4700:4700::1111", "127.0.0.2"):
        assert guard.is_allowed(address), address
    for address in ("127.0.0.1", "::ffff:10.0.0.1", "100.64.0.1", "224.0.0.1", "::", "fe80::1%eth0", "junk"):
        assert not guard.is_allowed(address), address
    assert AddressGuard(enabled=False).is_allowed("127.0.0.1")


def test_unresolvable_and_empty_names_are_dns_failures() -> None:
    guard = AddressGuard(resolver=resolver({"empty.test": []}))
    with pytest.raises(FetchFailure) as caught:
        asyncio.run(guard.resolve("empty.test", 80))
    assert caught.value.kind is ErrorKind.DNS
    with pytest.raises(FetchFailure) as caught:
        asyncio.run(AddressGuard().resolve("nothing-here.invalid", 80))
    assert caught.value.kind is ErrorKind.DNS and "nothing-here.invalid" in caught.value.message


def test_pools_are_per_origin_reused_and_closed_when_idle() -> None:
    now = [0.0]
    backend = GuardedBackend(AddressGuard(enabled=False))
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=2)
    pools = HostPools(lambda: guarded_transport(backend, limits=limits), idle_expiry=30.0, clock=lambda: now[0])
    ok = routes({}, default=response(200, b"ok"))
    with WireServer(ok) as first, WireServer(ok, host=PUBLIC_STAND_IN) as second:

        async def run() -> None:
            async with httpx.AsyncClient(transport=pools) as client:
                for _ in range(5):
                    assert (await client.get(first.url("/"))).status_code == 200
                assert len(pools) == 1
                now[0] = 31.0  # the first origin has been idle past the expiry
                assert (await client.get(second.url("/"))).status_code == 200
                assert len(pools) == 1
                for _ in range(50):  # the server sees the close a moment later
                    if first.open_connections == 0:
                        break
                    await asyncio.sleep(0.01)
                assert first.open_connections == 0 and second.open_connections == 1

        asyncio.run(run())
        assert first.connections == 1 and first.hits() == 5  # one kept-alive connection, reused
