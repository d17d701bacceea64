"""Benchmark of `archiver export` (issue 13): a 100-citation document packaged as a WACZ.

A local site serves 100 pages (about 6 KB each) and a local Wayback Machine holds a snapshot of
each; the document cites every page with its Wayback link. The check runs first (timed apart,
it is not the export), then the export of its evidence is timed. Prints the export time (target
< 5 s), the WACZ size against the WARC records it holds (target <= 1.1x), and, as the comparison
run, py-wacz's `wacz create` of the same records when py-wacz is installed.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from archiver.config import load_config  # noqa: E402
from archiver.pipeline.check import Document, check_documents  # noqa: E402
from archiver.pipeline.export import export_report  # noqa: E402
from tests.imitations import serve  # noqa: E402
from tests.imitations.wayback import WaybackCapture, WaybackImitation  # noqa: E402

CITATIONS = 100
TS = "20250426090000"


WORDS = (
    "committee met on friday to discuss development of artificial intelligence members heard a lecture by "
    "professor engineering proposals chair stressed country must be self reliant oriented toward applications "
    "policy law court ruling minister province report data security trade export chips market growth"
).split()


PARAGRAPHS = int(sys.argv[1]) if len(sys.argv) > 1 else 12


def page(n: int) -> bytes:
    """A page of seeded random prose: it compresses like real text (~3x), not like a repeated line."""
    rng = random.Random(n)
    paragraphs = "".join(
        "<p>" + " ".join(rng.choice(WORDS) for _ in range(60)) + f" {rng.getrandbits(64):x}.</p>"
        for _ in range(PARAGRAPHS)
    )
    return f"<html><head><title>Story {n}</title></head><body>{paragraphs}</body></html>".encode()


def live_app(environ: dict[str, Any], start_response: Any) -> Any:
    n = int(environ["PATH_INFO"].strip("/") or 0)
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [page(n)]


def main() -> None:
    with tempfile.TemporaryDirectory() as work, serve(live_app) as live:
        wayback = WaybackImitation([WaybackCapture(TS, f"{live}/{n}", body=page(n)) for n in range(CITATIONS)])
        with serve(wayback) as wb:
            config = load_config(
                None,
                {
                    "archive_dir": f"{work}/archive",
                    "fetch": {"allow_private_networks": True, "host_interval": 0.0, "retries": 0},
                    "wayback": {"url": wb},
                    "live": {"soft_404_probe": False},
                },
            )
            text = "".join(f"{n}. {live}/{n} archived: {wb}/web/{TS}/{live}/{n}\n" for n in range(CITATIONS))
            started = time.perf_counter()
            report = asyncio.run(check_documents([Document("doc.txt", text.encode())], config))
            check_s = time.perf_counter() - started
            out = Path(work) / "evidence.wacz"
            started = time.perf_counter()
            summary, notes = export_report(config, report, out)
            export_s = time.perf_counter() - started
            kept = Path(tempfile.mkdtemp()) / "evidence.wacz"
            shutil.copy(out, kept)
            with zipfile.ZipFile(kept) as archive:
                parts = {i.filename: i.compress_size for i in archive.infolist()}
    ratio = summary.size / summary.record_bytes
    print(f"pages of {len(page(0))} bytes each ({PARAGRAPHS} paragraphs; `python bench/export.py N` for N)")
    print(f"check of {len(report.results)} citations: {check_s:.2f} s (not part of the export)")
    print(f"export: {export_s:.2f} s for {summary.records} records (target < 5 s)")
    print(f"WACZ {summary.size} bytes / records {summary.record_bytes} bytes = {ratio:.3f}x (target <= 1.1x)")
    print("  bytes per file in the zip:", ", ".join(f"{k} {v}" for k, v in parts.items()))
    if notes:
        print("notes:", *notes, sep="\n  ")
    tool = shutil.which("wacz") or str(Path(sys.executable).parent / "wacz")
    if Path(tool).exists():
        with tempfile.TemporaryDirectory() as work:
            warc = Path(work) / "data.warc.gz"
            with zipfile.ZipFile(kept) as archive:
                warc.write_bytes(archive.read("archive/data.warc.gz"))
            started = time.perf_counter()
            proc = subprocess.run([tool, "create", "-o", f"{work}/py.wacz", str(warc)], capture_output=True, text=True)
            py_s = time.perf_counter() - started
            size = Path(f"{work}/py.wacz").stat().st_size if proc.returncode == 0 else 0
            print(f"comparison, py-wacz create of the same records: {py_s:.2f} s, {size} bytes (rc {proc.returncode})")
    else:
        print("comparison skipped: py-wacz is not installed (pip install wacz)")


if __name__ == "__main__":
    main()
