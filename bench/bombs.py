"""Peak RSS and time of the hostile inputs of issue 11, each read in its own process.

    python bench/bombs.py [--before TREE] [--timeout 60]

Cases: a Perma WARC download that is a 65 KB gzip of 64 MiB of NUL bytes, a WACZ whose WARC
member inflates to 2 GiB, a DOCX whose document.xml inflates to 2 GiB. `--before TREE` runs the
same cases against another checkout's `archiver` package (e.g. `git archive` of the old commit)
first, for the comparison. A case past `--timeout` seconds (or 6 GB RSS) is killed and says so.
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.bombs import Bomb, docx_bomb, write_zip  # noqa: E402

_READ_ARCHIVE = """
import sys
from pathlib import Path
from archiver.archives.downloads import read_archive_file
path = Path(sys.argv[1])
try:
    r = read_archive_file(path, archive_dir=path.parent, target_urls=["http://example.com/"], capture_id="c",
                          max_decoded_bytes=16 * 1024 * 1024)
    print("read", len(r.problems), "problems,", sum(len(p) for p in r.problems), "chars")
except Exception as exc:
    print(type(exc).__name__, len(str(exc)), "chars")
"""
_READ_DOCX = """
import sys
from pathlib import Path
from archiver.extract import extract_links
path = Path(sys.argv[1])
try:
    print(len(extract_links(path.read_bytes(), str(path))), "links")
except Exception as exc:
    print(type(exc).__name__, len(str(exc)), "chars")
"""


def build(folder: Path) -> dict[str, tuple[str, Path]]:
    nul = folder / "perma.warc.gz"
    nul.write_bytes(gzip.compress(b"\0" * 64 * 1024 * 1024, 9))
    wacz = write_zip(
        folder / "bomb.wacz",
        [("datapackage.json", b'{"resources": []}'), ("archive/data.warc", Bomb(2 * 1024**3, b"WARC/1.1\r\n", b" "))],
    )
    return {
        "gzip NUL WARC (64 MiB)": (_READ_ARCHIVE, nul),
        "WACZ, 2 GiB member": (_READ_ARCHIVE, wacz),
        "DOCX bomb (2 GiB)": (_READ_DOCX, docx_bomb(folder / "bomb.docx")),
    }


def measure(tree: Path, code: str, path: Path, timeout: float) -> tuple[float, float, str]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-c", code, str(path)], env=env, stdout=subprocess.PIPE, text=True)
    proc = psutil.Process(child.pid)
    peak = 0
    outcome = ""
    while child.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        if time.monotonic() - started > timeout or peak > 6 * 1024**3:
            child.kill()
            outcome = f"killed after {time.monotonic() - started:.0f} s"
            break
        time.sleep(0.05)
    out, _ = child.communicate()
    return time.monotonic() - started, peak / 1024**2, outcome or out.strip()[:70]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="a tree holding the old archiver package")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    trees = ([("before", args.before)] if args.before else []) + [("now", ROOT)]
    with tempfile.TemporaryDirectory() as scratch:
        cases = build(Path(scratch))
        print(f"{'case':26} {'tree':7} {'seconds':>8} {'peak MB':>8}  outcome")
        for name, (code, path) in cases.items():
            for label, tree in trees:
                seconds, peak, outcome = measure(tree, code, path, args.timeout)
                print(f"{name:26} {label:7} {seconds:8.1f} {peak:8.0f}  {outcome}", flush=True)


if __name__ == "__main__":
    main()
