"""Benchmark of the nightly pass (issue 6): 5,000 watched URLs, two runs where nothing changed.

The URLs are spread over 20 loopback addresses (127.0.0.2 ... 127.0.0.21) of one bench/pageserver.py
process, which answers every path with the same 10 KB page. Both runs happen in one child process
(so peak RSS is the nightly pass's alone). Printed: each run's duration, URLs/s, peak RSS, and the
archive's growth in the second run per unchanged URL, split into WARCs (and those by record type),
index and reports. Targets: growth < 2 KB per unchanged URL (captures: WARCs + index), peak RSS
< 300 MB.

Reports (`reports/<run-id>.{json,html,md}`) are printed beside the captures, per format. They are
renderings of the run's results, which the index keeps (a resumed run rebuilds its report from
them), so they are not in the captures' 2 KB target; the "whole folder" figure shows both. A quiet
night's reports are small by design (nightly/reports.py): the JSON keeps every result whole but without
indentation, and the HTML and Markdown fold sources with nothing new into one short row each.
Before that, reports added ~4,330 B per unchanged URL per night (whole folder ~6,190 B). Each run
also gzips the previous runs' reports (the newest stays plain, where tools read it), so from the
third run on the whole folder grows under 2 KB per unchanged URL; run 2's figure is lower still,
because gzipping run 1's reports frees more than run 2's own take. Use --runs 3 to see it.

The soft-404 probe is off here: the bench server answers every made-up URL with the same page,
so every source would be judged a soft 404 (and probed again every night). In real runs the probe
is only fetched for pages that changed.
Usage: .venv/bin/python bench/nightly.py [--urls 5000] [--hosts 20]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from capture import free_port, start_server  # noqa: E402


def record_bytes(archive: Path) -> dict[str, int]:
    """Bytes on disk (gzip members) of every WARC record, summed by record type."""
    from archiver.warc.scan import iter_records, warc_files

    out: dict[str, int] = {}
    for path in warc_files(archive / "warcs"):
        for record in iter_records(path):
            out[record.type] = out.get(record.type, 0) + record.length
    return out


def sizes(archive: Path) -> dict[str, int]:
    def total(paths: list[Path]) -> int:
        return sum(p.stat().st_size for p in paths if p.is_file())

    return {
        "warcs": total(list((archive / "warcs").glob("*"))),
        **{f"warc:{kind}": n for kind, n in record_bytes(archive).items()},
        "index": total(list(archive.glob("index.sqlite3*"))),
        "reports": total(list((archive / "reports").glob("*"))),
        **{
            f"reports:{suffix}": total(list((archive / "reports").glob(f"*.{suffix}")))
            for suffix in ("json", "html", "md")
        },
        "all": total(list(archive.rglob("*"))),
    }


def run_child(urls_file: Path, archive: Path, runs: int = 2) -> dict[str, object]:
    """In the child: watch every URL, run twice (a day apart), measure."""
    from archiver.config import load_config
    from archiver.nightly.run import run_once
    from archiver.nightly.watchlist import open_watch

    urls = urls_file.read_text().split()
    config = load_config(
        None,
        {
            "archive_dir": str(archive),
            "fetch": {"allow_private_networks": True, "host_interval": 0.0, "concurrency": 64, "host_concurrency": 8},
            "live": {"soft_404_probe": False},
        },
    )
    with open_watch(config) as watch:
        for url in urls:
            watch.add(url)
    night = datetime.now(UTC)
    out: dict[str, object] = {"urls": len(urls), "runs": runs}
    for number in range(1, runs + 1):
        before = sizes(archive)
        start = time.perf_counter()
        today = night + timedelta(days=number - 1)
        summary = run_once(config, clock=lambda: today, run_id=f"bench-{number}")  # noqa: B023 (used at once)
        seconds = time.perf_counter() - start
        after = sizes(archive)
        for key in before:
            after.setdefault(key, 0)
        revisits = sum(
            1 for s in summary.sources if s.result.live_capture is not None and s.result.live_capture.revisit_of
        )
        out[f"run{number}"] = {
            "seconds": seconds,
            "checked": len(summary.sources),
            "revisits": revisits,
            "counts": summary.counts,
            "growth": {key: after[key] - before.get(key, 0) for key in after},
        }
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(run_child(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--urls", type=int, default=5000)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--runs", type=int, default=2, help="unchanged runs after the first (growth of each shown)")
    args = parser.parse_args()
    os.environ.pop("http_proxy", None)
    port = free_port()
    server = start_server(port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            urls_file = work / "urls.txt"
            urls = [f"http://127.0.0.{2 + i % args.hosts}:{port}/source/{i}" for i in range(args.urls)]
            urls_file.write_text("\n".join(urls) + "\n")
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(urls_file), str(work / "archive"), str(args.runs)],
                check=True,
                capture_output=True,
                text=True,
            )
            result = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait()
    n = result["urls"]
    print(f"nightly bench: {n} watched URLs over {args.hosts} loopback hosts, 10 KB pages, nothing changes")
    for number in range(1, result["runs"] + 1):
        run = result[f"run{number}"]
        print(
            f"  run {number}: {run['seconds']:7.2f} s  {run['checked'] / run['seconds']:7.1f} URLs/s"
            f"  revisits {run['revisits']}  results {run['counts']}"
        )
        if number == 1:
            continue
        growth = run["growth"]
        captures = growth["warcs"] + growth["index"]
        print(
            f"    growth per unchanged URL: {captures / n:5.0f} B (WARCs {growth['warcs'] / n:.0f} B"
            f" + index {growth['index'] / n:.0f} B; target < 2048 B); reports {growth['reports'] / n:.0f} B;"
            f" whole folder {growth['all'] / n:.0f} B"
        )
        kinds = sorted(k for k in growth if k.startswith("warc:") and growth[k])
        print("    WARC records per URL: " + ", ".join(f"{k[5:]} {growth[k] / n:.0f} B" for k in kinds))
        formats = [k for k in growth if k.startswith("reports:")]
        print("    reports per URL: " + ", ".join(f"{k[8:]} {growth[k] / n:.0f} B" for k in formats))
    print(f"  peak RSS {result['peak_rss_mb']:.1f} MB (target < 300 MB)")


if __name__ == "__main__":
    main()
