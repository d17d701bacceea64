"""Use cases over what is already archived: show, history, verify, rebuild.

Each opens the archive folder named by the config, does one thing, and closes it again. Open
`.open` files left by a crash are recovered first, so every command sees a consistent archive.
`verify` audits our WARCs (store/fixity) and the downloaded files in `mirrors/` (archives/mirrorcheck).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from archiver import __version__
from archiver.archives.mirrorcheck import audit_mirrors
from archiver.clock import utc_now
from archiver.config import Config
from archiver.content.decoding import html_text_of, plain_text_of
from archiver.content.fingerprint import PayloadKind, payload_kind
from archiver.errors import StoreError, UsageError
from archiver.models import ArchivePaths, Capture, HistoryMark
from archiver.pipeline.capture import new_capture_id
from archiver.store.fixity import FixityProblem, FixityReport
from archiver.store.fixity import verify as verify_archive
from archiver.store.index import Index, rebuild_index, writable
from archiver.store.warcfiles import WarcStore
from archiver.warc.read import read_decoded
from archiver.warc.scan import warc_files

# `show --body` prints text; past this many decoded bytes the body is cut with a note.
SHOW_BODY_LIMIT = 16 * 1024 * 1024


def recover_archive(paths: ArchivePaths, index: Index) -> list[str]:
    """Finalise `.open` WARC files a crash left behind and make the index agree with them;
    a line for each indexed capture that could not be kept."""
    if not paths.warcs.is_dir():
        return []
    store = WarcStore(paths, 1 << 30, clock=utc_now, new_id=new_capture_id, software=f"archiver/{__version__}")
    try:
        report = store.recover()
    finally:
        store.close()
    return index.apply_recovery(report)


@contextmanager
def open_index(config: Config) -> Iterator[Index]:
    paths = ArchivePaths(config.archive_dir)
    if not paths.index.exists():
        # Most often a wrong --archive-dir or config: a usage error, not a broken archive.
        raise UsageError(
            f"{paths.root} holds no archive index (index.sqlite3); capture something with "
            "'archiver fetch URL', or run 'archiver index rebuild' if the WARC files are there"
        )
    if not writable(paths.root):
        # A read-only archive (a mounted copy, a finished collection): read it as it is, no recovery.
        with Index(paths.index, read_only=True) as index:
            yield index
        return
    index = Index(paths.index)
    try:
        recover_archive(paths, index)
        yield index
    finally:
        index.close()


def get_capture(config: Config, wanted: str) -> Capture:
    with open_index(config) as index:
        return index.get_capture(wanted)


def history(config: Config, url: str) -> tuple[list[Capture], list[HistoryMark]]:
    """A URL's captures, newest first, each marked against the next older one."""
    with open_index(config) as index:
        captures = index.history(url)
    marks = [HistoryMark.between(c, captures[i + 1] if i + 1 < len(captures) else None) for i, c in enumerate(captures)]
    return captures, marks


def decoded_body(config: Config, capture: Capture) -> str:
    """The capture's body read back from its WARC record (revisits followed), decoded to text."""
    if capture.warc is None:
        reason = capture.error.message if capture.error else "nothing was stored"
        raise StoreError(f"capture {capture.id} has no stored body: {reason}")
    limit = min(config.fetch.max_decoded_bytes, SHOW_BODY_LIMIT)
    # Content-Encoding (gzip, deflate, br, zstd) is undone by our bounded decoder: a bomb costs `limit`.
    data, cut = read_decoded(config.archive_dir, capture.warc, limit)
    kind = payload_kind(capture.content_type, data[:1024])
    if kind is PayloadKind.BINARY:
        raise StoreError(
            f"capture {capture.id} is {capture.content_type or 'binary'} ({len(data)} bytes), not text; "
            "read it with 'warcio extract' at the offset shown by 'archiver show'"
        )
    text = (html_text_of if kind is PayloadKind.HTML else plain_text_of)(data, capture.content_type)[1]
    if cut:
        text += f"\n[... cut at {limit} decoded bytes]"
    return text


