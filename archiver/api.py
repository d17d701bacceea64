"""The Python API: each command of the CLI as one plain synchronous function, inputs first.

`config=None` means the defaults (`config.toml` is not read: pass `load_config(path)` for that).
Each function runs its own event loop, so call them from synchronous code, not from a coroutine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from archiver.cluster import with_cluster
from archiver.config import Config, load_config
from archiver.models import Capture, Memento, Report
from archiver.nightly.reports import RunSummary
from archiver.nightly.run import run_once
from archiver.pipeline.capture import capture_urls
from archiver.pipeline.check import CheckOptions, check_documents, read_documents
from archiver.pipeline.compare import Compared
from archiver.pipeline.compare import compare as compare_sources
from archiver.pipeline.mirror import mirror as mirror_refs
from archiver.pipeline.stored import verify as verify_archive
from archiver.store.fixity import FixityReport


def _config(config: Config | None) -> Config:
    return config if config is not None else load_config(None)


def capture(urls: Sequence[str], config: Config | None = None) -> list[Capture]:
    """Capture URLs into the archive now (`archiver fetch`); one Capture per URL, in order."""
    cfg = _config(config)
    return asyncio.run(with_cluster(cfg, lambda runner: capture_urls(list(urls), cfg, runner=runner)))


def check(
    documents: Sequence[str | Path], config: Config | None = None, *, live: bool = True, archive: bool = True
) -> Report:
    """Judge every citation of the documents (`archiver check`); "-" reads standard input."""
    cfg = _config(config)
    docs = read_documents(documents, cfg.documents.max_bytes)
    options = CheckOptions(live=live, archive=archive)
    return asyncio.run(with_cluster(cfg, lambda runner: check_documents(docs, cfg, options, runner=runner)))


def compare(a: str, b: str, config: Config | None = None, *, quote: str | None = None) -> Compared:
    """Compare two copies of a page (`archiver compare`): each a URL, a capture id or an archive reference."""
    return compare_sources(_config(config), a, b, quote=quote)


def mirror(refs: Sequence[str], config: Config | None = None, *, cited_url: str | None = None) -> list[Memento]:
    """Resolve and retrieve archived copies (`archiver mirror`); one judged Memento per reference."""
    return mirror_refs(_config(config), refs, cited_url)


def run(config: Config | None = None, *, run_id: str | None = None) -> RunSummary:
    """One nightly pass over the watch list now (`archiver run`); a `run_id` of an interrupted run resumes it."""
    return run_once(_config(config), run_id=run_id)


def verify(config: Config | None = None) -> FixityReport:
    """Re-hash every WARC record and check files, manifest and index against each other (`archiver verify`)."""
    return verify_archive(_config(config))
