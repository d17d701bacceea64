"""A small, fast HTTP/1.1 server for benchmarks, run as its own process.

It answers every GET with a page of `--size` bytes (keep-alive, Content-Length), or, for
`/big/<n>`, streams n bytes of a fixed pattern in 1 MiB writes. It logs nothing: it exists so the
client side is what gets measured. Usage: python bench/pageserver.py --port P [--size 10240]
[--latency-ms 0] [--log FILE] [--pattern REGEX] [--lean]; it prints "ready" once listening on 0.0.0.0
(every 127.x address).

`--lean` serves the page only (no latency, log, pattern or /big/) from a plain epoll loop instead of
asyncio: 0.06 ms of CPU a page instead of 0.13 (bench/cluster.py). On a 2-core machine the server
takes its CPU from whatever it is measured against, and a CPU-bound cluster has none to spare.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import select
import socket
import time

PATTERN = bytes(range(256)) * 4096  # 1 MiB


def page(size: int) -> bytes:
    head = b"<!doctype html><html><head><meta charset=utf-8><title>bench page</title></head><body><p>"
    tail = b"</p></body></html>"
    filler = (b"lorem ipsum dolor sit amet " * (size // 27 + 1))[: max(0, size - len(head) - len(tail))]
    return head + filler + tail


class Handler(asyncio.Protocol):
    def __init__(self, body: bytes, latency: float, log: list[str] | None, pattern: str = "") -> None:
        self.body = body
        self.pattern = re.compile(pattern) if pattern else None
        self.latency = latency
        self.log = log
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            host = ""
            for line in head.split(b"\r\n")[1:]:
                if line.lower().startswith(b"host:"):
                    host = line[5:].strip().decode("latin-1")
            if self.log is not None:
                self.log.append(f"{time.monotonic():.6f} {host} {request_line}")
            path = request_line.split(" ")[1] if " " in request_line else "/"
            if self.latency:
                asyncio.get_running_loop().call_later(self.latency, self.respond, path)
            else:
                self.respond(path)

    def respond(self, path: str) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if path.startswith("/big/"):
            size = int(path.split("/")[2])
            transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                + f"Content-Length: {size}\r\n\r\n".encode()
            )
            asyncio.get_running_loop().create_task(self.stream(transport, size))
            return
        if self.pattern is not None and not self.pattern.match(path):
            missing = b"<title>404 Not Found</title>"
            transport.write(
                b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n"
                + f"Content-Length: {len(missing)}\r\n\r\n".encode()
                + missing
            )
            return
        transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            + f"Content-Length: {len(self.body)}\r\n\r\n".encode()
            + self.body
        )

    async def stream(self, transport: asyncio.Transport, size: int) -> None:
        sent = 0
        while sent < size and not transport.is_closing():
            chunk = PATTERN[: min(len(PATTERN), size - sent)]
            transport.write(chunk)
            sent += len(chunk)
            if transport.get_write_buffer_size() > 8 * len(PATTERN):
                await asyncio.sleep(0.001)
                while transport.get_write_buffer_size() > 4 * len(PATTERN) and not transport.is_closing():
                    await asyncio.sleep(0.001)


async def serve(port: int, size: int, latency_ms: float, log_path: str | None, pattern: str = "") -> None:
    body = page(size)
    log: list[str] | None = [] if log_path else None
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Handler(body, latency_ms / 1000, log, pattern), "0.0.0.0", port, backlog=1024
    )
    print("ready", flush=True)
    try:
        async with server:
            await server.serve_forever()
    finally:
        if log_path and log is not None:
            with open(log_path, "w") as handle:
                handle.write("\n".join(log) + "\n")


def serve_lean(port: int, size: int) -> None:
    """Every request head (pipelined or not) answered with the page; a slow reader's rest kept for EPOLLOUT."""
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
        + f"Content-Length: {size}\r\n\r\n".encode()
        + page(size)
    )
    listener = socket.create_server(("0.0.0.0", port), backlog=1024, reuse_port=False)
    listener.setblocking(False)
    poller = select.epoll()
    poller.register(listener.fileno(), select.EPOLLIN)
    conns: dict[int, socket.socket] = {}
    unread: dict[int, bytes] = {}  # the start of a request head not complete yet
    unsent: dict[int, bytes] = {}
    writing: set[int] = set()  # registered for EPOLLOUT: their socket buffer was full

    def close(fd: int) -> None:
        writing.discard(fd)
        poller.unregister(fd)
        conns.pop(fd).close()
        unread.pop(fd, None)
        unsent.pop(fd, None)

    def send(fd: int, data: bytes) -> None:
        try:
            sent = conns[fd].send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            close(fd)
            return
        if sent < len(data):
            unsent[fd] = data[sent:]
            if fd not in writing:
                writing.add(fd)
                poller.modify(fd, select.EPOLLIN | select.EPOLLOUT)
        else:
            unsent.pop(fd, None)
            if fd in writing:
                writing.discard(fd)
                poller.modify(fd, select.EPOLLIN)

    print("ready", flush=True)
    while True:
        for fd, events in poller.poll():
            if fd == listener.fileno():
                with contextlib.suppress(BlockingIOError):
                    while True:
                        conn, _ = listener.accept()
                        conn.setblocking(False)
                        conns[conn.fileno()] = conn
                        poller.register(conn.fileno(), select.EPOLLIN)
                continue
            if fd not in conns:
                continue
            if events & select.EPOLLOUT and fd in unsent:
                send(fd, unsent[fd])
            if fd not in conns or not events & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                continue
            try:
                data = conns[fd].recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                close(fd)
                continue
            data = unread.pop(fd, b"") + data
            heads = data.count(b"\r\n\r\n")
            if data[-4:] != b"\r\n\r\n":
                unread[fd] = data[data.rfind(b"\r\n\r\n") + 4 :] if heads else data
            if heads:
                send(fd, unsent.pop(fd, b"") + answer * heads)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--size", type=int, default=10240)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--log")
    parser.add_argument("--pattern", default="", help="answer 404 for paths this regex does not match (probes)")
    parser.add_argument("--lean", action="store_true", help="the page only, from an epoll loop (see above)")
    args = parser.parse_args()
    if args.lean:
        if args.latency_ms or args.log or args.pattern:
            parser.error("--lean serves the page only: no --latency-ms, --log or --pattern")
        with contextlib.suppress(KeyboardInterrupt):
            serve_lean(args.port, args.size)
        return
    try:
        asyncio.run(serve(args.port, args.size, args.latency_ms, args.log, args.pattern))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
