"""The watch list and what each nightly run found, kept in the archive's index.

In `index.sqlite3`, not a file of its own, because results point at captures and kept mementos,
and a source's link state must change in the same transaction as the result that changed it.
Tables `watch` (keyed by `urls.comparable`), `watch_runs` and `watch_results` (a night that says
what the night before said names that night's row instead of copying it). Importing documents
is `nightly/watch_import`'s. See docs/nightly.md.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from archiver.clock import Clock, parse_stamp, stamp, utc_now
from archiver.config import Config
from archiver.errors import StoreError, UsageError, quoted
from archiver.jsonform import comparison_from_dict, ref_from_dict, ref_to_dict
from archiver.models import (
    ArchivePaths,
    ArchiveRef,
    ArchiveVerdict,
    CheckResult,
    Citation,
    Comparison,
    LiveVerdict,
    Overall,
    SourceSpan,
)
from archiver.nightly.archived_copy import kept_memento
from archiver.nightly.linkstate import LinkCondition, LinkEvent, LinkState, state_from_dict, state_to_dict
from archiver.nightly.news import NewsEvent, NewsItem
from archiver.nightly.source_result import SourceResult, Verdicts, pack_doc, result_doc, unpack_doc
from archiver.store.index import Index, writable
from archiver.urls import comparable


class AddOutcome(StrEnum):
    ADDED = "added"
    UPDATED = "updated"  # already watched; a new archive ref or label was merged in
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class WatchEntry:
    """One watched source: the URL, its archived copies, and where it stands tonight."""

    key: str
    url: str
    label: str
    archives: tuple[ArchiveRef, ...]
    added_at: datetime
    found_in: SourceSpan | None = None
    baseline_id: str | None = None
    state: LinkState = field(default_factory=LinkState)


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    kind: str
    label: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    summary: dict[str, Any]


def watch_key(url: str) -> str:
    """The identity of a watched resource (scheme/host case, default port, escapes normalised)."""
    try:
        return comparable(url)
    except ValueError as exc:
        raise UsageError(f"cannot watch {quoted(url, 120)}: {quoted(str(exc), 200)}") from None


# -- the watch list ----------------------------------------------------------------------------


class WatchList:
    """The watch list and run results on an open Index (shares its connection and lock)."""

    def __init__(self, index: Index, clock: Clock) -> None:
        self.index = index
        self.clock = clock

    # Index keeps its transaction and query helpers private; they are the one connection and lock
    # every writer of this file must share, so the watch tables use them rather than a second one.
    def _tx(self) -> Any:
        return self.index.transaction()

    def _rows(self, sql: str, params: tuple[Any, ...] = (), *, flush: bool = True) -> list[Any]:
        return self.index.query(sql, params, flush=flush)

    def add(
        self,
        url: str,
        archives: Sequence[ArchiveRef] = (),
        *,
        label: str = "",
        found_in: SourceSpan | None = None,
    ) -> tuple[WatchEntry, AddOutcome]:
        """Watch `url`; watching it again merges new archive refs and a new label, nothing else."""
        key = watch_key(url)
        existing = self.get(url)
        if existing is None:
            entry = WatchEntry(key, url, label, _unique(archives), self.clock(), found_in)
            with self._tx() as db:
                db.execute(
                    "INSERT INTO watch (key, url, label, archives, found_in, added_at, state) VALUES (?,?,?,?,?,?,?)",
                    (
                        key,
                        url,
                        label,
                        json.dumps([ref_to_dict(r) for r in entry.archives]),
                        None if found_in is None else json.dumps([found_in.path, found_in.line, found_in.column]),
                        stamp(entry.added_at),
                        json.dumps(state_to_dict(entry.state)),
                    ),
                )
            return entry, AddOutcome.ADDED
        merged = _unique([*existing.archives, *archives])
        new_label = label or existing.label
        if merged == existing.archives and new_label == existing.label:
            return existing, AddOutcome.UNCHANGED
        with self._tx() as db:
            db.execute(
                "UPDATE watch SET archives = ?, label = ? WHERE key = ?",
                (json.dumps([ref_to_dict(r) for r in merged]), new_label, key),
            )
        return replace(existing, archives=merged, label=new_label), AddOutcome.UPDATED

    def remove(self, url: str) -> bool:
        with self._tx() as db:
            return bool(db.execute("DELETE FROM watch WHERE key = ?", (watch_key(url),)).rowcount)

    def get(self, url: str) -> WatchEntry | None:
        rows = self._rows("SELECT * FROM watch WHERE key = ?", (watch_key(url),))
        return _entry(rows[0], self.clock) if rows else None

    def entries(self) -> list[WatchEntry]:
        """Every watched source, in the order it was first added."""
        return [_entry(row, self.clock) for row in self._rows("SELECT * FROM watch ORDER BY rowid")]

    def __len__(self) -> int:
        return int(self._rows("SELECT count(*) FROM watch")[0][0])

    # -- runs ------------------------------------------------------------------------------

    def begin_run(self, run_id: str, kind: str, label: str, started_at: datetime) -> bool:
        """Record a run as begun; False when the run id is already known (a resumed run)."""
        with self._tx() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO watch_runs (run_id, kind, label, started_at, outcome) VALUES (?,?,?,?,?)",
                (run_id, kind, label, stamp(started_at), "running"),
            )
            if cursor.rowcount:
                return True
            db.execute("UPDATE watch_runs SET outcome = 'running' WHERE run_id = ?", (run_id,))
            return False

    def end_run(self, run_id: str, outcome: str, finished_at: datetime | None, summary: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE watch_runs SET outcome = ?, finished_at = ?, summary = ? WHERE run_id = ?",
                (outcome, None if finished_at is None else stamp(finished_at), json.dumps(summary), run_id),
            )

    def run(self, run_id: str) -> RunRecord | None:
        rows = self._rows("SELECT * FROM watch_runs WHERE run_id = ?", (run_id,))
        return _run(rows[0], self.clock) if rows else None

    def runs(self) -> list[RunRecord]:
        return [_run(r, self.clock) for r in self._rows("SELECT * FROM watch_runs ORDER BY started_at, run_id")]

    def record(self, run_id: str, outcome: SourceResult, state: LinkState, baseline_id: str | None) -> None:
        """Store one source's result and its new link state (and baseline) in one transaction.

        Most nights a source's document is the same as the night before (same verdicts, reasons
        and comparisons; only the capture id, a column, differs): then it is not stored again, and
        `doc_run` names the run whose row holds it. This keeps an unchanged source's row small.
        """
        result = outcome.result
        blob = pack_doc(result_doc(outcome))
        with self._tx() as db:
            row = db.execute("SELECT doc_run FROM watch WHERE key = ?", (outcome.key,)).fetchone()
            doc_run = None if row is None else row["doc_run"]
            shared = None
            if doc_run is not None and doc_run != run_id:
                prior = db.execute(
                    "SELECT document FROM watch_results WHERE run_id = ? AND key = ?", (doc_run, outcome.key)
                ).fetchone()
                if prior is not None and bytes(prior["document"]) == blob:
                    shared = doc_run
            db.execute(
                "INSERT OR REPLACE INTO watch_results (run_id, key, checked_at, capture_id, live, archive, drift,"
                " overall, condition, event, document, doc_run) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    outcome.key,
                    stamp(outcome.checked_at),
                    None if result.live_capture is None else result.live_capture.id,
                    None if result.live_verdict is None else result.live_verdict.value,
                    result.archive_verdict.value,
                    result.drift.verdict.value,
                    result.overall.value,
                    outcome.condition.value,
                    None if outcome.event is None else outcome.event.value,
                    b"" if shared else blob,
                    shared,
                ),
            )
            db.execute(
                "UPDATE watch SET state = ?, baseline_id = coalesce(baseline_id, ?), last_run = ?, doc_run = ?"
                " WHERE key = ?",
                (json.dumps(state_to_dict(state)), baseline_id, run_id, shared or run_id, outcome.key),
            )

    def _document(self, row: Any) -> dict[str, Any]:
        if not row["doc_run"]:
            return unpack_doc(row["document"])
        rows = self._rows(
            "SELECT document FROM watch_results WHERE run_id = ? AND key = ?", (row["doc_run"], row["key"])
        )
        if not rows:
            raise StoreError(f"the result of {row['key']} in run {row['run_id']} refers to a missing one")
        return unpack_doc(rows[0]["document"])

    def done_keys(self, run_id: str) -> set[str]:
        """The sources a run already checked (a resumed run skips them)."""
        return {r["key"] for r in self._rows("SELECT key FROM watch_results WHERE run_id = ?", (run_id,))}

    def results_of(self, run_id: str, entries: Iterable[WatchEntry]) -> dict[str, SourceResult]:
        """A run's stored results, rebuilt as records (captures and mementos read from the index)."""
        by_key = {e.key: e for e in entries}
        out: dict[str, SourceResult] = {}
        for row in self._rows("SELECT * FROM watch_results WHERE run_id = ?", (run_id,)):
            entry = by_key.get(row["key"])
            if entry is not None:
                out[row["key"]] = self._rebuild(row, entry)
        return out

    def last_result(self, key: str, before_run: str) -> tuple[str | None, dict[str, Any]] | None:
        """The newest earlier result of a source: its capture id and document (for reuse)."""
        watched = self._rows("SELECT last_run FROM watch WHERE key = ?", (key,))
        if not watched or watched[0]["last_run"] in (None, before_run):
            return None
        rows = self._rows("SELECT * FROM watch_results WHERE run_id = ? AND key = ?", (watched[0]["last_run"], key))
        return (rows[0]["capture_id"], self._document(rows[0])) if rows else None

    def previous_verdicts(self, key: str, before_run: str) -> Verdicts | None:
        """The verdicts and link condition of a source's newest result before `before_run`, if any."""
        rows = self._rows(
            "SELECT r.live, r.archive, r.drift, r.overall, r.condition FROM watch w"
            " JOIN watch_results r ON r.run_id = w.last_run AND r.key = w.key WHERE w.key = ? AND w.last_run <> ?",
            (key, before_run),
            flush=False,  # the watch tables are written directly, never queued: no captures to commit first
        )
        row = rows[0] if rows else None
        return None if row is None else (row["live"], row["archive"], row["drift"], row["overall"], row["condition"])

    def _rebuild(self, row: Any, entry: WatchEntry) -> SourceResult:
        doc = self._document(row)
        capture = None
        if row["capture_id"]:
            try:
                capture = self.index.get_capture(row["capture_id"])
            except StoreError:
                capture = None
        memento = None
        ref = next((r for r in entry.archives if r.uri == doc.get("archive_ref")), None)
        if ref is not None:
            memento = kept_memento(self.index, ref)
        drift = comparison_from_dict(doc.get("drift")) or Comparison.unknown()
        event = LinkEvent(row["event"]) if row["event"] else None
        result = CheckResult(
            citation=citation_of(entry),
            live_verdict=LiveVerdict(row["live"]) if row["live"] else None,
            live_capture=capture,
            archive=memento,
            archive_verdict=ArchiveVerdict(row["archive"]),
            drift=drift,
            overall=Overall(row["overall"]),
            reasons=tuple(doc.get("reasons", ())),
        )
        news = tuple(NewsItem(entry.url, NewsEvent(e), d, entry.label) for e, d in doc.get("news", ()))
        return SourceResult(
            entry.key,
            result,
            LinkCondition(row["condition"]),
            event,
            parse_stamp(row["checked_at"]) or self.clock(),
            comparison_from_dict(doc.get("baseline")),
            comparison_from_dict(doc.get("previous")),
            doc.get("archive_key"),
            news,
            quiet=bool(doc.get("quiet", False)),
            since=entry.state.since,  # the entry was read after this run advanced its state
        )

    # -- counts for `archiver status` --------------------------------------------------------

    def condition_counts(self) -> dict[str, int]:
        counted = Counter(e.state.condition.value for e in self.entries())
        return {c.value: counted[c.value] for c in LinkCondition}

    def verdict_counts(self, run_id: str) -> dict[str, dict[str, int]]:
        """Counts by overall, live, archive and drift verdict in one run."""
        out: dict[str, dict[str, int]] = {}
        for column in ("overall", "live", "archive", "drift"):
            rows = self._rows(
                f"SELECT {column} AS v, count(*) AS n FROM watch_results WHERE run_id = ? GROUP BY {column}",
                (run_id,),
            )
            out[column] = {str(r["v"]): int(r["n"]) for r in rows}
        return out


