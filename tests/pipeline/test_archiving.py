"""`archiver archive`: new archives from Perma.cc and Save Page Now, against the local imitations.

Every outcome of a request is exercised on the wire: created, queued then done, a batch, a
failed capture, a quota, a bad key, a service down, a capture that never finishes. Each test also
checks that our own capture of the live page was stored whatever the services answered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Request, Response

from archiver.archives.create import CreateVerdict, Poll, poll_until
from archiver.archives.spn2 import classify
from archiver.config import Config, load_config
from archiver.models import ArchiveVerdict
from archiver.pipeline.archiving import ArchivingOutcome, archive_urls, missing_archive_urls
from archiver.store.index import Index
from tests.imitations import serve
from tests.imitations.perma import PermaImitation
from tests.imitations.wayback import WaybackImitation

KEY = "perma-key"
S3 = ("s3access", "s3secret")


def live_app(environ: dict[str, Any], start_response: Any) -> Any:
    request = Request(environ)
    body = f"<html><head><title>Page {request.path}</title></head><body><p>Text of {request.path}.</p></body></html>"
    return Response(body, 200, content_type="text/html; charset=utf-8")(environ, start_response)


@dataclass
class Services:
    live: str
    perma: PermaImitation
    wayback: WaybackImitation
    api: str
    site: str
    wb: str

    def config(self, tmp_path: Path, **archiving: Any) -> Config:
        settings = {"poll_interval": 0.02, "poll_timeout": 3.0, "wayback_interval": 0.0} | archiving
        return load_config(
            None,
            {
                "archive_dir": str(tmp_path / "archive"),
                "fetch": {"allow_private_networks": True, "timeout": 3.0, "deadline": 5.0, "retries": 0},
                "perma": {"api_url": self.api, "site_url": self.site},
                "wayback": {"url": self.wb},
                "archiving": settings,
            },
        )


ENV = {"PERMA_API_KEY": KEY, "ARCHIVER_WAYBACK_S3_KEY": S3[0], "ARCHIVER_WAYBACK_S3_SECRET": S3[1]}


@pytest.fixture
def services() -> Iterator[Services]:
    perma = PermaImitation([], api_keys=frozenset({KEY}))
    wayback = WaybackImitation([], s3_keys=frozenset({f"{S3[0]}:{S3[1]}"}))
    with serve(live_app) as live, serve(perma.api) as api, serve(perma.site) as site, serve(wayback) as wb:
        yield Services(live, perma, wayback, api, site, wb)


def only(outcome: ArchivingOutcome) -> tuple[CreateVerdict, ...]:
    return tuple(r.verdict for r in outcome.requests)


def assert_own_capture(config: Config, outcome: ArchivingOutcome) -> None:
    assert outcome.capture.ok and outcome.capture.status == 200 and outcome.capture.warc is not None
    with Index(config.archive_dir / "index.sqlite3") as index:
        assert index.get_capture(outcome.capture.id).payload_sha256 == outcome.capture.payload_sha256


def recorded(config: Config) -> list[dict[str, Any]]:
    with Index(config.archive_dir / "index.sqlite3") as index:
        return index.mementos()


def test_perma_created_after_queued_polls_and_recorded(services: Services, tmp_path: Path) -> None:
    services.perma.capture_polls = 3  # in_progress three times, then completed
    config = services.config(tmp_path, services=["perma"])
    (outcome,) = archive_urls(config, [f"{services.live}/a"], env=ENV)
    (result,) = outcome.requests
    assert result.verdict is CreateVerdict.CREATED and result.polls == 4
    assert result.archive_url == f"{services.site}/{result.job}" and result.datetime is not None
    assert_own_capture(config, outcome)
    (memento,) = recorded(config)
    assert memento["ref"] == result.archive_url and memento["original_url"] == f"{services.live}/a"
    assert memento["verdict"] == "ok" and memento["obtained_via"] == "perma-create"
    posts = [r for r in services.perma.requests if r[1].startswith("/v1/archives")]
    assert all(auth == f"ApiKey {KEY}" for _, _, auth in posts)


def test_perma_batch_for_many_urls(services: Services, tmp_path: Path) -> None:
    config = services.config(tmp_path, services=["perma"], perma_batch_size=2)
    urls = [f"{services.live}/{n}" for n in range(5)]
    outcomes = archive_urls(config, urls, env=ENV)
    assert [only(o) for o in outcomes] == [(CreateVerdict.CREATED,)] * 5
    batches = [r for r in services.perma.requests if r[1] == "/v1/archives/batches"]
    assert len(batches) == 3, "5 URLs in batches of 2"
    assert len({o.requests[0].job for o in outcomes}) == 5


def test_perma_failed_capture_falls_through_to_wayback(services: Services, tmp_path: Path) -> None:
    url = f"{services.live}/fails"
    services.perma.capture_fate[url] = "failed"
    config = services.config(tmp_path)
    (outcome,) = archive_urls(config, [url], env=ENV)
    perma, wayback = outcome.requests
    assert perma.verdict is CreateVerdict.FAILED and "could not capture" in perma.reason and not perma.retryable
    assert wayback.verdict is CreateVerdict.CREATED and wayback.archive_url is not None
    assert "/web/" in wayback.archive_url and wayback.archive_url.endswith(url)
    assert [m["obtained_via"] for m in recorded(config)] == ["wayback-create"]
    assert_own_capture(config, outcome)


@pytest.mark.parametrize(
    ("setup", "verdict", "words"),
    [
        (lambda p: setattr(p, "usage_limit", True), CreateVerdict.QUOTA, "usage limit"),
        (lambda p: setattr(p, "api_keys", frozenset({"other"})), CreateVerdict.BAD_KEY, "Invalid token"),
        (lambda p: setattr(p, "down", True), CreateVerdict.UNAVAILABLE, "HTTP 503"),
        (lambda p: setattr(p, "challenge", "header"), CreateVerdict.UNAVAILABLE, "challenge"),
    ],
    ids=["quota", "bad-key", "down", "challenge"],
)
def test_perma_refusals_are_verdicts(services: Services, tmp_path: Path, setup: Any, verdict: Any, words: str) -> None:
    setup(services.perma)
    config = services.config(tmp_path, services=["perma"])
    (outcome,) = archive_urls(config, [f"{services.live}/x"], env=ENV)
    (result,) = outcome.requests
    assert result.verdict is verdict and words in result.reason
    assert KEY not in result.reason
    assert_own_capture(config, outcome)
    assert recorded(config) == []


def test_perma_capture_that_never_finishes_times_out(services: Services, tmp_path: Path) -> None:
    url = f"{services.live}/slow"
    services.perma.capture_fate[url] = "never"
    config = services.config(tmp_path, services=["perma"], poll_timeout=0.5)
    started = time.monotonic()
    (outcome,) = archive_urls(config, [url], env=ENV)
    assert time.monotonic() - started < 5
    (result,) = outcome.requests
    assert result.verdict is CreateVerdict.TIMEOUT and result.retryable and result.job is not None
    assert "in_progress" in result.reason and "poll_timeout" in result.reason
    assert_own_capture(config, outcome)


def test_no_keys_asks_nobody_but_still_captures(services: Services, tmp_path: Path) -> None:
    config = services.config(tmp_path)
    (outcome,) = archive_urls(config, [f"{services.live}/a"], env={})
    assert only(outcome) == (CreateVerdict.NO_KEY, CreateVerdict.NO_KEY)
    assert "PERMA_API_KEY" in outcome.requests[0].reason and "ARCHIVER_WAYBACK_S3_KEY" in outcome.requests[1].reason
    assert services.perma.requests == [] and services.wayback.requests == []
    assert_own_capture(config, outcome)


def test_unreachable_service_is_unavailable(services: Services, tmp_path: Path) -> None:
    config = services.config(tmp_path, services=["perma"])
    config = load_config(
        None,
        {
            "archive_dir": str(config.archive_dir),
            "fetch": {"allow_private_networks": True, "timeout": 2.0, "retries": 0},
            "perma": {"api_url": "http://perma.invalid"},
            "archiving": {"services": ["perma"], "poll_interval": 0.02},
        },
    )
    (outcome,) = archive_urls(config, [f"{services.live}/a"], env=ENV)
    (result,) = outcome.requests
    assert result.verdict is CreateVerdict.UNAVAILABLE and "could not be reached" in result.reason and result.retryable


def test_wayback_created_queued_then_done(services: Services, tmp_path: Path) -> None:
    services.wayback.save_polls = 2
    config = services.config(tmp_path, services=["wayback"])
    (outcome,) = archive_urls(config, [f"{services.live}/w"], env=ENV)
    (result,) = outcome.requests
    assert result.verdict is CreateVerdict.CREATED and result.polls == 3
    assert result.ref is not None and result.ref.timestamp is not None
    posts = [r for r in services.wayback.requests if r.startswith("/save")]
    assert posts[0] == "/save" and all(p.startswith("/save/status/") for p in posts[1:])
    (memento,) = recorded(config)
    assert memento["kind"] == "wayback" and memento["original_url"] == f"{services.live}/w"


@pytest.mark.parametrize(
    ("fate", "verdict", "retryable"),
    [
        ("error:not-found", CreateVerdict.FAILED, False),
        ("error:gateway-timeout", CreateVerdict.FAILED, True),
        ("error:celery", CreateVerdict.UNAVAILABLE, True),
        ("error:blocked-url", CreateVerdict.REJECTED, False),
        ("never", CreateVerdict.TIMEOUT, True),
    ],
)
def test_wayback_job_endings(services: Services, tmp_path: Path, fate: str, verdict: Any, retryable: bool) -> None:
    url = f"{services.live}/f"
    services.wayback.save_fate[url] = fate
    config = services.config(tmp_path, services=["wayback"], poll_timeout=0.5)
    (outcome,) = archive_urls(config, [url], env=ENV)
    (result,) = outcome.requests
    assert (result.verdict, result.retryable) == (verdict, retryable)
    assert result.job is not None
    assert_own_capture(config, outcome)


def test_wayback_quota_bad_key_and_down(services: Services, tmp_path: Path) -> None:
    quota_url = f"{services.live}/popular"
    services.wayback.daily_limit = frozenset({quota_url})
    config = services.config(tmp_path, services=["wayback"])
    (quota,) = archive_urls(config, [quota_url], env=ENV)
    assert quota.requests[0].verdict is CreateVerdict.QUOTA and "too-many-daily-captures" in quota.requests[0].reason
    bad = archive_urls(config, [f"{services.live}/b"], env=ENV | {"ARCHIVER_WAYBACK_S3_SECRET": "wrong"})
    assert bad[0].requests[0].verdict is CreateVerdict.BAD_KEY and "wrong" not in bad[0].requests[0].reason
    services.wayback.spn_down = True
    (down,) = archive_urls(config, [f"{services.live}/c"], env=ENV)
    assert down.requests[0].verdict is CreateVerdict.UNAVAILABLE and "HTTP 502" in down.requests[0].reason


def test_wayback_concurrency_and_session_limit(services: Services, tmp_path: Path) -> None:
    """Five URLs, two in flight at once; the service allows only one session, and says so."""
    services.wayback.session_limit = 1
    services.wayback.save_polls = 2
    config = services.config(tmp_path, services=["wayback"], wayback_concurrency=2, poll_timeout=10.0)
    urls = [f"{services.live}/{n}" for n in range(5)]
    outcomes = archive_urls(config, urls, env=ENV)
    assert [only(o) for o in outcomes] == [(CreateVerdict.CREATED,)] * 5
    assert services.wayback.max_active == 1
    refused = [r for r in services.wayback.requests if r == "/save"]
    assert len(refused) > 5, "user-session-limit answers were waited out and asked again"


def test_wayback_interval_spaces_submissions(services: Services, tmp_path: Path) -> None:
    config = services.config(tmp_path, services=["wayback"], wayback_interval=0.3, wayback_concurrency=4)
    started = time.monotonic()
    archive_urls(config, [f"{services.live}/{n}" for n in range(3)], env=ENV)
    assert time.monotonic() - started >= 0.6


def test_status_ext_classes() -> None:
    assert classify("error:too-many-daily-captures", "", "u", None).verdict is CreateVerdict.QUOTA
    assert classify("error:user-session-limit", "", "u", None).retryable
    assert classify("error:something-new", "", "u", "j").verdict is CreateVerdict.FAILED


def test_poll_until_makes_a_last_poll_at_the_deadline() -> None:
    calls: list[float] = []
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    async def check() -> str | None:
        calls.append(now[0])
        return "done" if now[0] >= 2.5 else None

    found, polls = asyncio.run(poll_until(check, Poll(1.0, 2.5), clock=lambda: now[0], sleep=sleep))
    assert (found, polls, calls) == ("done", 3, [1.0, 2.0, 2.5])


def test_missing_archive_urls_picks_the_citations_without_a_usable_archive(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from archiver.models import (
        CheckResult,
        Citation,
        Comparison,
        DriftVerdict,
        LiveVerdict,
        Overall,
        Report,
        SourceSpan,
    )

    def result(url: str, archive: ArchiveVerdict, live: LiveVerdict = LiveVerdict.OK) -> CheckResult:
        return CheckResult(
            Citation(url, SourceSpan("d", 1, 1)),
            live,
            None,
            None,
            archive,
            Comparison(DriftVerdict.UNKNOWN, None, False, False),
            Overall.WARN,
        )

    now = datetime.now(UTC)
    report = Report(
        "archiver check",
        now,
        now,
        (
            result("http://a/", ArchiveVerdict.NONE),
            result("http://b/", ArchiveVerdict.OK),
            result("http://c/", ArchiveVerdict.MISMATCH),
            result("http://d/", ArchiveVerdict.NONE, LiveVerdict.GONE),
            result("http://a/", ArchiveVerdict.NOT_FOUND),
            result("http://e/", ArchiveVerdict.UNAVAILABLE),
        ),
    )
    assert missing_archive_urls(report) == ["http://a/", "http://c/"]
