"""Benchmark of the capture engine (issue 2), with wget --warc-file as the comparison.

Case 1: 2,000 pages of 10 KB from a local server spread over 20 host addresses
(127.0.0.2 ... 127.0.0.21), captured by archiver and, in the same run, by Debian's wget writing a
WARC. Prints pages/s for both, the ratio, and archiver's peak RSS. Target: >= 5x wget, RSS < 200 MB.

Case 2: one 1 GiB body streamed and archived: peak RSS (target < 100 MB) and throughput against
`sha256sum` over the same bytes (target: at least half its speed).

Case 3 (`--store-only`): the WARC store alone (request, response and metadata records of 10 KB
pages, no network, inputs built before the clock starts), CPU per capture, best of 5, beside
warcio's own WARCWriter writing the same records; WARC bytes per capture for each. Then the index
alone (revisit baseline + row per capture, committed in batches): a first night of new URLs and a
next night of known ones, one query per URL (`latest_capture`) against one per batch (`prefetch_latest`).

Case 4 (`--fetch-only`): the Fetcher alone over case 1's URLs (bodies read and discarded, no WARC,
no index), CPU ms/page and pages/s, best of 3, for the default transport and for httpcore
(`transport="httpx"`) as the comparison: the fetch path's share of case 1's CPU per page.

`--baseline OTHER_CHECKOUT` runs case 1 for this checkout and another one (`git worktree add
/tmp/base REV`) in alternating rounds and prints the CPU per page of each and their ratio, per
round and as medians: the figure for "CPU per page at most half of the code at REV".

Each side runs in its own process, so peak RSS is that side's alone.
Usage: .venv/bin/python bench/capture.py [--pages 2000] [--hosts 20] [--big-mib 1024] [--skip-big]
[--store-only | --fetch-only | --baseline OTHER_CHECKOUT [--rounds 5]]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PATTERN = bytes(range(256)) * 4096


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, size: int = 10240, latency_ms: float = 0.0, lean: bool = False) -> subprocess.Popen[str]:
    """bench/pageserver.py on `port`, returned once it listens (`lean`: its epoll loop, pages only)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "pageserver.py"),
            "--port",
            str(port),
            "--size",
            str(size),
            *(["--lean"] if lean else ["--latency-ms", str(latency_ms)]),
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def run_ours(
    urls_file: Path, archive: Path, concurrency: int, host_concurrency: int, root: Path = HERE.parent
) -> dict[str, float]:
    """Runs in a child process: capture the URL list, report time, count and peak RSS.

    `root` is the checkout whose `archiver` package is measured (another one for `--baseline`).
    """
    sys.path.insert(0, str(root))
    import archiver
    from archiver.config import load_config
    from archiver.pipeline.capture import capture_urls

    if not Path(archiver.__file__).resolve().is_relative_to(root.resolve()):
        raise SystemExit(f"measured {archiver.__file__}, not the checkout at {root}")
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


def write_urls(work: Path, pages: int, hosts: int, port: int) -> Path:
    """Case 1's URL list (pages spread over `hosts` loopback addresses) in a file under `work`."""
    urls_file = work / "urls.txt"
    urls_file.write_text("".join(f"http://127.0.0.{2 + i % hosts}:{port}/page/{i}\n" for i in range(pages)))
    return urls_file


