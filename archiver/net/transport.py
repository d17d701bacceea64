"""A lean HTTP/1.1 transport on asyncio streams, behind httpx's transport interface.

Not httpcore, because on loopback the capture engine spent over half its time in httpx's transport
stack rather than on the wire (cProfile on bench/capture.py). It stays an `httpx.AsyncBaseTransport`
(`Fetcher(..., transport="httpx")` goes back to httpcore) and keeps what the tests pin: every
connection through the address guard, httpx's exception types, per-read timeouts, stale keep-alive
detection. Proxies are not handled here. See docs/politeness.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from archiver.net.guard import AddressGuard

READ_CHUNK = 256 * 1024  # bytes asked of the socket buffer per read; bodies stream in pieces this size
HEAD_LIMIT = 64 * 1024  # longest response head (status line + headers) accepted
_NO_BODY_STATUSES = frozenset({204, 304})

Origin = tuple[str, str, int]


class _Peer:
    """What `response.extensions["network_stream"]` offers: the address the socket connected to."""

    __slots__ = ("address", "port")

    def __init__(self, address: str, port: int) -> None:
        self.address = address
        self.port = port

    def get_extra_info(self, info: str) -> Any:
        return (self.address, self.port) if info == "server_addr" else None


class _Connection:
    __slots__ = ("address", "idle_since", "origin", "port", "reader", "writer")

    def __init__(self, origin: Origin, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str):
        self.origin = origin
        self.reader = reader
        self.writer = writer
        self.address = address
        self.port = origin[2]
        self.idle_since = 0.0

    def usable(self) -> bool:
        return not (self.writer.is_closing() or self.reader.at_eof() or self.reader.exception() is not None)

    def close(self) -> None:
        self.writer.close()


def _origin(url: httpx.URL) -> Origin:
    scheme = url.scheme
    port = url.port or (443 if scheme == "https" else 80)
    return scheme, url.raw_host.decode("ascii"), port


def _timeouts(request: httpx.Request) -> tuple[float | None, float | None, float | None]:
    given = request.extensions.get("timeout") or {}
    return given.get("connect"), given.get("read"), given.get("write")


class _Stale(Exception):
    """A reused connection answered nothing at all: the server had closed it while it was idle."""


class _Body(httpx.AsyncByteStream):
    """The response body as it arrives, de-framed; hands the connection back when fully read.

    Errors carry no request: httpx attaches it when the body is read through a client, and the
    fetcher's own path (`read_into`) never asks for it.
    """

    def __init__(
        self,
        transport: AsyncioTransport,
        conn: _Connection,
        *,
        chunked: bool,
        length: int | None,
        keep_alive: bool,
        read_timeout: float | None,
    ) -> None:
        self._transport = transport
        self._conn: _Connection | None = conn
        self._chunked = chunked
        self._length = length
        self._keep_alive = keep_alive and (chunked or length is not None)
        self._timeout = read_timeout
        self._complete = length == 0 and not chunked

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None or self._complete:
            return
        if self._chunked:
            async for chunk in self._read_chunked(conn.reader):
                yield chunk
        elif self._length is not None:
            remaining = self._length
            while remaining > 0:
                data = await self._read(conn.reader.read(min(remaining, READ_CHUNK)))
                if not data:
                    raise _incomplete()
                remaining -= len(data)
                yield data
        else:
            while data := await self._read(conn.reader.read(READ_CHUNK)):
                yield data
        self._complete = True

    async def read_into(self, write: Callable[[bytes], object], limit: int) -> bool:
        """Hand the body to `write` as it arrives; False once it runs past `limit` bytes (the rest unread).

        The fetcher's path: a plain loop for a Content-Length body (the common case) instead of
        an async generator per response.
        """
        conn = self._conn
        if conn is None or self._complete:
            return True
        total = 0

        def keep(data: bytes) -> bool:
            """Write `data` up to the limit; False when it ran past it (only what fits is written)."""
            nonlocal total
            room = limit - total
            if len(data) > room:
                if room > 0:
                    write(data[:room])
                return False
            write(data)
            total += len(data)
            return True

        if self._length is not None and not self._chunked:
            reader, remaining = conn.reader, self._length
            while remaining > 0:
                data = await self._read(reader.read(min(remaining, READ_CHUNK)))
                if not data:
                    raise _incomplete()
                remaining -= len(data)
                if not keep(data):
                    return False
            self._complete = True
            return True
        async for chunk in self:
            if not keep(chunk):
                return False
        return True

    async def _read_chunked(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        while True:
            line = await self._read(reader.readline())
            if not line.endswith(b"\n"):
                raise _incomplete()
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise httpx.RemoteProtocolError(f"malformed chunk size line {line[:40]!r}") from exc
            if size < 0:
                raise httpx.RemoteProtocolError(f"negative chunk size {line[:40]!r}")
            if size == 0:
                break
            while size > 0:
                data = await self._read(reader.read(min(size, READ_CHUNK)))
                if not data:
                    raise _incomplete()
                size -= len(data)
                yield data
            if (await self._read(reader.readline())).strip():
                raise httpx.RemoteProtocolError("chunk data longer than its declared size")
        while (trailer := await self._read(reader.readline())).strip():  # trailers are not kept
            if not trailer.endswith(b"\n"):
                raise _incomplete()

    async def _read(self, pending: Any) -> bytes:
        try:
            async with asyncio.timeout(self._timeout):
                data: bytes = await pending
                return data
        except TimeoutError as exc:
            raise httpx.ReadTimeout(f"no data for {self._timeout} s") from exc
        except (ConnectionError, OSError) as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
        except ValueError as exc:  # a line over the stream limit
            raise httpx.RemoteProtocolError(f"response line too long: {exc}") from exc

    def close(self) -> None:
        """Hand the connection back when the body was read to its end, else close it."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._complete and self._keep_alive:
            self._transport.release(conn)
        else:
            self._transport.discard(conn)

    async def aclose(self) -> None:
        self.close()


