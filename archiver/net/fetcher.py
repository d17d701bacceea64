"""The fetcher: one URL in, every hop as sent and received out, never an exception per URL.

Built on httpx (streaming, per-phase timeouts, a shared pool); its measured gaps are closed here,
not by callers: redirects followed by hand so every hop is an `Exchange` checked by the address
guard, raw bodies (what the WARC digest covers; decoding happens elsewhere, bounded), a total
deadline per fetch, no cookies, no environment proxies; without a proxy, requests skip
AsyncClient.send for our transport. Concurrency and per-host limits are enforced inside, so
callers may `asyncio.gather` many `fetch()` calls. See docs/politeness.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http.cookiejar import Cookie, CookieJar
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import httpx
from httpx._utils import get_environment_proxies  # private, but httpx is pinned <0.29

from archiver.clock import Clock, utc_now
from archiver.config import FetchConfig
from archiver.content.body import Body
from archiver.errors import FetchFailure, InvalidURLError, quoted
from archiver.models import ErrorKind, Failure, Problem, Truncation
from archiver.net.exchange import Attempt, Exchange, FetchOutcome
from archiver.net.guard import AddressGuard, GuardedBackend, HostPools, Resolver, guarded_transport, system_resolver
from archiver.net.politeness import (
    HostLimiter,
    Monotonic,
    RetryPolicy,
    Sleep,
    retry_delay,
    retryable_error,
    retryable_status,
)
from archiver.net.transport import AsyncioTransport, RawResponse
from archiver.urls import ParsedURL, parse_url

ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ACCEPT_LANGUAGE = "en-US,en;q=0.9,*;q=0.5"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_MAX_URL = 65536  # httpx refuses longer URLs (InvalidURL); the lean path lets httpx say so
# Printable ASCII but space: what stays as it is in a redirect target's path and query.
_URL_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))


class _NoCookies(CookieJar):
    """A jar that keeps nothing: a cookie from one fetch must not change what another one sees."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def set_cookie(self, cookie: Cookie) -> None:
        return None


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    # latin-1 maps every byte to one character, so the wire bytes are recoverable exactly.
    return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw)


def redirect_target(base: str, location: str) -> str:
    """The absolute URL a `Location` header points to, encoded as a browser would send it.

    Unlike a URL a person typed (which `parse_url` never repairs), a Location header is read the
    way browsers read it: its bytes as UTF-8, relative to the hop's URL, with spaces and
    non-ASCII characters in the path and query percent-encoded. The host is left alone, so a
    malformed host is still refused by `parse_url`.
    """
    raw = location.strip().encode("latin-1", "replace")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    parts = urlsplit(urljoin(base, text))
    path = quote(parts.path, safe=_URL_SAFE)
    query = quote(parts.query, safe=_URL_SAFE)
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def _header(response: RawResponse, name: bytes) -> str | None:
    """A response header (`name` in lower case) as httpx's Headers.get gives it: repeated values joined."""
    values = [value.decode("latin-1") for key, value in response.headers if key.lower() == name]
    return ", ".join(values) if values else None


def _peer_ip(response: httpx.Response) -> str | None:
    """The IP the response came from (the validated address the guard connected to)."""
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    address = stream.get_extra_info("server_addr")
    return str(address[0]) if address else None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything it was raised from, exception groups included (anyio uses them)."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        for nxt in (current.__cause__, current.__context__):
            if nxt is not None:
                stack.append(nxt)


def _tls_reason(exc: BaseException) -> str | None:
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause.verify_message or str(cause)
        if isinstance(cause, ssl.SSLError):
            return cause.reason or str(cause)
    return None


