"""Read archive files as received (a Perma WARC download, a WACZ): check them, find the page.

Records are read through `warc/read`; a WACZ is read with `zipfile`, not the `wacz` package, which
checks the same hashes but pulls in `frictionless`. Integrity comes first: every resource is
re-hashed and a mismatch is a problem on the Memento, never silent. The primary capture is found by
`WARC-Target-URI`, and its payload hashed like our own captures. Reading is blocking; async callers
run it in a thread. See docs/permacc.md. Every read is bounded (`[downloads]`): members, records,
decompressed bytes and seconds; a first strict pass with bounded lines refuses what is not WARC
before warcio, whose line reader has no limit, sees it. Messages quote short escaped excerpts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
import time
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin

from archiver.archives.wacz import structure_failures, validate_note
from archiver.clock import parse_stamp
from archiver.config import DownloadsConfig
from archiver.content.body import Body
from archiver.content.decoding import Reader, decoding_reader
from archiver.content.fingerprint import fingerprint
from archiver.errors import ArchiveAccessError, CorruptWarcError, DecodeError, quoted
from archiver.errors import shown as show
from archiver.judge.pagekind import classify_fingerprint
from archiver.models import Capture, Hop, WarcLocation
from archiver.urls import comparable
from archiver.warc.read import RecordHead, iter_heads, payload_here
from archiver.warc.record import MAX_HEADER_LINE, ShortReadError, parse_record

ZIP_MAGIC = b"PK\x03\x04"
_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_HOPS = 10
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_MAX_PACKAGE_BYTES = 16 * 1024 * 1024  # datapackage.json and its digest: metadata, never this big
_MAX_PROBLEMS = 50


class _Exceeded(Exception):
    """A bound of [downloads] was passed; the message says which."""


class _Budget:
    """Decompressed bytes read and time spent on one archive file, checked on every read."""

    def __init__(self, bounds: DownloadsConfig) -> None:
        self.bounds = bounds
        self.deadline = time.monotonic() + bounds.max_seconds
        self.used = 0

    def spend(self, size: int) -> None:
        self.used += size
        if self.used > self.bounds.max_bytes:
            raise _Exceeded(f"it inflates past {self.bounds.max_bytes} bytes ([downloads] max_bytes)")
        self.tick()

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise _Exceeded(f"reading it took over {self.bounds.max_seconds:g} s ([downloads] max_seconds)")


class _Metered:
    """A reader with `readline(limit)` over a chunked source; every byte it pulls is charged to a budget."""

    def __init__(self, source: Reader, budget: _Budget) -> None:
        self._source = source
        self._budget = budget
        self._buffer = bytearray()
        self._ended = False

    def _fill(self) -> bool:
        if self._ended:
            return False
        data = self._source.read(_CHUNK)
        if not data:
            self._ended = True
            return False
        self._budget.spend(len(data))
        self._buffer += data
        return True

    def read(self, size: int = -1, /) -> bytes:
        while (size < 0 or len(self._buffer) < size) and self._fill():
            pass
        size = len(self._buffer) if size < 0 else size
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    def readline(self, limit: int = -1, /) -> bytes:
        searched = 0
        while True:
            found = self._buffer.find(b"\n", searched)
            if found >= 0 and (limit < 0 or found < limit):
                return self.read(found + 1)
            if 0 <= limit <= len(self._buffer):
                return self.read(limit)
            searched = len(self._buffer)
            if not self._fill():
                return self.read(len(self._buffer))


class _Timed:
    """A file handle whose reads check the deadline: warcio reads the validated file through it."""

    def __init__(self, handle: IO[bytes], budget: _Budget) -> None:
        self._handle = handle
        self._budget = budget

    def read(self, size: int = -1, /) -> bytes:
        self._budget.tick()
        return self._handle.read(size)

    def readline(self, size: int = -1, /) -> bytes:
        self._budget.tick()
        return self._handle.readline(size)

    def tell(self) -> int:
        return self._handle.tell()

    def seek(self, offset: int, whence: int = 0, /) -> int:
        return self._handle.seek(offset, whence)


def _prescan(stream: IO[bytes], budget: _Budget, records_before: int) -> int:
    """Walk the WARC records of `stream` strictly, lines bounded; the number of records.

    warcio reads a header line whole, however long, and takes anything line-shaped for an ARC file:
    this pass makes sure it only ever sees WARC records with bounded header lines."""
    head = stream.read(2)
    stream.seek(-len(head), 1)
    source: Reader = stream
    if head == b"\x1f\x8b":
        source = decoding_reader(stream, "gzip")
    metered = _Metered(source, budget)
    count = records_before
    offset = 0
    while True:
        try:
            parsed = parse_record(metered, offset, False)  # type: ignore[arg-type]  # read + readline suffice
        except CorruptWarcError as exc:
            raise _Exceeded(
                f"it is not a WARC file: the record at byte {offset} (uncompressed) is bad: {exc.reason}"
            ) from None
        except ShortReadError as exc:
            raise _Exceeded(
                f"the record at byte {offset} (uncompressed) is cut short or has a header line over "
                f"{MAX_HEADER_LINE} bytes ({exc})"
            ) from None
        if parsed is None:
            return count
        count += 1
        if count > budget.bounds.max_records:
            raise _Exceeded(f"it holds over {budget.bounds.max_records} records ([downloads] max_records)")
        offset += parsed[1]


@dataclass(frozen=True)
class RecordInfo(RecordHead):
    """A record found by the first pass, and the WACZ member holding it (None for a plain WARC file)."""

    member: str | None = None


@dataclass(frozen=True)
class ArchiveFileReading:
    """What an archive file holds for one page: its capture, and every integrity problem found."""

    capture: Capture | None
    problems: tuple[str, ...]
    is_wacz: bool
    main_page_url: str | None = None
    primary_record: RecordInfo | None = None
    # What `wacz validate` would reject that is not an integrity problem (archives/wacz.py):
    # notes for the user, the content is as trustworthy as its hashes say.
    notes: tuple[str, ...] = ()


def _key(url: str) -> str:
    try:
        return comparable(url)
    except ValueError:
        return url.strip().rstrip("/").lower()


def _sha256_of(stream: IO[bytes], budget: _Budget) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(_CHUNK):
        budget.tick()
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _check_members(archive: zipfile.ZipFile, bounds: DownloadsConfig) -> None:
    """Refuse a zip whose central directory already announces more than the bounds allow."""
    infos = archive.infolist()
    if len(infos) > bounds.max_members:
        raise _Exceeded(f"it has {len(infos)} members, over {bounds.max_members} ([downloads] max_members)")
    for info in infos:
        if info.file_size > bounds.max_bytes:
            raise _Exceeded(
                f"its member {quoted(info.filename, 80)} inflates to {info.file_size} bytes, "
                f"over {bounds.max_bytes} ([downloads] max_bytes)"
            )
    total = sum(info.file_size for info in infos)
    if total > bounds.max_bytes:
        raise _Exceeded(f"its members inflate to {total} bytes, over {bounds.max_bytes} ([downloads] max_bytes)")


def _read_small(archive: zipfile.ZipFile, name: str) -> bytes:
    if archive.getinfo(name).file_size > _MAX_PACKAGE_BYTES:
        raise _Exceeded(f"its {name} is over {_MAX_PACKAGE_BYTES} bytes")
    return archive.read(name)


def verify_wacz(
    archive: zipfile.ZipFile, bounds: DownloadsConfig | None = None
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Problems with a WACZ's hashes, and its parsed datapackage.json ({} when unreadable)."""
    bounds = bounds or DownloadsConfig()
    budget = _Budget(bounds)
    _check_members(archive, bounds)
    problems: list[str] = []
    names = set(archive.namelist())
    if "datapackage.json" not in names:
        return ("not a WACZ: it has no datapackage.json, so none of its files can be verified",), {}
    package_bytes = _read_small(archive, "datapackage.json")
    try:
        package = json.loads(package_bytes)
        resources = package["resources"]
        if not isinstance(resources, list):
            raise TypeError("resources is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        return (f"datapackage.json is not a valid data package ({quoted(str(exc), 120)})",), {}
    if "datapackage-digest.json" in names:
        try:
            digest_doc = json.loads(_read_small(archive, "datapackage-digest.json"))
            expected = str(digest_doc["hash"])
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"datapackage-digest.json is unreadable ({quoted(str(exc), 120)})")
        else:
            actual = "sha256:" + hashlib.sha256(package_bytes).hexdigest()
            if expected.lower() != actual:
                problems.append(
                    f"datapackage.json hash mismatch: datapackage-digest.json says {show(expected, 80)}, it is {actual}"
                )
    listed: set[str] = set()
    for resource in resources:
        path = str(resource.get("path", "")) if isinstance(resource, dict) else ""
        if not path:
            problems.append("datapackage.json lists a resource without a path")
            continue
        listed.add(path)
        shown = show(path, 100)
        if path not in names:
            problems.append(f"{shown} is listed in datapackage.json but missing from the WACZ")
            continue
        with archive.open(path) as stream:
            actual_hash, size = _sha256_of(stream, budget)
        expected_hash = str(resource.get("hash", ""))
        algorithm, _, hex_digest = expected_hash.partition(":")
        if algorithm.lower() != "sha256" or not hex_digest:
            problems.append(
                f"{shown}: datapackage.json gives no sha256 hash ({quoted(expected_hash, 80)}); it is unverified"
            )
        elif hex_digest.lower() != actual_hash:
            problems.append(
                f"{shown} hash mismatch: datapackage.json says {show(expected_hash, 80)}, it is sha256:{actual_hash}"
            )
        expected_size = resource.get("bytes")
        if isinstance(expected_size, int) and expected_size != size:
            problems.append(f"{shown} size mismatch: datapackage.json says {expected_size} bytes, it has {size}")
    for name in sorted(names):
        if name.startswith("archive/") and not name.endswith("/") and name not in listed:
            problems.append(f"{show(name, 100)} is not listed in datapackage.json, so it is unverified")
    if len(problems) > _MAX_PROBLEMS:
        problems[_MAX_PROBLEMS:] = [f"... and {len(problems) - _MAX_PROBLEMS} more problems"]
    return tuple(problems), package


