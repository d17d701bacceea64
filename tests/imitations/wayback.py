"""A faithful local Wayback Machine: `id_` raw bytes, the CDX JSON API, `/web/<ts>/<url>` redirects.

- `/cdx/search/cdx?url=U&output=json`: a header row of field names first, then one row per
  capture (`urlkey timestamp original mimetype statuscode digest length`, or the `fl=` fields);
  `[]` when nothing matches. Honours `filter=[!]field:regex` (repeatable), `from`/`to` (prefix
  timestamps padded), `closest` with `sort=closest`, and `limit`.
- `/web/<ts>[<mod>]/<url>`: 302 to the nearest capture (of any archived status) when `<ts>` is
  not exact; on the capture itself its archived status, `Memento-Datetime` and
  `Link: <url>; rel="original"`. With `id_` the archived bytes exactly; without, a replay page
  with a toolbar and rewritten links, which a client must never take for the content.
- URLs match scheme-insensitively and without a trailing slash, as Wayback's SURT keys do.
- `cdx_status` makes the CDX server fail (the real one is flaky), to exercise the fallback.
"""

from __future__ import annotations

import hashlib
import json
import re
from base64 import b32encode
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from warcio.timeutils import datetime_to_http_date
from werkzeug.wrappers import Request, Response

CDX_FIELDS = ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length")
TOOLBAR = b"<!-- BEGIN WAYBACK TOOLBAR INSERT -->wayback toolbar<!-- END WAYBACK TOOLBAR INSERT -->"


@dataclass(frozen=True)
class WaybackCapture:
    timestamp: str  # 14 digits
    url: str
    status: int = 200
    body: bytes = b"<html><head><title>Example Domain</title></head><body><p>Archived.</p></body></html>"
    content_type: str = "text/html; charset=utf-8"

    @property
    def moment(self) -> datetime:
        return datetime.strptime(self.timestamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def url_key(url: str) -> str:
    """Scheme-less, lowercase host, no trailing slash: the part of a SURT key that matters here."""
    text = re.sub(r"^https?://", "", url.strip(), flags=re.I)
    host, _, rest = text.partition("/")
    host = host.lower().removeprefix("www.").removesuffix(":80")
    return f"{host}/{rest}".rstrip("/")


def _surt(url: str) -> str:
    key = url_key(url)
    host, _, path = key.partition("/")
    return ",".join(reversed(host.split("."))) + ")/" + path


def _pad(timestamp: str, upper: bool) -> str:
    return timestamp.ljust(14, "9" if upper else "0")


@dataclass
class WaybackImitation:
    captures: list[WaybackCapture]
    cdx_status: int = 200
    requests: list[str] = field(default_factory=list)

    def _of(self, url: str) -> list[WaybackCapture]:
        key = url_key(url)
        return sorted((c for c in self.captures if url_key(c.url) == key), key=lambda c: c.timestamp)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        raw = environ.get("REQUEST_URI") or environ.get("RAW_URI") or request.full_path
        self.requests.append(raw)
        if request.path.rstrip("/") == "/cdx/search/cdx":
            response = self._cdx(request)
        elif match := re.match(r"^/web/(?P<ts>\d{1,14})(?P<mod>[a-z]{2}_)?/(?P<url>.+)$", raw):
            response = self._replay(match["ts"], match["mod"] or "", unquote(match["url"]))
        else:
            response = Response(b"Not Found", 404)
        return response(environ, start_response)

    def _cdx(self, request: Request) -> Response:
        if self.cdx_status != 200:
            return Response(b"<html><body>Service Unavailable</body></html>", self.cdx_status)
        rows = [
            {
                "urlkey": _surt(c.url),
                "timestamp": c.timestamp,
                "original": c.url,
                "mimetype": c.content_type.split(";")[0],
                "statuscode": str(c.status),
                "digest": b32encode(hashlib.sha1(c.body).digest()).decode(),
                "length": str(len(c.body)),
            }
            for c in self._of(request.args.get("url", ""))
        ]
        for rule in request.args.getlist("filter"):
            negate = rule.startswith("!")
            name, _, pattern = rule.lstrip("!").partition(":")
            rows = [r for r in rows if bool(re.fullmatch(pattern, r.get(name, ""))) != negate]
        if "from" in request.args:
            rows = [r for r in rows if r["timestamp"] >= _pad(request.args["from"], upper=False)]
        if "to" in request.args:
            rows = [r for r in rows if r["timestamp"] <= _pad(request.args["to"], upper=True)]
        if request.args.get("sort") == "closest" and "closest" in request.args:
            target = datetime.strptime(_pad(request.args["closest"], upper=False), "%Y%m%d%H%M%S")
            rows.sort(key=lambda r: abs((datetime.strptime(r["timestamp"], "%Y%m%d%H%M%S") - target).total_seconds()))
        if "limit" in request.args:
            rows = rows[: int(request.args["limit"])]
        fields = request.args.get("fl", ",".join(CDX_FIELDS)).split(",")
        if request.args.get("output") != "json":
            text = "".join(" ".join(r[f] for f in fields) + "\n" for r in rows)
            return Response(text, 200, {"Content-Type": "text/plain"})
        table = [fields, *([r[f] for f in fields] for r in rows)] if rows else []
        return Response(json.dumps(table), 200, {"Content-Type": "application/json"})

    def _replay(self, timestamp: str, modifier: str, url: str) -> Response:
        found = self._of(url)
        if not found:
            return Response(b"<p>Wayback Machine doesn't have that page archived.</p>", 404)
        target = datetime.strptime(_pad(timestamp, upper=False), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        nearest = min(found, key=lambda c: (abs((c.moment - target).total_seconds()), c.timestamp))
        if nearest.timestamp != timestamp:
            return Response(b"", 302, {"Location": f"/web/{nearest.timestamp}{modifier}/{nearest.url}"})
        headers = {
            "Content-Type": nearest.content_type,
            "Memento-Datetime": datetime_to_http_date(nearest.moment),
            "Link": f'<{nearest.url}>; rel="original", <{nearest.url}>; rel="timegate"',
        }
        body = nearest.body if modifier == "id_" else TOOLBAR + nearest.body.replace(b'href="/', b'href="/web/')
        return Response(body, nearest.status, headers)
