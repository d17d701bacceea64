"""Page-kind benchmark (issue 10): accuracy over the corpus, and the cost per 100 KB page.

    .venv/bin/python bench/pagekind.py [--baseline REV] [--capture-only]

1. precision and recall per kind over tests/fixtures/pages (labels.toml), with the misread pages;
2. `classify` on a ~100 KB realistic article (nav, sidebar, scripts, footer, paragraphs repeated),
   and on a ~100 KB app shell (the slow path: no text, so markup scanned and every part measured),
   each against the floor: parsing the same page with selectolax's Lexbor parser and nothing else.
   Mean, median, p95 and minimum of 300 runs each, in turns, in ms of wall and of CPU time.
   Budget: classification under 2 ms per 100 KB page (CPU time: the machine is shared).
3. what every capture pays (issue 14): `fingerprint(with_markup=True)` + `classify_fingerprint`, CPU
   per page on the 10 KB page of bench/pageserver.py and over the corpus (total, p50, p95), against
   the same two calls of git revision REV (default: before the fingerprint measured the page's
   shape on its own parse), loaded from `git show` beside this tree; and first, that both give the
   same fingerprints, shapes and page kinds on every page at hand. Budget: 0.2 ms on the 10 KB page.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import random
import statistics
import subprocess
import sys
import time
import tomllib
import types
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selectolax.lexbor import LexborHTMLParser  # noqa: E402

import archiver.judge  # noqa: E402
from archiver.content import fingerprint as fingerprints  # noqa: E402
from archiver.content import pageshape  # noqa: E402
from archiver.judge import pagekind  # noqa: E402
from archiver.judge.pagekind import PageInput, classify  # noqa: E402
from archiver.models import PageKind  # noqa: E402
from bench.pageserver import page as bench_page  # noqa: E402
from tests.pagecorpus import corpus_pages  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "tests" / "fixtures" / "pages"
SHARED = ROOT.parent / "shared"
RUNS = 300
BUDGET_MS = 2.0
CAPTURE_BUDGET_MS = 0.2
BEFORE = "ae5562841cb210de9d3e091f1786bc96a10a068f"  # the last commit that parsed each page twice

PARAGRAPHS = (
    "The committee met on Tuesday to review the draft regulation on cross-border data transfers, which would "
    "require operators of critical information infrastructure to file a security assessment first.",
    "国务院新闻办公室26日举行新闻发布会，介绍推动经济高质量发展的有关情况。有关部门负责人表示，经济运行总体平稳、稳中有进。",
    "Industry groups welcomed the clarity but asked for a longer transition period; a chamber of commerce said its "
    "members needed eighteen months to map their data flows and renegotiate contracts.",
)


def accuracy() -> None:
    labels = tomllib.loads((PAGES / "labels.toml").read_text(encoding="utf-8"))["pages"]
    confusion: Counter[tuple[PageKind, PageKind]] = Counter()
    missed = []
    for name, label in labels.items():
        headers = label.get("headers", {})
        got = classify(
            PageInput(
                html=(PAGES / f"{name}.html").read_text(encoding="utf-8"),
                status=label["status"],
                headers=headers,
                url=label["url"],
                requested_url=label.get("requested_url"),
                content_type=headers.get("content-type"),
            )
        ).kind
        want = PageKind(label["kind"])
        confusion[(want, got)] += 1
        if got is not want:
            missed.append(f"  {name}: labelled {want}, read {got}")
    print(f"corpus: {len(labels)} pages")
    print(f"  {'kind':<11} {'pages':>5} {'precision':>9} {'recall':>7}")
    for kind in PageKind:
        hits = confusion[(kind, kind)]
        predicted = sum(n for (_, got), n in confusion.items() if got is kind)
        actual = sum(n for (want, _), n in confusion.items() if want is kind)
        precision = hits / predicted if predicted else 0.0
        recall = hits / actual if actual else 0.0
        print(f"  {kind:<11} {actual:>5} {precision:>9.3f} {recall:>7.3f}")
    print("\n".join(missed) if missed else "  no page misread")


def realistic_page(size: int = 100_000) -> str:
    head = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>经济运行开局良好 - Example News</title>"
        "<link rel='stylesheet' href='/css/site.css'><script src='/js/vendor.js'></script>"
        "<script>window.__CONFIG__={" + ",".join(f'"k{i}":{i}' for i in range(300)) + "};</script></head><body>"
        "<header><nav>"
        + "".join(f"<a href='/c{i}/'>频道{i}</a> " for i in range(40))
        + "<a href='/login'>登录</a></nav>"
        "</header><main><article><h1>经济运行开局良好</h1>"
    )
    tail = (
        "</article></main><aside><h3>相关新闻</h3><ul>"
        + "".join(f"<li><a href='/a/{i}.html'>相关报道第{i}篇</a></li>" for i in range(30))
        + "</ul></aside><footer><a href='/404.html'>404</a> Copyright © 2025</footer>"
        "<script>(function(){var s=document.createElement('script');s.src='/js/stats.js';})();</script></body></html>"
    )
    body: list[str] = []
    while len(head) + len(tail) + sum(len(p) for p in body) < size:
        body.append(f"<p>{PARAGRAPHS[len(body) % len(PARAGRAPHS)]}</p>\n")
    return head + "".join(body) + tail


def summary(samples: list[float]) -> tuple[float, float, float, float]:
    samples = sorted(samples)
    return statistics.fmean(samples), statistics.median(samples), samples[int(len(samples) * 0.95) - 1], samples[0]


def timed(fns: tuple[Callable[[], object], ...]) -> list[tuple[list[float], list[float]]]:
    """Wall and CPU times (ms) of each function, run in turns so that all see the same load.

    The machine is shared: wall time includes waiting for a core, CPU time (of this process)
    does not, so CPU time is the cost of the code and wall time what a caller sees today.
    """
    for _ in range(20):
        for fn in fns:
            fn()
    out: list[tuple[list[float], list[float]]] = [([], []) for _ in fns]
    for _ in range(RUNS):
        for fn, (wall, cpu) in zip(fns, out, strict=True):
            started, started_cpu = time.perf_counter(), time.process_time()
            fn()
            cpu.append((time.process_time() - started_cpu) * 1000)
            wall.append((time.perf_counter() - started) * 1000)
    return out


def app_shell_page(size: int = 100_000) -> str:
    """The slow path: almost no text, so the markup is scanned and every part measured."""
    state = ",".join(f'{{"id":{i},"title":"条目 {i}","url":"/item/{i}"}}' for i in range(size // 40))
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Example App</title>"
        "<script src='/static/js/main.js' defer></script></head><body><div id='root'></div>"
        f"<script id='__NEXT_DATA__' type='application/json'>{{\"items\":[{state}]}}</script></body></html>"
    )


def speed() -> None:
    for label, html, kind in (
        ("~100 KB article", realistic_page(), PageKind.CONTENT),
        ("~100 KB app shell (the slow path)", app_shell_page(), PageKind.APP_SHELL),
    ):
        speed_of(label, html, kind)


def speed_of(label: str, html: str, kind: PageKind) -> None:
    page = PageInput(html=html, status=200, url="https://news.example.cn/a/1.html")
    assert classify(page).kind is kind
    floor, ours = timed((lambda: LexborHTMLParser(html).body, lambda: classify(page)))
    print(f"\n{label} ({len(html.encode()) / 1024:.0f} KiB UTF-8), {RUNS} runs each, in turns, ms:")
    print(f"  {'':30} {'':5} {'mean':>7} {'median':>7} {'p95':>7} {'min':>7}")
    for name, (wall, cpu) in (("selectolax parse only (floor)", floor), ("classify", ours)):
        print(f"  {name:30} {'wall':5} " + " ".join(f"{value:7.3f}" for value in summary(wall)))
        print(f"  {'':30} {'cpu':5} " + " ".join(f"{value:7.3f}" for value in summary(cpu)))
    cpu_mean = summary(ours[1])[0]
    print(f"  classify over the floor: {cpu_mean - summary(floor[1])[0]:.3f} ms CPU (mean)")
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    verdict = "within" if cpu_mean < BUDGET_MS else "OVER"
    print(f"  {verdict} budget: classify {cpu_mean:.3f} ms CPU (mean) per 100 KB page, budget {BUDGET_MS} ms")


# ---- 3. what every capture pays, against an earlier revision


def baseline(rev: str) -> types.SimpleNamespace | None:
    """`fingerprint`, `classify_fingerprint` and `html_shape` as revision `rev` had them, or None.

    Its fingerprint, page-shape, page-kind and page-sign modules are compiled from `git show` under
    their own names, each seeing the others of its revision (the rest of the package is today's).
    """

    def source(path: str) -> str | None:
        done = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else None

    old: dict[str, types.ModuleType] = {}
    names = {
        "archiver.content.fingerprint": "archiver/content/fingerprint.py",
        "archiver.judge.pagesigns": "archiver/judge/pagesigns.py",
        "archiver.judge.pageshape": "archiver/judge/pageshape.py",
        "archiver.judge.pagekind": "archiver/judge/pagekind.py",
    }
    for name, path in names.items():
        text = source(path)
        if text is None:
            print(f"  (no {path} at {rev}: nothing to compare with)")
            return None
        module = types.ModuleType(f"before_{rev[:10]}.{name}")
        sys.modules[module.__name__] = module  # dataclasses look their module up there
        saved = {key: sys.modules.get(key) for key in old}
        saved_attrs = {key: getattr(archiver.judge, key.rpartition(".")[2], None) for key in old if "judge" in key}
        sys.modules.update(old)
        for key, value in old.items():
            if key.startswith("archiver.judge."):
                setattr(archiver.judge, key.rpartition(".")[2], value)
        try:
            exec(compile(text, f"{rev[:10]}:{path}", "exec"), module.__dict__)
        finally:
            for key, value in saved.items():
                if value is None:
                    sys.modules.pop(key, None)
                else:
                    sys.modules[key] = value
            for key, value in saved_attrs.items():
                setattr(archiver.judge, key.rpartition(".")[2], value)
        old[name] = module
    kind = old["archiver.judge.pagekind"]
    return types.SimpleNamespace(
        fingerprint=old["archiver.content.fingerprint"].fingerprint,
        classify_fingerprint=kind.classify_fingerprint,
        html_shape=old["archiver.judge.pageshape"].html_shape,
    )


def _warc_payloads(data: bytes) -> Iterator[tuple[str, bytes]]:
    from warcio.archiveiterator import ArchiveIterator

    for record in ArchiveIterator(io.BytesIO(data)):
        if record.rec_type == "response" and record.http_headers is not None:
            ctype = record.http_headers.get_header("Content-Type") or ""
            yield ctype, record.content_stream().read()


def other_pages() -> list[tuple[str, bytes, str]]:
    """(name, body, content type) of everything else at hand: the HTML fixtures of every test, the shared
    samples and interop archives' pages, the benchmarks' pages, and pages made to hit the edge cases."""
    out: list[tuple[str, bytes, str]] = []
    for path in sorted((ROOT / "tests" / "fixtures").rglob("*.html")):
        if path.parent != PAGES:
            out.append((str(path.relative_to(ROOT)), path.read_bytes(), "text/html"))
    for path in sorted((SHARED / "samples").glob("*")) if (SHARED / "samples").is_dir() else []:
        out.append((f"samples/{path.name}", path.read_bytes(), "text/plain"))
    warc = SHARED / "interop" / "perma-example.com.warc.gz"
    if warc.is_file():
        out += [(f"{warc.name} #{i}", body, ct) for i, (ct, body) in enumerate(_warc_payloads(warc.read_bytes()))]
    wacz = SHARED / "interop" / "scoop-example.com.wacz"
    if wacz.is_file():
        with zipfile.ZipFile(wacz) as archive:
            for member in archive.namelist():
                if member.endswith((".warc", ".warc.gz")):
                    data = archive.read(member)
                    data = gzip.decompress(data) if member.endswith(".gz") else data
                    out += [(f"{wacz.name}:{member} #{i}", b, ct) for i, (ct, b) in enumerate(_warc_payloads(data))]
    out.append(("bench 10 KB page", bench_page(10240), "text/html; charset=utf-8"))
    out.append(("bench 100 KB article", realistic_page().encode(), "text/html; charset=utf-8"))
    out.append(("bench 100 KB app shell", app_shell_page().encode(), "text/html; charset=utf-8"))
    out += [(f"edge {i}", html.encode(), "text/html; charset=utf-8") for i, html in enumerate(edge_pages())]
    window = fingerprints.MARKUP_CHARS
    past = f"<title>页面不存在</title><h1>页面不存在</h1><!--{'x' * window}--><p>{'An article. ' * 2000}</p>"
    out.append(("past the markup window", past.encode(), "text/html; charset=utf-8"))
    return out


_PIECES = (
    "<p>", "</p>", "<br>", "<h1>", "</h1>", "<h2>", "</h2>", "<div>", "</div>", "<b>", "</b>", "<nav>", "</nav>",
    "<svg><title>icon</title><text>svg words</text></svg>", "<svg><svg><desc>inner</desc></svg>after</svg>",
    "<svg><section>in svg</section><option>o</option><script>s</script><style>x</style></svg>", "<P>", "<DIV>",
    "<math><mi>x</mi><td>t</td><title>math title</title></math>", "<TITLE>Upper</TITLE>", "<META HTTP-EQUIV=Refresh>",
    "<script src='/a.js'></script>", "<noscript><p>no</p></noscript>", "<select><option>1</option></select>",
    "<table>", "<td>", "<li>", "<script>var s='x';</script>", "<noscript>Enable JavaScript</noscript>",
    "<style>p{}</style>", "<template><p>t</p></template>", "<title>页面不存在 - 人民网</title>", "<title></title>",
    "<meta http-equiv='refresh' content='0;url=/login'>", "<div id='root'></div>", "&nbsp;", "\t", "\r\n", "\x0c",
    "  ", " ", "\n", "\u3000", "\u00a0", "\u2028", "e\u0301", "Ω", "404", "Page not found", "Just a moment...",
    "登录", "页面", "lorem ipsum dolor ", "The committee met on Tuesday. " * 20, "国务院新闻办公室发布会。" * 30,
)  # fmt: skip


def edge_pages(count: int = 3000) -> list[str]:
    """Random pages made of the pieces where two readings of a page could part: SVG inside text, blocks
    inside headings and paragraphs, every kind of space, titles, scripts and the phrases of walls."""
    rnd = random.Random(14)
    pages = []
    for _ in range(count):
        head = "<!doctype html>" if rnd.random() < 0.7 else ""  # without it, a quirks-mode table stays in <p>
        pages.append(head + "".join(rnd.choice(_PIECES) for _ in range(rnd.randint(1, 60))))
    return pages


def identity(old: types.SimpleNamespace) -> bool:
    """Do both revisions give the same fingerprint, shape and page kind of every page at hand?"""
    cases = [(name, body, args) for name, body, args in corpus_pages()]
    for name, body, ctype in other_pages():
        args = {"status": 200, "headers": {}, "url": "http://example.com/a", "requested_url": None}
        cases.append((name, body, args | {"content_type": ctype}))
    differ = []
    for name, body, args in cases:
        before, now = (_reading(impl, body, args) for impl in (old, None))
        if before != now:
            parts = [field for field, a, b in zip(_FIELDS, before, now, strict=True) if a != b]
            differ.append(f"  {name}: {', '.join(parts)} differ")
    print(f"\nidentity with {len(cases)} pages (corpus, fixtures, samples, interop, bench, edge cases):")
    print("\n".join(differ[:10]) if differ else "  the same " + ", ".join(_FIELDS))
    if len(differ) > 10:
        print(f"  ... and {len(differ) - 10} more")
    return not differ


_FIELDS = (
    "payload kind", "text_sha256", "title", "encoding", "text", "main text", "error", "markup",
    "text without markup", "shape",
    "page kind", "evidence", "redirect",
)  # fmt: skip


def _reading(impl: types.SimpleNamespace | None, body: bytes, args: dict[str, Any]) -> tuple[object, ...]:
    fingerprint = impl.fingerprint if impl else fingerprints.fingerprint
    classify_fp = impl.classify_fingerprint if impl else pagekind.classify_fingerprint
    html_shape = impl.html_shape if impl else pageshape.html_shape
    fp = fingerprint(
        body, content_type=args["content_type"], content_encoding=None, max_decoded_bytes=8 << 20,
        with_main_text=len(body) < 200_000, with_markup=True,
    )  # fmt: skip
    page = classify_fp(fp, **args)
    markup = fp.markup if isinstance(fp.markup, str) or fp.markup is None else fp.markup.text
    shape = html_shape(markup) if markup else None
    plain = fingerprint(body, content_type=args["content_type"], content_encoding=None, max_decoded_bytes=8 << 20)
    fields = (fp.kind.value, fp.text_sha256, fp.title, fp.encoding, fp.text, fp.main_text, fp.error, markup)
    plain_fields = (plain.text_sha256, plain.title, plain.text)
    return (*fields, plain_fields, shape and vars(shape), page.kind.value, page.evidence, page.redirect_to)


def capture_cost(old: types.SimpleNamespace | None, rev: str) -> None:
    impls = {"before": old, "now": None} if old else {"now": None}
    ctype = "text/html; charset=utf-8"
    args = {"status": 200, "headers": {}, "url": "http://127.0.0.2/p", "requested_url": None, "content_type": ctype}
    versus = f"before = {rev[:10]}, " if old else ""
    print(f"\nfingerprint + classify_fingerprint, CPU ms per page ({versus}in turns):")
    rounds = _cpu_rounds([_capture(impl, bench_page(10240), args) for impl in impls.values()], 2000, 7)
    best = {name: min(samples) for name, samples in zip(impls, rounds, strict=True)}
    print("  10 KB bench page, best of 7 rounds of 2000: " + ", ".join(f"{n} {ms:.3f}" for n, ms in best.items()))
    pages = corpus_pages()
    per_page: dict[str, list[float]] = {name: [] for name in impls}
    for _, body, page_args in pages:
        rounds = _cpu_rounds([_capture(impl, body, page_args) for impl in impls.values()], 50, 5)
        for name, samples in zip(impls, rounds, strict=True):
            per_page[name].append(min(samples))
    print(f"  corpus, {len(pages)} pages, best of 5 rounds of 50 each:")
    for name, samples in per_page.items():
        samples.sort()
        p95 = samples[int(len(samples) * 0.95) - 1]
        print(f"    {name:<7} total {sum(samples):7.2f}  p50 {statistics.median(samples):.3f}  p95 {p95:.3f}")
    verdict = "within" if best["now"] <= CAPTURE_BUDGET_MS else "OVER"
    print(f"  {verdict} budget: {best['now']:.3f} ms CPU on the 10 KB page, budget {CAPTURE_BUDGET_MS} ms")
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def _capture(impl: types.SimpleNamespace | None, body: bytes, args: dict[str, Any]) -> Callable[[], object]:
    """What a capture of `body` runs: the fingerprint with its markup, then the page kind from it."""
    fingerprint = impl.fingerprint if impl else fingerprints.fingerprint
    classify_fp = impl.classify_fingerprint if impl else pagekind.classify_fingerprint
    ctype = args["content_type"]

    def run() -> object:
        fp = fingerprint(body, content_type=ctype, content_encoding=None, max_decoded_bytes=8 << 20, with_markup=True)
        return classify_fp(fp, **args)

    return run


def _cpu_rounds(fns: list[Callable[[], object]], number: int, rounds: int) -> list[list[float]]:
    """Per function, the CPU ms per call of each round; the functions take turns within every round."""
    out: list[list[float]] = [[] for _ in fns]
    for fn in fns:
        fn()
    for _ in range(rounds):
        for fn, samples in zip(fns, out, strict=True):
            started = time.process_time()
            for _ in range(number):
                fn()
            samples.append((time.process_time() - started) * 1000 / number)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=BEFORE, help="git revision to compare with (default: %(default)s)")
    parser.add_argument("--capture-only", action="store_true", help="only part 3 (identity and capture cost)")
    options = parser.parse_args()
    if not options.capture_only:
        accuracy()
        speed()
    before = baseline(options.baseline)
    same = identity(before) if before else True
    capture_cost(before, options.baseline)
    sys.exit(0 if same else 1)
