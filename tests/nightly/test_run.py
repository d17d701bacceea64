"""The nightly pass over weeks of simulated nights, against a real local site that changes, fails
and recovers: link-state transitions, revisit records for unchanged pages, one report per run,
notifications to a local webhook receiver, the archive retrieved once, resume after a stop."""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from warcio.archiveiterator import ArchiveIterator
from werkzeug import Request, Response

from archiver.config import Config, load_config
from archiver.errors import ArchiveLockedError, RunInterrupted
from archiver.models import ArchiveKind, ArchiveRef, ArchiveVerdict, DriftVerdict, LiveVerdict, Overall
from archiver.nightly.ledger import RunKind, ScheduledRun
from archiver.nightly.linkstate import LinkCondition, LinkEvent
from archiver.nightly.news import NewsEvent
from archiver.nightly.reports import RunSummary
from archiver.nightly.run import archive_status, run_once, scheduled_run
from archiver.nightly.watchlist import open_watch
from archiver.pipeline import stored
from archiver.store.index import Index
from archiver.store.locks import run_lock

START = datetime(2025, 3, 1, 3, 0, tzinfo=UTC)


def page(title: str, *paragraphs: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"<html><head><title>{title}</title></head><body><article>{body}</article></body></html>"


ARTICLE = [f"Paragraph {i}: the ministry announced measures on trade and industry policy." for i in range(10)]


@dataclass
class Site:
    """A mutable local site: path -> (status, html); every request is counted; webhook posts kept."""

    pages: dict[str, tuple[int, str]] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    posts: list[dict[str, object]] = field(default_factory=list)
    on_request: dict[str, threading.Event] = field(default_factory=dict)

    def handle(self, request: Request) -> Response:
        self.hits[request.path] += 1
        if request.path in self.on_request:
            self.on_request[request.path].set()
        if request.path == "/hook":
            self.posts.append(json.loads(request.get_data()))
            return Response("ok")
        status, html = self.pages.get(request.path, (404, page("Not found", "No such page here.")))
        return Response(
            html, status=status, content_type="text/html; charset=utf-8", headers=self.headers.get(request.path)
        )


@pytest.fixture
def site(httpserver: HTTPServer) -> Site:
    s = Site()
    httpserver.expect_request(re.compile(".*")).respond_with_handler(s.handle)
    return s


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def nightly_config(archive_dir: Path, httpserver: HTTPServer, **fetch: object) -> Config:
    return load_config(
        None,
        {
            "archive_dir": str(archive_dir),
            "fetch": {
                "allow_private_networks": True,
                "timeout": 3.0,
                "deadline": 5.0,
                "retries": 0,
                "host_interval": 0.0,
            }
            | fetch,  # fmt: skip
            "notify": {"webhooks": [httpserver.url_for("/hook")]},
        },
    )


def by_url(summary: RunSummary, url: str) -> tuple[Overall, LiveVerdict | None, LinkCondition, LinkEvent | None]:
    for source in summary.sources:
        if source.result.citation.url == url:
            r = source.result
            return r.overall, r.live_verdict, source.condition, source.event
    raise AssertionError(f"{url} not in the run")


def records(archive_dir: Path) -> list[tuple[str, str]]:
    out = []
    for path in sorted((archive_dir / "warcs").glob("*.warc.gz*")):
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh):
                out.append((record.rec_type, record.rec_headers.get_header("WARC-Target-URI") or ""))
    return out


def report_text(folder: Path, name: str) -> str:
    """A run's report, whether it is the newest (plain) or an older one (gzipped)."""
    plain = folder / name
    if plain.exists():
        return plain.read_text(encoding="utf-8")
    return gzip.decompress((folder / f"{name}.gz").read_bytes()).decode("utf-8")


