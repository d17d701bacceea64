"""Read archive files as received (a Perma WARC download, a WACZ): check them, find the page.

Records are read through `warc/read`; a WACZ is read with `zipfile`, not the `wacz` package, which
checks the same hashes but pulls in `frictionless`. Integrity comes first: every resource is
re-hashed and a mismatch is a problem on the Memento, never silent. The primary capture is found by
`WARC-Target-URI`, and its payload hashed like our own captures. Reading is blocking; async callers
run it in a thread. See docs/permacc.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin

from archiver.archives.wacz import structure_failures, validate_note
from archiver.clock import parse_stamp
from archiver.content.body import Body
from archiver.content.fingerprint import fingerprint
from archiver.errors import ArchiveAccessError, CorruptWarcError
from archiver.judge.pagekind import classify_fingerprint
from archiver.models import Capture, Hop, WarcLocation
from archiver.urls import comparable
from archiver.warc.read import RecordHead, iter_heads, payload_here

ZIP_MAGIC = b"PK\x03\x04"
_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_HOPS = 10
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")


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


def _sha256_of(stream: IO[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def verify_wacz(archive: zipfile.ZipFile) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Problems with a WACZ's hashes, and its parsed datapackage.json ({} when unreadable)."""
    problems: list[str] = []
    names = set(archive.namelist())
    if "datapackage.json" not in names:
        return ("not a WACZ: it has no datapackage.json, so none of its files can be verified",), {}
    package_bytes = archive.read("datapackage.json")
    try:
        package = json.loads(package_bytes)
        resources = package["resources"]
        if not isinstance(resources, list):
            raise TypeError("resources is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        return (f"datapackage.json is not a valid data package ({exc})",), {}
    if "datapackage-digest.json" in names:
        try:
            digest_doc = json.loads(archive.read("datapackage-digest.json"))
            expected = str(digest_doc["hash"])
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"datapackage-digest.json is unreadable ({exc})")
        else:
            actual = "sha256:" + hashlib.sha256(package_bytes).hexdigest()
            if expected.lower() != actual:
                problems.append(
                    f"datapackage.json hash mismatch: datapackage-digest.json says {expected}, it is {actual}"
                )
    listed: set[str] = set()
    for resource in resources:
        path = str(resource.get("path", "")) if isinstance(resource, dict) else ""
        if not path:
            problems.append("datapackage.json lists a resource without a path")
            continue
        listed.add(path)
        if path not in names:
            problems.append(f"{path} is listed in datapackage.json but missing from the WACZ")
            continue
        with archive.open(path) as stream:
            actual_hash, size = _sha256_of(stream)
        expected_hash = str(resource.get("hash", ""))
        algorithm, _, hex_digest = expected_hash.partition(":")
        if algorithm.lower() != "sha256" or not hex_digest:
            problems.append(f"{path}: datapackage.json gives no sha256 hash ({expected_hash!r}); it is unverified")
        elif hex_digest.lower() != actual_hash:
            problems.append(
                f"{path} hash mismatch: datapackage.json says sha256:{hex_digest}, it is sha256:{actual_hash}"
            )
        expected_size = resource.get("bytes")
        if isinstance(expected_size, int) and expected_size != size:
            problems.append(f"{path} size mismatch: datapackage.json says {expected_size} bytes, it has {size}")
    for name in sorted(names):
        if name.startswith("archive/") and not name.endswith("/") and name not in listed:
            problems.append(f"{name} is not listed in datapackage.json, so it is unverified")
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


def read_archive_file(
    path: Path,
    *,
    archive_dir: Path,
    target_urls: Sequence[str],
    capture_id: str,
    max_decoded_bytes: int,
) -> ArchiveFileReading:
    """Verify an archive file and read the capture of the first of `target_urls` it holds.

    Raises ArchiveAccessError when the file cannot be read at all (not a zip, not a WARC).
    """
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
    try:
        if is_wacz:
            archive = zipfile.ZipFile(path)
            found, package = verify_wacz(archive)
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
        records: list[RecordInfo] = []
        for member in members:
            with source.open(member) as stream:
                records.extend(_scan(stream, member))
        candidates = [u for u in (*target_urls, main_page) if u]
        capture, primary = _capture(source, records, candidates, capture_id, max_decoded_bytes, problems)
    except (zipfile.BadZipFile, CorruptWarcError, OSError, EOFError, ValueError) as exc:
        raise ArchiveAccessError(
            f"{path} cannot be read as a {'WACZ' if is_wacz else 'WARC'} file ({exc}); "
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