def citation_of(entry: WatchEntry) -> Citation:
    span = entry.found_in or SourceSpan("watch list", 0, 0)
    return Citation(url=entry.url, found_in=span, archives=entry.archives, note=entry.label or None)


def _unique(refs: Iterable[ArchiveRef]) -> tuple[ArchiveRef, ...]:
    seen: dict[str, ArchiveRef] = {}
    for ref in refs:
        seen.setdefault(ref.uri, ref)
    return tuple(seen.values())


def _entry(row: Any, clock: Clock) -> WatchEntry:
    found = json.loads(row["found_in"]) if row["found_in"] else None
    return WatchEntry(
        key=row["key"],
        url=row["url"],
        label=row["label"],
        archives=tuple(ref_from_dict(r) for r in json.loads(row["archives"])),
        added_at=parse_stamp(row["added_at"]) or clock(),
        found_in=None if found is None else SourceSpan(str(found[0]), int(found[1]), int(found[2])),
        baseline_id=row["baseline_id"],
        state=state_from_dict(json.loads(row["state"])),
    )


def _run(row: Any, clock: Clock) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        kind=row["kind"],
        label=row["label"],
        started_at=parse_stamp(row["started_at"]) or clock(),
        finished_at=parse_stamp(row["finished_at"]),
        outcome=row["outcome"],
        summary=json.loads(row["summary"]),
    )


# -- opening -----------------------------------------------------------------------------------


@contextmanager
def open_watch(config: Config, clock: Clock = utc_now, *, create: bool = True) -> Iterator[WatchList]:
    """The watch list of the archive named by `config` (the folder and index made when `create`)."""
    paths = ArchivePaths(config.archive_dir)
    if not create and not paths.index.exists():
        raise UsageError(f"{paths.root} holds no archive index yet: add a source with 'archiver watch add URL'")
    # Without `create` the caller only reads (status): a read-only archive is opened read-only.
    read_only = not create and not writable(paths.root)
    with Index(paths.index, read_only=read_only) as index:
        yield WatchList(index, clock)