def test_weeks_of_nights_change_fail_and_recover(archive_dir: Path, httpserver: HTTPServer, site: Site) -> None:
    config = nightly_config(archive_dir, httpserver)
    stable, changing, flaky = (httpserver.url_for(p) for p in ("/stable", "/changing", "/flaky"))
    site.pages["/stable"] = (200, page("Stable", *ARTICLE))
    site.pages["/changing"] = (200, page("Changing", *ARTICLE))
    site.pages["/flaky"] = (200, page("Flaky", *ARTICLE[:5]))
    with open_watch(config) as watch:
        for url in (stable, changing, flaky):
            watch.add(url, label=url.rsplit("/", 1)[1])
    clock = Clock(START)
    summaries: list[RunSummary] = []
    for night in range(1, 9):
        clock.now = START + timedelta(days=night - 1)
        if night == 3:  # one sentence edited: minor drift since the previous night
            edited = [*ARTICLE[:4], ARTICLE[4].replace("trade", "agriculture"), *ARTICLE[5:]]
            site.pages["/changing"] = (200, page("Changing", *edited))
        if night == 2:
            site.pages["/flaky"] = (404, page("Not found", "This page was removed."))
        if night == 7:
            site.pages["/flaky"] = (200, page("Flaky", *ARTICLE[:5]))
        summaries.append(run_once(config, clock=clock, run_id=f"night-{night}"))

    flaky_states = [by_url(s, flaky) for s in summaries]
    assert [c for _, _, c, _ in flaky_states] == [LinkCondition.OK] + [LinkCondition.FAILING] * 3 + [
        LinkCondition.GONE
    ] * 2 + [LinkCondition.OK] * 2
    assert [e for _, _, _, e in flaky_states] == [
        None, LinkEvent.NEWLY_FAILING, None, None, LinkEvent.GONE, None, LinkEvent.RECOVERED, None,
    ]  # fmt: skip
    # A 404 fails by policy, but while the link is only failing it is a warning; once gone, a failure.
    assert flaky_states[1][:2] == (Overall.WARN, LiveVerdict.GONE)
    assert summaries[1].exit_code() == 0 and summaries[1].exit_code(strict=True) == 2
    assert flaky_states[4][:2] == (Overall.FAIL, LiveVerdict.GONE)
    assert summaries[4].exit_code() == 2
    # No archive is cited for these sources: a warning by the default policy, never a failure.
    assert summaries[0].report.summary == {"pass": 0, "warn": 3, "fail": 0} and summaries[0].exit_code() == 0

    # The edit on night 3 is news once; the stable page never is.
    drift_news = [(i + 1, n.url) for i, s in enumerate(summaries) for n in s.news if n.event is NewsEvent.NEW_DRIFT]
    assert drift_news == [(3, changing)]
    night3 = next(s for s in summaries[2].sources if s.result.citation.url == changing)
    assert night3.previous is not None and night3.previous.verdict is DriftVerdict.MINOR
    assert night3.result.drift.verdict is DriftVerdict.MINOR  # no archive: drift is against our baseline
    assert any("Since the previous capture" in r for r in night3.result.reasons)
    night4 = next(s for s in summaries[3].sources if s.result.citation.url == changing)
    assert night4.previous is not None and night4.previous.verdict is DriftVerdict.IDENTICAL
    assert night4.baseline is not None and night4.baseline.verdict is DriftVerdict.MINOR

    # Quiet: the same verdicts and link condition as the night before, and no news.
    names = {stable: "stable", changing: "changing", flaky: "flaky"}
    quiet = [{names[s.result.citation.url] for s in summary.sources if s.quiet} for summary in summaries]
    assert quiet == [
        set(),  # nothing to compare with yet
        {"stable", "changing"},  # drift unknown -> identical is not news; flaky newly failing
        {"stable", "flaky"},  # changing drifted; flaky still failing
        {"stable", "changing", "flaky"},
        {"stable", "changing"},  # flaky gone
        {"stable", "changing", "flaky"},
        {"stable", "changing"},  # flaky recovered
        {"stable", "changing", "flaky"},
    ]
    assert [s.quiet for s in summaries] == [len(q) for q in quiet] and "quiet: 2 sources" in summaries[2].text()

    # One report per run, in three formats, each naming the link state; the JSON in full but compact.
    # The newest run's reports stay plain; every older one is gzipped beside where it was.
    reports = archive_dir / "reports"
    assert sorted(p.name for p in reports.iterdir() if not p.name.endswith(".gz")) == [
        "night-8.html",
        "night-8.json",
        "night-8.md",
    ]
    for night in range(1, 9):
        raw = report_text(reports, f"night-{night}.json")
        report = json.loads(raw)
        assert report["schema_version"] == 1 and len(report["results"]) == 3 and raw.count("\n") == 1
        assert all(r["live"]["capture"]["payload_sha256"] for r in report["results"])
        assert report_text(reports, f"night-{night}.html").lower().startswith("<!doctype html")
        assert report_text(reports, f"night-{night}.md")
    # The Markdown and HTML show the news in full and fold the quiet sources into one short table.
    night5 = report_text(reports, "night-5.md")
    news_part, quiet_part = night5.split("### Quiet sources")
    assert flaky in news_part and "Link state: gone" in news_part and stable not in news_part
    assert f"| 1 | <{stable}> | warn | ok since 2025-03-01 |" in quiet_part
    assert "2 quiet sources, the same verdicts as in the previous run and no news: 2 warn" in quiet_part
    night6_html = report_text(reports, "night-6.html")
    assert "No news: every source has the same verdicts" in night6_html
    assert '<tr class="row-fail"><td>3</td>' in night6_html and "gone since 2025-03-05" in night6_html
    assert '<table class="results">' not in night6_html and "3 quiet sources" in night6_html
    gone_report = json.loads(report_text(reports, "night-5.json"))
    flaky_result = next(r for r in gone_report["results"] if r["citation"]["url"] == flaky)
    assert any(reason.startswith("Link state: gone") for reason in flaky_result["reasons"])

    # Webhook: one POST per night with news (2: failing, 3: drift, 5: gone, 7: recovered), none otherwise.
    assert [post["run_id"] for post in site.posts] == ["night-2", "night-3", "night-5", "night-7"]
    assert site.posts[2]["counts"] == {"gone": 1}
    assert site.posts[3]["items"][0]["event"] == "recovered"  # type: ignore[index]

    # Storage stays flat: the stable page is one response and seven revisits.
    stable_records = Counter(kind for kind, uri in records(archive_dir) if uri == stable)
    assert stable_records["response"] == 1 and stable_records["revisit"] == 7
    captures, marks = stored.history(config, stable)
    assert len(captures) == 8 and captures[0].revisit_of == captures[-1].id
    assert [m.payload_changed for m in marks[:-1]] == [False] * 7
    assert "Paragraph 9" in stored.decoded_body(config, captures[0])

    status = archive_status(config, clock=clock)
    assert status.watched == 3 and status.last_run is not None and status.last_run.run_id == "night-8"
    assert status.conditions["ok"] == 3 and status.last_counts["overall"] == {"warn": 3}
    assert status.schedule.last_run is not None and status.schedule.last_run.kind is RunKind.MANUAL
    assert status.archive_bytes > status.warc_bytes > 0