def describe_failure(exc: BaseException, url: str, timeout: float) -> Failure:
    """Translate an httpx/httpcore/OS error into a typed Failure: one sentence and at most one hint."""
    if isinstance(exc, FetchFailure):
        return Failure(exc.kind, exc.message, exc.problem)
    if isinstance(exc, httpx.PoolTimeout):
        return Failure.of(
            ErrorKind.POOL_TIMEOUT,
            Problem(
                f"no free connection for {url}",
                f"within {timeout:g} s",
                "lower [fetch] concurrency or raise [fetch] timeout",
            ),
        )
    if isinstance(exc, httpx.ConnectTimeout):
        return Failure.of(
            ErrorKind.TIMEOUT,
            Problem(
                f"connecting for {url}",
                f"took longer than {timeout:g} s",
                "the host may be down or filtering, try again later",
            ),
        )
    if isinstance(exc, httpx.TimeoutException):
        return Failure.of(
            ErrorKind.TIMEOUT,
            Problem(
                url,
                f"sent nothing for {timeout:g} s",
                "the server may be overloaded, try again later or raise [fetch] timeout",
            ),
        )
    if isinstance(exc, httpx.ProxyError):
        return Failure.of(ErrorKind.PROXY, Problem(f"the proxy refused {url}:", str(exc), "check [fetch] proxy"))
    if isinstance(exc, httpx.ConnectError):
        reason = _tls_reason(exc)
        if reason is not None:
            return Failure.of(
                ErrorKind.TLS,
                Problem(
                    f"TLS verification failed for {url}:",
                    f"{reason}; nothing was stored from it",
                    "the certificate is not valid for this site; open it in a browser to see why",
                ),
            )
        if any(isinstance(c, ConnectionRefusedError) for c in _causes(exc)):
            return Failure.of(
                ErrorKind.CONNECT,
                Problem(
                    f"connection refused for {url}:",
                    "nothing listens on that port",
                    "check the URL's port or try again when the site is back",
                ),
            )
        return Failure.of(
            ErrorKind.CONNECT, Problem(f"could not connect for {url}:", str(exc), "check the host and try again later")
        )
    if isinstance(exc, httpx.ProtocolError):
        return Failure.of(
            ErrorKind.PROTOCOL,
            Problem(url, f"broke the HTTP protocol: {exc}", "the server or a middlebox is faulty"),
        )
    if isinstance(exc, httpx.NetworkError):
        return Failure.of(ErrorKind.CONNECT, Problem(f"the connection for {url}", f"broke: {exc}", "try again later"))
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return Failure.of(ErrorKind.INVALID_URL, Problem(f"httpx cannot request {url}:", str(exc)))
    if isinstance(exc, httpx.HTTPError):
        return Failure.of(ErrorKind.PROTOCOL, Problem(f"request for {url}", f"failed: {exc}"))
    return Failure.of(
        ErrorKind.IO,
        Problem(f"request for {url}", f"failed with an OS error: {exc}", "check the machine's network"),
    )


@dataclass
class _Budget:
    """What is left of the fetch's total deadline, in seconds."""

    remaining: float


@dataclass
class _Try:
    """One request's result: an exchange (maybe partial), a failure, or a retryable status."""

    exchange: Exchange | None = None
    failure: Failure | None = None
    retry_status: int | None = None
    retry_after: str | None = None


