"""The watch list and what each nightly run found, kept in the archive's index.

Why in `index.sqlite3` and not a file of its own: a run's results point at captures (by id) and
at kept mementos, and the link state of a source must change in the same transaction as the
result that changed it, so a run killed between two sources resumes without advancing any state
twice. The tables are the index's migration `0003_watch`:

- `watch`: one row per resource, keyed by `urls.comparable(url)` so that adding
  `HTTP://Example.com/a` after `http://example.com/a` is the same source (adding twice is
  idempotent; a new archive ref or label is merged in). The row carries the link state
  (linkstate.py, as JSON) and the id of our first good capture (the baseline).
- `watch_runs`: one row per run id (a resumed run keeps its row), with its summary once finished.
- `watch_results`: one row per source per run, written as soon as that source is checked; the
  verdicts are columns (for `archiver status` counts), the rest a compact zlib-compressed JSON
  document from which the run's report is rebuilt on resume. It is compact on purpose: an
  unchanged page adds a revisit record to the WARCs and this row to the index every night, and
  both must stay small (bench/nightly.py measures the growth per URL). The document is deflated
  with a preset dictionary of the keys and sentences results repeat (`RESULT_DICTIONARY_1`;
  ~300 bytes become ~40), and a night that says what the night before said stores no copy.

Archived copies are retrieved once: `kept_memento` returns the newest memento recorded in the
index's `mementos` table for a reference, which the nightly pass reuses instead of downloading
the archive again.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from archiver.archiveref import parse_archive_ref
from archiver.capture import CaptureEngine
from archiver.config import Config
from archiver.errors import StoreError, UsageError
from archiver.extract import ArchiveHosts, Link, extract_links
from archiver.index import Index
from archiver.jsonform import capture_from_dict, comparison_to_dict, ref_from_dict, ref_to_dict
from archiver.linkstate import LinkCondition, LinkEvent, LinkState, state_from_dict, state_to_dict
from archiver.mirror import open_archives
from archiver.models import (
    ArchiveKind,
    ArchivePaths,
    ArchiveRef,
    ArchiveVerdict,
    Change,
    CheckResult,
    Citation,
    Comparison,
    DriftVerdict,
    LiveVerdict,
    Memento,
    Overall,
    SourceSpan,
)
from archiver.notify import NewsEvent, NewsItem
from archiver.pairing import UNRESOLVED_NOTE, candidate_refs, pair
from archiver.urls import comparable

Clock = Callable[[], datetime]

# Mementos worth keeping: the archive answered for good. Others (unavailable, pending) are asked again.
KEPT_VERDICTS = frozenset(
    {ArchiveVerdict.OK, ArchiveVerdict.MISMATCH, ArchiveVerdict.METADATA_ONLY, ArchiveVerdict.NOT_FOUND}
)


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
class SourceResult:
    """One watched source checked in one run.

    `result.drift` compares the live page with the archived copy when one has content, else with
    our baseline; `baseline` and `previous` compare it with our first and our previous good capture.
    `archive_key` names the copy `result.drift` was measured against, so an unchanged page can
    reuse last night's comparison instead of re-reading both texts.
    """

    key: str
    result: CheckResult
    condition: LinkCondition
    event: LinkEvent | None
    checked_at: datetime
    baseline: Comparison | None = None
    previous: Comparison | None = None
    archive_key: str | None = None
    news: tuple[NewsItem, ...] = ()


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
        raise UsageError(f"cannot watch {url!r}: {exc}") from None


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


# -- compact codecs for the result documents --------------------------------------------------


def comparison_doc(comparison: Comparison | None) -> dict[str, Any] | None:
    """A comparison without its default fields (most nights: identical, nothing else)."""
    if comparison is None:
        return None
    full = comparison_to_dict(comparison)
    full.pop("excerpt")
    # Drop a field only when it holds its own default: quote_in_* are tri-state (False is news).
    defaults = {"payload_identical": False, "text_identical": False, "added": 0, "removed": 0, "changes": []}
    return {k: v for k, v in full.items() if v is not None and (k not in defaults or v != defaults[k])}


def comparison_from_doc(doc: dict[str, Any] | None) -> Comparison | None:
    if doc is None:
        return None
    return Comparison(
        verdict=DriftVerdict(doc["verdict"]),
        similarity=doc.get("similarity"),
        payload_identical=bool(doc.get("payload_identical", False)),
        text_identical=bool(doc.get("text_identical", False)),
        title_similarity=doc.get("title_similarity"),
        added=int(doc.get("added", 0)),
        removed=int(doc.get("removed", 0)),
        changes=tuple(Change(c["op"], c["before"], c["after"]) for c in doc.get("changes", [])),
        quote_in_a=doc.get("quote_in_a"),
        quote_in_b=doc.get("quote_in_b"),
        reason=doc.get("reason"),
    )


def memento_from_doc(doc: dict[str, Any], ref: ArchiveRef) -> Memento:
    """A memento from its recorded JSON (jsonform.memento_to_dict) and the reference it answers."""
    substitute = doc.get("substitute_for")
    substitute_ref = None
    if substitute:
        substitute_ref = parse_archive_ref(substitute, bare_guid=False) or ArchiveRef(
            ArchiveKind.MEMENTO, substitute, substitute
        )
    return Memento(
        ref=ref,
        verdict=ArchiveVerdict(doc["verdict"]),
        original_url=doc.get("original_url"),
        datetime=_when(doc.get("datetime")),
        obtained_via=doc.get("obtained_via") or "index",
        capture=capture_from_dict(doc["capture"]) if doc.get("capture") else None,
        reason=doc.get("reason"),
        substitute_for=substitute_ref,
        substitute_days=doc.get("substitute_days"),
        mirror_file=doc.get("mirror_file"),
        mirror_sha256=doc.get("mirror_sha256"),
        title=doc.get("title"),
        problems=tuple(doc.get("problems") or ()),
    )


def kept_memento(index: Index, ref: ArchiveRef) -> Memento | None:
    """The newest recorded memento of `ref` that settled the question, or None to ask the archive."""
    docs = index.mementos(ref.uri)
    if not docs or ArchiveVerdict(docs[0]["verdict"]) not in KEPT_VERDICTS:
        return None
    return memento_from_doc(docs[0], ref)


# A preset deflate dictionary for the result documents: the keys and the sentences most nights
# repeat. A 300-byte document (the night after a first capture: identical everywhere, five
# reasons) deflates to ~70 bytes with it instead of ~300 without, and that row is written for
# every watched URL every night. The zlib stream names its dictionary (the Adler-32 in its
# header), so this text must NEVER change: a better one is added to `_DICTIONARIES` beside it, and
# `_pack` switched to it; rows written with an older one (or none) stay readable.
RESULT_DICTIONARY_1 = (
    b'"quote_in_a":false,"quote_in_b":false,"added":0,"removed":0,"changes":[{"op":"before":"after":'
    b'"verdict":"unknown","reason":"no earlier copy to compare"},"verdict":"equivalent","verdict":"minor",'
    b'"verdict":"major","verdict":"replaced","The live URL now redirects to a different page (",'
    b'"The live page is gone (","The site could not be reached (","The site refused our request (",'
    b'"The site answered with a server error after retries (","The archive could not be consulted (",'
    b'"The archived copy captures the cited URL","The live page has small changes from the archived one",'
    b'"The live page is byte-for-byte the archived one.","Link state: failing since 20",'
    b'"Link state: newly failing since 20","Link state: recovered since 20","Link state: gone since 20",'
    b'{"archive_ref":"https://perma.cc/","archive_key":"https://web.archive.org/web/",'
    b'{"archive_ref":null,"archive_key":null,"drift":{"verdict":"identical","similarity":1.0,'
    b'"payload_identical":true,"text_identical":true,"title_similarity":1.0,"reason":"same bytes"},'
    b'"baseline":{"verdict":"identical","similarity":1.0,"payload_identical":true,"text_identical":true,'
    b'"title_similarity":1.0,"reason":"same bytes"},"previous":{"verdict":"identical","similarity":1.0,'
    b'"payload_identical":true,"text_identical":true,"title_similarity":1.0,"reason":"same bytes"},'
    b'"reasons":["The live page answers normally.",'
    b'"No archived copy is cited for this URL; add one (e.g. a Perma.cc link).","Link state: ok since 20'
    b'","Since our first capture (20"): identical, similarity 1.00.","Unchanged since the previous capture."],'
    b'"news":[]}'
)
_DICTIONARIES = {zlib.adler32(d): d for d in (RESULT_DICTIONARY_1,)}
_FDICT = 0x20  # zlib header flag: a preset dictionary follows (RFC 1950 §2.2)


def _pack(doc: dict[str, Any]) -> bytes:
    packer = zlib.compressobj(9, zdict=RESULT_DICTIONARY_1)
    data = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    return packer.compress(data) + packer.flush()


def _inflate(blob: bytes) -> bytes:
    if len(blob) < 6 or not blob[1] & _FDICT:
        return zlib.decompress(blob)  # written before the dictionary existed
    dictionary = _DICTIONARIES.get(int.from_bytes(blob[2:6], "big"))
    if dictionary is None:
        raise StoreError("a watch result document names a compression dictionary this version does not know")
    unpacker = zlib.decompressobj(zdict=dictionary)
    return unpacker.decompress(blob) + unpacker.flush()


def _unpack(blob: bytes) -> dict[str, Any]:
    try:
        value = json.loads(_inflate(bytes(blob)))
    except (zlib.error, ValueError) as exc:
        raise StoreError(f"a watch result document is unreadable ({exc}); the index may be damaged") from exc
    if not isinstance(value, dict):
        raise StoreError("a watch result document is not a JSON object; the index may be damaged")
    return value


def result_doc(outcome: SourceResult) -> dict[str, Any]:
    result = outcome.result
    memento = result.archive
    return {
        "archive_ref": None if memento is None else memento.ref.uri,
        "archive_key": outcome.archive_key,
        "drift": comparison_doc(result.drift),
        "baseline": comparison_doc(outcome.baseline),
        "previous": comparison_doc(outcome.previous),
        "reasons": list(result.reasons),
        "news": [[n.event.value, n.detail] for n in outcome.news],
    }


# -- the watch list ----------------------------------------------------------------------------


class WatchList:
    """The watch list and run results on an open Index (shares its connection and lock)."""

    def __init__(self, index: Index, clock: Clock) -> None:
        self.index = index
        self.clock = clock

    # Index keeps its transaction and query helpers private; they are the one connection and lock
    # every writer of this file must share, so the watch tables use them rather than a second one.
    def _tx(self) -> Any:
        return self.index._transaction()

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self.index._query(sql, params)

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
                        _stamp(entry.added_at),
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
        return _entry(rows[0]) if rows else None

    def entries(self) -> list[WatchEntry]:
        """Every watched source, in the order it was first added."""
        return [_entry(row) for row in self._rows("SELECT * FROM watch ORDER BY rowid")]

    def __len__(self) -> int:
        return int(self._rows("SELECT count(*) FROM watch")[0][0])

    # -- runs ------------------------------------------------------------------------------

    def begin_run(self, run_id: str, kind: str, label: str, started_at: datetime) -> bool:
        """Record a run as begun; False when the run id is already known (a resumed run)."""
        with self._tx() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO watch_runs (run_id, kind, label, started_at, outcome) VALUES (?,?,?,?,?)",
                (run_id, kind, label, _stamp(started_at), "running"),
            )
            if cursor.rowcount:
                return True
            db.execute("UPDATE watch_runs SET outcome = 'running' WHERE run_id = ?", (run_id,))
            return False

    def end_run(self, run_id: str, outcome: str, finished_at: datetime | None, summary: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE watch_runs SET outcome = ?, finished_at = ?, summary = ? WHERE run_id = ?",
                (outcome, None if finished_at is None else _stamp(finished_at), json.dumps(summary), run_id),
            )

    def run(self, run_id: str) -> RunRecord | None:
        rows = self._rows("SELECT * FROM watch_runs WHERE run_id = ?", (run_id,))
        return _run(rows[0]) if rows else None

    def runs(self) -> list[RunRecord]:
        return [_run(r) for r in self._rows("SELECT * FROM watch_runs ORDER BY started_at, run_id")]

    def record(self, run_id: str, outcome: SourceResult, state: LinkState, baseline_id: str | None) -> None:
        """Store one source's result and its new link state (and baseline) in one transaction.

        Most nights a source's document is the same as the night before (same verdicts, reasons
        and comparisons; only the capture id, a column, differs): then it is not stored again, and
        `doc_run` names the run whose row holds it. This keeps an unchanged source's row small.
        """
        result = outcome.result
        blob = _pack(result_doc(outcome))
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
                    _stamp(outcome.checked_at),
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
            return _unpack(row["document"])
        rows = self._rows(
            "SELECT document FROM watch_results WHERE run_id = ? AND key = ?", (row["doc_run"], row["key"])
        )
        if not rows:
            raise StoreError(f"the result of {row['key']} in run {row['run_id']} refers to a missing one")
        return _unpack(rows[0]["document"])

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
        drift = comparison_from_doc(doc.get("drift")) or Comparison(DriftVerdict.UNKNOWN, None, False, False)
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
            _when(row["checked_at"]) or self.clock(),
            comparison_from_doc(doc.get("baseline")),
            comparison_from_doc(doc.get("previous")),
            doc.get("archive_key"),
            news,
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


def _entry(row: Any) -> WatchEntry:
    found = json.loads(row["found_in"]) if row["found_in"] else None
    return WatchEntry(
        key=row["key"],
        url=row["url"],
        label=row["label"],
        archives=tuple(ref_from_dict(r) for r in json.loads(row["archives"])),
        added_at=_when(row["added_at"]) or datetime.now(UTC),
        found_in=None if found is None else SourceSpan(str(found[0]), int(found[1]), int(found[2])),
        baseline_id=row["baseline_id"],
        state=state_from_dict(json.loads(row["state"])),
    )


def _run(row: Any) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        kind=row["kind"],
        label=row["label"],
        started_at=_when(row["started_at"]) or datetime.now(UTC),
        finished_at=_when(row["finished_at"]),
        outcome=row["outcome"],
        summary=json.loads(row["summary"]),
    )


# -- opening, and importing documents ----------------------------------------------------------


def utcnow() -> datetime:
    return datetime.now(UTC)


@contextmanager
def open_watch(config: Config, clock: Clock = utcnow, *, create: bool = True) -> Iterator[WatchList]:
    """The watch list of the archive named by `config` (the folder and index made when `create`)."""
    paths = ArchivePaths(config.archive_dir)
    if not create and not paths.index.exists():
        raise UsageError(f"{paths.root} holds no archive index yet: add a source with 'archiver watch add URL'")
    with Index(paths.index) as index:
        yield WatchList(index, clock)


@dataclass(frozen=True)
class Imported:
    """What `watch import` did: each citation added (or found already watched), and what was skipped."""

    added: tuple[tuple[WatchEntry, AddOutcome], ...]
    skipped: tuple[tuple[str, str], ...]  # (URL, why)


async def _originals(config: Config, links: Sequence[Link]) -> dict[str, str | None]:
    """What each Perma / memento link in the documents captured (resolve only, no download)."""
    refs = candidate_refs(links)
    if not refs:
        return {}
    async with CaptureEngine(config) as engine, open_archives(config, engine) as archives:
        mementos = await asyncio.gather(*(archives.resolve(ref) for ref in refs))
    return {ref.uri: memento.original_url for ref, memento in zip(refs, mementos, strict=True)}


def import_documents(
    config: Config, documents: Sequence[Path], *, resolve: bool = True, clock: Clock = utcnow
) -> Imported:
    """Watch every citation of the documents, with the archive links paired with it.

    With `resolve`, Perma and other memento links are asked which URL they captured, so they pair
    by content (as `archiver check` does); without it they pair by position only.
    """
    hosts = ArchiveHosts.from_config(config)
    links: list[Link] = []
    for path in documents:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read the document {path}: {exc}") from None
        links += extract_links(data, str(path), hosts=hosts)
    originals = asyncio.run(_originals(config, links)) if resolve else {}
    added: list[tuple[WatchEntry, AddOutcome]] = []
    skipped: list[tuple[str, str]] = []
    with open_watch(config, clock) as watch:
        for citation in pair(links, originals):
            if citation.note and UNRESOLVED_NOTE in citation.note:
                skipped.append((citation.url, UNRESOLVED_NOTE))
                continue
            try:
                added.append(
                    watch.add(
                        citation.url, citation.archives, label=citation.expected_title or "", found_in=citation.found_in
                    )
                )
            except UsageError as exc:
                skipped.append((citation.url, str(exc)))
    return Imported(tuple(added), tuple(skipped))