def test_archived_copy_is_retrieved_once_and_kept(archive_dir: Path, httpserver: HTTPServer, site: Site) -> None:
    config = nightly_config(archive_dir, httpserver)
    live = httpserver.url_for("/article")
    memento = httpserver.url_for("/memento/article")
    site.pages["/article"] = (200, page("Article", *ARTICLE[:9], "A paragraph added after it was archived."))
    site.pages["/memento/article"] = (200, page("Article", *ARTICLE))
    site.headers["/memento/article"] = {
        "Memento-Datetime": "Sat, 01 Feb 2025 10:00:00 GMT",
        "Link": f'<{live}>; rel="original"',
    }
    with open_watch(config) as watch:
        watch.add(live, [ArchiveRef(ArchiveKind.MEMENTO, memento, memento)])
    clock = Clock(START)
    first = run_once(config, clock=clock, run_id="n1")
    hits_after_first = site.hits["/memento/article"]
    clock.now += timedelta(days=1)
    second = run_once(config, clock=clock, run_id="n2")
    assert hits_after_first == 2  # resolve, then retrieve
    assert site.hits["/memento/article"] == hits_after_first  # the second night reused the kept copy
    for summary in (first, second):
        (source,) = summary.sources
        assert source.result.archive_verdict is ArchiveVerdict.OK
        assert source.result.drift.verdict is DriftVerdict.MINOR
        assert source.result.overall is Overall.PASS
    assert second.sources[0].result.drift == first.sources[0].result.drift
    with Index(archive_dir / "index.sqlite3") as index:
        assert len(index.mementos(memento)) == 1


