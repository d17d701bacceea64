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
- Save Page Now 2 (the public SPN2 API docs): `POST /save` with `Authorization: LOW key:secret`
  answers `{"url", "job_id"}`; `GET /save/status/{job_id}` answers `pending` for `save_polls`
  polls, then `success` with `timestamp` and `original_url` (the capture is added to the
  archive) or `error` with the `status_ext` that `save_fate[url]` names ("never": pending for
  ever). More than `session_limit` unfinished jobs answer `error:user-session-limit` at submission;
  a URL in `daily_limit` answers `error:too-many-daily-captures`; bad keys answer 401 and
  `spn_down` a 502 page. `max_active` records the most jobs ever unfinished at once.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
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
    s3_keys: frozenset[str] = frozenset()  # "accesskey:secret" pairs accepted by /save
    save_polls: int = 1
    save_fate: dict[str, str] = field(default_factory=dict)  # url -> "error:..." | "never"
    session_limit: int = 12
    daily_limit: frozenset[str] = frozenset()
    spn_down: bool = False
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_active: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _of(self, url: str) -> list[WaybackCapture]:
        key = url_key(url)
        return sorted((c for c in self.captures if url_key(c.url) == key), key=lambda c: c.timestamp)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        raw = environ.get("REQUEST_URI") or environ.get("RAW_URI") or request.full_path
        self.requests.append(raw)
        if request.path == "/save" or request.path.startswith("/save/"):
            response = self._save(request)
        elif request.path.rstrip("/") == "/cdx/search/cdx":
            response = self._cdx(request)
        elif match := re.match(r"^/web/(?P<ts>\d{1,14})(?P<mod>[a-z]{2}_)?/(?P<url>.+)$", raw):
            response = self._replay(match["ts"], match["mod"] or "", unquote(match["url"]))
        else:
            response = Response(b"Not Found", 404)
        return response(environ, start_response)

    # -- Save Page Now 2 ---------------------------------------------------------------------------

    def _active(self) -> int:
        return sum(1 for job in self.jobs.values() if job["status"] == "pending")

    def _save(self, request: Request) -> Response:
        if self.spn_down:
            return Response(b"<html><body><h1>502 Bad Gateway</h1></body></html>", 502, {"Content-Type": "text/html"})
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("LOW ") or auth[4:].strip() not in self.s3_keys:
            return _json({"message": "You need to be logged in to use Save Page Now."}, 401)
        if request.method == "POST" and request.path.rstrip("/") == "/save":
            return self._submit(request.form.get("url", ""))
        if match := re.fullmatch(r"/save/status/(?P<job>[0-9a-f-]+)", request.path):
            return self._status(match["job"])
        return Response(b"Not Found", 404)

    def _submit(self, url: str) -> Response:
        if not url:
            return _json({"status": "error", "status_ext": "error:invalid-url-syntax", "message": "No URL."})
        if url in self.daily_limit:
            return _json(
                {
                    "status": "error",
                    "status_ext": "error:too-many-daily-captures",
                    "message": f"This URL has been already captured 5 times today: {url}",
                }
            )
        with self._lock:
            if self._active() >= self.session_limit:
                return _json(
                    {
                        "status": "error",
                        "status_ext": "error:user-session-limit",
                        "message": "You have already reached the limit of active sessions.",
                    }
                )
            job = str(uuid.uuid4())
            self.jobs[job] = {"url": url, "status": "pending", "polls": 0}
            self.max_active = max(self.max_active, self._active())
        return _json({"url": url, "job_id": job})

    def _status(self, job_id: str) -> Response:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return _json({"status": "error", "status_ext": "error:not-found", "message": "Job not found."}, 404)
            job["polls"] += 1
            fate = self.save_fate.get(job["url"], "success")
            if job["status"] == "pending" and fate != "never" and job["polls"] > self.save_polls:
                job["status"] = "error" if fate.startswith("error:") else "success"
                if job["status"] == "success":
                    job["timestamp"] = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
                    self.captures.append(WaybackCapture(job["timestamp"], job["url"]))
        document: dict[str, Any] = {"status": job["status"], "job_id": job_id, "resources": []}
        if job["status"] == "success":
            document.update(original_url=job["url"], timestamp=job["timestamp"], duration_sec=1.2)
        elif job["status"] == "error":
            document.update(status_ext=fate, message=f"Capture of {job['url']} failed.", exception="")
        return _json(document)

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


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status, {"Content-Type": "application/json"})