class Fetcher:
    """Fetches URLs with one shared httpx client; use as `async with Fetcher(config) as f`.

    `resolver` replaces DNS (tests: rebinding), `clock` stamps `started_at`, `monotonic` and
    `sleep` drive deadlines, politeness waits and retry delays. `allow_addresses` are treated as
    public by the guard (tests only: a loopback server standing in for a public site).
    `ssl_context` replaces the default certificate store (tests: a trustme CA). `transport`
    picks the connection layer for direct connections: "asyncio" (archiver.net.transport, the
    default) or "httpx" (httpcore's pools, as before); both open connections through the guard.
    """

    def __init__(
        self,
        config: FetchConfig,
        *,
        resolver: Resolver | None = None,
        clock: Clock = utc_now,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        ssl_context: ssl.SSLContext | None = None,
        allow_addresses: Iterable[str] = (),
        transport: Literal["asyncio", "httpx"] = "asyncio",
    ) -> None:
        self.config = config
        self._engine = transport
        self.guard = AddressGuard(
            enabled=not config.allow_private_networks,
            resolver=resolver if resolver is not None else system_resolver,
            allow=allow_addresses,
        )
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._verify: ssl.SSLContext | None = ssl_context
        self._default_ssl: ssl.SSLContext | None = None
        self._policy = RetryPolicy.from_config(config)
        self._hosts = HostLimiter(config.host_concurrency, config.host_interval, clock=monotonic, sleep=sleep)
        self._global = asyncio.Semaphore(max(1, config.concurrency))
        self._client: httpx.AsyncClient | None = None
        # Set when every fetch goes straight to our transport (no proxy): then `_request` sends a
        # head built once per origin instead of going through AsyncClient.send (see `_lean_request`).
        self._lean: AsyncioTransport | None = None
        self._heads: dict[tuple[str, str, int], tuple[tuple[tuple[str, str], ...], bytes]] = {}

    def _transport(self, proxy: str | None) -> httpx.AsyncBaseTransport:
        """Guarded per-origin connections; through `proxy` when given (then only literal IPs are
        judged, by check_literal before each request, because the proxy resolves names itself).

        Direct connections use the asyncio transport (archiver.net.transport: 3-4x less CPU per
        request than httpcore on loopback); proxies and `transport="httpx"` use httpcore pools.
        """
        config = self.config
        if proxy is None and self._engine == "asyncio":
            return AsyncioTransport(
                self.guard,
                ssl_context=self._verify if self._verify is not None else self._ssl_context,
                max_idle=max(1, config.host_concurrency),
                keepalive_expiry=30.0,
                clock=self._monotonic,
            )
        # In-flight requests are capped by the host limiter; the pool only keeps idle connections.
        limits = httpx.Limits(
            max_connections=None, max_keepalive_connections=max(1, config.host_concurrency), keepalive_expiry=30.0
        )
        backend = GuardedBackend(self.guard, check=proxy is None)
        # One SSL context for every pool: loading the CA bundle costs milliseconds per context.
        verify = self._verify if self._verify is not None else self._ssl_context()

        def pool() -> httpx.AsyncHTTPTransport:
            return guarded_transport(backend, limits=limits, proxy=proxy, verify=verify, trust_env=config.trust_env)

        return HostPools(pool, idle_expiry=30.0, clock=self._monotonic)

    def _ssl_context(self) -> ssl.SSLContext:
        if self._default_ssl is None:
            self._default_ssl = httpx.create_ssl_context(trust_env=self.config.trust_env)
        return self._default_ssl

    def _build_client(self) -> httpx.AsyncClient:
        config = self.config
        mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
        if config.proxy:
            transport = self._transport(config.proxy)
        else:
            transport = self._transport(None)
            if config.trust_env:
                # httpx ignores environment proxies once a transport is given, so read them here,
                # the way httpx itself would: NO_PROXY entries map to None (a direct connection).
                for pattern, proxy_url in get_environment_proxies().items():
                    mounts[pattern] = None if proxy_url is None else self._transport(proxy_url)
        self._lean = transport if isinstance(transport, AsyncioTransport) and not mounts else None
        self._heads.clear()
        timeout = httpx.Timeout(config.timeout)
        return httpx.AsyncClient(
            transport=transport,
            mounts=mounts or None,
            headers={
                "User-Agent": config.user_agent,
                "Accept": ACCEPT,
                "Accept-Language": ACCEPT_LANGUAGE,
                # gzip/deflate by default ([fetch] accept_encoding), like wget and Heritrix: every
                # WARC reader (warcio check, pywb, replay tools) can undo them. A server may still
                # send br or zstd; the encoded bytes are stored and our decoder reads them back.
                "Accept-Encoding": config.accept_encoding,
            },
            cookies=_NoCookies(),
            timeout=timeout,
            follow_redirects=False,
            trust_env=config.trust_env,
        )

    async def __aenter__(self) -> Fetcher:
        self._client = self._build_client()
        await self._client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.__aexit__(exc_type, exc, tb)

    @property
    def client(self) -> httpx.AsyncClient:
        """The shared, guarded client: archive modules make their API calls through it too."""
        if self._client is None:
            raise RuntimeError("Fetcher used outside 'async with'")
        return self._client

    def defer_host(self, host: str, seconds: float) -> None:
        """Start nothing on `host` for `seconds` (another process fetched it just now)."""
        self._hosts.defer(host, seconds)

    def host_waits(self) -> dict[str, float]:
        """Seconds each host must still wait before its next request (interval, Retry-After): handed
        to whoever fetches the host next, so politeness outlives this Fetcher."""
        return self._hosts.waits()

    async def fetch(self, url: str) -> FetchOutcome:
        """Fetch `url`, following redirects; per-URL problems end up in `outcome.failure`."""
        if self._client is None:
            raise RuntimeError("Fetcher.fetch() called outside `async with Fetcher(...)`")
        outcome = FetchOutcome(requested=url, started_at=self._clock())
        began = self._monotonic()
        try:
            await self._follow(url, outcome)
        except BaseException:
            outcome.close()
            raise
        finally:
            outcome.elapsed_ms = round((self._monotonic() - began) * 1000)
        return outcome

    async def _follow(self, url: str, outcome: FetchOutcome) -> None:
        try:
            target = parse_url(url)
        except InvalidURLError as exc:
            outcome.failure = Failure(ErrorKind.INVALID_URL, f"{exc}; correct the URL and try again")
            return
        budget = _Budget(self.config.deadline)
        max_redirects = max(0, self.config.max_redirects)
        for hop in range(max_redirects + 1):
            exchange, failure = await self._retrying(target, outcome, budget)
            if exchange is not None:
                outcome.exchanges.append(exchange)
            if failure is not None:
                outcome.failure = failure
                return
            assert exchange is not None
            location = exchange.header("location") if exchange.status in REDIRECT_STATUSES else None
            if location is None:
                return
            if hop == max_redirects:
                outcome.failure = Failure(
                    ErrorKind.TOO_MANY_REDIRECTS,
                    f"{url} still redirected after {max_redirects} hops (last to {location!r}); "
                    "it may loop, or raise [fetch] max_redirects",
                )
                return
            try:
                target = parse_url(redirect_target(target.wire, location))
            except (InvalidURLError, ValueError) as exc:
                outcome.failure = Failure(
                    ErrorKind.INVALID_URL, f"{target.wire} redirected to {location!r}, which is refused: {exc}"
                )
                return

    async def _retrying(
        self, target: ParsedURL, outcome: FetchOutcome, budget: _Budget
    ) -> tuple[Exchange | None, Failure | None]:
        """One hop, retried per the politeness rules; the last answer stands."""
        retry = 0
        while True:
            may_retry = retry < self._policy.retries
            result = await self._attempt(target, budget, may_retry)
            failed_early = result.exchange is None and result.failure is not None
            if result.retry_status is None and not (
                may_retry and failed_early and result.failure is not None and retryable_error(result.failure.kind)
            ):
                return result.exchange, result.failure
            delay = retry_delay(self._policy, retry, result.retry_after, self._clock())
            outcome.attempts.append(
                Attempt(
                    url=target.wire,
                    status=result.retry_status,
                    error=result.failure.message if result.failure is not None else None,
                    waited_s=delay,
                )
            )
            # Defer the whole host, not only this URL: a 429 is about us, not about one page.
            self._hosts.defer(target.host, delay)
            retry += 1

    async def _attempt(self, target: ParsedURL, budget: _Budget, may_retry: bool) -> _Try:
        try:
            self.guard.check_literal(target)
        except FetchFailure as exc:
            return _Try(failure=Failure(exc.kind, exc.message))
        async with self._hosts.slot(target.host), self._global:
            if budget.remaining <= 0:
                return _Try(failure=self._deadline_failure(target.wire, None))
            began = self._monotonic()
            try:
                return await self._request(target, budget.remaining, may_retry)
            finally:
                budget.remaining -= self._monotonic() - began

    def _raised(
        self, exc: BaseException, url: str, body: Body | None, deadline_hit: bool, timeout: float
    ) -> tuple[Failure, Truncation | None]:
        """What a request that raised failed of, and how the body that had arrived (if any) was cut."""
        if isinstance(exc, TimeoutError) and deadline_hit:
            failure = self._deadline_failure(url, body)
        else:
            failure = describe_failure(exc, url, timeout)
        if body is None:
            return failure, None
        timed_out = failure.kind in (ErrorKind.DEADLINE, ErrorKind.TIMEOUT)
        return failure, Truncation.TIME if timed_out else Truncation.DISCONNECT

    def _deadline_failure(self, url: str, body: Body | None) -> Failure:
        kept = "nothing arrived" if body is None else f"the {body.size} bytes that arrived are kept"
        return Failure(
            ErrorKind.DEADLINE,
            f"{url} took longer than the {self.config.deadline:g} s deadline ({kept}); "
            "raise [fetch] deadline for slow sites",
        )

    def _build(self, target: ParsedURL) -> httpx.Request | Failure:
        client = self._client
        assert client is not None
        try:
            return client.build_request("GET", target.wire)
        except (httpx.InvalidURL, ValueError) as exc:
            # parse_url is the gate, but a URL it lets through (or a redirect target) that httpx
            # still refuses must fail this URL alone, never the whole batch.
            return Failure(
                ErrorKind.INVALID_URL, f"invalid URL {quoted(target.original, 160)}: {quoted(str(exc), 200)}"
            )

    def _lean_head(self, target: ParsedURL) -> tuple[tuple[tuple[str, str], ...], bytes] | Failure:
        """The request headers for `target`'s origin and the serialised head, from one httpx build per origin.

        httpx builds the first request to each origin, so the headers (and their order) are
        exactly what AsyncClient.send would send; later requests reuse them with their own path.
        """
        origin = (target.scheme, target.host, target.port)
        cached = self._heads.get(origin)
        if cached is None:
            request = self._build(target)
            if isinstance(request, Failure):
                return request
            raw = request.headers.raw
            block = b"".join(name + b": " + value + b"\r\n" for name, value in raw) + b"\r\n"
            cached = self._heads[origin] = (_headers(raw), block)
        wire = target.wire
        path = wire[wire.index("/", len(target.scheme) + 3) :]
        if len(wire) > _MAX_URL or not path.isascii() or "/." in path:
            # httpx's own limits (and message) decide, and it removes dot segments from the path.
            request = self._build(target)
            if isinstance(request, Failure):
                return request
            path = request.url.raw_path.decode("ascii")
        return cached[0], b"GET " + path.encode("ascii") + b" HTTP/1.1\r\n" + cached[1]

    async def _request(self, target: ParsedURL, remaining: float, may_retry: bool) -> _Try:
        if self._lean is not None:
            return await self._lean_request(self._lean, target, remaining, may_retry)
        client = self._client
        assert client is not None
        started_at = self._clock()
        request = self._build(target)
        if isinstance(request, Failure):
            return _Try(failure=request)
        response: httpx.Response | None = None
        body: Body | None = None
        truncated: Truncation | None = None
        failure: Failure | None = None
        ip_address: str | None = None
        timer = asyncio.timeout(remaining)
        try:
            async with timer:
                response = await client.send(request, stream=True)
                ip_address = _peer_ip(response)
                if may_retry and retryable_status(response.status_code):
                    return _Try(retry_status=response.status_code, retry_after=response.headers.get("retry-after"))
                body = Body()
                truncated = await self._read_body(response, body)
        except ValueError as exc:
            # httpx parses a redirect's Location inside send() even when not following it; an
            # unusable one (e.g. a host that is not valid punycode) fails this URL, not the batch.
            failure = Failure(
                ErrorKind.INVALID_URL, f"{target.wire} answered with a URL that cannot be requested: {exc}"
            )
            if body is not None:
                truncated = Truncation.DISCONNECT
        except (httpx.HTTPError, FetchFailure, OSError) as exc:
            # asyncio.timeout raises TimeoutError (an OSError) when the deadline expires.
            failure, cut = self._raised(exc, target.wire, body, timer.expired(), self.config.timeout)
            truncated = cut or truncated
        except BaseException:
            if body is not None:
                body.close()
            raise
        finally:
            if response is not None:
                with contextlib.suppress(httpx.HTTPError, OSError):
                    await response.aclose()
        if response is None or body is None:
            return _Try(failure=failure)
        exchange = Exchange(
            url=target.wire,
            method=request.method,
            request_headers=_headers(request.headers.raw),
            http_version=response.http_version,
            status=response.status_code,
            reason=response.reason_phrase,
            response_headers=_headers(response.headers.raw),
            body=body,
            started_at=started_at,
            ip_address=ip_address,
            truncated=truncated,
        )
        return _Try(exchange=exchange, failure=failure)

    async def _lean_request(
        self, transport: AsyncioTransport, target: ParsedURL, remaining: float, may_retry: bool
    ) -> _Try:
        """`_request` straight on our transport: the same exchange, failures and truncations, without
        AsyncClient.send's generic machinery (auth, redirects, cookies, event hooks: none apply here)."""
        started_at = self._clock()
        head = self._lean_head(target)
        if isinstance(head, Failure):
            return _Try(failure=head)
        request_headers, message = head
        response: RawResponse | None = None
        body: Body | None = None
        truncated: Truncation | None = None
        failure: Failure | None = None
        timeout = self.config.timeout
        timer = asyncio.timeout(remaining)
        try:
            async with timer:
                response = await transport.send((target.scheme, target.host, target.port), message, timeout, timeout)
                if may_retry and retryable_status(response.status):
                    return _Try(retry_status=response.status, retry_after=_header(response, b"retry-after"))
                body = Body()
                if not await response.body.read_into(body.write, self.config.max_body_bytes):
                    truncated = Truncation.LENGTH
        except (httpx.HTTPError, FetchFailure, OSError) as exc:
            failure, cut = self._raised(exc, target.wire, body, timer.expired(), timeout)
            truncated = cut or truncated
        except BaseException:
            if body is not None:
                body.close()
            raise
        finally:
            if response is not None:
                response.body.close()
        if response is None or body is None:
            return _Try(failure=failure)
        exchange = Exchange(
            url=target.wire,
            method="GET",
            request_headers=request_headers,
            http_version=response.version.decode("ascii", errors="ignore"),
            status=response.status,
            reason=response.reason.decode("ascii", errors="ignore"),
            response_headers=_headers(response.headers),
            body=body,
            started_at=started_at,
            ip_address=response.address,
            truncated=truncated,
        )
        return _Try(exchange=exchange, failure=failure)

    async def _read_body(self, response: httpx.Response, body: Body) -> Truncation | None:
        """Stream the raw (content-encoded, de-chunked) body into `body`, stopping at the cap."""
        cap = self.config.max_body_bytes
        async for chunk in response.aiter_raw():
            room = cap - body.size
            if len(chunk) > room:
                if room > 0:
                    body.write(chunk[:room])
                return Truncation.LENGTH
            body.write(chunk)
        return None