def _incomplete() -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError("peer closed connection without sending complete message body")


class RawResponse:
    """A response head as read off the wire (names and values as bytes), its body still to read."""

    __slots__ = ("address", "body", "headers", "port", "reason", "status", "version")

    def __init__(
        self,
        status: int,
        reason: bytes,
        version: bytes,
        headers: list[tuple[bytes, bytes]],
        body: _Body,
        address: str,
        port: int,
    ) -> None:
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.body = body
        self.address = address
        self.port = port


class AsyncioTransport(httpx.AsyncBaseTransport):
    """Guarded HTTP/1.1 connections on asyncio streams, kept alive per origin.

    `check=False` resolves without judging (private networks allowed). `max_idle` bounds the
    idle connections kept per origin; an idle connection older than `keepalive_expiry` is closed.
    """

    def __init__(
        self,
        guard: AddressGuard,
        *,
        ssl_context: ssl.SSLContext | Callable[[], ssl.SSLContext],
        check: bool = True,
        max_idle: int = 8,
        keepalive_expiry: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.guard = guard
        self.check = check and guard.enabled
        self._ssl = ssl_context
        self._max_idle = max(1, max_idle)
        self._expiry = keepalive_expiry
        self._clock = clock
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._last_sweep = clock()
        self.connections_opened = 0

    # -- connections -----------------------------------------------------------------------

    def _tls(self) -> ssl.SSLContext:
        if not isinstance(self._ssl, ssl.SSLContext):
            self._ssl = self._ssl()  # built on first https use: loading the CA store takes milliseconds
        return self._ssl

    async def _connect(self, origin: Origin, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        try:
            async with asyncio.timeout(timeout):
                addresses = await self.guard.resolve(host, port, check=self.check)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"resolving {host!r} took longer than {timeout} s") from exc
        tls = self._tls() if scheme == "https" else None
        last: httpx.TransportError | None = None
        for address in addresses:
            try:
                async with asyncio.timeout(timeout):
                    reader, writer = await asyncio.open_connection(
                        address, port, ssl=tls, server_hostname=host if tls is not None else None, limit=HEAD_LIMIT
                    )
            except TimeoutError as exc:
                last = httpx.ConnectTimeout(f"connecting to {address} port {port} timed out")
                last.__cause__ = exc
            except ssl.SSLError as exc:
                # A certificate problem is the site's, not the address's: no other address is tried.
                raise httpx.ConnectError(f"TLS handshake with {host} failed: {exc}") from exc
            except OSError as exc:
                last = httpx.ConnectError(str(exc) or type(exc).__name__)
                last.__cause__ = exc
            else:
                conn = _Connection(origin, reader, writer, address)
                self._open.add(conn)
                self.connections_opened += 1
                return conn
        assert last is not None  # resolve() never returns an empty list
        raise last

    def _reuse(self, origin: Origin, now: float) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if conn.usable() and now - conn.idle_since < self._expiry:
                return conn
            self.discard(conn)
        return None

    def release(self, conn: _Connection) -> None:
        """Keep a connection whose response was read to the end for the next request."""
        idle = self._idle.setdefault(conn.origin, [])
        if len(idle) >= self._max_idle or not conn.usable():
            self.discard(conn)
            return
        conn.idle_since = self._clock()
        idle.append(conn)

    def discard(self, conn: _Connection) -> None:
        self._open.discard(conn)
        conn.close()

    def _sweep(self, now: float) -> None:
        self._last_sweep = now
        for origin in list(self._idle):
            keep = [c for c in self._idle[origin] if c.usable() and now - c.idle_since < self._expiry]
            for conn in self._idle[origin]:
                if conn not in keep:
                    self.discard(conn)
            if keep:
                self._idle[origin] = keep
            else:
                del self._idle[origin]

    # -- requests --------------------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"the {request.url.scheme!r} scheme is not fetched")
        connect_timeout, read_timeout, _write_timeout = _timeouts(request)
        message = _serialise(request, await request.aread())
        raw = await self.send(
            _origin(request.url), message, connect_timeout, read_timeout, head_only=request.method == "HEAD"
        )
        return httpx.Response(
            raw.status,
            headers=raw.headers,
            stream=raw.body,
            extensions={
                "http_version": raw.version,
                "reason_phrase": raw.reason,
                "network_stream": _Peer(raw.address, raw.port),
            },
        )

    async def send(
        self,
        origin: Origin,
        message: bytes,
        connect_timeout: float | None,
        read_timeout: float | None,
        *,
        head_only: bool = False,
    ) -> RawResponse:
        """Send a serialised request on a kept-alive or new guarded connection; the head read, the body not.

        The fetcher calls this directly (no httpx client in between); `handle_async_request`
        wraps it for the archive modules' client. Errors are httpx's types, without a request.
        """
        now = self._clock()
        if now - self._last_sweep > self._expiry:
            self._sweep(now)
        conn = self._reuse(origin, now)
        if conn is not None:
            try:
                return await self._exchange(conn, message, read_timeout, head_only, reused=True)
            except _Stale:
                pass  # the server closed it while idle; the request never arrived, so send it again
        conn = await self._connect(origin, connect_timeout)
        return await self._exchange(conn, message, read_timeout, head_only, reused=False)

    async def _exchange(
        self, conn: _Connection, message: bytes, read_timeout: float | None, head_only: bool, *, reused: bool
    ) -> RawResponse:
        try:
            conn.writer.write(message)
            if conn.writer.transport.get_write_buffer_size() > READ_CHUNK:
                try:
                    await conn.writer.drain()
                except OSError as exc:
                    raise httpx.WriteError(str(exc) or type(exc).__name__) from exc
            status, reason, version, headers = await _read_head(conn.reader, read_timeout, reused)
            chunked, length, keep_alive = _framing(head_only, status, version, headers)
        except BaseException:
            self.discard(conn)
            raise
        body = _Body(self, conn, chunked=chunked, length=length, keep_alive=keep_alive, read_timeout=read_timeout)
        return RawResponse(status, reason, version, headers, body, conn.address, conn.port)

    async def aclose(self) -> None:
        conns, self._open, self._idle = list(self._open), set(), {}
        for conn in conns:
            conn.close()
        for conn in conns:
            with contextlib.suppress(OSError, ssl.SSLError, asyncio.TimeoutError):
                async with asyncio.timeout(1.0):
                    await conn.writer.wait_closed()


def _serialise(request: httpx.Request, content: bytes) -> bytes:
    url = request.url
    target = url.raw_path or b"/"
    lines = [request.method.encode("ascii") + b" " + target + b" HTTP/1.1"]
    chunked = False
    for name, value in request.headers.raw:
        if name.lower() == b"transfer-encoding" and value.lower() == b"chunked":
            chunked = True
        lines.append(name + b": " + value)
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    if chunked:  # httpx announced a streamed body; it has been read whole, so send it as one chunk
        return head + (b"%x\r\n%s\r\n0\r\n\r\n" % (len(content), content) if content else b"0\r\n\r\n")
    return head + content


async def _read_head(
    reader: asyncio.StreamReader, timeout: float | None, reused: bool
) -> tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]:
    """Status, reason, version and headers of the final response (informational ones skipped)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                line = await reader.readline()
                if not line:
                    if reused:
                        raise _Stale
                    raise httpx.RemoteProtocolError("server disconnected without sending a response")
                status, reason, version = _status_line(line)
                headers = await _header_lines(reader)
                if 100 <= status < 200 and status != 101:
                    continue  # informational (100 Continue, 103 Early Hints): the answer follows
                return status, reason, version, headers
    except TimeoutError as exc:
        raise httpx.ReadTimeout(f"no response head within {timeout} s") from exc
    except (ConnectionError, OSError) as exc:
        if reused:
            raise _Stale from exc
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
    except ValueError as exc:  # asyncio.LimitOverrunError surfaces as ValueError from readline
        raise httpx.RemoteProtocolError(f"response head too long: {exc}") from exc


def _status_line(line: bytes) -> tuple[int, bytes, bytes]:
    version, _, rest = line.rstrip(b"\r\n").partition(b" ")
    code, _, reason = rest.partition(b" ")
    if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise httpx.RemoteProtocolError(f"malformed status line {line[:80]!r}")
    return int(code), reason.strip(), version


async def _header_lines(reader: asyncio.StreamReader) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    size = 0
    while True:
        line = await reader.readline()
        size += len(line)
        if size > HEAD_LIMIT:
            raise httpx.RemoteProtocolError(f"response head longer than {HEAD_LIMIT} bytes")
        if not line.endswith(b"\n"):
            raise httpx.RemoteProtocolError("server disconnected in the middle of the headers")
        line = line.rstrip(b"\r\n")
        if not line:
            return headers
        if line[:1] in (b" ", b"\t") and headers:  # obsolete line folding: part of the previous value
            name, value = headers[-1]
            headers[-1] = (name, value + b" " + line.strip())
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip() or b" " in name:
            raise httpx.RemoteProtocolError(f"malformed header line {line[:80]!r}")
        headers.append((name, value.strip(b" \t")))


def _framing(
    head_only: bool, status: int, version: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[bool, int | None, bool]:
    """(chunked, content length or None for read-until-close, keep-alive) per RFC 9112 §6.3."""
    transfer: bytes | None = None
    lengths: set[bytes] = set()
    connection = b""
    for name, value in headers:
        lower = name.lower()
        if lower == b"transfer-encoding":
            transfer = value.lower() if transfer is None else transfer + b"," + value.lower()
        elif lower == b"content-length":
            lengths.update(v.strip() for v in value.split(b","))
        elif lower == b"connection":
            connection += b"," + value.lower()
    tokens = {t.strip() for t in connection.split(b",")}
    keep_alive = version == b"HTTP/1.1" and b"close" not in tokens or b"keep-alive" in tokens
    if head_only or status in _NO_BODY_STATUSES or 100 <= status < 200:
        return False, 0, keep_alive
    if transfer is not None:
        if transfer.rsplit(b",", 1)[-1].strip() == b"chunked":
            return True, None, keep_alive
        return False, None, False  # another coding last: the body ends when the connection does
    if lengths:
        if len(lengths) != 1 or not next(iter(lengths)).isdigit():
            raise httpx.RemoteProtocolError(f"invalid Content-Length {sorted(lengths)!r}")
        return False, int(next(iter(lengths))), keep_alive
    return False, None, False
