"""`archiver check` reads the pages, end to end: walls, notices, shells and junk archives.

The pages come from the page-kind corpus (tests/fixtures/pages/), served by a local site, a local
Wayback Machine and a local Perma.cc; each test is one of the cases issue 10 saw go wrong, with
the verdicts, the JSON fields and the exit code a careful fact-checker would expect.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docx
import pytest
from docx.oxml import parse_xml
from werkzeug import Request, Response

from tests.clirun import invoke_bytes
from tests.extract.test_docx_fields import field_runs
from tests.imitations import serve
from tests.imitations.perma import PermaImitation, StoredLink
from tests.imitations.wayback import WaybackCapture, WaybackImitation
from tests.pipeline.test_check import World as CheckWorld

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "pages"
CITED = datetime(2025, 4, 26, 8, 0, tzinfo=UTC)
WB = "20250426090000"
HTML = "text/html; charset=utf-8"


def page(name: str) -> bytes:
    return (PAGES / f"{name}.html").read_bytes()


ARTICLE = page("xinhua-article-politics")
DEADLINE = (
    "<html><head><title>高标准农田建设项目申报通知-新华网</title></head><body><article><h1>高标准农田建设项目申报通知</h1>"
    "<p>农业农村部近日印发通知，部署开展二〇二五年高标准农田建设项目申报工作，要求各地认真组织。</p>"
    "<p>项目申报材料须经县级农业农村部门审核后统一报送，报名截止时间为2025年{month}月11日17:00，逾期不予受理。</p>"
    "<p>通知强调，各地要严格项目准入条件，优先支持粮食主产区和永久基本农田集中区域的建设项目。</p>"
    "<p>通知还要求加强项目全过程监管，确保建设质量和资金安全，切实发挥项目效益。</p>"
    "</article></body></html>"
)

# path -> (status, body, headers)
LIVE: dict[str, tuple[int, bytes, dict[str, str]]] = {
    "/notice": (404, page("xinhua-404"), {}),
    "/weibo": (200, page("weibo-visitor-system"), {}),
    "/wechat": (200, page("wechat-removed-violation"), {}),
    "/gov": (412, page("rivers-412-gov"), {"Set-Cookie": "FSSBBIl1UgzbN7NS=5aBc; Path=/"}),
    "/shell": (200, page("react-cra-shell"), {}),
    "/article": (200, ARTICLE, {}),
    "/deadline": (200, DEADLINE.format(month="6").encode(), {}),
    "/refresh": (200, b'<html><head><meta http-equiv="refresh" content="0; url=/"></head><body></body></html>', {}),
    "/": (200, page("xinhua-article-tech"), {}),
    "/utm": (200, ARTICLE, {}),
    "/two": (200, ARTICLE, {}),
}


def live_app(environ: dict[str, object], start_response: Any) -> Any:
    request = Request(environ)
    status, body, headers = LIVE.get(request.path, (404, b"<title>404 Not Found</title>", {}))
    response = Response(body, status, content_type=HTML)
    for name, value in headers.items():
        response.headers[name] = value
    return response(environ, start_response)


@dataclass
class World(CheckWorld):
    """The site, Perma.cc and the Wayback Machine of these cases (configured as test_check's are)."""

    def wb(self, path: str) -> str:
        return f"{self.wayback}/web/{WB}/{self.live}{path}"


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with serve(live_app) as live:
        captures = [
            WaybackCapture(WB, f"{live}/notice", body=page("xinhua-404")),
            WaybackCapture(WB, f"{live}/weibo", body=page("weibo-visitor-system")),
            WaybackCapture(WB, f"{live}/wechat", body=ARTICLE),
            WaybackCapture(WB, f"{live}/gov", body=ARTICLE),
            WaybackCapture(WB, f"{live}/shell", body=ARTICLE),
            WaybackCapture(WB, f"{live}/article", body=ARTICLE),
            WaybackCapture(WB, f"{live}/deadline", body=DEADLINE.format(month="5").encode()),
            WaybackCapture(WB, f"{live}/refresh", body=ARTICLE),
            WaybackCapture(WB, f"{live}/utm?utm_source=twitter&utm_medium=social", body=ARTICLE),
            WaybackCapture(WB, f"{live}/two", body=ARTICLE),
            WaybackCapture("20250426100000", f"{live}/two", body=page("weibo-visitor-system")),
        ]
        links = [
            StoredLink("2WEI-BOWA", f"{live}/weibo", CITED, title="Sina Visitor System"),
            StoredLink("2UTM-UTMX", f"{live}/utm?utm_source=twitter&utm_medium=social", CITED),
        ]
        perma = PermaImitation(links)
        wayback = WaybackImitation(captures)
        with serve(perma.api) as api, serve(perma.site) as site, serve(wayback) as wb:
            yield World(live, site, api, wb)


def check(world: World, tmp_path: Path, text: str, *args: str) -> tuple[int, dict[str, Any]]:
    doc = tmp_path / "doc.txt"
    doc.write_text(text, encoding="utf-8")
    proc = invoke_bytes("check", str(doc), "--format", "json", "--config", str(world.config(tmp_path)), *args)
    assert proc.returncode in (0, 2), proc.stderr.decode()
    report = json.loads(proc.stdout)
    by_path = {item["citation"]["url"].split("/", 3)[-1]: item for item in report["results"]}
    return proc.returncode, by_path


def test_an_archived_not_found_notice_is_no_archive(world: World, tmp_path: Path) -> None:
    """The only Wayback copy of a cited notice is the site's own '页面不存在或已被删除' page."""
    code, items = check(world, tmp_path, f"来源：{world.live}/notice\n存档：{world.wb('/notice')}\n")
    item = items["notice"]
    assert item["live"]["verdict"] == "gone"
    assert item["archive"]["verdict"] == "failed"
    assert item["archive"]["capture"]["page"]["kind"] == "not_found"
    assert item["drift"]["verdict"] == "unknown"
    assert item["overall"] == "fail" and code == 2  # not "gone but archived"
    assert any("not-found page" in r and "not the cited page" in r for r in item["reasons"])


def test_a_wall_on_both_sides_is_never_identical(world: World, tmp_path: Path) -> None:
    """A Weibo post whose archived copy is the Sina Visitor System, and the live fetch lands on it too."""
    code, items = check(world, tmp_path, f"Post: {world.live}/weibo\nArchived: {world.perma_site}/2WEI-BOWA\n")
    item = items["weibo"]
    assert item["live"]["verdict"] == "blocked"
    assert item["live"]["capture"]["page"]["kind"] == "login_wall"
    assert item["live"]["capture"]["page"]["evidence"]
    assert item["archive"]["verdict"] == "failed"
    assert "login wall" in " ".join(item["reasons"])
    assert item["drift"]["verdict"] == "unknown"
    assert item["overall"] == "fail" and code == 2


def test_a_removed_wechat_article_is_a_soft_404(world: World, tmp_path: Path) -> None:
    code, items = check(world, tmp_path, f"{world.live}/wechat archived at {world.wb('/wechat')}\n")
    item = items["wechat"]
    assert item["live"]["verdict"] == "soft_404"
    assert item["live"]["capture"]["page"]["kind"] == "removed"
    assert item["archive"]["verdict"] == "ok"
    assert item["overall"] == "warn" and code == 0  # gone but archived: the archive exists for this


def test_a_412_script_wall_is_blocked_not_gone(world: World, tmp_path: Path) -> None:
    code, items = check(world, tmp_path, f"{world.live}/gov archived at {world.wb('/gov')}\n")
    item = items["gov"]
    assert item["live"]["verdict"] == "blocked"
    assert item["live"]["capture"]["page"]["kind"] == "challenge"
    assert "not proof that the page is gone" in " ".join(item["reasons"])
    assert item["drift"]["verdict"] == "unknown"


def test_an_app_shell_is_unknown_drift_not_replaced(world: World, tmp_path: Path) -> None:
    _, items = check(world, tmp_path, f"{world.live}/shell archived at {world.wb('/shell')}\n")
    item = items["shell"]
    assert item["live"]["capture"]["page"]["kind"] == "app_shell"
    assert item["live"]["verdict"] == "blocked"
    assert item["drift"]["verdict"] == "unknown"


def test_a_deadline_changed_in_the_body_is_drift(world: World, tmp_path: Path) -> None:
    _, items = check(world, tmp_path, f"通知见 {world.live}/deadline ，存档 {world.wb('/deadline')}\n")
    item = items["deadline"]
    assert item["archive"]["verdict"] == "ok"
    assert item["drift"]["verdict"] in ("minor", "major"), item["drift"]


def test_a_news_cn_title_without_spaces_is_found(world: World, tmp_path: Path) -> None:
    text = f"国务院新闻办公室举行新闻发布会介绍经济运行情况\n来源：{world.live}/article\n存档：{world.wb('/article')}\n"
    code, items = check(world, tmp_path, text)
    item = items["article"]
    assert item["archive"]["verdict"] == "ok" and item["live"]["verdict"] == "ok"
    assert item["overall"] == "pass" and code == 0, item["reasons"]
    assert not any("does not appear in the document" in r for r in item["reasons"])


def test_a_chinese_title_in_an_english_brief_is_information(world: World, tmp_path: Path) -> None:
    _, items = check(world, tmp_path, f"Source: {world.live}/article\nArchived: {world.wb('/article')}\n")
    item = items["article"]
    assert item["overall"] == "pass", item["reasons"]
    assert any("in another script than the document" in r for r in item["reasons"])


def test_an_archive_with_tracking_parameters_captures_the_cited_page(world: World, tmp_path: Path) -> None:
    code, items = check(world, tmp_path, f"Source: {world.live}/utm\nArchived: {world.perma_site}/2UTM-UTMX\n")
    item = items["utm"]
    assert item["archive"]["verdict"] == "ok", item["reasons"]
    assert code == 0


def test_a_meta_refresh_to_the_home_page_is_a_soft_404(world: World, tmp_path: Path) -> None:
    _, items = check(world, tmp_path, f"{world.live}/refresh archived at {world.wb('/refresh')}\n")
    item = items["refresh"]
    assert item["live"]["verdict"] == "soft_404", item["reasons"]
    redirects = item["live"]["capture"]["redirects"]
    assert redirects and redirects[-1]["location"].endswith("/")


def test_the_best_usable_copy_decides(world: World, tmp_path: Path) -> None:
    """Two archive links for one URL: the article beats the wall, and the wall is still reported."""
    wall = f"{world.wayback}/web/20250426100000/{world.live}/two"
    text = f"Source: {world.live}/two\nArchived: {wall}\nAlso: {world.wb('/two')}\n"
    code, items = check(world, tmp_path, text)
    item = items["two"]
    assert item["archive"]["verdict"] == "ok"
    assert item["archive"]["ref"].startswith(f"{world.wayback}/web/{WB}/")
    assert any("Also cited as an archive" in r and "failed" in r for r in item["reasons"])
    assert code == 0


def test_a_docx_archive_link_in_a_hyperlink_field_is_paired(world: World, tmp_path: Path) -> None:
    document = docx.Document()
    document.add_paragraph(f"The Chinese source text is available online at: {world.live}/article")
    paragraph = document.add_paragraph("An archived version is available online at: ")
    for xml in field_runs(f' HYPERLINK "{world.wb("/article")}" ', "the archived copy"):
        paragraph._p.append(parse_xml(xml))
    path = tmp_path / "brief.docx"
    document.save(str(path))
    proc = invoke_bytes("check", str(path), "--format", "json", "--config", str(world.config(tmp_path)))
    (item,) = json.loads(proc.stdout)["results"]
    assert item["citation"]["url"] == f"{world.live}/article"
    assert item["archive"]["verdict"] == "ok", item["reasons"]
    assert proc.returncode == 0
