"""A faithful local Perma.cc: its API host and its site, in the two profiles of permacc.md §8.

- `legacy` (before Dec 2025): the key-free `/v1/public/archives/{guid}/` detail and download
  routes exist, and the public list takes filters.
- `current`: the public list only (no filters, 10 pages at most, no download URLs); detail and
  download only under `/v1/archives/...` with `Authorization: ApiKey`, for links the key's user
  can edit (any other user gets 403, even for public links).

Faithful where a client can trip: routes end in `/?$` (trailing slash optional), the optional
`user/` prefix, exact GUID lookup (the API never canonicalises), DRF error bodies word for word,
no `total_count` and an always-populated `next`, downloads streamed without Content-Length with
two Perma download warcinfo records in front of the stored WARC, WACZ served as stored, 302 for
a replaced link's download. The site answers `/{guid}` with Memento headers on 200, 301 for a
non-canonical GUID, 302 for a replaced link, 403 private, 404 unknown, 410 deleted, and a page
without Memento headers for a pending or failed capture. `challenge` switches on a Cloudflare
challenge ("header": 403 + `cf-mitigated: challenge`; "page": the HTML page alone).

Creating links (permacc.md §1c, §6): `POST /v1/archives/` (JSON or form) answers 201 with the
authenticated record, its primary capture `pending`; `POST /v1/archives/batches` (JSON only)
answers 201 with `capture_jobs`; `GET /v1/capture_jobs/{guid}/` reports `in_progress` for
`capture_polls` polls, then `completed` (or what `capture_fate[url]` says: "failed", or "never"
to stay `in_progress`). `usage_limit` answers the DRF usage-limit 400, `down` a 503 page.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from warcio.archiveiterator import ArchiveIterator
from warcio.timeutils import datetime_to_http_date
from warcio.warcwriter import WARCWriter
from werkzeug.wrappers import Request, Response

NOT_FOUND = {"detail": "Not found."}
NO_CREDENTIALS = {"detail": "Authentication credentials were not provided."}
INVALID_TOKEN = {"detail": "Invalid token."}
NO_PERMISSION = {"detail": "You do not have permission to perform this action."}
BAD_FORMAT = {"file_format": "The specified format is not supported. Options: warc, wacz."}
USAGE_LIMIT = {
    "error": [
        "Perma can't create this link. You've reached your usage limit. "
        "Visit your Usage Plan page for information and plan options."
    ]
}
URL_EMPTY = {"url": ["URL cannot be empty."]}
GUID_LETTERS = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
PAGE_SIZE = 300
MAX_PAGES = 10
GUID = r"(?P<guid>[a-zA-Z0-9\-]{6,11})"
CHALLENGE_PAGE = (
    b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
    b'<script src="/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1"></script>'
    b"Enable JavaScript and cookies to continue</body></html>"
)


def perma_canonical_guid(guid: str) -> str:
    """Perma's own `Link.get_canonical_guid` (written here independently of archiver's)."""
    if "-" not in guid and len(guid) >= 9:
        return re.sub(r"^O", "0", guid)
    letters = re.sub(r"[^0-9A-Z]", "", guid.upper())
    blocks: list[str] = []
    while letters:
        blocks.insert(0, letters[-4:])
        letters = letters[:-4]
    return "-".join(blocks)


@dataclass
class StoredLink:
    """One Perma link as the imitation stores it."""

    guid: str
    url: str
    created: datetime
    title: str = "Example Domain"
    warc: bytes | None = None  # the stored .warc.gz
    wacz: bytes | None = None  # the stored .wacz
    primary_url: str | None = None
    primary_status: str = "success"
    private: bool = False
    unlisted: bool = False
    deleted: bool = False
    replaced_by: str | None = None
    owners: frozenset[str] = frozenset()  # API keys whose user can edit the link

    def iso(self) -> str:
        return self.created.isoformat().replace("+00:00", "Z")


@dataclass
class PermaImitation:
    links: list[StoredLink]
    profile: str = "current"
    api_keys: frozenset[str] = frozenset()
    challenge: str | None = None  # None | "header" | "page"
    rate_limited: bool = False
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # (host, path?query, auth)
    usage_limit: bool = False
    down: bool = False
    capture_polls: int = 1
    capture_fate: dict[str, str] = field(default_factory=dict)  # url -> "failed" | "never"
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # guid -> capture job state
    _serial: int = 0

    def _find(self, guid: str) -> StoredLink | None:
        return next((link for link in self.links if link.guid == guid), None)  # exact: no canonicalising

    # -- shared ---------------------------------------------------------------------------------

    def _challenged(self) -> Response | None:
        if self.challenge == "header":
            return Response(CHALLENGE_PAGE, 403, {"cf-mitigated": "challenge", "Content-Type": "text/html"})
        if self.challenge == "page":
            return Response(CHALLENGE_PAGE, 403, {"Content-Type": "text/html; charset=UTF-8"})
        return None

    def _log(self, host: str, request: Request) -> None:
        target = request.full_path.rstrip("?")
        self.requests.append((host, target, request.headers.get("Authorization")))

    # -- API host -------------------------------------------------------------------------------

    def api(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        self._log("api", request)
        response = self._challenged() or self._api(request)
        return response(environ, start_response)

    def _api(self, request: Request) -> Response:
        path = request.path
        base = request.host_url.rstrip("/")
        if self.down:
            return _html("<h1>503 Service Unavailable</h1>", 503)
        if request.method == "POST" and re.fullmatch(r"/v1/(?:user/)?archives/batches/?", path):
            return self._create_batch(request, base)
        if request.method == "POST" and re.fullmatch(r"/v1/(?:user/)?archives/?", path):
            return self._create_one(request, base)
        if match := re.fullmatch(rf"/v1/capture_jobs/{GUID}/?", path):
            return self._capture_job(request, match["guid"])
        if re.fullmatch(r"/v1/public/archives/?", path):
            return self._public_list(request, base)
        if match := re.fullmatch(rf"/v1/public/archives/{GUID}/?", path):
            if self.profile != "legacy":
                return _page_not_found()
            link = self._find(match["guid"])
            if link is None or link.private or link.unlisted or link.deleted:
                return _json(NOT_FOUND, 404)
            return _json(self._serialise(link, base, public=True))
        if match := re.fullmatch(rf"/v1/public/archives/{GUID}/download/?", path):
            if self.profile != "legacy":
                return _page_not_found()
            link = self._find(match["guid"])
            if link is None or link.private or link.unlisted or link.deleted:
                return _json(NOT_FOUND, 404)
            return self._download(link, "warc", f"{base}/v1/public/archives/{{guid}}/download")
        if match := re.fullmatch(rf"/v1/(?:user/)?archives/{GUID}(?P<download>/download)?/?", path):
            refused = self._authenticate(request)
            if refused is not None:
                return refused
            link = self._find(match["guid"])
            if link is None or link.deleted:
                return _json(NOT_FOUND, 404)
            key = self._key(request)
            if key not in link.owners:
                return _json(NO_PERMISSION, 403)
            if match["download"]:
                file_format = request.args.get("file_format", "warc")
                if file_format not in ("warc", "wacz"):
                    return _json(BAD_FORMAT, 400)
                return self._download(link, file_format, f"{base}/v1/archives/{{guid}}/download")
            return _json(self._serialise(link, base, public=False))
        if re.fullmatch(r"/v1/(?:user/)?archives/?", path):
            refused = self._authenticate(request)
            if refused is not None:
                return refused
            mine = [link for link in self.links if self._key(request) in link.owners and not link.deleted]
            return self._page(request, base, mine, public=False)
        return _page_not_found()

    # -- creating links -------------------------------------------------------------------------

    def _new_link(self, url: str, key: str | None) -> StoredLink:
        self._serial += 1
        n, letters = self._serial, ""
        for _ in range(8):
            letters = GUID_LETTERS[n % 32] + letters
            n //= 32
        guid = "2" + letters[1:4] + "-" + letters[4:]  # a leading digit: Perma redraws all-letter starts
        if not re.match(r"^https?://", url):
            url = "http://" + url
        link = StoredLink(
            guid,
            url[:2100],
            datetime.now(UTC).replace(microsecond=0),
            title=url,
            primary_status="pending",
            owners=frozenset({key}) if key else frozenset(),
        )
        self.links.append(link)
        self.jobs[guid] = {"polls": 0, "status": "pending"}
        return link

    def _refuse_creation(self, request: Request) -> Response | None:
        refused = self._authenticate(request)
        if refused is not None:
            return refused
        if self.usage_limit:
            return _json(USAGE_LIMIT, 400)
        return None

    def _create_one(self, request: Request, base: str) -> Response:
        refused = self._refuse_creation(request)
        if refused is not None:
            return refused
        body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        url = str((body or {}).get("url") or "").strip()
        if not url:
            return _json(URL_EMPTY, 400)
        link = self._new_link(url, self._key(request))
        data = self._serialise(link, base, public=False)
        data["captures"] = [dict(data["captures"][0], status="pending")]
        data["warc_size"] = data["wacz_size"] = None
        return _json(data, 201)

    def _create_batch(self, request: Request, base: str) -> Response:
        refused = self._refuse_creation(request)
        if refused is not None:
            return refused
        if not request.is_json:
            return _json({"detail": 'Unsupported media type "application/x-www-form-urlencoded" in request.'}, 415)
        body = request.get_json(silent=True) or {}
        urls = body.get("urls")
        if not isinstance(urls, list):
            return _json({"urls": ["This field is required."]}, 400)
        jobs = []
        for url in urls:
            if not isinstance(url, str) or not url.strip():
                jobs.append({"guid": None, "status": "invalid", "message": URL_EMPTY, "submitted_url": url})
                continue
            link = self._new_link(url.strip(), self._key(request))
            jobs.append(self._job_document(link))
        return _json(
            {
                "id": 1,
                "started_on": datetime.now(UTC).isoformat(),
                "created_by": {"id": 3},
                "capture_jobs": jobs,
                "target_folder": body.get("target_folder"),
            },
            201,
        )

    def _job_document(self, link: StoredLink) -> dict[str, Any]:
        job = self.jobs[link.guid]
        return {
            "guid": link.guid,
            "status": job["status"],
            "message": job.get("message"),
            "submitted_url": link.url,
            "attempt": 1,
            "step_count": job["polls"],
            "step_description": "",
            "queue_position": 0,
            "title": link.title,
            "user_deleted": False,
        }

    def _capture_job(self, request: Request, guid: str) -> Response:
        refused = self._authenticate(request)
        if refused is not None:
            return refused
        link = self._find(guid)
        job = self.jobs.get(guid)
        if link is None or job is None:
            return _json(NOT_FOUND, 404)
        job["polls"] += 1
        fate = self.capture_fate.get(link.url, "completed")
        if job["status"] in ("pending", "in_progress"):
            if fate == "never" or job["polls"] <= self.capture_polls:
                job["status"] = "in_progress"
            elif fate == "failed":
                job["status"], job["message"] = "failed", "Perma.cc could not capture this page."
                link.primary_status = "failed"
            else:
                job["status"] = "completed"
                link.primary_status = "success"
        return _json(self._job_document(link))

    def _key(self, request: Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("ApiKey "):
            return header[len("ApiKey ") :].strip()
        return request.args.get("api_key")

    def _authenticate(self, request: Request) -> Response | None:
        key = self._key(request)
        if key is None:
            response = _json(NO_CREDENTIALS, 401)
            response.headers["WWW-Authenticate"] = "ApiKey"
            return response
        if key not in self.api_keys:
            response = _json(INVALID_TOKEN, 401)
            response.headers["WWW-Authenticate"] = "ApiKey"
            return response
        return None

    def _serialise(self, link: StoredLink, base: str, *, public: bool) -> dict[str, Any]:
        route = (
            f"{base}/v1/public/archives/{link.guid}/download" if public else f"{base}/v1/archives/{link.guid}/download"
        )
        has_file = link.warc is not None or link.wacz is not None
        data: dict[str, Any] = {
            "guid": link.guid,
            "creation_timestamp": link.iso(),
            "url": link.url,
            "title": link.title,
            "description": None,
            "warc_size": len(link.warc) if link.warc is not None else None,
            "wacz_size": len(link.wacz) if link.wacz is not None else None,
            "warc_download_url": route if has_file else None,
            "wacz_download_url": f"{route}?file_format=wacz" if link.wacz is not None and not public else None,
            "captures": [
                {
                    "role": "primary",
                    "status": link.primary_status,
                    "url": link.primary_url or link.url,
                    "record_type": "response",
                    "content_type": "text/html; charset=UTF-8",
                    "user_upload": False,
                },
                {
                    "role": "screenshot",
                    "status": "success",
                    "url": "file:///screenshot.png",
                    "record_type": "response",
                    "content_type": "image/png",
                    "user_upload": False,
                },
            ],
            "queue_time": 1,
            "capture_time": 12,
        }
        if not public:
            data.update(
                {
                    "notes": "",
                    "created_by": {"id": 3, "first_name": "Jane", "last_name": "Doe", "full_name": "Jane Doe"},
                    "is_private": link.private,
                    "private_reason": "user" if link.private else None,
                    "user_deleted": link.deleted,
                    "archive_timestamp": link.iso(),
                    "organization": None,
                    "default_to_screenshot_view": False,
                }
            )
        return data

    def _public_list(self, request: Request, base: str) -> Response:
        links = [link for link in self.links if not (link.private or link.unlisted or link.deleted)]
        if self.profile == "legacy" and "url" in request.args:
            links = [link for link in links if link.url == request.args["url"]]
        limit = min(int(request.args.get("limit", PAGE_SIZE)), PAGE_SIZE)
        offset = int(request.args.get("offset", 0))
        if self.profile == "current" and offset > limit * (MAX_PAGES - 1):
            maximum = limit * (MAX_PAGES - 1)
            return _json(
                {
                    "offset": f"Maximum offset is {maximum}. "
                    f"Results are limited to {MAX_PAGES} pages to prevent expensive queries."
                },
                400,
            )
        return self._page(request, base, links, public=True)

    def _page(self, request: Request, base: str, links: list[StoredLink], *, public: bool) -> Response:
        limit = min(int(request.args.get("limit", PAGE_SIZE)), PAGE_SIZE)
        offset = int(request.args.get("offset", 0))
        objects = [self._serialise(link, base, public=public) for link in links[offset : offset + limit]]
        if public and self.profile == "current":
            for item in objects:  # #3748: no download URLs in the public serializer any more
                item.pop("warc_download_url", None)
                item.pop("wacz_download_url", None)
        path = f"{base}{request.path}"
        previous = f"{path}?{urlencode({'limit': limit, 'offset': offset - limit})}" if offset >= limit else None
        # The paginator counts with a fake total of 2**31: `next` is always there, `total_count` never.
        meta = {
            "limit": limit,
            "next": f"{path}?{urlencode({'limit': limit, 'offset': offset + limit})}",
            "offset": offset,
            "previous": previous,
        }
        return _json({"meta": meta, "objects": objects})

    def _download(self, link: StoredLink, file_format: str, route: str) -> Response:
        if link.replaced_by is not None:
            target = route.format(guid=link.replaced_by)
            return Response(b"", 302, {"Location": f"{target}?file_format={file_format}"})
        if link.primary_status != "success":
            return _json(NOT_FOUND, 404)
        if file_format == "wacz":
            if link.wacz is None:
                return _json(NOT_FOUND, 404)
            return _stream(
                [link.wacz], "application/wacz", f'attachment; filename="{link.guid}.wacz"'
            )  # served as stored
        stored = link.warc if link.warc is not None else (_warc_from_wacz(link.wacz) if link.wacz else None)
        if stored is None:
            return _json(NOT_FOUND, 404)
        return _stream(
            [_download_warcinfo(link), stored], "application/gzip", f'attachment; filename="{link.guid}.warc.gz"'
        )

    # -- site -----------------------------------------------------------------------------------

    def site(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        self._log("site", request)
        response = self._challenged() or self._site(request)
        return response(environ, start_response)

    def _site(self, request: Request) -> Response:
        if self.rate_limited:
            return _html("<h1>Rate limit error</h1>", 200)  # RATELIMIT_VIEW sets no status
        match = re.fullmatch(r"/(?P<guid>[^\./]+)/?", request.path)
        if match is None:
            return _html("<h1>Not Found</h1>", 404)
        guid = match["guid"]
        canonical = perma_canonical_guid(guid)
        if canonical != guid:
            return Response(b"", 301, {"Location": f"/{canonical}"})
        link = self._find(guid)
        if link is None:
            return _html("<h1>Not Found</h1><p>This record does not exist.</p>", 404)
        if link.deleted:
            return _html("<p>This record has been deleted.</p>", 410)
        if link.replaced_by is not None:
            return Response(b"", 302, {"Location": f"/{link.replaced_by}"})
        if link.private:
            return _html("<p>This record is private.</p>", 403)
        if link.primary_status == "pending":
            return _html("<p>This capture is still in progress.</p>", 200)
        if link.primary_status == "failed":
            return _html("<p>Capture failed. Perma.cc could not capture this page.</p>", 200)
        page = _html(f'<iframe src="https://perma-archives.org/?source={link.guid}.wacz"></iframe>', 200)
        if not link.unlisted:
            site = request.host_url.rstrip("/")
            when = datetime_to_http_date(link.created)
            page.headers["Memento-Datetime"] = when
            page.headers["Link"] = (
                f"<{link.url}>; rel=original, "
                f"<{site}/timegate/{link.url}>; rel=timegate, "
                f"<{site}/timemap/link/{link.url}>; rel=timemap; type=application/link-format, "
                f"<{site}/timemap/json/{link.url}>; rel=timemap; type=application/json, "
                f"<{site}/timemap/html/{link.url}>; rel=timemap; type=text/html, "
                f'<{site}/{link.guid}>; rel=memento; datetime="{when}"'
            )
        return page


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status, {"Content-Type": "application/json"})


def _html(body: str, status: int) -> Response:
    return Response(f"<!DOCTYPE html><html><body>{body}</body></html>", status, {"Content-Type": "text/html"})


def _page_not_found() -> Response:
    return Response(b"Page Not Found", 404, {"Content-Type": "text/plain"})


def _stream(parts: list[bytes], content_type: str, disposition: str) -> Response:
    def chunks() -> Iterator[bytes]:
        for part in parts:
            for start in range(0, len(part), 8192):
                yield part[start : start + 8192]

    # A generator body: werkzeug sends it chunked, without Content-Length, as Perma streams it.
    return Response(chunks(), 200, {"Content-Type": content_type, "Content-Disposition": disposition})


def _download_warcinfo(link: StoredLink) -> bytes:
    """The two gzip warcinfo records Perma's `make_detailed_warcinfo` puts in front of a download."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version="WARC/1.0")
    timestamp = link.created.strftime("%Y%m%d%H%M%S")
    documents = [
        {"type": "collection", "title": f"Perma Archive, {link.title}", "desc": f"Perma.cc archive of {link.url}"},
        {
            "type": "recording",
            "title": f"Perma Archive of {link.title}",
            "pages": [{"title": link.title, "url": link.url, "timestamp": timestamp}],
        },
    ]
    for document in documents:
        info = {
            "operator": "Perma.cc download",
            "Perma-GUID": link.guid,
            "format": "WARC File Format 1.0",
            "json-metadata": json.dumps(document),
        }
        writer.write_record(writer.create_warcinfo_record(f"{link.guid}.warc.gz", info))
    return out.getvalue()


def _warc_from_wacz(wacz: bytes) -> bytes:
    """Perma extracts the WARC from a stored WACZ when it has no WARC (#3654): recompressed here."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    with zipfile.ZipFile(io.BytesIO(wacz)) as archive:
        for name in archive.namelist():
            if name.startswith("archive/") and ".warc" in name:
                with archive.open(name) as stream:
                    for record in ArchiveIterator(stream, check_digests=False):
                        writer.write_record(record)
    return out.getvalue()