def child(args: list[str], root: Path = HERE.parent) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args, str(root)], check=True, capture_output=True, text=True
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def case_paired(pages: int, hosts: int, baseline: Path, rounds: int) -> None:
    """Case 1 for this checkout and `baseline` (another checkout's root) in alternating rounds.

    The VM's speed drifts by more than the effects measured here, so each round runs both sides
    back to back (the order alternating) and the ratio is taken per round; prints the medians.
    """
    port = free_port()
    server = start_server(port)
    cpu: dict[str, list[float]] = {"ours": [], "baseline": []}
    ratios = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            urls_file = write_urls(work, pages, hosts, port)
            print(f"case 1, paired: {pages} pages of 10 KB over {hosts} loopback hosts, {rounds} rounds")
            print(f"  baseline: {baseline}")
            for number in range(rounds):
                sides = [("ours", HERE.parent), ("baseline", baseline)]
                figures = {}
                for name, root in sides if number % 2 == 0 else sides[::-1]:
                    shutil.rmtree(work / "archive", ignore_errors=True)
                    result = child(["pages", str(urls_file), str(work / "archive")], root)
                    if result["failed"]:
                        raise SystemExit(f"{name}: {int(result['failed'])} pages failed: {result['first_error']}")
                    figures[name] = result["cpu_ms_per_page"]
                    cpu[name].append(result["cpu_ms_per_page"])
                ratios.append(figures["ours"] / figures["baseline"])
                print(
                    f"  round {number + 1}: ours {figures['ours']:.3f}  baseline {figures['baseline']:.3f} ms/page"
                    f"  ratio {ratios[-1]:.2f}"
                )
    finally:
        server.terminate()
        server.wait()
    print(
        f"  median CPU: ours {statistics.median(cpu['ours']):.3f}  baseline {statistics.median(cpu['baseline']):.3f}"
        f" ms/page; median ratio {statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})"
    )


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
            urls_file = write_urls(work, pages, hosts, port)
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


STORE_MODES = {
    "ours": "archiver WarcStore (zlib-ng)",
    "ours-zlib": "archiver WarcStore, stdlib zlib",
    "warcio": "warcio WARCWriter, same records",
}
INDEX_MODES = {"per-url": "latest_capture per URL", "batch": "prefetch_latest per batch"}


def best_of(runs: int, argv: list[str], modes: list[str]) -> dict[str, dict[str, float]]:
    """Each mode in its own child process, `runs` rounds interleaved; the lowest CPU of each key."""
    best: dict[str, dict[str, float]] = {}
    for _ in range(runs):
        for mode in modes:
            with tempfile.TemporaryDirectory() as tmp:
                out = subprocess.run(
                    [sys.executable, __file__, *argv, mode, tmp], check=True, capture_output=True, text=True
                ).stdout
            result = json.loads(out.strip().splitlines()[-1])
            kept = best.setdefault(mode, result)
            for key, value in result.items():
                kept[key] = min(kept[key], value)
    return best


def case_store(pages: int) -> None:
    """Case 3: the WARC store alone, then the index alone (CPU time, so less noisy than case 1)."""
    store = best_of(5, ["--store-child", str(pages)], list(STORE_MODES))
    print(f"case 3: WARC store only, {pages} captures of 10 KB pages, CPU per capture (best of 5)")
    ours = store["ours"]
    for mode, label in STORE_MODES.items():
        result = store[mode]
        print(
            f"  {label:34s} {result['cpu_ms']:.3f} ms  {result['bytes'] / pages:7.0f} WARC bytes per capture"
            f"  ({result['cpu_ms'] / ours['cpu_ms']:.2f}x ours)"
        )
    change = store["ours"]["bytes"] / store["ours-zlib"]["bytes"] - 1
    print(f"  WARC size, zlib-ng against stdlib zlib: {change:+.1%} on these (synthetic, repetitive) pages")
    deflate_fixtures()
    index = best_of(5, ["--index-child", str(pages)], list(INDEX_MODES))
    print(f"case 3b: index only, {pages} captures a night (baseline lookup + queued row), CPU per capture (best of 5)")
    for night, label in (("new", "first night (new URLs)"), ("known", "next night (known URLs)")):
        per_url, batch = index["per-url"][night], index["batch"][night]
        print(
            f"  {label:24s} {INDEX_MODES['per-url']} {per_url:.3f} ms   {INDEX_MODES['batch']} {batch:.3f} ms"
            f"   ({batch / per_url:.2f}x)"
        )
    print(f"  store + index (first night, batch): {ours['cpu_ms'] + index['batch']['new']:.3f} ms per capture")