def test_a_stopped_run_resumes_without_capturing_twice(archive_dir: Path, httpserver: HTTPServer, site: Site) -> None:
    config = dataclasses.replace(
        nightly_config(archive_dir, httpserver), fetch=dataclasses.replace(
            nightly_config(archive_dir, httpserver).fetch, concurrency=1)
    )  # fmt: skip
    urls = [httpserver.url_for(f"/s{i}") for i in range(4)]
    for i in range(4):
        site.pages[f"/s{i}"] = (200, page(f"Source {i}", *ARTICLE[:3]))
    with open_watch(config) as watch:
        for url in urls:
            watch.add(url)
    logical = START
    stop = threading.Event()
    site.on_request["/s1"] = stop  # the scheduler is told to stop while /s1 is being fetched
    run = ScheduledRun("nightly-20250301T030000Z", logical, RunKind.SCHEDULED, "scheduled run", stop)
    with pytest.raises(RunInterrupted, match="2 of 4 sources"):
        scheduled_run(config, run)
    assert not (archive_dir / "reports" / f"{run.run_id}.json").exists()
    del site.on_request["/s1"]
    resumed = scheduled_run(config, dataclasses.replace(run, kind=RunKind.CATCH_UP, stop=threading.Event()))
    assert [site.hits[f"/s{i}"] for i in range(4)] == [1, 1, 1, 1]
    assert resumed.resumed == 2 and len(resumed.sources) == 4
    assert [s.result.citation.url for s in resumed.sources] == urls
    assert all(s.result.live_capture is not None for s in resumed.sources)
    report = json.loads((archive_dir / "reports" / f"{run.run_id}.json").read_text())
    assert [r["citation"]["url"] for r in report["results"]] == urls


def test_two_manual_runs_in_one_second_are_two_runs(archive_dir: Path, httpserver: HTTPServer, site: Site) -> None:
    config = nightly_config(archive_dir, httpserver)
    site.pages["/a"] = (200, page("A", *ARTICLE[:3]))
    with open_watch(config) as watch:
        watch.add(httpserver.url_for("/a"))
    clock = Clock(START)
    first, second = run_once(config, clock=clock), run_once(config, clock=clock)
    assert (first.run_id, second.run_id) == ("manual-20250301T030000Z", "manual-20250301T030000Z-2")
    assert site.hits["/a"] == 2 and second.resumed == 0 and len(second.sources) == 1


def test_a_manual_run_does_not_overlap_a_running_one(archive_dir: Path, httpserver: HTTPServer) -> None:
    config = nightly_config(archive_dir, httpserver)
    with (
        run_lock(archive_dir, 0, purpose="scheduled run for tonight"),
        pytest.raises(ArchiveLockedError, match="scheduled run for tonight"),
    ):
        run_once(config, lock_wait=0.2)


def iter_gz(path: Path) -> Iterator[bytes]:
    with gzip.open(path) as fh:
        yield fh.read()
