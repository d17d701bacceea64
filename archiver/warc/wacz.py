"""WACZ 1.1.1 packages: write one from WARC records as stored, and verify one (hashes, records, signature).

The layout is the WACZ 1.1.1 spec's, as py-wacz's `wacz validate` checks it, with optional
anonymous ECDSA signing; records are copied byte for byte. py-wacz is not used to write, because
it re-indexes through pywb's stack: this needs only zipfile, warcio and the verified scanner.
See docs/warc-layout.md.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from warcio.archiveiterator import ArchiveIterator

from archiver.errors import ArchiveAccessError
from archiver.warc.record import RecordInfo
from archiver.warc.scan import scan

WACZ_VERSION = "1.1.1"
GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1024 * 1024
_INDEXED = frozenset({"response", "revisit", "resource"})


@dataclass(frozen=True)
class Page:
    """One entry of pages.jsonl: a cited URL, when it was captured, its title and text."""

    url: str
    ts: datetime
    title: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class WaczSummary:
    path: Path
    size: int
    records: int
    record_bytes: int  # the WARC data the package holds (gzip members as stored)
    files: tuple[str, ...]
    signed: bool


@dataclass
class WaczCheck:
    """What `verify_wacz` found: problems (empty when all is well) and what was checked."""

    path: Path
    problems: list[str] = field(default_factory=list)
    files: int = 0
    records: int = 0
    signed: bool = False
    public_key: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def surt_key(url: str) -> str:
    """A SURT key as pywb's CDXJ indexes write it: reversed host, ')/', lower-cased path, sorted query."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    port = parts.port
    if port and not ((parts.scheme == "http" and port == 80) or (parts.scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    reversed_host = ",".join(reversed(host.split("."))) if host else ""
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    path = parts.path or "/"
    return f"{reversed_host}){path}{'?' + query if query else ''}".lower()


def _member(raw: bytes) -> bytes:
    return raw if raw[:2] == GZIP_MAGIC else gzip.compress(raw, compresslevel=6, mtime=0)


def _cdxj(warc: Path, name: str) -> tuple[list[str], int]:
    lines: list[str] = []
    count = 0
    with warc.open("rb") as handle:
        iterator = ArchiveIterator(handle, check_digests=False)
        for record in iterator:
            count += 1
            if record.rec_type not in _INDEXED:
                continue
            uri = record.rec_headers.get_header("WARC-Target-URI")
            date = record.rec_headers.get_header("WARC-Date") or ""
            if not uri:
                continue
            fields: dict[str, Any] = {"url": uri}
            if record.http_headers is not None:
                fields["status"] = record.http_headers.get_statuscode()
                mime = record.http_headers.get_header("Content-Type")
            else:
                mime = record.rec_headers.get_header("Content-Type")
            if mime:
                fields["mime"] = mime.split(";")[0].strip()
            digest = record.rec_headers.get_header("WARC-Payload-Digest")
            if digest:
                fields["digest"] = digest
            if record.rec_type == "revisit":
                fields["mime"] = "warc/revisit"
            record.raw_stream.read()  # to the end, so the iterator knows the record's length
            iterator.read_to_end(record)
            fields["offset"] = iterator.get_record_offset()
            fields["length"] = iterator.get_record_length()
            fields["filename"] = name
            stamp14 = "".join(c for c in date if c.isdigit())[:14]
            lines.append(f"{surt_key(uri)} {stamp14} {json.dumps(fields, ensure_ascii=False, sort_keys=True)}")
    return lines, count


def _sha256_stream(stream: Any) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return size, f"sha256:{digest.hexdigest()}"


def write_wacz(
    output: Path,
    records: Iterable[bytes],
    pages: Sequence[Page],
    extras: dict[str, bytes],
    *,
    title: str,
    created: datetime,
    software: str,
    main_page: Page | None = None,
    signing_key: Any = None,
) -> WaczSummary:
    """Write the package to `output` (through a temporary file, renamed at the end)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".wacz-", dir=output.parent) as work:
        folder = Path(work)
        warc = folder / "data.warc.gz"
        record_bytes = 0
        with warc.open("wb") as out:
            for raw in records:
                member = _member(raw)
                out.write(member)
                record_bytes += len(member)
        index_lines, count = _cdxj(warc, "data.warc.gz")
        index = ("\n".join(sorted(index_lines)) + "\n").encode() if index_lines else b""
        header = {"format": "json-pages-1.0", "id": "pages", "title": "All Pages", "hasText": True}
        page_lines = [json.dumps(header)]
        for number, page in enumerate(pages, 1):
            entry: dict[str, Any] = {"id": f"page-{number}", "url": page.url, "ts": _iso(page.ts)}
            if page.title:
                entry["title"] = page.title
            if page.text:
                entry["text"] = page.text
            page_lines.append(json.dumps(entry, ensure_ascii=False))
        members: list[tuple[str, bytes | Path]] = [
            ("archive/data.warc.gz", warc),
            ("indexes/index.cdxj", index),
            ("pages/pages.jsonl", ("\n".join(page_lines) + "\n").encode()),
            *sorted(extras.items()),
        ]
        resources = []
        partial = folder / "package.wacz"
        with zipfile.ZipFile(partial, "w") as archive:
            for name, content in members:
                if name.count("/") != 1:
                    raise ValueError(f"WACZ member {name!r} must be one folder deep")
                stored = name.startswith("archive/")
                info = zipfile.ZipInfo(name, date_time=created.astimezone(UTC).timetuple()[:6])
                info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                with archive.open(info, "w") as target:
                    if isinstance(content, Path):
                        with content.open("rb") as source:
                            size, digest = _copy_hashing(source, target)
                    else:
                        target.write(content)
                        size, digest = len(content), f"sha256:{hashlib.sha256(content).hexdigest()}"
                resources.append({"name": name.replace("/", "-").lower(), "path": name, "hash": digest, "bytes": size})
            package: dict[str, Any] = {
                "profile": "data-package",
                "resources": resources,
                "title": title,
                "created": _iso(created),
                "wacz_version": WACZ_VERSION,
                "software": software,
            }
            if main_page is not None:
                package["mainPageUrl"] = main_page.url
                package["mainPageDate"] = _iso(main_page.ts)
            package_bytes = json.dumps(package, indent=2, ensure_ascii=False).encode()
            archive.writestr(_info("datapackage.json", created), package_bytes)
            digest_doc: dict[str, Any] = {
                "path": "datapackage.json",
                "hash": f"sha256:{hashlib.sha256(package_bytes).hexdigest()}",
            }
            if signing_key is not None:
                digest_doc["signedData"] = sign_hash(signing_key, digest_doc["hash"], package["created"], software)
            archive.writestr(_info("datapackage-digest.json", created), json.dumps(digest_doc, indent=2).encode())
        shutil.move(partial, output)
    return WaczSummary(
        output, output.stat().st_size, count, record_bytes, tuple(m[0] for m in members), signing_key is not None
    )


def _copy_hashing(source: Any, target: Any) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(_CHUNK):
        digest.update(chunk)
        target.write(chunk)
        size += len(chunk)
    return size, f"sha256:{digest.hexdigest()}"


def _info(name: str, created: datetime) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=created.astimezone(UTC).timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- signing ---------------------------------------------------------------------------------------


def new_signing_key() -> Any:
    """A fresh ECDSA P-256 private key (anonymous signing: the public key travels in the package)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def load_signing_key(path: Path) -> Any:
    """An ECDSA P-256 private key from a PEM file; ArchiveAccessError says why it cannot be used."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ArchiveAccessError(f"cannot read the signing key {path}: {exc}; give an unencrypted PEM file") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ArchiveAccessError(
            f"{path} is not an ECDSA P-256 key; make one with: openssl ecparam -name prime256v1 -genkey"
        )
    return key


def sign_hash(key: Any, hash_text: str, created: str, software: str) -> dict[str, str]:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    signature = key.sign(hash_text.encode(), ec.ECDSA(hashes.SHA256()))
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    name, _, version = software.partition("/")
    return {
        "hash": hash_text,
        "created": created,
        "software": name,
        "version": version,
        "signature": base64.b64encode(signature).decode(),
        "publicKey": base64.b64encode(public).decode(),
    }


def _signature_ok(signed: dict[str, Any]) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    public = serialization.load_der_public_key(base64.b64decode(signed["publicKey"]))
    if not isinstance(public, ec.EllipticCurvePublicKey):
        return False
    signature = base64.b64decode(signed["signature"])
    if len(signature) == 64:  # WebCrypto (ArchiveWeb.page) writes raw r||s; DER is ours
        signature = encode_dss_signature(int.from_bytes(signature[:32]), int.from_bytes(signature[32:]))
    try:
        public.verify(signature, str(signed["hash"]).encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


# -- verifying ---------------------------------------------------------------------------------------


def verify_wacz(path: Path) -> WaczCheck:
    """Re-hash every file against datapackage.json, datapackage.json against its digest, check the
    signature if there is one, re-verify every WARC record's digests, and every index line's target."""
    check = WaczCheck(path)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        check.problems.append(f"{path} is not a readable zip file ({exc})")
        return check
    with archive:
        names = set(archive.namelist())
        try:
            package_bytes = archive.read("datapackage.json")
            package = json.loads(package_bytes)
            digest_doc = json.loads(archive.read("datapackage-digest.json"))
        except (KeyError, ValueError, zipfile.BadZipFile) as exc:
            check.problems.append(f"datapackage.json or datapackage-digest.json is missing or unreadable ({exc})")
            return check
        if digest_doc.get("hash") != f"sha256:{hashlib.sha256(package_bytes).hexdigest()}":
            check.problems.append("datapackage.json does not match the hash in datapackage-digest.json")
        signed = digest_doc.get("signedData")
        if isinstance(signed, dict):
            check.signed = True
            check.public_key = signed.get("publicKey")
            if signed.get("hash") != digest_doc.get("hash") or signed.get("created") != package.get("created"):
                check.problems.append("the signature covers another datapackage.json (hash or created differ)")
            elif not _signature_ok(signed):
                check.problems.append("the signature of datapackage-digest.json does not verify")
        listed = {r.get("path") for r in package.get("resources", [])}
        for unlisted in sorted(names - listed - {"datapackage.json", "datapackage-digest.json"}):
            check.problems.append(f"{unlisted} is in the package but not in datapackage.json")
        for resource in package.get("resources", []):
            name = resource.get("path")
            if name not in names:
                check.problems.append(f"{name} is listed in datapackage.json but missing")
                continue
            check.files += 1
            try:
                with archive.open(name) as stream:
                    size, digest = _sha256_stream(stream)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                check.problems.append(f"{name} cannot be read ({exc})")
                continue
            if digest != resource.get("hash") or size != resource.get("bytes"):
                check.problems.append(f"{name}: its sha256 or size differs from datapackage.json")
        _verify_records(archive, sorted(n for n in names if n.startswith("archive/")), check)
    return check


def _verify_records(archive: zipfile.ZipFile, warcs: list[str], check: WaczCheck) -> None:
    offsets: dict[str, dict[int, RecordInfo]] = {}
    with tempfile.TemporaryDirectory(prefix="wacz-verify-") as work:
        for name in warcs:
            local = Path(work) / Path(name).name
            try:
                with archive.open(name) as source, local.open("wb") as out:
                    shutil.copyfileobj(source, out, _CHUNK)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                check.problems.append(f"{name} cannot be read ({exc})")
                continue
            found: dict[int, RecordInfo] = {}
            for item in scan(local):
                if not isinstance(item, RecordInfo):
                    check.problems.append(f"{name} at offset {item.offset}: {item.message}")
                    continue
                check.records += 1
                found[item.offset] = item
                for problem in item.problems:
                    check.problems.append(f"{name} record {item.record_id} at {item.offset}: {problem.message}")
            offsets[Path(name).name] = found
    for name in (n for n in archive.namelist() if n.startswith("indexes/") and n.endswith(".cdxj")):
        for line in io.TextIOWrapper(archive.open(name), encoding="utf-8"):
            if not line.strip():
                continue
            try:
                fields = json.loads(line.split(" ", 2)[2])
                target = offsets.get(fields["filename"], {}).get(int(fields["offset"]))
            except (IndexError, KeyError, ValueError):
                check.problems.append(f"{name}: an unreadable index line ({line[:80].strip()})")
                continue
            if target is None or target.target_uri != fields.get("url") or target.length != int(fields["length"]):
                check.problems.append(f"{name}: the entry for {fields.get('url')} points at no matching record")
