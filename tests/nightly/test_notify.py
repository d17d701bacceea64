"""Notifications against a real local webhook receiver (pytest-httpserver) and a real local SMTP
server (aiosmtpd), STARTTLS included (trustme certificates)."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from archiver.config import NotifyConfig
from archiver.net.politeness import RetryPolicy
from archiver.nightly.news import NewsEvent, NewsItem, RunNews
from archiver.nightly.notify import (
    Channel,
    Delivery,
    news_message,
    news_payload,
    news_subject,
    notify,
)

NEWS = RunNews(
    run_id="nightly-20250426T030000Z",
    started_at=datetime(2025, 4, 26, 3, 0, tzinfo=UTC),
    finished_at=datetime(2025, 4, 26, 3, 7, 30, tzinfo=UTC),
    items=(
        NewsItem("http://www.news.cn/politics/c.html", NewsEvent.GONE, "404 on 3 days since 2025-04-22", "Xinhua"),
        NewsItem("https://example.org/a", NewsEvent.NEW_DRIFT, "major: similarity 0.62"),
        NewsItem("https://example.org/b", NewsEvent.NEWLY_FAILING, "unreachable: connection refused"),
        NewsItem("https://example.org/c", NewsEvent.GONE, "soft_404"),
        NewsItem("https://example.org/d", NewsEvent.RECOVERED),
    ),
    report_paths=(Path("archive/reports/nightly-20250426T030000Z.json"),),
    title="catch-up run for 2025-04-26 03:00 UTC",
    totals={"checked": 120, "pass": 115, "warn": 3, "fail": 2},
)
QUIET = RunNews("nightly-20250427T030000Z", NEWS.started_at, NEWS.finished_at, items=())
FAST = RetryPolicy(retries=3, backoff_base=0.5, backoff_max=30.0, retry_after_max=60.0)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_payload_and_message_render_the_news() -> None:
    payload = news_payload(NEWS)
    assert payload["counts"] == {"gone": 2, "newly_failing": 1, "new_drift": 1, "recovered": 1}
    assert list(payload["counts"]) == ["gone", "newly_failing", "new_drift", "recovered"]  # most serious first
    assert payload["items"][0] == {
        "url": "http://www.news.cn/politics/c.html",
        "event": "gone",
        "detail": "404 on 3 days since 2025-04-22",
        "label": "Xinhua",
    }
    assert payload["reports"] == ["archive/reports/nightly-20250426T030000Z.json"]
    assert (payload["schema_version"], payload["run_id"], payload["finished_at"]) == (
        1,
        "nightly-20250426T030000Z",
        "2025-04-26T03:07:30+00:00",
    )
    json.dumps(payload)  # JSON-ready as it is
    assert news_subject(NEWS) == (
        "archiver nightly-20250426T030000Z: 2 gone, 1 newly failing, 1 new drift, 1 recovered"
    )
    body = news_message(NEWS, NotifyConfig(mail_to=["team@example.org"])).get_content()
    assert body.startswith("Run nightly-20250426T030000Z (catch-up run for 2025-04-26 03:00 UTC)\n")
    assert "Totals: checked 120, pass 115, warn 3, fail 2." in body
    gone = body.index("Gone (declared dead after repeated failures): 2")
    assert gone < body.index("Newly failing") < body.index("Changed since") < body.index("Recovered: 1")
    assert "  - Xinhua: http://www.news.cn/politics/c.html\n    404 on 3 days since 2025-04-22\n" in body
    assert body.rstrip().endswith("archive/reports/nightly-20250426T030000Z.json")


def test_no_news_sends_nothing(httpserver: HTTPServer) -> None:
    cfg = NotifyConfig(webhooks=[httpserver.url_for("/hook")], smtp_host="127.0.0.1", mail_to=["a@example.org"])
    assert notify(QUIET, cfg) == []
    assert httpserver.log == []


# --- webhooks ---------------------------------------------------------------------------------


def test_webhook_500_then_200_is_retried_with_backoff(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/hook", method="POST").respond_with_data("busy", status=500)
    httpserver.expect_ordered_request("/hook", method="POST").respond_with_data("ok", status=200)
    sleeps = Sleeps()
    [delivery] = notify(NEWS, NotifyConfig(webhooks=[httpserver.url_for("/hook")]), policy=FAST, sleep=sleeps)
    assert delivery == Delivery(Channel.WEBHOOK, httpserver.url_for("/hook"), True, 2, "200 OK")
    assert sleeps == [0.5]
    bodies = [json.loads(request.get_data()) for request, _ in httpserver.log]
    assert bodies == [news_payload(NEWS)] * 2
    assert all(request.headers["Content-Type"] == "application/json" for request, _ in httpserver.log)


def test_webhook_retries_are_bounded_and_failure_is_a_result(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/down").respond_with_data("no", status=503)
    httpserver.expect_request("/up").respond_with_data("", status=204)
    sleeps = Sleeps()
    cfg = NotifyConfig(webhooks=[httpserver.url_for("/down"), httpserver.url_for("/up")])
    down, up = notify(NEWS, cfg, policy=FAST, sleep=sleeps)
    assert (down.ok, down.attempts) == (False, 4)
    assert down.detail == "gave up after 4 attempt(s): 503 SERVICE UNAVAILABLE"
    assert sleeps == [0.5, 1.0, 2.0]
    assert (up.ok, up.attempts, up.detail) == (True, 1, "204 NO CONTENT")  # the other webhook still got it


def test_webhook_client_errors_are_not_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/gone").respond_with_data("", status=404)
    sleeps = Sleeps()
    [delivery] = notify(NEWS, NotifyConfig(webhooks=[httpserver.url_for("/gone")]), policy=FAST, sleep=sleeps)
    assert (delivery.ok, delivery.attempts, sleeps) == (False, 1, [])
    assert "404 NOT FOUND" in delivery.detail


def test_webhook_retry_after_is_honoured_and_capped(httpserver: HTTPServer) -> None:
    calls: list[int] = []

    def handler(request: Request) -> Response:
        calls.append(1)
        if len(calls) == 1:
            return Response("slow down", status=429, headers={"Retry-After": "7"})
        if len(calls) == 2:
            return Response("slow down", status=429, headers={"Retry-After": "999999999"})
        return Response("ok", status=200)

    httpserver.expect_request("/hook").respond_with_handler(handler)
    sleeps = Sleeps()
    [delivery] = notify(NEWS, NotifyConfig(webhooks=[httpserver.url_for("/hook")]), policy=FAST, sleep=sleeps)
    assert delivery.ok and delivery.attempts == 3
    assert sleeps == [7.0, 60.0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_unreachable_webhook_is_reported_not_raised() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    sleeps = Sleeps()
    [delivery] = notify(NEWS, NotifyConfig(webhooks=[url]), policy=FAST, sleep=sleeps, timeout=2.0)
    assert (delivery.ok, delivery.attempts, len(sleeps)) == (False, 4, 3)
    assert "ConnectError" in delivery.detail


# --- e-mail -----------------------------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler that keeps what it receives, and checks a LOGIN if asked to."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        ok = data.password == b"s3cret"
        return AuthResult(success=ok, handled=False)

    def message(self) -> EmailMessage:
        [envelope] = self.envelopes
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        message = message_from_bytes(content, policy=policy.default)  # unfolds long headers
        assert isinstance(message, EmailMessage)
        return message


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def test_email_is_received_with_subject_and_body(inbox: tuple[Inbox, int]) -> None:
    handler, port = inbox
    cfg = NotifyConfig(
        smtp_host="127.0.0.1",
        smtp_port=port,
        mail_from="archiver@example.org",
        mail_to=["a@example.org", "b@example.org"],
    )
    [delivery] = notify(NEWS, cfg, env={})
    assert delivery == Delivery(
        Channel.EMAIL,
        "a@example.org, b@example.org",
        True,
        1,
        f"sent to a@example.org, b@example.org via 127.0.0.1:{port}",
    )
    [envelope] = handler.envelopes
    assert (envelope.mail_from, envelope.rcpt_tos) == ("archiver@example.org", ["a@example.org", "b@example.org"])
    message = handler.message()
    assert message["Subject"] == news_subject(NEWS)
    assert message["From"] == "archiver@example.org"
    assert message.get_content_type() == "text/plain"
    body = message.get_content().replace("\r\n", "\n")  # SMTP lines end in CRLF on the wire
    assert body == news_message(NEWS, cfg).get_content()
    assert "https://example.org/b\n    unreachable: connection refused" in body


@pytest.fixture
def tls_inbox() -> Iterator[tuple[Inbox, int, ssl.SSLContext]]:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    handler = Inbox()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=handler.authenticate,
        auth_required=True,
    )
    controller.start()
    try:
        yield handler, port, client_ctx
    finally:
        controller.stop()


def test_email_over_starttls_with_login_from_the_environment(tls_inbox: tuple[Inbox, int, ssl.SSLContext]) -> None:
    handler, port, client_ctx = tls_inbox
    cfg = NotifyConfig(
        smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=True, smtp_user="archiver", mail_to=["a@example.org"]
    )
    [delivery] = notify(NEWS, cfg, env={"ARCHIVER_SMTP_PASSWORD": "s3cret"}, ssl_context=client_ctx)
    assert delivery.ok, delivery.detail
    assert handler.logins == [("archiver", "s3cret")]
    assert handler.message()["Subject"] == news_subject(NEWS)

    [wrong] = notify(NEWS, cfg, env={"ARCHIVER_SMTP_PASSWORD": "guess"}, ssl_context=client_ctx)
    assert not wrong.ok and "SMTPAuthenticationError" in wrong.detail
    [missing] = notify(NEWS, cfg, env={}, ssl_context=client_ctx)
    assert (missing.ok, missing.attempts) == (False, 0)
    assert "ARCHIVER_SMTP_PASSWORD" in missing.detail
    assert len(handler.envelopes) == 1


def test_email_failures_are_results() -> None:
    down = NotifyConfig(smtp_host="127.0.0.1", smtp_port=free_port(), mail_to=["a@example.org"])
    [refused] = notify(NEWS, down, env={}, timeout=2.0)
    assert (refused.channel, refused.ok) == (Channel.EMAIL, False)
    assert "ConnectionRefusedError" in refused.detail
    [nobody] = notify(NEWS, NotifyConfig(smtp_host="127.0.0.1"), env={})
    assert (nobody.ok, nobody.detail) == (False, "no recipients: set [notify] mail_to")