def deflate_fixtures() -> None:
    """Level-6 deflate of real pages (the HTML fixtures under tests/): CPU and bytes, zlib-ng against zlib."""
    import zlib

    from zlib_ng import zlib_ng

    pages = [p.read_bytes() for p in sorted((HERE.parent / "tests" / "fixtures").rglob("*.html"))]
    pages = [page for page in pages if len(page) >= 2048]
    results = {}
    for name, compress in (("zlib-ng", zlib_ng.compress), ("zlib", zlib.compress)):
        best = float("inf")
        for _ in range(5):
            start = time.process_time()
            size = sum(len(compress(page, 6, 31)) for page in pages)
            best = min(best, time.process_time() - start)
        results[name] = (1000 * best / len(pages), size)
    (ng_ms, ng_size), (z_ms, z_size) = results["zlib-ng"], results["zlib"]
    print(
        f"  deflate -6 of {len(pages)} real HTML pages (tests/fixtures, {sum(map(len, pages)) // len(pages)} B avg):"
        f" zlib-ng {ng_ms:.3f} ms {ng_size} B, zlib {z_ms:.3f} ms {z_size} B ({ng_size / z_size - 1:+.1%} bytes)"
    )


def store_inputs(pages: int) -> list[tuple[Any, Any]]:
    """The fetches of `pages` 10 KB pages as the fetcher and engine hand them to the store."""
    from datetime import UTC, datetime, timedelta

    from pageserver import page

    from archiver.content.body import Body
    from archiver.models import Capture
    from archiver.net.exchange import Exchange, FetchOutcome

    body = page(10240)
    start = datetime.now(UTC)
    request = (("Host", "127.0.0.2"), ("User-Agent", "archiver-bench"), ("Accept", "*/*"))
    response = (("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))))
    inputs = []
    for i in range(pages):
        url = f"http://127.0.0.2:8000/page/{i}"
        began = start + timedelta(milliseconds=i)  # each capture its own times, as in a run
        exchange = Exchange(
            url, "GET", request, "HTTP/1.1", 200, "OK", response, Body.from_bytes(body),
            began + timedelta(microseconds=250), "127.0.0.2",
        )  # fmt: skip
        outcome = FetchOutcome(requested=url, started_at=began)
        outcome.exchanges.append(exchange)
        capture = Capture(
            id=os.urandom(16).hex(), url=url, final_url=url, status=200, redirects=(), fetched_at=began,
            content_type="text/html", payload_sha256=exchange.body.sha256, payload_size=len(body),
            text_sha256=None, title="bench page", warc=None, error=None,
        )  # fmt: skip
        inputs.append((outcome, capture))
    return inputs


def store_child(mode: str, pages: int, archive: Path) -> dict[str, float]:
    """CPU ms per capture of writing the records of `pages` captures, and the WARC bytes written."""
    from datetime import UTC, datetime

    from archiver.models import ArchivePaths

    inputs = store_inputs(pages)
    now = datetime.now(UTC)
    if mode == "warcio":
        cpu = warcio_store(inputs, archive / "warcio.warc.gz")
    else:
        import zlib

        from archiver.store.warcfiles import WarcStore
        from archiver.warc import writer

        if mode == "ours-zlib":
            writer.zlib_ng = zlib  # type: ignore[assignment]  # the same API: what the records cost before zlib-ng

        store = WarcStore(ArchivePaths(archive), 10**9, clock=lambda: now, new_id=lambda: os.urandom(16).hex())
        start = time.process_time()
        for outcome, capture in inputs:
            store.write(outcome, capture)
        store.close()
        cpu = time.process_time() - start
    written = sum(f.stat().st_size for f in archive.rglob("*.warc.gz"))
    return {"cpu_ms": 1000 * cpu / pages, "bytes": written}


def warcio_store(inputs: list[tuple[Any, Any]], path: Path) -> float:
    """The same three records a capture, through warcio's WARCWriter (its defaults: sha1 digests)."""
    from io import BytesIO

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from archiver.clock import stamp
    from archiver.warc.metadata import hop_entry, metadata_document

    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True, warc_version="WARC/1.1")
        start = time.process_time()
        for outcome, capture in inputs:
            ex = outcome.final
            body = ex.body.read_all()
            fields = {"WARC-Date": stamp(ex.started_at), "WARC-IP-Address": ex.ip_address}
            http = StatusAndHeaders("200 OK", list(ex.response_headers), protocol="HTTP/1.1")
            response = writer.create_warc_record(
                ex.url, "response", payload=BytesIO(body), length=len(body), http_headers=http,
                warc_headers_dict=fields,
            )  # fmt: skip
            writer.write_record(response)
            response_id = response.rec_headers.get_header("WARC-Record-ID")
            path_only = ex.url.split("8000", 1)[1]
            head = StatusAndHeaders(f"GET {path_only} HTTP/1.1", list(ex.request_headers), is_http_request=True)
            request = writer.create_warc_record(
                ex.url, "request", payload=BytesIO(b""), length=0, http_headers=head,
                warc_headers_dict={**fields, "WARC-Concurrent-To": response_id},
            )  # fmt: skip
            writer.write_record(request)
            hops = [hop_entry(ex, "response", response_id, request.rec_headers.get_header("WARC-Record-ID"))]
            document = metadata_document(outcome, capture, hops, None)
            metadata = writer.create_warc_record(
                ex.url, "metadata", payload=BytesIO(document), length=len(document),
                warc_content_type="application/warc-fields",
                warc_headers_dict={"WARC-Date": fields["WARC-Date"], "WARC-Concurrent-To": response_id},
            )  # fmt: skip
            writer.write_record(metadata)
            fh.flush()
        return time.process_time() - start


def index_child(mode: str, pages: int, archive: Path) -> dict[str, float]:
    """CPU ms per capture of the index's part of a capture, a first night and a next night."""
    from dataclasses import replace
    from datetime import timedelta

    from archiver.models import WarcLocation
    from archiver.store.index import Index

    first = [
        replace(capture, warc=WarcLocation("warcs/bench.warc.gz", 1000 * n, 900))
        for n, (_, capture) in enumerate(store_inputs(pages))
    ]
    later = [replace(c, id=os.urandom(16).hex(), fetched_at=c.fetched_at + timedelta(days=1)) for c in first]
    result = {}
    with Index(archive / "index.sqlite3") as index:
        for night, captures in (("new", first), ("known", later)):
            start = time.process_time()
            for offset in range(0, len(captures), Index.QUEUE_LIMIT):
                batch = captures[offset : offset + Index.QUEUE_LIMIT]
                if mode == "batch":
                    index.prefetch_latest(c.url for c in batch)
                for capture in batch:
                    index.latest_capture(capture.url)
                    index.queue_capture(capture)
            index.flush()
            result[night] = 1000 * (time.process_time() - start) / pages
    return result


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
    if len(sys.argv) > 1 and sys.argv[1] in ("--store-child", "--index-child"):
        sys.path[:0] = [str(HERE.parent), str(HERE)]
        run = store_child if sys.argv[1] == "--store-child" else index_child
        print(json.dumps(run(sys.argv[3], int(sys.argv[2]), Path(sys.argv[4]))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, _mode, urls_file, archive, root = sys.argv[:6]
        result = run_ours(Path(urls_file), Path(archive), concurrency=64, host_concurrency=8, root=Path(root))
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--store-only", action="store_true", help="case 3 only: store and index CPU per capture")
    parser.add_argument("--fetch-only", action="store_true", help="case 4 only: the Fetcher's CPU per page")
    parser.add_argument(
        "--baseline", type=Path, help="case 1 only, paired with another checkout's root (e.g. a git worktree)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="paired rounds for --baseline")
    args = parser.parse_args()
    os.environ.pop("http_proxy", None)
    if args.baseline:
        case_paired(args.pages, args.hosts, args.baseline.resolve(), args.rounds)
        return
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
