"""Drift benchmark (issue 4): compare speed against difflib on characters, in the same run.

    .venv/bin/python bench/drift.py

Cases:
1. two ~1 MB texts (English words; and Chinese characters) with 20 words edited, 3 lines deleted
   and 3 inserted, compared end to end by `archiver.judge.drift.compare` (normalisation, alignment,
   similarity, paragraph changes; extraction excluded). Budget: 100 ms.
2. the baseline for the same inputs: `difflib.SequenceMatcher` on characters. It is quadratic in
   the worst case, so it runs in a child process with a timeout, and is also timed on a 50 KB
   prefix so a number is printed even when the full run times out.
3. two realistic ~500 KB HTML pages (script, CSS, navigation, sidebar, footer, long article),
   one edited, fingerprinted with main-text extraction and compared. Budget: 500 ms.
Each timing is the best of 3 runs.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import random
import sys
import time
from collections.abc import Callable
from difflib import SequenceMatcher
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archiver.config import DriftConfig  # noqa: E402
from archiver.content.fingerprint import fingerprint  # noqa: E402
from archiver.judge.drift import TextSide, compare  # noqa: E402
from archiver.models import Comparison  # noqa: E402

BASELINE_TIMEOUT = 20.0
PREFIX = 50_000


def best_of(runs: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def english_word(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))


def chinese_word(rng: random.Random) -> str:
    return "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(rng.randint(1, 3)))


def texts(make_word: Callable[[random.Random], str], joiner: str, size: int = 1_000_000) -> tuple[str, str]:
    rng = random.Random(7)
    vocabulary = [make_word(rng) for _ in range(5000)]
    lines: list[str] = []
    total = 0
    while total < size:
        line = joiner.join(rng.choice(vocabulary) for _ in range(rng.randint(8, 25)))
        lines.append(line)
        total += len(line.encode()) + 1  # 1 MB of UTF-8, whatever the script
    edited = list(lines)
    for _ in range(20):
        i = rng.randrange(len(edited))
        words = edited[i].split(joiner) if joiner else list(edited[i])
        words[rng.randrange(len(words))] = make_word(rng)
        edited[i] = joiner.join(words)
    for _ in range(3):
        del edited[rng.randrange(len(edited))]
        edited.insert(rng.randrange(len(edited)), joiner.join(make_word(rng) for _ in range(12)))
    return "\n".join(lines), "\n".join(edited)


def _char_ratio(a: str, b: str, queue: multiprocessing.Queue[float]) -> None:
    started = time.perf_counter()
    SequenceMatcher(None, a, b).ratio()
    queue.put(time.perf_counter() - started)


def difflib_full(a: str, b: str) -> str:
    queue: multiprocessing.Queue[float] = multiprocessing.Queue()
    child = multiprocessing.Process(target=_char_ratio, args=(a, b, queue))
    child.start()
    child.join(BASELINE_TIMEOUT)
    if child.is_alive():
        child.terminate()
        child.join()
        return f"> {BASELINE_TIMEOUT:.0f} s (stopped)"
    return f"{queue.get() * 1000:,.0f} ms"


def html_page(paragraphs: list[str]) -> str:
    rng = random.Random(3)
    nav = "".join(f'<li><a href="/s/{i}">Section {i}</a></li>' for i in range(150))
    side = "".join(f'<div class="w"><a href="/w/{i}">Widget headline {i}</a></div>' for i in range(120))
    foot = "".join(f'<a href="/f/{i}">Footer link {i}</a> ' for i in range(200))
    css = "".join(f".c{i}{{margin:{i % 9}px;color:#{rng.randrange(16**6):06x}}}\n" for i in range(2000))
    script = "var data = [" + ",".join(str(rng.random()) for _ in range(1000)) + "];"
    body = "".join(f"<h2>Part {i}</h2>" if i % 10 == 0 else f"<p>{p}</p>" for i, p in enumerate(paragraphs))
    return (
        f"<!DOCTYPE html><html><head><title>Long report | Site</title><style>{css}</style>"
        f"<script>{script}</script></head><body><nav><ul>{nav}</ul></nav><main><article><h1>Long report</h1>"
        f"{body}</article></main><aside>{side}</aside><footer>{foot}</footer></body></html>"
    )


def html_pair() -> tuple[bytes, bytes]:
    rng = random.Random(11)
    vocabulary = [english_word(rng) for _ in range(3000)]
    paragraphs = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(40, 90))) for _ in range(1000)]
    edited = list(paragraphs)
    for i in range(5, 1000, 150):  # 7 paragraphs get a sentence more (i % 10 == 0 are headings)
        edited[i] = edited[i] + " an added closing sentence"
    return html_page(paragraphs).encode(), html_page(edited).encode()


def main() -> None:
    cfg = DriftConfig()
    rows: list[tuple[str, str, str, str]] = []
    for name, make_word, joiner in (("English", english_word, " "), ("Chinese", chinese_word, "")):
        a, b = texts(make_word, joiner)
        sa, sb = TextSide("a", None, "T", a, a), TextSide("b", None, "T", b, b)
        result = compare(sa, sb, cfg)
        took = best_of(3, lambda sa=sa, sb=sb: compare(sa, sb, cfg))  # type: ignore[misc]
        size = f"{len(a.encode()) / 1e6:.1f} MB / {len(a):,} chars"
        rows.append(
            (f"{name} texts, archiver compare", size, f"{took * 1000:,.1f} ms", f"{result.verdict} {result.similarity}")
        )
        prefix = best_of(1, lambda a=a, b=b: SequenceMatcher(None, a[:PREFIX], b[:PREFIX]).ratio())  # type: ignore[misc]
        rows.append(
            (
                f"{name} texts, difflib chars, {PREFIX // 1000} KB prefix",
                f"{PREFIX:,} chars",
                f"{prefix * 1000:,.1f} ms",
                "baseline",
            )
        )
        rows.append((f"{name} texts, difflib chars, full", size, difflib_full(a, b), "baseline"))
    page_a, page_b = html_pair()

    def pages() -> Comparison:
        sides = []
        for page in (page_a, page_b):
            fp = fingerprint(page, content_type="text/html; charset=utf-8", content_encoding=None,
                             max_decoded_bytes=1 << 26, with_main_text=True)  # fmt: skip
            sides.append(TextSide.of(fp, hashlib.sha256(page).hexdigest()))
        return compare(sides[0], sides[1], cfg)

    # Import trafilatura (done once per process, on first use) before timing anything.
    fingerprint(b"<p>warm up</p>", content_type="text/html", content_encoding=None, max_decoded_bytes=1024,
                with_main_text=True)  # fmt: skip
    started = time.perf_counter()
    result = pages()
    cold = time.perf_counter() - started
    # trafilatura memoises some per-text work, so later runs on the same pages are warmer.
    rows.append(("two HTML pages, extraction + compare, first run", f"{len(page_a) / 1024:,.0f} KiB each",
                 f"{cold * 1000:,.1f} ms", f"{result.verdict} {result.similarity}"))  # fmt: skip
    took = best_of(3, pages)
    rows.append(
        (
            "two HTML pages, extraction + compare",
            f"{len(page_a) / 1024:,.0f} KiB each",
            f"{took * 1000:,.1f} ms",
            f"{result.verdict} {result.similarity}",
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    header = ("case", "input", "time (best of 3)", "result")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