def _warc_members(archive: zipfile.ZipFile) -> list[str]:
    return sorted(n for n in archive.namelist() if n.startswith("archive/") and ".warc" in n.rsplit("/", 1)[-1])


def _data_start(path: Path, info: zipfile.ZipInfo) -> int:
    """Absolute offset of a member's data: the local header's own name/extra lengths count."""
    with path.open("rb") as handle:
        handle.seek(info.header_offset)
        fields = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size))
    name_length, extra_length = int(fields[9]), int(fields[10])
    return info.header_offset + _LOCAL_HEADER.size + name_length + extra_length


def _scan(stream: IO[bytes], member: str | None) -> Iterator[RecordInfo]:
    for head in iter_heads(stream):
        yield RecordInfo(**dataclasses.asdict(head), member=member)


def _pick(records: Sequence[RecordInfo], url: str) -> RecordInfo | None:
    """The record of `url`: a response or resource first, a revisit only when nothing else is there."""
    key = _key(url)
    matches = [r for r in records if r.target_uri and r.rec_type in ("response", "resource", "revisit")]
    matches = [r for r in matches if _key(r.target_uri or "") == key]
    direct = [r for r in matches if r.rec_type != "revisit"]
    if direct:
        return direct[0]
    return matches[0] if matches else None


def _revisited(records: Sequence[RecordInfo], revisit: RecordInfo) -> RecordInfo | None:
    """The response a revisit record repeats: by record id, else by URI (and date), else by digest."""
    responses = [r for r in records if r.rec_type in ("response", "resource")]
    if revisit.refers_to:
        for r in responses:
            if r.record_id == revisit.refers_to:
                return r
    target = revisit.refers_to_uri or revisit.target_uri
    same_uri = [r for r in responses if target and r.target_uri and _key(r.target_uri) == _key(target)]
    if same_uri:
        return same_uri[0]
    if revisit.payload_digest:
        for r in responses:
            if r.payload_digest == revisit.payload_digest:
                return r
    return None


