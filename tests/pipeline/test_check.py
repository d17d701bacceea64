"""`archiver check` end to end: a live site, Perma.cc and the Wayback Machine, all local.

One world serves every case a citation can be in; documents in each format cite subsets of it,
and the tests check the verdicts of every citation and the command's exit code for each mix.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import docx
import pytest
from werkzeug import Request, Response

from tests.clirun import Result, invoke, invoke_bytes
from tests.conftest import shared_file
from tests.imitations import serve
from tests.imitations.perma import PermaImitation, StoredLink
from tests.imitations.wayback import WaybackCapture, WaybackImitation

ROOT = Path(__file__).resolve().parents[2]
CITED = datetime(2025, 4, 26, 8, 0, tzinfo=UTC)
WB = "20250426090000"

ARTICLE = """<html><head><title>{title} - Example News</title></head><body>
<nav>Home | World | Business</nav>
<article><h1>{title}</h1>
<p>The committee met on Friday afternoon to discuss the development of artificial intelligence.</p>
<p>Members heard a lecture by a professor of engineering and discussed the proposals at length.</p>
<p>The chair stressed that the country must be self-reliant and strongly oriented toward applications.</p>
<p>{extra}</p>
</article><footer>Copyright Example News</footer></body></html>"""

CHINESE = """<html><head><meta charset="gb2312"><title>人工智能健康有序发展</title></head><body>
<article><h1>人工智能健康有序发展</h1><p>中共中央政治局4月25日下午就加强人工智能发展和监管进行第二十次集体学习。</p>
<p>习近平在主持学习时强调，面对新一代人工智能技术快速演进的新形势，要充分发挥新型举国体制优势。</p>
<p>坚持自立自强，突出应用导向，推动我国人工智能朝着有益、安全、公平方向健康有序发展。</p></article></body></html>"""


def article(title: str, extra: str = "Nothing else was decided.") -> bytes:
    return ARTICLE.format(title=title, extra=extra).encode()


PAGES: dict[str, tuple[int, bytes, str]] = {
    "/same": (200, article("Committee meets on AI"), "text/html; charset=utf-8"),
    "/edited": (200, article("Committee meets on chips", "Nothing else was decided today."), "text/html"),
    "/replaced": (200, article("Weather forecast", "Rain all week.").replace(b"committee", b"forecast"), "text/html"),
    "/gone": (404, b"<title>Not Found</title>", "text/html"),
    "/blocked": (403, b"<title>Just a moment...</title>", "text/html"),
    "/soft": (
        200,
        b"<html><head><title>\xe9\xa1\xb5\xe9\x9d\xa2\xe4\xb8\x8d\xe5\xad\x98\xe5\x9c\xa8</title></head>"
        b"<body>\xe9\xa1\xb5\xe9\x9d\xa2\xe4\xb8\x8d\xe5\xad\x98\xe5\x9c\xa8</body></html>",
        "text/html; charset=utf-8",
    ),
    "/zh": (200, CHINESE.encode("gbk"), "text/html; charset=gb2312"),
    "/other": (200, article("A different page"), "text/html"),
}


def live_app(environ: dict[str, object], start_response: object) -> object:
    request = Request(environ)
    status, body, content_type = PAGES.get(request.path, (404, b"<title>404 Not Found</title>", "text/html"))
    return Response(body, status, content_type=content_type)(environ, start_response)  # type: ignore[arg-type]


@dataclass
class World:
    live: str
    perma_site: str
    perma_api: str
    wayback: str

    def config(self, tmp_path: Path) -> Path:
        path = tmp_path / "config.toml"
        path.write_text(
            f'archive_dir = "{tmp_path / "archive"}"\n'
            "[fetch]\nallow_private_networks = true\ntimeout = 3.0\ndeadline = 10.0\n"
            "retries = 0\nhost_interval = 0.0\n"
            f'[perma]\nsite_url = "{self.perma_site}"\napi_url = "{self.perma_api}"\n'
            f'[wayback]\nurl = "{self.wayback}"\n'
        )
        return path


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with serve(live_app) as live:
        originals = {
            "/same": "Committee meets on AI",
            "/edited": "Committee meets on AI",
            "/gone": "Gone story",
            "/replaced": "Committee meets on AI",
            "/soft": "Soft story",
            "/blocked": "Blocked story",
        }
        perma_links = [
            StoredLink("2AAA-2AAA", f"{live}/same", CITED, title="Committee meets on AI"),
            StoredLink("2BBB-2BBB", f"{live}/edited", CITED),
            StoredLink("2CCC-2CCC", f"{live}/gone", CITED),
            StoredLink("2DDD-2DDD", f"{live}/replaced", CITED),
            StoredLink("2EEE-2EEE", f"{live}/other", CITED),  # pasted beside /same's neighbour: mismatch
            StoredLink("2FFF-2FFF", f"{live}/soft", CITED),
            StoredLink("2GGG-2GGG", f"{live}/blocked", CITED),
            StoredLink("2HHH-2HHH", f"{live}/zh", CITED),
        ]
        captures = [WaybackCapture(WB, f"{live}{path}", body=article(title)) for path, title in originals.items()]
        captures.append(
            WaybackCapture(WB, f"{live}/zh", body=CHINESE.encode("gbk"), content_type="text/html; charset=gb2312")
        )
        captures.append(WaybackCapture(WB, f"{live}/other", body=article("A different page")))
        # /same is archived byte for byte as it is live today.
        captures[0] = WaybackCapture(WB, f"{live}/same", body=PAGES["/same"][1])
        perma = PermaImitation(perma_links)
        wayback = WaybackImitation(captures)
        with serve(perma.api) as api, serve(perma.site) as site, serve(wayback) as wb:
            yield World(live, site, api, wb)


def run(config: Path, *args: str, stdin: bytes | None = None) -> Result[bytes]:
    return invoke_bytes("check", *args, "--config", str(config), stdin=stdin)


def results(proc: Result[bytes]) -> dict[str, dict[str, object]]:
    report = json.loads(proc.stdout)
    assert report["schema_version"] == 1
    by_path = {}
    for item in report["results"]:
        url = item["citation"]["url"]
        by_path[url.split("/", 3)[-1]] = item
    return by_path


def verdicts(item: dict[str, object]) -> tuple[object, object, object, object]:
    return (item["live"]["verdict"], item["archive"]["verdict"], item["drift"]["verdict"], item["overall"])  # type: ignore[index]


def markdown_doc(w: World) -> str:
    return f"""# Sources

