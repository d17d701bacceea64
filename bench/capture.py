"""Benchmark of the capture engine (issue 2), with wget --warc-file as the comparison.

Case 1: 2,000 pages of 10 KB from a local server spread over 20 host addresses
(127.0.0.2 ... 127.0.0.21), captured by archiver and, in the same run, by Debian's wget writing a
WARC. Prints pages/s for both, the ratio, and archiver's peak RSS. Target: >= 5x wget, RSS < 200 MB.

Case 2: one 1 GiB body streamed and archived: peak RSS (target < 100 MB) and throughput against
`sha256sum` over the same bytes (target: at least half its speed).

Case 3 (`--store-only`): the WARC store alone (request, response and metadata records of 10 KB
pages, no network), CPU per capture, best of 5: the writer's share of case 1's CPU per page.

Case 4 (`--fetch-only`): the Fetcher alone over case 1's URLs (bodies read and discarded, no WARC,
no index), CPU ms/page and pages/s, best of 3, for the default transport and for httpcore
(`transport="httpx"`) as the comparison: the fetch path's share of case 1's CPU per page.

Each side runs in its own process, so peak RSS is that side's alone.
Usage: .venv/bin/python bench/capture.py [--pages 2000] [--hosts 20] [--big-mib 1024] [--skip-big]
[--store-only | --fetch-only]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PATTERN = bytes(range(256)) * 4096


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, size: int = 10240) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "pageserver.py"), "--port", str(port), "--size", str(size)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def run_ours(urls_file: Path, archive: Path, concurrency: int, host_concurrency: int) -> dict[str, float]:
    """Runs in a child process: capture the URL list, report time, count and peak RSS."""
    sys.path.insert(0, str(HERE.parent))
    from archiver.config import load_config
    from archiver.pipeline.capture import capture_urls

    urls = urls_file.read_text().split()
    config = load_config(
        None,
        {
            "archive_dir": str(archive),
            "fetch": {
                "allow_private_networks": True,
                "host_interval": 0.0,
                "concurrency": concurrency,
                "host_concurrency": host_concurrency,
                "max_body_bytes": 2 * 1024**3,
                "max_decoded_bytes": 2 * 1024**3,
                "deadline": 600.0,
            },
        },
    )
    start = time.perf_counter()
    cpu_start = time.process_time()
    captures = asyncio.run(capture_urls(urls, config))
    cpu = time.process_time() - cpu_start
    elapsed = time.perf_counter() - start
    failed = [c for c in captures if not c.ok or c.status != 200]
    return {
        "seconds": elapsed,
        "cpu_ms_per_page": 1000 * cpu / max(1, len(captures)),
        "count": len(captures),
        "failed": len(failed),
        "first_error": str(failed[0].error) if failed else "",
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "payload_sha256": captures[0].payload_sha256 or "",
    }


def child(args: list[str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def wget_run(urls_file: Path, workdir: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        ["wget", "-q", "--warc-file", str(workdir / "wget"), "-i", str(urls_file), "-O", "/dev/null"],
        check=False,
        cwd=workdir,
    )
    return time.perf_counter() - start


def case_pages(pages: int, hosts: int) -> None:
    port = free_port()
    server = start_server(port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            urls = [f"http://127.0.0.{2 + i % hosts}:{port}/page/{i}" for i in range(pages)]
            urls_file = work / "urls.txt"
            urls_file.write_text("\n".join(urls) + "\n")
            if shutil.which("wget"):
                wget_s = wget_run(urls_file, work)
            else:
                wget_s = float("nan")
                print("wget is not installed (apt-get install wget): no comparison")
            ours = child(["pages", str(urls_file), str(work / "archive")])
            ours_rate = ours["count"] / ours["seconds"]
            wget_rate = pages / wget_s
            warc_bytes = sum(f.stat().st_size for f in (work / "archive" / "warcs").glob("*.warc.gz"))
            print(f"case 1: {pages} pages of 10 KB over {hosts} loopback hosts")
            print(
                f"  archiver   {ours['seconds']:7.2f} s  {ours_rate:8.1f} pages/s"
                f"  CPU {ours['cpu_ms_per_page']:.2f} ms/page  peak RSS {ours['peak_rss_mb']:.1f} MB"
                f"  failed {int(ours['failed'])} {ours['first_error']}"
            )
            print(f"  wget       {wget_s:7.2f} s  {wget_rate:8.1f} pages/s")
            print(f"  ratio      {ours_rate / wget_rate:7.2f}x  (target >= 5x; RSS target < 200 MB)")
            print(f"  archiver WARC bytes: {warc_bytes}")
    finally:
        server.terminate()
        server.wait()


def case_store(pages: int) -> None:
    """Case 3: the WARC store alone, best of 5 child processes (CPU time, so less noisy than case 1)."""
    best = float("inf")
    for _ in range(5):
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run(
                [sys.executable, __file__, "--store-child", str(pages), tmp], check=True, capture_output=True, text=True
            ).stdout
            best = min(best, float(json.loads(out.strip().splitlines()[-1])["cpu_ms"]))
    print(f"case 3: WARC store only, {pages} captures of 10 KB pages: {best:.3f} ms CPU per capture (best of 5)")


def case_big(mib: int) -> None:
    size = mib * 1024 * 1024
    port = free_port()
    server = start_server(port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            url_file = work / "urls.txt"
            url_file.write_text(f"http://127.0.0.1:{port}/big/{size}\n")
            ours = child(["pages", str(url_file), str(work / "archive")])
            # The same bytes, through sha256sum, read from a file written beforehand.
            blob = work / "blob"
            with blob.open("wb") as handle:
                for _ in range(mib):
                    handle.write(PATTERN)
            start = time.perf_counter()
            digest = subprocess.run(["sha256sum", str(blob)], check=True, capture_output=True, text=True).stdout
            sha_s = time.perf_counter() - start
            ours_mbs = mib / ours["seconds"]
            sha_mbs = mib / sha_s
            same = digest.split()[0] == ours["payload_sha256"]
            print(f"case 2: one {mib} MiB body")
            print(
                f"  archiver   {ours['seconds']:7.2f} s  {ours_mbs:8.1f} MiB/s  peak RSS {ours['peak_rss_mb']:.1f} MB"
                f"  (target < 100 MB)  digest matches sha256sum: {same}"
            )
            print(f"  sha256sum  {sha_s:7.2f} s  {sha_mbs:8.1f} MiB/s")
            print(f"  ratio      {ours_mbs / sha_mbs:7.2f}  (target >= 0.5)")
    finally:
        server.terminate()
        server.wait()


def store_only(pages: int, archive: Path) -> float:
    """CPU ms per capture of the WARC store alone (records of 10 KB pages), no network: the writer's share."""
    sys.path.insert(0, str(HERE.parent))
    from datetime import UTC, datetime

    from archiver.content.body import Body
    from archiver.models import ArchivePaths, Capture
    from archiver.net.exchange import Exchange, FetchOutcome
    from archiver.store.warcfiles import WarcStore

    sys.path.insert(0, str(HERE))
    from pageserver import page

    body = page(10240)
    now = datetime.now(UTC)
    store = WarcStore(ArchivePaths(archive), 10**9, clock=lambda: now, new_id=lambda: os.urandom(16).hex())
    request = (("Host", "127.0.0.2"), ("User-Agent", "archiver-bench"), ("Accept", "*/*"))
    response = (("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))))
    start = time.process_time()
    for i in range(pages):
        url = f"http://127.0.0.2:8000/page/{i}"
        exchange = Exchange(
            url, "GET", request, "HTTP/1.1", 200, "OK", response, Body.from_bytes(body), now, "127.0.0.2"
        )
        outcome = FetchOutcome(requested=url, started_at=now)
        outcome.exchanges.append(exchange)
        capture = Capture(
            id=f"{i:032x}", url=url, final_url=url, status=200, redirects=(), fetched_at=now,
            content_type="text/html", payload_sha256=exchange.body.sha256, payload_size=len(body),
            text_sha256=None, title="bench page", warc=None, error=None,
        )  # fmt: skip
        store.write(outcome, capture)
        exchange.body.close()
    store.close()
    return 1000 * (time.process_time() - start) / pages


def fetch_only(urls_file: Path, transport: str, concurrency: int, host_concurrency: int) -> dict[str, float]:
    """Runs in a child process: the Fetcher alone over the URL list, bodies closed unread by any store."""
    sys.path.insert(0, str(HERE.parent))
    from archiver.config import load_config
    from archiver.net.fetcher import Fetcher

    urls = urls_file.read_text().split()
    fetch = load_config(
        None,
        {
            "fetch": {
                "allow_private_networks": True,
                "host_interval": 0.0,
                "concurrency": concurrency,
                "host_concurrency": host_concurrency,
                "deadline": 600.0,
            }
        },
    ).fetch

    async def run() -> int:
        ok = 0
        async with Fetcher(fetch, transport=transport) as fetcher:  # type: ignore[arg-type]

            async def one(url: str) -> None:
                nonlocal ok
                with await fetcher.fetch(url) as outcome:
                    final = outcome.final
                    ok += outcome.failure is None and final is not None and final.status == 200

            await asyncio.gather(*(one(u) for u in urls))
        return ok

    start = time.perf_counter()
    cpu_start = time.process_time()
    ok = asyncio.run(run())
    cpu = time.process_time() - cpu_start
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "cpu_ms_per_page": 1000 * cpu / len(urls), "count": len(urls), "ok": ok}


def case_fetch(pages: int, hosts: int, runs: int = 3) -> None:
    """Case 4: the fetch path alone, best of `runs` child processes per transport (CPU, not wall-clock)."""
    port = free_port()
    server = start_server(port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            urls_file = Path(tmp) / "urls.txt"
            urls_file.write_text("\n".join(f"http://127.0.0.{2 + i % hosts}:{port}/page/{i}" for i in range(pages)))
            print(f"case 4: Fetcher only, {pages} pages of 10 KB over {hosts} loopback hosts (best of {runs})")
            for transport in ("asyncio", "httpx"):
                results = []
                for _ in range(runs):
                    out = subprocess.run(
                        [sys.executable, __file__, "--fetch-child", transport, str(urls_file)],
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout
                    results.append(json.loads(out.strip().splitlines()[-1]))
                best = min(results, key=lambda r: float(r["cpu_ms_per_page"]))
                fastest = max(float(r["count"]) / float(r["seconds"]) for r in results)
                print(
                    f"  {transport:8s} CPU {float(best['cpu_ms_per_page']):.3f} ms/page  {fastest:8.1f} pages/s"
                    f"  ok {int(best['ok'])}/{int(best['count'])}"
                )
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--fetch-child":
        print(json.dumps(fetch_only(Path(sys.argv[3]), sys.argv[2], concurrency=64, host_concurrency=8)))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--store-child":
        print(json.dumps({"cpu_ms": store_only(int(sys.argv[2]), Path(sys.argv[3]))}))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, _mode, urls_file, archive = sys.argv[:5]
        result = run_ours(Path(urls_file), Path(archive), concurrency=64, host_concurrency=8)
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--store-only", action="store_true", help="case 3 only: the WARC store's CPU per capture")
    parser.add_argument("--fetch-only", action="store_true", help="case 4 only: the Fetcher's CPU per page")
    args = parser.parse_args()
    os.environ.pop("http_proxy", None)
    if args.fetch_only:
        case_fetch(args.pages, args.hosts)
        return
    if args.store_only:
        case_store(args.pages)
        return
    case_pages(args.pages, args.hosts)
    if not args.skip_big:
        case_big(args.big_mib)


if __name__ == "__main__":
    main()