def _parse_warc_date(value: str | None) -> datetime | None:
    try:
        moment = parse_stamp(value)
    except ValueError:
        return None
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class _Source:
    """A WARC file or a WACZ: open a member's WARC stream, and say where its records live."""

    def __init__(self, path: Path, relative: str, archive: zipfile.ZipFile | None) -> None:
        self.path = path
        self.relative = relative
        self.archive = archive

    @contextmanager
    def open(self, member: str | None) -> Iterator[IO[bytes]]:
        if self.archive is None or member is None:
            with self.path.open("rb") as handle:
                yield handle
        else:
            with self.archive.open(member) as stream:
                yield stream

    def location(self, record: RecordInfo) -> WarcLocation:
        if self.archive is None or record.member is None:
            return WarcLocation(self.relative, record.offset, record.length)
        info = self.archive.getinfo(record.member)
        if info.compress_type == zipfile.ZIP_STORED:
            return WarcLocation(self.relative, _data_start(self.path, info) + record.offset, record.length)
        return WarcLocation(f"{self.relative}#{record.member}", record.offset, record.length)

    def payload(self, record: RecordInfo) -> tuple[Body, str | None, str | None]:
        """The record's entity body as stored (de-chunked, still content-encoded), with its headers."""
        with self.open(record.member) as stream:
            stream.seek(record.offset)
            found = payload_here(stream, where=self.relative, offset=record.offset)
        return found.body, found.content_type, found.content_encoding