1. Committee meets on AI: <{w.live}/same>
   An archived version is available at: <{w.perma_site}/2AAA-2AAA>
2. The chips story: <{w.live}/edited> (archived: {w.perma_site}/2bbb-2bbb).
3. A story that is gone: <{w.live}/gone>, archived at <{w.perma_site}/2CCC-2CCC>.
4. A story that was replaced: <{w.live}/replaced>, archived at <{w.perma_site}/2DDD-2DDD>.
5. A story with no archive: <{w.live}/edited?no-archive=1>
6. A story whose archive link is wrong: <{w.live}/blocked-not>
   An archived version is available at: <{w.perma_site}/2EEE-2EEE>
7. Unknown archive: <{w.live}/same?v=2> archived at <{w.perma_site}/2ZZZ-2ZZZ>.
"""


def test_markdown_document_gets_every_verdict_it_deserves(world: World, tmp_path: Path) -> None:
    doc = tmp_path / "translation.md"
    doc.write_text(markdown_doc(world))
    proc = run(world.config(tmp_path), str(doc), "--format", "json")
    assert proc.returncode == 2, proc.stderr.decode()
    got = results(proc)
    assert verdicts(got["same"]) == ("ok", "ok", "identical", "pass")
    assert verdicts(got["edited"])[:3] == ("ok", "ok", "minor")
    assert verdicts(got["gone"]) == ("gone", "ok", "unknown", "warn")
    assert verdicts(got["replaced"])[:4] == ("ok", "ok", "replaced", "warn")
    assert verdicts(got["edited?no-archive=1"])[1:] == ("none", "unknown", "warn")
    assert verdicts(got["blocked-not"])[1] == "mismatch" and got["blocked-not"]["overall"] == "fail"
    assert verdicts(got["same?v=2"])[1] == "not_found" and got["same?v=2"]["overall"] == "fail"
    same = got["same"]
    assert same["archive"]["original_url"] == f"{world.live}/same"  # type: ignore[index]
    assert same["archive"]["substitute_days"] is not None  # type: ignore[index]
    assert same["citation"]["found_in"] == {"path": str(doc), "line": 3, "column": 28}  # type: ignore[index]
    assert any("different page" in r for r in got["blocked-not"]["reasons"])  # type: ignore[union-attr]
    assert len(got) == 7

    history = invoke("history", f"{world.live}/same", "--format", "json", "--config", str(world.config(tmp_path)))
    assert json.loads(history.stdout)["captures"], "the check's captures are in the archive"


def test_html_robust_links_soft_404_and_blocked(world: World, tmp_path: Path) -> None:
    doc = tmp_path / "page.html"
    doc.write_text(
        f"""<html><body>