def warc_count(config: Config) -> int:
    """How many WARC files `verify` will read (a progress bar's total)."""
    warcs = ArchivePaths(config.archive_dir).warcs
    return len(warc_files(warcs)) if warcs.exists() else 0


def verify(config: Config, *, progress: Callable[[str], None] | None = None) -> FixityReport:
    """Audit `warcs/` against its manifest and the index, then every file in `mirrors/`."""
    paths = ArchivePaths(config.archive_dir)
    if not paths.warcs.exists() and not paths.mirrors.exists():
        raise StoreError(f"{paths.warcs} does not exist: there is no archive to verify at {paths.root}")
    read_only = not writable(paths.root)
    index = Index(paths.index, read_only=read_only) if paths.index.exists() else None
    try:
        notes: list[str] = []
        if index is not None and not read_only:
            notes = recover_archive(paths, index)
        report = verify_archive(paths, index, progress=progress) if paths.warcs.exists() else FixityReport(0, 0, 0, ())
        report = replace(report, notes=tuple(notes))
        recorded = {} if index is None else mirror_hashes(index)
    finally:
        if index is not None:
            index.close()
    mirrors = audit_mirrors(paths.root, paths.mirrors, recorded)
    return replace(
        report,
        files_checked=report.files_checked + mirrors.files,
        records_checked=report.records_checked + mirrors.records,
        bytes_checked=report.bytes_checked + mirrors.bytes,
        problems=report.problems + tuple(FixityProblem(p.kind, p.file, p.offset, p.message) for p in mirrors.problems),
    )


def mirror_hashes(index: Index) -> dict[str, str]:
    """Mirror file -> the sha256 recorded when it was downloaded (a file is never rewritten)."""
    found: dict[str, str] = {}
    for document in reversed(index.mementos()):  # oldest first: the first recording is the reference
        file, sha256 = document.get("mirror_file"), document.get("mirror_sha256")
        if isinstance(file, str) and isinstance(sha256, str):
            found.setdefault(file, sha256)
    return found


def rebuild(config: Config, *, progress: Callable[[str], None] | None = None) -> int:
    paths = ArchivePaths(config.archive_dir)
    if not paths.warcs.exists():
        raise StoreError(f"{paths.warcs} does not exist: there are no WARC files to rebuild the index from")
    if not writable(paths.root):
        raise StoreError(
            f"cannot rebuild the index: the archive folder {paths.root} is read-only; the index there is "
            "left as it is (read commands still work); rebuild in a writable copy of the folder"
        )
    index = rebuild_index(paths, progress=progress)
    try:
        return index.count()
    finally:
        index.close()


def render_fixity(report: FixityReport, fmt: str) -> str:
    """The verify report as text, JSON or Markdown (HTML gets the Markdown text in a <pre>)."""
    if fmt == "json":
        return json.dumps(
            {
                "schema_version": 1,
                "tool": "archiver",
                "ok": report.ok,
                "files_checked": report.files_checked,
                "records_checked": report.records_checked,
                "bytes_checked": report.bytes_checked,
                "problems": [
                    {"kind": p.kind.value, "file": p.file, "offset": p.offset, "message": p.message}
                    for p in report.problems
                ],
                "notes": list(report.notes),
            },
            indent=2,
            ensure_ascii=False,
        )
    lines = [
        f"verified {report.records_checked} records in {report.files_checked} files "
        f"({report.bytes_checked} bytes): " + ("no problem found" if report.ok else f"{len(report.problems)} problems")
    ]
    lines.extend(f"- note: {note}" for note in report.notes)
    for p in report.problems:
        where = p.file if p.offset is None else f"{p.file} at offset {p.offset}"
        lines.append(f"- {p.kind.value}: {where}: {p.message}")
    text = "\n".join(lines)
    if fmt == "html":
        import html

        return f"<!doctype html><meta charset='utf-8'><title>archiver verify</title><pre>{html.escape(text)}</pre>"
    return text
