"""The HTTP seam for the adapters above net/: the client types they are handed, and what they read.

Archives (Perma.cc, the Wayback Machine) and webhooks make their requests through a client that
net/ builds and configures (the guarded fetcher's, or `plain_client` for operator-configured
webhooks); they name its types and errors from here, so the HTTP library stays behind net/.
"""

from __future__ import annotations

import httpx

from archiver.errors import FetchFailure

AsyncClient = httpx.AsyncClient
Client = httpx.Client
Response = httpx.Response
HTTPError = httpx.HTTPError

# Enough of a body to recognise a challenge page without downloading a whole replay page.
SNIFF_BYTES = 64 * 1024


async def read_start(response: httpx.Response, limit: int = SNIFF_BYTES) -> bytes:
    """The first `limit` bytes of a streamed response body (decoded), without reading the rest."""
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data.extend(chunk)
        if len(data) >= limit:
            break
    return bytes(data[:limit])


def describe_error(exc: httpx.HTTPError | FetchFailure) -> str:
    """An httpx error as words (their str() is sometimes empty); our own failures give their sentence.

    Without the hint: it was written for a cited site ("check the host name for typos"), and an
    archive's own host is not the reader's typo.
    """
    if isinstance(exc, FetchFailure):
        return exc.sentence()
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def plain_client(timeout: float) -> httpx.Client:
    """A client for URLs the operator configured (webhooks): no proxy from the environment, no redirects."""
    return httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False)
