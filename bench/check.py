"""Benchmark of `archiver check --no-archive` against LinkChecker on the same document (issue 5).

An HTML document cites 1,000 URLs spread over 50 loopback hosts (127.0.0.2 ... 127.0.0.51), each
answering after 20 ms. archiver checks it live-only with its default politeness (host_concurrency,
host_interval from config.toml's defaults), then LinkChecker (from PyPI) checks the same file.
Prints URLs/s for both and the ratio (target >= 3x), archiver's peak RSS (target < 300 MB), and
checks from the server's own access log that archiver kept to its per-host interval.

LinkChecker is not a dependency of the project: install it anywhere and point LINKCHECKER at it,
e.g. `python3 -m venv /tmp/lc && /tmp/lc/bin/pip install linkchecker`, then
`LINKCHECKER=/tmp/lc/bin/linkchecker .venv/bin/python bench/check.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.capture import free_port  # noqa: E402


def start_server(port: int, latency_ms: float, log: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "pageserver.py"),
            "--port",
            str(port),
            "--latency-ms",
            str(latency_ms),
            "--size",
            "4096",
            "--log",
            str(log),
            "--pattern",
            r"^/source/\d+\.html$",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def document(urls: list[str]) -> str:
    rows = "\n".join(f'<li><a href="{url}">Source {i}</a></li>' for i, url in enumerate(urls))
    return f"<!doctype html><html><head><title>1,000 citations</title></head><body><ol>\n{rows}\n</ol></body></html>\n"


def run_ours(doc: Path, archive: Path) -> dict[str, float]:
    from archiver.config import load_config
    from archiver.pipeline.check import CheckOptions, Document, check_documents

    config = load_config(None, {"archive_dir": str(archive), "fetch": {"allow_private_networks": True}})
    start = time.perf_counter()
    report = asyncio.run(check_documents([Document(str(doc), doc.read_bytes())], config, CheckOptions(archive=False)))
    elapsed = time.perf_counter() - start
    ok = sum(1 for r in report.results if r.live_verdict is not None and r.live_verdict.value == "ok")
    return {
        "seconds": elapsed,
        "citations": len(report.results),
        "ok": ok,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "host_interval": config.fetch.host_interval,
        "host_concurrency": config.fetch.host_concurrency,
    }


def read_log(log: Path) -> dict[str, list[float]]:
    starts: dict[str, list[float]] = defaultdict(list)
    for line in log.read_text().splitlines():
        if line.count(" ") < 2:
            continue
        stamp, host, *_ = line.split(" ")
        starts[host.split(":")[0]].append(float(stamp))
    return starts


def check_politeness(starts: dict[str, list[float]], interval: float, concurrency: int, latency: float) -> str:
    """Judged on the server's arrival times, which jitter by a connect time around the client's start
    times: so the interval is judged as a rate over each host's whole run (n requests need at least
    (n - 1) intervals), and the smallest single gap is shown for information."""
    worst_gap = min(
        (b - a for times in starts.values() for a, b in zip(sorted(times), sorted(times)[1:], strict=False)), default=0
    )
    worst_rate_ratio = min(
        ((max(times) - min(times)) / ((len(times) - 1) * interval) for times in starts.values() if len(times) > 1),
        default=1.0,
    )
    worst_inflight = 0
    for times in starts.values():
        ordered = sorted(times)
        for i, t in enumerate(ordered):
            worst_inflight = max(worst_inflight, sum(1 for u in ordered[i:] if u < t + latency * 0.9))
    ok = worst_rate_ratio >= 0.98 and worst_inflight <= concurrency
    return (
        f"per host, time spanned / (requests - 1) x interval >= {worst_rate_ratio:.3f} (must be >= 1, 2% slack); "
        f"smallest single gap {worst_gap * 1000:.1f} ms (interval {interval * 1000:.0f} ms); "
        f"most requests in one latency window {worst_inflight} (host_concurrency {concurrency}): "
        + ("respected" if ok else "VIOLATED")
    )


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(run_ours(Path(sys.argv[2]), Path(sys.argv[3]))))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--urls", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    linkchecker = os.environ.get("LINKCHECKER") or shutil.which("linkchecker")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port = free_port()
        urls = [f"http://127.0.0.{2 + i % args.hosts}:{port}/source/{i}.html" for i in range(args.urls)]
        doc = work / "citations.html"
        doc.write_text(document(urls))
        # LinkChecker drops root privileges to 'nobody', which must be able to read the document.
        work.chmod(0o755)
        doc.chmod(0o644)

        ours_log = work / "ours.log"
        server = start_server(port, args.latency_ms, ours_log)
        try:
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(doc), str(work / "archive")],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        finally:
            server.send_signal(signal.SIGINT)
            server.wait()
        ours = json.loads(out.strip().splitlines()[-1])
        ours_rate = ours["citations"] / ours["seconds"]
        print(f"{args.urls} citations over {args.hosts} loopback hosts, {args.latency_ms:.0f} ms latency each")
        print(
            f"  archiver     {ours['seconds']:7.2f} s  {ours_rate:8.1f} URLs/s  peak RSS {ours['peak_rss_mb']:.1f} MB"
            f"  ({int(ours['ok'])} ok)"
        )
        starts = read_log(ours_log)
        print(
            "  politeness  ",
            check_politeness(starts, ours["host_interval"], int(ours["host_concurrency"]), args.latency_ms / 1000),
        )
        print(
            f"  requests seen by the server: {sum(len(v) for v in starts.values())}"
            " (each page, plus one soft-404 probe per directory)"
        )

        if not linkchecker:
            print("  linkchecker: not installed (see the docstring); no comparison")
            return
        lc_log = work / "lc.log"
        server = start_server(port, args.latency_ms, lc_log)
        try:
            start = time.perf_counter()
            subprocess.run(
                [linkchecker, "--check-extern", "--no-robots", "-o", "none", "--no-status", str(doc)],
                capture_output=True,
                text=True,
                check=False,
            )
            lc_seconds = time.perf_counter() - start
        finally:
            server.send_signal(signal.SIGINT)
            server.wait()
        lc_rate = args.urls / lc_seconds
        lc_requests = sum(len(v) for v in read_log(lc_log).values())
        print(f"  linkchecker  {lc_seconds:7.2f} s  {lc_rate:8.1f} URLs/s  ({lc_requests} requests seen)")
        print(f"  ratio        {ours_rate / lc_rate:7.2f}x  (target >= 3x; RSS target < 300 MB)")


if __name__ == "__main__":
    main()