# What zipfile, zlib and warcio (via warc.read) raise on damaged or hostile input (warcio: AttributeError on a record
# without a target URI, zipfile: NotImplementedError for an unknown zip version or method).
_UNREADABLE = (
    zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, KeyError,
    AttributeError, NotImplementedError, RuntimeError, OverflowError, struct.error, zlib.error, DecodeError,
    CorruptWarcError, _Exceeded,
)  # fmt: skip


def read_archive_file(
    path: Path,
    *,
    archive_dir: Path,
    target_urls: Sequence[str],
    capture_id: str,
    max_decoded_bytes: int,
    bounds: DownloadsConfig | None = None,
) -> ArchiveFileReading:
    """Verify an archive file and read the capture of the first of `target_urls` it holds.

    Raises ArchiveAccessError when the file cannot be read at all (not a zip, not a WARC, or past
    one of `bounds`); its message quotes at most a short escaped excerpt of the file.
    """
    bounds = bounds or DownloadsConfig()
    try:
        relative = path.relative_to(archive_dir).as_posix()
    except ValueError:
        relative = path.as_posix()
    with path.open("rb") as handle:
        is_wacz = handle.read(4) == ZIP_MAGIC
    problems: list[str] = []
    notes: list[str] = []
    main_page: str | None = None
    archive: zipfile.ZipFile | None = None
    budget = _Budget(bounds)
    try:
        if is_wacz:
            archive = zipfile.ZipFile(path)
            found, package = verify_wacz(archive, bounds)
            problems.extend(found)
            failures = structure_failures(archive, package) if package else ()
            if not failures and found:
                failures = ("its hashes do not match (see the problems)",)
            if note := validate_note(failures):
                notes.append(note)
            main_page = package.get("mainPageUrl") if isinstance(package.get("mainPageUrl"), str) else None
            members: list[str | None] = list(_warc_members(archive))
            if not members:
                problems.append("the WACZ holds no WARC file under archive/")
        else:
            members = [None]
        source = _Source(path, relative, archive)
        count = 0
        for member in members:
            with source.open(member) as stream:
                count = _prescan(stream, budget, count)
        records: list[RecordInfo] = []
        for member in members:
            with source.open(member) as stream:
                records.extend(_scan(_Timed(stream, budget), member))  # type: ignore[arg-type]
        candidates = [u for u in (*target_urls, main_page) if u]
        capture, primary = _capture(source, records, candidates, capture_id, max_decoded_bytes, problems)
    except _UNREADABLE as exc:
        reason = str(exc) if isinstance(exc, _Exceeded) else f"{type(exc).__name__}: {quoted(str(exc), 160)}"
        raise ArchiveAccessError(
            f"{show(relative, 120)} cannot be read as a {'WACZ' if is_wacz else 'WARC'} file: {reason}; "
            "it is kept as received, download it again or report it to the archive"
        ) from exc
    finally:
        if archive is not None:
            archive.close()
    return ArchiveFileReading(capture, tuple(problems), is_wacz, main_page, primary, tuple(notes))


