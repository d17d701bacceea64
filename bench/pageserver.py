"""A small, fast HTTP/1.1 server for benchmarks, run as its own process.

It answers every GET with a page of `--size` bytes (keep-alive, Content-Length), or, for
`/big/<n>`, streams n bytes of a fixed pattern in 1 MiB writes. It logs nothing: it exists so the
client side is what gets measured. Usage: python bench/pageserver.py --port P [--size 10240]
[--latency-ms 0] [--log FILE] [--pattern REGEX]; it prints "ready" once listening on 0.0.0.0 (every 127.x address).
"""

from __future__ import annotations

import argparse
import asyncio
import re
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--size", type=int, default=10240)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--log")
    parser.add_argument("--pattern", default="", help="answer 404 for paths this regex does not match (probes)")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port, args.size, args.latency_ms, args.log, args.pattern))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
