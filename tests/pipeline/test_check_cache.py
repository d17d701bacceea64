"""`check --cache`: a second run reuses the archive's captures and mementos and asks no server.

A local site (with a request log), Perma.cc and the Wayback Machine imitations; the first run
fills the archive, the second with `--cache` must fetch nothing and give the same verdicts.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from werkzeug import Request, Response

from archiver.config import load_config
from archiver.pipeline.cache import ResultsCache
from archiver.pipeline.check import CheckOptions, check_documents, read_documents
from archiver.store.index import Index
from tests.clirun import Result, invoke
from tests.imitations import serve
from tests.imitations.perma import PermaImitation, StoredLink
from tests.imitations.wayback import WaybackCapture, WaybackImitation
from tests.jsoncheck import printed_json

CITED = datetime(2025, 4, 26, 8, 0, tzinfo=UTC)
ARTICLE = (
    "<html><head><title>{t}</title></head><body><article><h1>{t}</h1>"
    "<p>The committee met on Friday afternoon to discuss the development of artificial intelligence.</p>"
    "<p>Members heard a lecture by a professor of engineering and discussed the proposals at length.</p>"
    "</article></body></html>"
)
PAGES: dict[str, tuple[int, bytes, dict[str, str]]] = {
    "/same": (200, ARTICLE.format(t="Committee meets on AI").encode(), {}),
    "/gone": (404, b"<title>Not Found</title>", {}),
    "/walled": (403, b"<title>Just a moment...</title>", {"cf-mitigated": "challenge"}),
    "/soft": (200, b"<html><head><title>Page not found</title></head><body>Page not found</body></html>", {}),
    "/busy": (503, b"<title>Service Unavailable</title>", {}),
}


@dataclass
class Site:
    live: str
    perma_site: str
    perma_api: str
    wayback: str
    log: list[str]
    perma: PermaImitation
    wb: WaybackImitation

    def asked(self) -> list[str]:
        return [*self.log, *(t for _, t, _ in self.perma.requests), *self.wb.requests]

    def forget(self) -> None:
        self.log.clear()
        self.perma.requests.clear()
        self.wb.requests.clear()

    def config(self, tmp_path: Path) -> Path:
        path = tmp_path / "config.toml"
        path.write_text(
            f'archive_dir = "{tmp_path / "archive"}"\n'
            "[fetch]\nallow_private_networks = true\ntimeout = 3.0\ndeadline = 10.0\nretries = 0\nhost_interval = 0.0\n"
            f'[perma]\nsite_url = "{self.perma_site}"\napi_url = "{self.perma_api}"\n'
            f'[wayback]\nurl = "{self.wayback}"\n'
        )
        return path

    def document(self, tmp_path: Path) -> Path:
        doc = tmp_path / "sources.md"
        doc.write_text(
            f"1. <{self.live}/same>, archived at <{self.perma_site}/2AAA-2AAA>.\n"
            f"2. <{self.live}/gone>, archived at <{self.wayback}/web/20250426090000/{self.live}/gone>.\n"
            f"3. <{self.live}/walled>\n"
            f"4. <{self.live}/soft>\n"
        )
        return doc


@pytest.fixture
def site() -> Iterator[Site]:
    log: list[str] = []

    def live_app(environ: dict[str, object], start_response: object) -> object:
        request = Request(environ)
        log.append(request.path)
        # Any made-up URL (the soft-404 probe) answers like /soft: a soft-404 site.
        status, body, headers = PAGES.get(request.path, PAGES["/soft"])
        return Response(body, status, headers=headers, content_type="text/html; charset=utf-8")(
            environ,
            start_response,  # type: ignore[arg-type]
        )

    with serve(live_app) as live:
        perma = PermaImitation([StoredLink("2AAA-2AAA", f"{live}/same", CITED, title="Committee meets on AI")])
        wb = WaybackImitation(
            [WaybackCapture("20250426090000", f"{live}{path}", body=PAGES["/same"][1]) for path in ("/same", "/gone")]
        )
        with serve(perma.api) as api, serve(perma.site) as perma_site, serve(wb) as wayback:
            yield Site(live, perma_site, api, wayback, log, perma, wb)


def check(site: Site, tmp_path: Path, *args: str, doc: Path | None = None) -> Result[str]:
    document = doc or site.document(tmp_path)
    return invoke("check", str(document), "--format", "json", "--config", str(site.config(tmp_path)), *args)


def verdicts(proc: Result[str]) -> dict[str, tuple[object, ...]]:
    report = printed_json(proc.stdout, "report")
    return {
        r["citation"]["url"].rsplit("/", 1)[-1]: (
            r["live"]["verdict"],
            r["archive"]["verdict"],
            r["drift"]["verdict"],
            r["overall"],
        )
        for r in report["results"]
    }


def reasons(proc: Result[str]) -> dict[str, list[str]]:
    return {
        r["citation"]["url"].rsplit("/", 1)[-1]: r["reasons"] for r in printed_json(proc.stdout, "report")["results"]
    }


def test_second_run_with_cache_asks_no_server_and_gives_the_same_verdicts(site: Site, tmp_path: Path) -> None:
    first = check(site, tmp_path, "--cache")
    assert site.log and site.perma.requests and site.wb.requests, "the first run fetches everything"
    probes = [p for p in site.log if p not in PAGES]
    assert probes, "the soft-404 probe was fetched in the first run"
    before = verdicts(first)
    assert before["same"][:3] == ("ok", "ok", "identical")
    assert before["gone"][0] == "gone" and before["walled"][0] == "blocked" and before["soft"][0] == "soft_404"

    site.forget()
    second = check(site, tmp_path, "--cache")
    assert site.asked() == [], "nothing is fetched: live pages, the probe and archives come from the archive"
    assert verdicts(second) == before
    said = reasons(second)
    for name in ("same", "gone", "walled", "soft"):
        assert any(r.startswith("Live page from the cache (--cache): capture ") for r in said[name]), name
    assert any("Archived copy from the cache" in r and "2AAA-2AAA" in r for r in said["same"])
    notes = printed_json(second.stdout, "report")["notes"]
    assert any("4 live page(s) and 2 archived copie(s)" in n for n in notes), notes

    site.forget()
    again = check(site, tmp_path, "--cache", "--max-cache-age", "0s")
    assert sorted(set(site.log) & set(PAGES)) == ["/gone", "/same", "/soft", "/walled"]
    assert site.perma.requests and site.wb.requests
    assert verdicts(again) == before
    assert not any("from the cache" in r for rs in reasons(again).values() for r in rs)

    site.forget()
    check(site, tmp_path)
    assert set(site.log) >= {"/gone", "/same", "/soft", "/walled"}, "without --cache everything is fetched"


def test_the_response_headers_are_read_back_from_the_warc(site: Site, tmp_path: Path) -> None:
    doc = tmp_path / "walled.md"
    PAGES["/walled-header"] = (200, ARTICLE.format(t="A page").encode(), {"cf-mitigated": "challenge"})
    try:
        doc.write_text(f"<{site.live}/walled-header>\n")
        first = check(site, tmp_path, "--cache", doc=doc)
        site.forget()
        second = check(site, tmp_path, "--cache", doc=doc)
    finally:
        del PAGES["/walled-header"]
    assert site.log == []
    # Only the header says it is a challenge: the verdict from the cache needs the stored headers.
    assert verdicts(first)["walled-header"][0] == verdicts(second)["walled-header"][0] == "blocked"
    assert any("cf-mitigated" in r for r in reasons(second)["walled-header"])
    config = load_config(site.config(tmp_path))
    with Index(config.archive_dir / "index.sqlite3") as index:
        now = datetime.now(UTC)
        cache = ResultsCache(
            index, config.archive_dir, now=now, max_age=timedelta(days=1), max_decoded_bytes=1 << 20, main_text=False
        )
        cached = cache.live(f"{site.live}/walled-header")
    assert cached is not None and ("cf-mitigated", "challenge") in cached.result.headers
    assert cached.result.fingerprint is not None and cached.result.fingerprint.title == "A page"


def test_an_older_capture_is_fetched_again(site: Site, tmp_path: Path) -> None:
    config = load_config(site.config(tmp_path))
    docs = read_documents([site.document(tmp_path)])
    options = CheckOptions(cache_age=timedelta(hours=1))
    asyncio.run(check_documents(docs, config, options))
    site.forget()
    later = datetime.now(UTC) + timedelta(hours=2)
    report = asyncio.run(check_documents(docs, config, options, clock=lambda: later))
    assert {"/same", "/gone", "/walled", "/soft"} <= set(site.log), "captures two hours old are not reused"
    assert site.perma.requests, "nor is a memento recorded two hours ago"
    assert not any("from the cache" in r for result in report.results for r in result.reasons)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_failed_and_transient_answers_are_not_reused(site: Site, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}/refused"
    doc = tmp_path / "flaky.md"
    doc.write_text(f"1. <{dead}>\n2. <{site.live}/busy>\n3. <{site.live}/same>\n")
    check(site, tmp_path, "--cache", doc=doc)
    site.forget()
    second = check(site, tmp_path, "--cache", doc=doc)
    assert "/busy" in site.log, "a 503 may be over by now: asked again"
    assert "/same" not in site.log
    said = reasons(second)
    assert not any("from the cache" in r for r in said["refused"] + said["busy"])
    history = invoke("history", dead, "--format", "json", "--config", str(site.config(tmp_path)))
    captures = printed_json(history.stdout, "capture")["captures"]
    assert len(captures) == 2 and all(c["error"] for c in captures), "the refused fetch was tried again"


def test_max_cache_age_needs_cache_and_a_valid_age(site: Site, tmp_path: Path) -> None:
    alone = check(site, tmp_path, "--max-cache-age", "1d")
    assert alone.returncode == 3 and "--cache" in alone.stderr
    bad = check(site, tmp_path, "--cache", "--max-cache-age", "soon")
    assert bad.returncode == 3 and "30m, 6h or 1d" in bad.stderr
    assert site.log == []
