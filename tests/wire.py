"""Wire-level test servers on 127.0.0.x, for hazards a well-behaved HTTP server cannot produce.

A `WireServer` is a threaded raw-socket HTTP/1.1 server: it parses request heads and hands each
one to a handler that writes whatever bytes it likes (chosen chunk boundaries, a body drip-fed
one byte at a time, a body that never ends, a lying Content-Length). A `SilentServer` accepts
connections and never answers (read timeouts), and counts what arrived, which also proves that
*nothing* arrived when a guard should have refused. Payload builders make chunked responses
and decompression bombs.

    with WireServer(routes({"/": response(200, b"hello")})) as server:
        ... fetch server.url("/") ...
        assert server.hits("/") == 1

Handlers run in the connection's thread; `conn.wait(seconds)` sleeps but returns True early
when the server is stopping, so endless handlers end promptly. A client that goes away ends
the handler quietly (OSError); any other exception in a handler is a bug in the test and
surfaces through pytest's thread-exception hook.
"""

from __future__ import annotations

import gzip
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

__all__ = [
    "Handler",
    "SilentServer",
    "WireConnection",
    "WireRequest",
    "WireServer",
    "brotli_bomb",
    "chunked_response",
    "drip",
    "endless",
    "free_port",
    "gzip_bomb",
    "gzip_bytes",
    "response",
    "routes",
    "zstd_bomb",
]

POLL = 0.05
MiB = 1024 * 1024


@dataclass(frozen=True)
class WireRequest:
    """A request head as the server read it; `at` is time.monotonic() when the head was complete."""

    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]
    at: float
    peer: str

    @property
    def path(self) -> str:
        """The path of the target (origin-form or, through a proxy, absolute-form)."""
        return urlsplit(self.target).path or "/"

    def header(self, name: str) -> str | None:
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)


class WireConnection:
    """One accepted connection as a handler sees it."""

    def __init__(self, sock: socket.socket, stopping: threading.Event) -> None:
        self.sock = sock
        self._stopping = stopping
        self.closed = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def wait(self, seconds: float) -> bool:
        """Sleep `seconds`; True (early) when the server is stopping."""
        return self._stopping.wait(seconds)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def close(self) -> None:
        """End the connection after this handler returns (for bodies framed by closing)."""
        self.closed = True


Handler = Callable[[WireRequest, WireConnection], None]


class _Listener:
    """Shared accept loop and teardown for both servers."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self._sock = socket.create_server((host, port))
        self._sock.settimeout(POLL)
        self.port: int = self._sock.getsockname()[1]
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self.connections = 0
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base + path

    @property
    def open_connections(self) -> int:
        """Connections accepted and not yet closed by either side."""
        with self._lock:
            return len(self._open)

    def start(self) -> None:
        self._acceptor.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _peer = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._open.add(sock)
            thread = threading.Thread(target=self._run, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self, sock: socket.socket) -> None:
        try:
            self.serve(sock)
        except OSError:
            pass  # the client went away or the server is stopping
        finally:
            with self._lock:
                self._open.discard(sock)
            sock.close()

    def serve(self, sock: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stopping.set()
        self._acceptor.join(5)
        self._sock.close()
        with self._lock:
            for sock in list(self._open):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class WireServer(_Listener):
    """A threaded HTTP/1.1 server whose handler writes raw bytes; records every request."""

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(host, port)
        self.handler = handler
        self.ssl_context = ssl_context
        self.requests: list[WireRequest] = []

    @property
    def base(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def hits(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    def serve(self, sock: socket.socket) -> None:
        sock.settimeout(POLL)
        if self.ssl_context is not None:
            sock.settimeout(5)
            tls = self.ssl_context.wrap_socket(sock, server_side=True)  # handshake; SSLError is an OSError
            with self._lock:
                self._open.add(tls)
            try:
                tls.settimeout(POLL)
                self._serve_http(tls)
            finally:
                with self._lock:
                    self._open.discard(tls)
                tls.close()
            return
        self._serve_http(sock)

    def _serve_http(self, sock: socket.socket) -> None:
        buffer = b""
        conn = WireConnection(sock, self._stopping)
        peer = sock.getpeername()[0]
        while not self._stopping.is_set() and not conn.closed:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    return
                buffer += data
                continue
            head, buffer = buffer[:end].decode("latin-1"), buffer[end + 4 :]
            request = _parse_head(head, peer)
            length = int(request.header("content-length") or 0)
            while len(buffer) < length:
                data = sock.recv(65536)
                if not data:
                    return
                buffer += data
            buffer = buffer[length:]
            with self._lock:
                self.requests.append(request)
            self.handler(request, conn)
            if (request.header("connection") or "").lower() == "close":
                conn.close()


def _parse_head(head: str, peer: str) -> WireRequest:
    lines = head.split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return WireRequest(method, target, version, tuple(headers), time.monotonic(), peer)


class SilentServer(_Listener):
    """Accepts connections and never answers; counts connections and bytes received."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.received = 0

    def serve(self, sock: socket.socket) -> None:
        sock.settimeout(POLL)
        while not self._stopping.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return
            with self._lock:
                self.received += len(data)


