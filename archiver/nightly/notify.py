"""Telling people what a nightly run found: a JSON POST to each webhook, and/or one plain e-mail.

Rendering is pure (`news_payload`, `news_message`), delivery is at the edge (`notify`), and every
delivery ends in a `Delivery` record, never an exception: a webhook that is down must not fail a
finished run. Webhooks retry as `net/politeness.retry_delay` says, without following redirects;
e-mail uses smtplib, the password only from ARCHIVER_SMTP_PASSWORD. See docs/nightly.md.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from enum import StrEnum
from typing import Any

from archiver.clock import utc_now
from archiver.config import NotifyConfig
from archiver.models import SCHEMA_VERSION
from archiver.net.http import Client, HTTPError, plain_client
from archiver.net.politeness import RetryPolicy, retry_delay, retryable_status
from archiver.nightly.news import NEWS_HEADINGS, NEWS_ORDER, RunNews

PASSWORD_ENV = "ARCHIVER_SMTP_PASSWORD"
WEBHOOK_RETRIES = 3
TIMEOUT = 10.0
DEFAULT_POLICY = RetryPolicy(retries=WEBHOOK_RETRIES, backoff_base=1.0, backoff_max=30.0, retry_after_max=60.0)


class Channel(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


@dataclass(frozen=True)
class Delivery:
    """How one notification went: `detail` is the final status line or the error, in words."""

    channel: Channel
    target: str
    ok: bool
    attempts: int
    detail: str


def news_payload(news: RunNews) -> dict[str, Any]:
    """The JSON body posted to webhooks."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "archiver",
        "kind": "run_news",
        "run_id": news.run_id,
        "title": news.title,
        "started_at": news.started_at.astimezone(UTC).isoformat(),
        "finished_at": news.finished_at.astimezone(UTC).isoformat(),
        "counts": {event.value: n for event, n in news.counts.items()},
        "totals": dict(news.totals),
        "items": [
            {"url": item.url, "event": item.event.value, "detail": item.detail, "label": item.label}
            for item in news.items
        ],
        "reports": [str(path) for path in news.report_paths],
    }


def news_subject(news: RunNews) -> str:
    counts = ", ".join(f"{n} {event.value.replace('_', ' ')}" for event, n in news.counts.items())
    return f"archiver {news.run_id}: {counts or 'no news'}"


def news_message(news: RunNews, cfg: NotifyConfig) -> EmailMessage:
    """The plain-text e-mail: counts, then the sources grouped by event, then the report paths."""
    lines = [
        f"Run {news.run_id}" + (f" ({news.title})" if news.title else ""),
        f"Started {news.started_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC, "
        f"finished {news.finished_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC.",
    ]
    if news.totals:
        lines.append("Totals: " + ", ".join(f"{key} {value}" for key, value in news.totals.items()) + ".")
    for event in NEWS_ORDER:
        items = [item for item in news.items if item.event is event]
        if not items:
            continue
        lines += ["", f"{NEWS_HEADINGS[event]}: {len(items)}"]
        for item in items:
            name = f"{item.label}: {item.url}" if item.label else item.url
            lines.append(f"  - {name}")
            if item.detail:
                lines.append(f"    {item.detail}")
    if news.report_paths:
        lines += ["", "Reports:"] + [f"  {path}" for path in news.report_paths]
    message = EmailMessage()
    message["Subject"] = news_subject(news)
    message["From"] = cfg.mail_from
    message["To"] = ", ".join(cfg.mail_to)
    message["Date"] = formatdate(news.finished_at.timestamp(), usegmt=True)
    message["Message-ID"] = make_msgid(domain=cfg.mail_from.rpartition("@")[2] or "localhost")
    message.set_content("\n".join(lines) + "\n")
    return message


def post_webhook(
    client: Client,
    url: str,
    payload: Mapping[str, Any],
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST the payload, retrying transport errors, 408, 429 and 5xx up to `policy.retries` times."""
    attempts, detail = 0, ""
    while True:
        attempts += 1
        retry_after = None
        try:
            response = client.post(url, json=payload)
        except HTTPError as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            retryable = True
        else:
            detail = f"{response.status_code} {response.reason_phrase}".strip()
            if response.is_success:
                return Delivery(Channel.WEBHOOK, url, True, attempts, detail)
            retryable = retryable_status(response.status_code)
            retry_after = response.headers.get("retry-after")
        if not retryable or attempts > policy.retries:
            return Delivery(Channel.WEBHOOK, url, False, attempts, f"gave up after {attempts} attempt(s): {detail}")
        sleep(retry_delay(policy, attempts - 1, retry_after, utc_now()))


def send_email(
    news: RunNews,
    cfg: NotifyConfig,
    *,
    password: str | None,
    timeout: float = TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
) -> Delivery:
    """Send the e-mail through the configured SMTP server; one attempt, the result as a Delivery."""
    target = ", ".join(cfg.mail_to)
    if not cfg.mail_to:
        return Delivery(Channel.EMAIL, cfg.smtp_host, False, 0, "no recipients: set [notify] mail_to")
    if cfg.smtp_user and not password:
        return Delivery(Channel.EMAIL, target, False, 0, f"[notify] smtp_user is set but {PASSWORD_ENV} is not: set it")
    try:
        with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=timeout) as smtp:
            if cfg.smtp_starttls:
                smtp.starttls(context=ssl_context or ssl.create_default_context())
            if cfg.smtp_user and password:
                smtp.login(cfg.smtp_user, password)
            refused = smtp.send_message(news_message(news, cfg))
    except (OSError, smtplib.SMTPException) as exc:
        return Delivery(Channel.EMAIL, target, False, 1, f"{type(exc).__name__}: {exc}")
    if refused:
        return Delivery(Channel.EMAIL, target, False, 1, f"refused recipients: {', '.join(sorted(refused))}")
    return Delivery(Channel.EMAIL, target, True, 1, f"sent to {target} via {cfg.smtp_host}:{cfg.smtp_port}")


def notify(
    news: RunNews,
    cfg: NotifyConfig,
    *,
    client: Client | None = None,
    policy: RetryPolicy = DEFAULT_POLICY,
    sleep: Callable[[float], None] = time.sleep,
    env: Mapping[str, str] = os.environ,
    timeout: float = TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
) -> list[Delivery]:
    """Deliver the news to every configured channel; nothing is sent when there is no news."""
    if not news.has_news:
        return []
    deliveries: list[Delivery] = []
    if cfg.webhooks:
        payload = news_payload(news)
        own = client is None
        http = client or plain_client(timeout)
        try:
            deliveries += [post_webhook(http, url, payload, policy=policy, sleep=sleep) for url in cfg.webhooks]
        finally:
            if own:
                http.close()
    if cfg.smtp_host:
        deliveries.append(
            send_email(news, cfg, password=env.get(PASSWORD_ENV), timeout=timeout, ssl_context=ssl_context)
        )
    return deliveries


def failed(deliveries: Sequence[Delivery]) -> list[Delivery]:
    """The deliveries that did not get through, for the run's report and log."""
    return [d for d in deliveries if not d.ok]