def _capture(
    source: _Source,
    records: Sequence[RecordInfo],
    candidates: Sequence[str],
    capture_id: str,
    max_decoded_bytes: int,
    problems: list[str],
) -> tuple[Capture | None, RecordInfo | None]:
    first = next((r for u in candidates if (r := _pick(records, u)) is not None), None)
    if first is None:
        wanted = ", ".join(dict.fromkeys(candidates)) or "(no URL known)"
        problems.append(f"no response record for {wanted} in {source.relative}")
        return None, None
    hops: list[Hop] = []
    final = first
    while final.status in _REDIRECTS and final.location and len(hops) < _MAX_HOPS:
        target = urljoin(final.target_uri or "", final.location)
        following = _pick(records, target)
        if following is None or following is final:
            break
        hops.append(Hop(url=final.target_uri or "", status=final.status or 0, location=final.location))
        final = following
    content = final
    revisit_of = None
    if final.rec_type == "revisit":
        original = _revisited(records, final)
        if original is None:
            problems.append(f"the revisit record for {final.target_uri} points at a response not in the file")
            return None, final
        content, revisit_of = original, original.record_id
    body, content_type, content_encoding = source.payload(content)
    try:
        text_sha256 = title = encoding = text_error = None
        page = None
        if final.status not in _REDIRECTS:
            fp = fingerprint(
                body,
                content_type=content_type,
                content_encoding=content_encoding,
                max_decoded_bytes=max_decoded_bytes,
                with_markup=True,
            )
            text_sha256, title, encoding, text_error = fp.text_sha256, fp.title, fp.encoding, fp.error
            page = classify_fingerprint(
                fp,
                status=content.status,
                headers=(),
                url=final.target_uri or "",
                requested_url=first.target_uri,
                content_type=content_type,
            )
        fetched_at = _parse_warc_date(final.date) or _parse_warc_date(content.date)
        if fetched_at is None:
            problems.append(f"the record for {final.target_uri} has no valid WARC-Date")
            fetched_at = datetime.fromtimestamp(0, UTC)
        capture = Capture(
            id=capture_id,
            url=first.target_uri or "",
            final_url=final.target_uri,
            status=final.status if final.status is not None else (content.status or 200),
            redirects=tuple(hops),
            fetched_at=fetched_at,
            content_type=content_type,
            payload_sha256=body.sha256,
            payload_size=body.size,
            text_sha256=text_sha256,
            title=title,
            # The record that holds the payload: readers reach it by offset alone, whatever the
            # revisit named it by (record id, URI or digest).
            warc=source.location(content),
            page_kind=None if page is None else page.kind,
            page_evidence=() if page is None else page.evidence,
            encoding=encoding,
            text_error=text_error,
            revisit_of=revisit_of,
        )
    finally:
        body.close()
    return capture, final