def free_port(host: str = "127.0.0.1") -> int:
    """A port on `host` where nothing listens (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


# ---- responses -------------------------------------------------------------------------------


def _head(status: int, headers: Iterable[tuple[str, str]], reason: str | None) -> bytes:
    phrase = reason if reason is not None else HTTPStatus(status).phrase
    lines = [f"HTTP/1.1 {status} {phrase}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def response(
    status: int = 200,
    body: bytes = b"",
    headers: Iterable[tuple[str, str]] = (),
    *,
    reason: str | None = None,
    content_length: bool = True,
) -> bytes:
    """A complete response with Content-Length (unless `content_length=False`)."""
    all_headers = list(headers)
    if content_length:
        all_headers.append(("Content-Length", str(len(body))))
    return _head(status, all_headers, reason) + body


def chunked_response(chunks: Sequence[bytes], status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """A `Transfer-Encoding: chunked` response with exactly these chunk boundaries."""
    head = _head(status, [*headers, ("Transfer-Encoding", "chunked")], None)
    framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c)
    return head + framed + b"0\r\n\r\n"


def routes(table: Mapping[str, bytes | Handler], *, default: bytes | None = None) -> Handler:
    """A handler serving fixed bytes or delegating per path; other paths get `default` or a 404."""
    missing = default if default is not None else response(404, b"not found")

    def handle(request: WireRequest, conn: WireConnection) -> None:
        entry = table.get(request.path, missing)
        if isinstance(entry, bytes):
            conn.send(entry)
        else:
            entry(request, conn)

    return handle


def drip(body: bytes, interval: float, headers: Iterable[tuple[str, str]] = ()) -> Handler:
    """Send the head at once (with Content-Length), then the body one byte per `interval` seconds."""

    def handle(request: WireRequest, conn: WireConnection) -> None:
        conn.send(_head(200, [*headers, ("Content-Length", str(len(body)))], None))
        for i in range(len(body)):
            if conn.wait(interval):
                break
            conn.send(body[i : i + 1])
        conn.close()

    return handle


def endless(chunk: bytes = b"x" * 65536, *, declared_length: int | None = None) -> Handler:
    """A body that never ends: no Content-Length (framed by close), or a lying `declared_length`."""

    def handle(request: WireRequest, conn: WireConnection) -> None:
        headers = [("Content-Type", "application/octet-stream")]
        if declared_length is not None:
            headers.append(("Content-Length", str(declared_length)))
        else:
            headers.append(("Connection", "close"))
        conn.send(_head(200, headers, None))
        while not conn.stopping:
            conn.send(chunk)
        conn.close()

    return handle


# ---- payloads --------------------------------------------------------------------------------


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def gzip_bomb(inflated: int) -> bytes:
    """gzip bytes that inflate to `inflated` zero bytes (1 GiB takes a few seconds to build)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MiB)
    out = []
    for offset in range(0, inflated, MiB):
        out.append(packer.compress(zeros[: min(MiB, inflated - offset)]))
    out.append(packer.flush())
    return b"".join(out)


def brotli_bomb(inflated: int) -> bytes:
    """brotli bytes that inflate to `inflated` zero bytes (256 MiB: a few hundred bytes)."""
    import brotli  # optional: only the tests that need it import it

    packer = brotli.Compressor(quality=5, lgwin=24)  # 11 is 50x slower for no gain on zeros
    zeros = bytes(MiB)
    out = [packer.process(zeros[: min(MiB, inflated - offset)]) for offset in range(0, inflated, MiB)]
    out.append(packer.finish())
    return b"".join(out)


def zstd_bomb(inflated: int) -> bytes:
    """zstd bytes that inflate to `inflated` zero bytes."""
    import zstandard

    packer = zstandard.ZstdCompressor(level=19).compressobj()
    zeros = bytes(MiB)
    out = [packer.compress(zeros[: min(MiB, inflated - offset)]) for offset in range(0, inflated, MiB)]
    out.append(packer.flush())
    return b"".join(out)
