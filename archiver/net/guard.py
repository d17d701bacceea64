"""Where connections are opened: the address guard, and the per-origin pools that use it.

The guard never lets a fetch reach loopback, private, link-local or reserved addresses. It judges
the resolved IP at connect time, not host strings, because numeric forms, mapped IPv6, redirects
and DNS rebinding defeat any blocklist; then it connects to the validated IP. `HostPools` gives the
httpx path one small guarded pool per origin. See docs/politeness.md. Before the guard, `parse_url`
rewrites every numeric host form to dotted IPv4 and `is_public_address` judges IPv6 forms that
embed IPv4 (NAT64, compatible, translated, 6to4) as that IPv4, so with `[fetch] proxy` too no such
form reaches the proxy or a connect attempt.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any

import anyio
import httpcore
import httpx

from archiver.errors import BlockedAddressError, FetchFailure
from archiver.models import ErrorKind, Problem
from archiver.urls import ParsedURL, embedded_ipv4, is_public_address

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""An async function from (host, port) to IP address strings; raises socket.gaierror or FetchFailure."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's resolver (getaddrinfo in a thread), addresses in its order, deduplicated."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]), None)
    return list(seen)


def _literal(host: str) -> str | None:
    """The normalised IP when `host` is an IP literal (brackets allowed), else None."""
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(text.split("%")[0]))
    except ValueError:
        return None


def _shown(address: str) -> str:
    """An address as a person should read it: `::ffff:127.0.0.1` also names its IPv4 form."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    embedded = embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    if embedded is not None:
        return f"{address} (IPv4 {embedded})"
    return address


class AddressGuard:
    """Resolves host names and judges addresses; `enabled=False` lets every address through.

    `allow` names addresses to treat as public anyway: tests use it to stand a loopback server
    in for a public site (reliability.md C: "the SSRF guard needs a test-only allow-list").
    """

    def __init__(
        self,
        *,
        enabled: bool = True,
        resolver: Resolver = system_resolver,
        allow: Iterable[str] = (),
    ) -> None:
        self.enabled = enabled
        self.resolver = resolver
        self._allow = frozenset(ipaddress.ip_address(a) for a in allow)

    def is_allowed(self, address: str) -> bool:
        if not self.enabled:
            return True
        try:
            if ipaddress.ip_address(address.split("%")[0]) in self._allow:
                return True
        except ValueError:
            return False
        return is_public_address(address)

    def check(self, host: str, address: str) -> None:
        """Raise BlockedAddressError unless `address` may be connected to."""
        if not self.is_allowed(address):
            raise BlockedAddressError(host, _shown(address))

    def check_literal(self, url: ParsedURL) -> None:
        """Judge a URL whose host is an IP literal without connecting (used before every request)."""
        if url.is_ip_literal:
            self.check(url.host, url.host)

    async def resolve(self, host: str, port: int, *, check: bool = True) -> list[str]:
        """Every address of `host`, each judged when `check`; raises FetchFailure(DNS) when none."""
        literal = _literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = list(await self.resolver(host, port))
            except socket.gaierror as exc:
                raise FetchFailure(
                    ErrorKind.DNS,
                    Problem(
                        f"host {host!r}",
                        f"could not be resolved ({exc.strerror or exc})",
                        "check the host name for typos, or whether the site still exists",
                    ),
                ) from exc
            if not addresses:
                raise FetchFailure(ErrorKind.DNS, f"host {host!r} resolves to no address; check the host name")
        if check:
            # All of them, not just the first: a name answering public and private addresses is refused.
            for address in addresses:
                self.check(host, address)
        return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend that resolves, judges, then connects to the validated IP.

    `check=False` still resolves (so DNS failures stay distinguishable from refused
    connections) but judges nothing: used for the proxy connection and when private networks
    are allowed.
    """

    def __init__(self, guard: AddressGuard, *, check: bool = True, inner: httpcore.AsyncNetworkBackend | None = None):
        self.guard = guard
        self.check = check and guard.enabled
        self._inner: httpcore.AsyncNetworkBackend = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await self.guard.resolve(host, port, check=self.check)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host!r} took longer than {timeout} s") from exc
        last: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None  # resolve() never returns an empty list
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError(f"unix socket {path!r} refused: the fetcher connects over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(
    backend: GuardedBackend,
    *,
    limits: httpx.Limits,
    proxy: str | None = None,
    verify: Any = True,
    trust_env: bool = False,
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connection pool opens every connection through `backend`.

    httpx 0.28 takes no network backend argument, so the pool's backend is swapped after
    construction; httpcore hands `_network_backend` to every connection it creates. The
    assertion fails loudly if a future httpcore renames it (both are pinned in pyproject).
    """
    transport = httpx.AsyncHTTPTransport(limits=limits, proxy=proxy or None, verify=verify, trust_env=trust_env)
    pool = transport._pool
    if not hasattr(pool, "_network_backend"):
        raise RuntimeError("httpcore's connection pool has no _network_backend; the address guard cannot be installed")
    pool._network_backend = backend
    return transport


class _CountedStream(httpx.AsyncByteStream):
    """A response body stream that tells its pool when the response is done with."""

    def __init__(self, inner: httpx.AsyncByteStream, done: Callable[[], None]) -> None:
        self._inner = inner
        self._done: Callable[[], None] | None = done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            if self._done is not None:
                self._done()
                self._done = None


class _Pool:
    __slots__ = ("in_flight", "last_used", "transport")

    def __init__(self, transport: httpx.AsyncHTTPTransport, now: float) -> None:
        self.transport = transport
        self.in_flight = 0
        self.last_used = now


class HostPools(httpx.AsyncBaseTransport):
    """One small connection pool per origin, created on first use and closed when idle.

    Why not one big pool: httpcore's pool scans every connection (and polls every socket) on
    each request, so with connections to dozens of hosts it spends most of its time there
    (measured: 80 connections, 20 hosts, over half the CPU). Per-origin pools keep each scan
    to the few connections of one host. A pool unused for `idle_expiry` seconds with nothing in
    flight is closed, so a night over thousands of hosts does not keep thousands of sockets.
    """

    def __init__(
        self,
        factory: Callable[[], httpx.AsyncHTTPTransport],
        *,
        idle_expiry: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = factory
        self._idle_expiry = idle_expiry
        self._clock = clock
        self._pools: dict[tuple[bytes, bytes, int | None], _Pool] = {}
        self._last_sweep = clock()

    def __len__(self) -> int:
        return len(self._pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        now = self._clock()
        if now - self._last_sweep > self._idle_expiry:
            await self._sweep(now)
        key = (request.url.raw_scheme, request.url.raw_host, request.url.port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool(self._factory(), now)
        pool.in_flight += 1
        pool.last_used = now

        def done() -> None:
            pool.in_flight -= 1
            pool.last_used = self._clock()

        try:
            response = await pool.transport.handle_async_request(request)
        except BaseException:
            done()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _CountedStream(response.stream, done)
        return response

    async def _sweep(self, now: float) -> None:
        self._last_sweep = now
        idle = [k for k, p in self._pools.items() if p.in_flight == 0 and now - p.last_used > self._idle_expiry]
        for key in idle:
            await self._pools.pop(key).transport.aclose()

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.transport.aclose()
