"""Benchmark of scale-out (issue 14): the in-process engine against a Dask `local:N` cluster.

20,000 URLs over 200 loopback hosts (127.0.0.2 ...), served by bench/pageserver.py, at two
server latencies, each captured in-process and on `local:2`, in the same command:

* 0 ms, no host interval, 8 connections a host: CPU-bound; the figure is pages/s and the
  speedup of the cluster (target >= 1.6x on this 2-core machine).
* 50 ms, one connection a host, `--interval` seconds between two requests to a host: the
  politeness bound is every host's URLs max(interval, latency) apart, the last one answered
  (about hosts / interval pages/s), and the figure is the share of it reached (target >= 80%).

Each side runs in a child process; peak RSS is that process tree's (coordinator + workers),
sampled, and CPU ms per page is the whole tree's (server excluded): on a shared machine the
wall-clock figures follow the load, the CPU ones much less; "coordinator" is the coordinating process's own
share (with the in-process scheduler), "server" the page server's CPU ms per page, "parts" how many
shard parts came back. Cluster start-up is timed apart. At 0 ms the page server is pageserver.py's
lean epoll loop (half the CPU of its asyncio one, which `--server asyncio` picks): on this machine
it takes its CPU from the side being measured. Usage: .venv/bin/python bench/cluster.py [--urls 20000]
[--hosts 200] [--interval 0.5] [--workers 2] [--latencies 0,50] [--rounds 3] [--server lean|asyncio]
[--without-split] (also the cluster with idle workers taking no hosts from busy ones, in the same rounds)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


class TreeRss:
    """Peak of the summed RSS of this process and all its descendants (the cluster's workers)."""

    def __init__(self) -> None:
        import psutil

        self._me = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psutil

        tree: list[psutil.Process] = []
        listed = 0.0
        while not self._stop.wait(0.2):
            # Listing descendants reads every /proc/<pid>/stat of the machine: 5% of a core at five
            # times a second, taken from the cluster being measured. Once a second is enough to
            # find new workers; their RSS is still read every 0.2 s.
            if time.monotonic() - listed >= 1.0:
                tree, listed = [self._me, *self._me.children(recursive=True)], time.monotonic()
            total = 0
            for proc in tree:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def cpu_seconds(self, own: bool = False) -> float:
        """User + system CPU of the tree (or this process alone) so far: call it before the cluster closes."""
        import psutil

        total = 0.0
        for proc in [self._me] if own else [self._me, *self._me.children(recursive=True)]:
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        return total


def settings(archive: Path, latency_ms: float, interval: float, cluster: str) -> dict[str, Any]:
    cpu_bound = latency_ms == 0
    return {
        "archive_dir": str(archive),
        "fetch": {
            "allow_private_networks": True,
            "host_interval": 0.0 if cpu_bound else interval,
            "host_concurrency": 8 if cpu_bound else 1,
            "concurrency": 64 if cpu_bound else 256,
            "timeout": 60.0,
            "deadline": 600.0,
        },
        "live": {"soft_404_probe": False},
        "cluster": {"address": cluster},  # the defaults: shards_per_worker, part_seconds
    }


NO_SPLIT = "/no-split"  # an engine name: the cluster, with idle workers taking no hosts from busy ones


def run_child(urls_file: Path, archive: Path, latency_ms: float, interval: float, cluster: str) -> dict[str, Any]:
    """In the child: capture every URL in-process or on the cluster; report times and memory."""
    sys.path.insert(0, str(HERE.parent))
    from archiver.config import load_config
    from archiver.pipeline.capture import capture_urls

    urls = urls_file.read_text().split()
    split_off = cluster.endswith(NO_SPLIT)
    cluster = cluster.removesuffix(NO_SPLIT)
    config = load_config(None, settings(archive, latency_ms, interval, cluster))
    out: dict[str, Any] = {}

    async def go(rss: TreeRss) -> None:
        if not cluster:
            start, cpu = time.perf_counter(), rss.cpu_seconds()
            captures = await capture_urls(urls, config)
            out["seconds"] = time.perf_counter() - start
            out["cpu_ms"] = out["coord_ms"] = 1000 * (rss.cpu_seconds() - cpu) / len(urls)
            out["startup"] = 0.0
            out["parts"] = out["split"] = 0
        else:
            from archiver.cluster import dask_runner
            from archiver.cluster.dask_runner import DaskRunner

            if split_off:  # no part hands back hosts to be split: the comparison run
                dask_runner.MIN_PIECE_URLS = len(urls) + 1

            began = time.perf_counter()
            async with DaskRunner(config) as runner:
                out["startup"] = time.perf_counter() - began
                start, cpu, own = time.perf_counter(), rss.cpu_seconds(), rss.cpu_seconds(own=True)
                captures = await capture_urls(urls, config, runner=runner)
                out["seconds"] = time.perf_counter() - start
                out["cpu_ms"] = 1000 * (rss.cpu_seconds() - cpu) / len(urls)
                out["coord_ms"] = 1000 * (rss.cpu_seconds(own=True) - own) / len(urls)
                out["parts"] = runner.parts_done
                out["split"] = runner.splits
        failed = [c for c in captures if c.status != 200]
        out["count"] = len(captures)
        out["failed"] = len(failed)
        out["first_error"] = str(failed[0].error) if failed else ""

    with TreeRss() as rss:
        asyncio.run(go(rss))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out["peak_rss_mb"] = max(rss.peak, own) / 1024**2
    return out


def server_cpu(pid: int) -> float:
    """CPU seconds the page server has used (user + system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        urls_file, archive, latency, interval, cluster = sys.argv[2:7]
        result = run_child(Path(urls_file), Path(archive), float(latency), float(interval), cluster)
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--urls", type=int, default=20000)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.5, help="host_interval in the 50 ms case")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latencies", default="0,50")
    parser.add_argument("--rounds", type=int, default=3, help="paired in-process / cluster rounds per latency")
    parser.add_argument(
        "--server",
        choices=("lean", "asyncio"),
        default="lean",
        help="the page server at 0 ms: its epoll loop (default) or the asyncio one used at 50 ms",
    )
    parser.add_argument(
        "--without-split",
        action="store_true",
        help="also run the cluster with idle workers taking no hosts from busy ones, in the same rounds",
    )
    args = parser.parse_args()
    os.environ.pop("http_proxy", None)
    sys.path.insert(0, str(HERE))
    from capture import free_port, start_server

    rows: list[tuple[float, int, str, dict[str, Any]]] = []
    for latency in [float(x) for x in args.latencies.split(",")]:
        port = free_port()
        # At 0 ms the page server shares the two cores with what it serves: the lean one costs half the CPU.
        server = start_server(port, latency_ms=latency, lean=latency == 0 and args.server == "lean")
        try:
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                urls = [f"http://127.0.0.{2 + i % args.hosts}:{port}/page/{i}" for i in range(args.urls)]
                urls_file = work / "urls.txt"
                urls_file.write_text("\n".join(urls) + "\n")
                # Paired rounds, each engine on a fresh archive: this VM's speed drifts by +-15% over
                # minutes, so a speedup is read within a round and the median round is the figure.
                for round_ in range(1, args.rounds + 1):
                    cluster = f"local:{args.workers}"
                    for mode in ("", cluster, *([f"{cluster}{NO_SPLIT}"] if args.without_split else [])):
                        archive = work / f"archive-{round_}-{mode.replace(':', '').replace('/', '') or 'here'}"
                        served = server_cpu(server.pid)
                        result = child([str(urls_file), str(archive), str(latency), str(args.interval), mode])
                        result["server_ms"] = 1000 * (server_cpu(server.pid) - served) / args.urls
                        rows.append((latency, round_, mode or "in-process", result))
        finally:
            server.terminate()
            server.wait()
    print(f"{args.urls} URLs over {args.hosts} loopback hosts; {os.cpu_count()} cores; {args.rounds} paired round(s)")
    header = (
        f"{'latency':>8} {'round':>5} {'engine':>16} {'pages/s':>9} {'speedup':>8} {'bound %':>8} {'start s':>8}"
        f" {'RSS MB':>8} {'CPU ms/page':>12} {'coordinator':>12} {'server':>7} {'parts':>6} {'split':>6}"
    )
    print(header)
    base: dict[tuple[float, int], float] = {}
    speedups: dict[float, list[float]] = {}
    shares: dict[float, list[float]] = {}
    unsplit: dict[float, list[float]] = {}
    for latency, round_, mode, result in rows:
        rate = result["count"] / result["seconds"]
        base.setdefault((latency, round_), rate)
        # The politeness bound: the busiest host's URLs one interval apart, the last one answered.
        per_host = -(-args.urls // args.hosts)
        best_s = (per_host - 1) * max(args.interval, latency / 1000) + latency / 1000
        share = 100 * rate / (args.urls / best_s)
        bound = "" if latency == 0 else f"{share:7.1f}%"
        if mode != "in-process" and not mode.endswith(NO_SPLIT):
            speedups.setdefault(latency, []).append(rate / base[(latency, round_)])
            shares.setdefault(latency, []).append(share)
        elif mode.endswith(NO_SPLIT):
            unsplit.setdefault(latency, []).append(rate / base[(latency, round_)])
        print(
            f"{latency:6.0f}ms {round_:5d} {mode:>16} {rate:9.1f} {rate / base[(latency, round_)]:7.2f}x {bound:>8} "
            f"{result['startup']:8.1f} {result['peak_rss_mb']:8.1f} {result['cpu_ms']:12.2f} {result['coord_ms']:12.2f}"
            f" {result['server_ms']:7.3f} {result['parts']:6d} {result['split']:6d}"
            + (f"  failed {result['failed']}: {result['first_error']}" if result["failed"] else "")
        )
    for latency, values in speedups.items():
        share_text = "" if latency == 0 else f", share of the bound {statistics.median(shares[latency]):.1f}%"
        print(
            f"median over rounds at {latency:g} ms: local:{args.workers} speedup {statistics.median(values):.2f}x"
            f" (rounds: {', '.join(f'{v:.2f}x' for v in values)}){share_text}"
        )
        if latency in unsplit:
            others = unsplit[latency]
            print(
                f"  without splits: {statistics.median(others):.2f}x (rounds: {', '.join(f'{v:.2f}x' for v in others)})"
            )
    print(
        f"targets: speedup >= 1.6x at 0 ms; >= 80% of the politeness bound at 50 ms (each host's URLs "
        f"max({args.interval:g} s, latency) apart)"
    )


if __name__ == "__main__":
    main()