<p><a href="{world.live}/soft" data-versionurl="{world.perma_site}/2FFF-2FFF"
      data-versiondate="2025-04-26">Soft story</a></p>
<p><a href="{world.live}/blocked">Blocked story</a> (<a href="{world.perma_site}/2GGG-2GGG">archived</a>)</p>
<blockquote cite="{world.live}/same">Committee meets on AI</blockquote>
</body></html>"""
    )
    proc = run(world.config(tmp_path), str(doc), "--format", "json")
    got = results(proc)
    assert verdicts(got["soft"])[:2] == ("soft_404", "ok") and got["soft"]["overall"] == "warn"
    assert verdicts(got["blocked"])[:2] == ("blocked", "ok") and got["blocked"]["overall"] == "warn"
    assert got["same"]["archive"]["verdict"] == "none"  # type: ignore[index]
    assert proc.returncode == 0, "warnings alone pass"
    strict = run(world.config(tmp_path), str(doc), "--format", "json", "--strict")
    assert strict.returncode == 2


def test_chinese_source_in_a_docx_with_the_title_in_the_document(world: World, tmp_path: Path) -> None:
    document = docx.Document()
    document.add_paragraph("习近平在中共中央政治局第二十次集体学习时强调 人工智能健康有序发展")
    document.add_paragraph(f"The Chinese source text is available online at: {world.live}/zh")
    document.add_paragraph(
        f"An archived version of the Chinese source text is available online at: {world.perma_site}/2HHH-2HHH"
    )
    path = tmp_path / "translation.docx"
    document.save(str(path))
    proc = run(world.config(tmp_path), str(path), "--format", "json")
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    (item,) = results(proc).values()
    assert verdicts(item) == ("ok", "ok", "identical", "pass")
    assert item["archive"]["title"] == "人工智能健康有序发展"  # type: ignore[index]


def test_title_of_a_wrong_archive_link_is_flagged(world: World, tmp_path: Path) -> None:
    """The archive captured the cited URL, but its title is nowhere in the document: a warning.

    Only where the document could hold it: a Chinese title is not looked for in an English brief.
    """
    doc = tmp_path / "note.txt"
    doc.write_text(f"本文所引报告见 {world.live}/zh\n存档：{world.perma_site}/2HHH-2HHH\n", encoding="utf-8")
    proc = run(world.config(tmp_path), str(doc), "--format", "json")
    (item,) = results(proc).values()
    assert item["overall"] == "warn"
    assert any("does not appear in the document" in r for r in item["reasons"])  # type: ignore[union-attr]

    english = tmp_path / "brief.txt"
    english.write_text(f"See the report at {world.live}/zh\narchived: {world.perma_site}/2HHH-2HHH\n")
    proc = run(world.config(tmp_path), str(english), "--format", "json")
    (item,) = results(proc).values()
    assert item["overall"] == "pass", item["reasons"]
    assert any("in another script than the document" in r for r in item["reasons"])  # type: ignore[union-attr]


def test_no_live_and_no_archive_and_stdin(world: World, tmp_path: Path) -> None:
    text = f"Source: {world.live}/gone\nArchived: {world.perma_site}/2CCC-2CCC\n".encode()
    no_live = run(world.config(tmp_path), "-", "--no-live", "--format", "json", stdin=text)
    (item,) = results(no_live).values()
    assert item["live"]["verdict"] is None and item["archive"]["verdict"] == "ok"  # type: ignore[index]
    assert no_live.returncode == 0
    no_archive = run(world.config(tmp_path), "-", "--no-archive", "--format", "json", stdin=text)
    (item,) = results(no_archive).values()
    assert item["live"]["verdict"] == "gone" and item["overall"] == "fail"  # type: ignore[index]
    assert no_archive.returncode == 2


def test_report_formats_and_output_file(world: World, tmp_path: Path) -> None:
    doc = tmp_path / "d.md"
    doc.write_text(f"<{world.live}/same> archived at <{world.perma_site}/2AAA-2AAA>\n")
    for fmt, marker in (("markdown", "| "), ("html", "<!doctype html"), ("table", "pass")):
        out = tmp_path / f"report.{fmt}"
        proc = run(world.config(tmp_path), str(doc), "--format", fmt, "--output", str(out))
        assert proc.returncode == 0, proc.stderr.decode()
        assert marker in out.read_text(encoding="utf-8").lower()


def test_usage_errors(world: World, tmp_path: Path) -> None:
    proc = run(world.config(tmp_path), str(tmp_path / "missing.md"))
    assert proc.returncode == 3 and b"cannot read document" in proc.stderr
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 truncated")
    proc = run(world.config(tmp_path), str(broken))
    assert proc.returncode == 1 and b"PDF" in proc.stderr


def test_sample_translation_yields_its_two_citations(tmp_path: Path) -> None:
    """The real published translation: news.cn paired with its Perma link, newamerica.org alone."""
    sample = shared_file("samples/000_051ad646e9f7dedc.txt")
    from archiver.extract import extract_links
    from archiver.extract.pairing import pair

    links = extract_links(sample.read_bytes(), str(sample))
    citations = pair(links, {})
    assert [c.url for c in citations] == [
        "http://www.news.cn/politics/leaders/20250426/63f5cde8f4b54e22ba35aa7ec7884b3a/c.html",
        "https://www.newamerica.org/cybersecurity-initiative/digichina/blog/"
        "xi-jinping-calls-for-healthy-development-of-ai-translation/",
    ]
    assert [a.uri for a in citations[0].archives] == ["https://perma.cc/5UBL-GCVG"]
    assert citations[1].archives == ()


def test_unreachable_archive_is_unavailable_not_a_crash(world: World, tmp_path: Path) -> None:
    """Perma.cc's name does not resolve, nor the Wayback Machine's: verdicts, not exceptions."""
    dead = "http://perma.invalid"
    config = tmp_path / "config.toml"
    config.write_text(
        f'archive_dir = "{tmp_path / "archive"}"\n'
        "[fetch]\nallow_private_networks = true\ntimeout = 2.0\ndeadline = 5.0\nretries = 0\nhost_interval = 0.0\n"
        f'[perma]\nsite_url = "{dead}"\napi_url = "{dead}"\n[wayback]\nurl = "http://wayback.invalid"\n'
    )
    doc = tmp_path / "d.txt"
    doc.write_text(f"Source: {world.live}/same\nArchived: {dead}/2AAA-2AAA\n")
    proc = run(config, str(doc), "--format", "json")
    assert proc.returncode == 0, proc.stderr.decode()
    (item,) = results(proc).values()
    assert item["archive"]["verdict"] == "unavailable"  # type: ignore[index]
    assert item["overall"] == "warn"
    assert any("could not be consulted" in r for r in item["reasons"])  # type: ignore[union-attr]
