"""What the fetcher hands the WARC store: the HTTP exchanges of one fetch, bodies spooled.

A `Body` holds the entity body exactly as received on the wire: de-chunked but still
content-encoded (what httpx's `iter_raw()` yields, and what the WARC spec's payload digest
covers). Small bodies stay in memory, large ones spill to a temporary file; nothing holds a whole
large body in memory. A `FetchOutcome` owns its bodies: call `close()` (or use it as a context
manager) once the store has written them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from archiver.content.body import Body
from archiver.models import Failure, Truncation


@dataclass(frozen=True)
class Exchange:
    """One request and its response, as sent and received (one hop of a redirect chain).

    `url` is the target URI in wire form (IDNA host, percent-encoded path). Headers are kept in
    order and with their original case. `http_version` is e.g. "HTTP/1.1".
    """

    url: str
    method: str
    request_headers: tuple[tuple[str, str], ...]
    http_version: str
    status: int
    reason: str
    response_headers: tuple[tuple[str, str], ...]
    body: Body
    started_at: datetime
    ip_address: str | None = None
    truncated: Truncation | None = None

    def header(self, name: str) -> str | None:
        lower = name.lower()
        for key, value in self.response_headers:
            if key.lower() == lower:
                return value
        return None


@dataclass(frozen=True)
class Attempt:
    """One try that did not count (a retried 429/5xx/timeout), kept for the metadata record."""

    url: str
    status: int | None
    error: str | None
    waited_s: float


@dataclass
class FetchOutcome:
    """Everything one fetch produced: every hop in order, the typed failure if it failed.

    `requested` is the URL as given (original string, IDN included); `exchanges[-1]` is the final
    response when there is one. A failure may come with exchanges (a redirect cap, a deadline
    hit mid-body: the partial body is kept and marked truncated).
    """

    requested: str
    started_at: datetime
    exchanges: list[Exchange] = field(default_factory=list)
    failure: Failure | None = None
    attempts: list[Attempt] = field(default_factory=list)
    elapsed_ms: int = 0

    @property
    def final(self) -> Exchange | None:
        return self.exchanges[-1] if self.exchanges else None

    def close(self) -> None:
        for exchange in self.exchanges:
            exchange.body.close()

    def __enter__(self) -> FetchOutcome:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
