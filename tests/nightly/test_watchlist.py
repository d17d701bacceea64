"""The watch list in a real index file: idempotent adds, merges, removal, document import, the
compact result documents, and which archived copies are kept."""

from __future__ import annotations

import json
import zlib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archiver.config import Config
from archiver.errors import StoreError
from archiver.jsonform import comparison_from_dict
from archiver.models import (
    ArchiveKind,
    ArchiveRef,
    ArchiveVerdict,
    Change,
    CheckResult,
    Comparison,
    DriftVerdict,
    LiveVerdict,
    Memento,
    Overall,
)
from archiver.nightly.archived_copy import kept_memento
from archiver.nightly.linkstate import LinkCondition, LinkEvent, LinkState
from archiver.nightly.news import NewsEvent, NewsItem
from archiver.nightly.source_result import (
    RESULT_DICTIONARY_1,
    SourceResult,
    comparison_doc,
    is_quiet,
    pack_doc,
    unpack_doc,
)
from archiver.nightly.watch_import import import_documents
from archiver.nightly.watchlist import AddOutcome, citation_of, open_watch
from archiver.store.index import Index

NOW = datetime(2025, 4, 26, 3, 0, tzinfo=UTC)
PERMA = ArchiveRef(ArchiveKind.PERMA, "https://perma.cc/5UBL-GCVG", "https://perma.cc/5UBL-GCVG", guid="5UBL-GCVG")


def test_adding_twice_is_idempotent_and_merges_archives(config: Config) -> None:
    with open_watch(config, lambda: NOW) as watch:
        entry, outcome = watch.add("http://example.com/a/", label="A")
        assert outcome is AddOutcome.ADDED and entry.state.condition is LinkCondition.UNKNOWN
        assert watch.add("HTTP://EXAMPLE.com/a")[1] is AddOutcome.UNCHANGED  # same resource
        merged, outcome = watch.add("https://example.com/a", [PERMA])
        assert outcome is AddOutcome.UPDATED and merged.archives == (PERMA,) and merged.label == "A"
        assert watch.add("http://example.com/a/", [PERMA], label="A")[1] is AddOutcome.UNCHANGED
        watch.add("http://example.com/b")
        assert [e.url for e in watch.entries()] == ["http://example.com/a/", "http://example.com/b"]
        assert watch.remove("http://example.com/a") and not watch.remove("http://example.com/a")
        assert len(watch) == 1
    # It is in the index file: a new connection sees it.
    with open_watch(config) as watch:
        assert [e.url for e in watch.entries()] == ["http://example.com/b"]


def test_import_adds_every_citation_with_its_archive(config: Config, tmp_path: Path) -> None:
    doc = tmp_path / "translation.md"
    doc.write_text(
        "The Chinese source text is available online at:\n"
        "<http://www.news.cn/politics/leaders/20250426/c.html>\n"
        "An archived version is available online at: "
        "<https://web.archive.org/web/20250427000000/http://www.news.cn/politics/leaders/20250426/c.html>\n\n"
        "See also [the ministry](https://www.mofcom.gov.cn/article/notice.html).\n",
        encoding="utf-8",
    )
    imported = import_documents(config, [doc], resolve=False, clock=lambda: NOW)
    assert [(e.url, o) for e, o in imported.added] == [
        ("http://www.news.cn/politics/leaders/20250426/c.html", AddOutcome.ADDED),
        ("https://www.mofcom.gov.cn/article/notice.html", AddOutcome.ADDED),
    ]
    first = imported.added[0][0]
    assert [r.kind for r in first.archives] == [ArchiveKind.WAYBACK]
    assert first.found_in is not None and first.found_in.line == 2
    again = import_documents(config, [doc], resolve=False)
    assert [o for _, o in again.added] == [AddOutcome.UNCHANGED, AddOutcome.UNCHANGED]
    with open_watch(config) as watch:
        assert len(watch) == 2
        assert watch.entries()[0].found_in == first.found_in


def test_comparison_documents_round_trip_and_stay_small() -> None:
    identical = Comparison(DriftVerdict.IDENTICAL, 1.0, True, True, 1.0, reason="same bytes")
    assert comparison_doc(identical) == {
        "verdict": "identical", "similarity": 1.0, "payload_identical": True, "text_identical": True,
        "title_similarity": 1.0, "reason": "same bytes",
    }  # fmt: skip
    edited = Comparison(
        DriftVerdict.MINOR, 0.97, False, False, 1.0, added=1, removed=1,
        changes=(Change("changed", "trade", "agriculture"),), quote_in_a=True, quote_in_b=False, reason="small edits",
    )  # fmt: skip
    for comparison in (identical, edited):
        assert comparison_from_dict(comparison_doc(comparison)) == comparison
    assert comparison_from_dict(None) is None


def test_results_are_recorded_with_the_state_and_rebuilt(config: Config) -> None:
    with open_watch(config, lambda: NOW) as watch:
        entry, _ = watch.add("http://example.com/a", label="A")
        assert watch.begin_run("n1", "manual", "manual run", NOW) is True
        assert watch.begin_run("n1", "manual", "manual run", NOW) is False  # resumed
        drift = Comparison.unknown("no earlier copy to compare")
        result = CheckResult(citation_of(entry), LiveVerdict.GONE, None, None, ArchiveVerdict.NONE, drift,
                             Overall.WARN, ("The live page is gone (HTTP 404).",))  # fmt: skip
        news = (NewsItem(entry.url, NewsEvent.NEWLY_FAILING, "HTTP 404", "A"),)
        outcome = SourceResult(entry.key, result, LinkCondition.FAILING, None, NOW, news=news)
        state = LinkState(LinkCondition.FAILING, NOW, 1, 1, NOW, NOW, None, NOW, LiveVerdict.GONE)
        watch.record("n1", outcome, state, None)
        assert watch.done_keys("n1") == {entry.key}
        assert watch.get(entry.url).state == state  # type: ignore[union-attr]
        (rebuilt,) = watch.results_of("n1", watch.entries()).values()
        assert rebuilt.result == result and rebuilt.news == news and rebuilt.condition is LinkCondition.FAILING
        assert watch.verdict_counts("n1")["live"] == {"gone": 1}
        # The next night says the same: its row shares the first night's document instead of a copy.
        watch.record("n2", outcome, state, None)
        shared = watch.index.query("SELECT length(document) AS n, doc_run FROM watch_results WHERE run_id = 'n2'")
        assert (shared[0]["n"], shared[0]["doc_run"]) == (0, "n1")
        assert watch.results_of("n2", watch.entries())[entry.key] == rebuilt
        assert watch.last_result(entry.key, "n3") == (None, watch.last_result(entry.key, "n1")[1])  # type: ignore[index]
        assert watch.condition_counts()["failing"] == 1


def test_a_quiet_result_is_told_from_the_previous_one_and_rebuilt_quiet(config: Config) -> None:
    with open_watch(config, lambda: NOW) as watch:
        entry, _ = watch.add("http://example.com/a")
        drift = Comparison(DriftVerdict.IDENTICAL, 1.0, True, True, reason="same bytes")
        result = CheckResult(citation_of(entry), LiveVerdict.OK, None, None, ArchiveVerdict.NONE, drift, Overall.WARN)
        state = LinkState(LinkCondition.OK, NOW, last_success_at=NOW, last_checked_at=NOW, last_verdict=LiveVerdict.OK)
        outcome = SourceResult(entry.key, result, LinkCondition.OK, None, NOW, since=NOW)
        assert watch.previous_verdicts(entry.key, "n1") is None  # never checked: never quiet
        watch.record("n1", outcome, state, None)
        assert watch.previous_verdicts(entry.key, "n1") is None  # its own run is not a previous one
        before = watch.previous_verdicts(entry.key, "n2")
        assert before == outcome.verdicts == ("ok", "none", "identical", "warn", "ok")
        assert is_quiet(outcome.verdicts, before, None, ())
        assert not is_quiet(outcome.verdicts, None, None, ())
        assert not is_quiet(outcome.verdicts, before, LinkEvent.RECOVERED, ())
        assert not is_quiet(outcome.verdicts, ("ok", "none", "identical", "pass", "ok"), None, ())
        # The second night's first comparison with an earlier capture is not news; a drift is.
        assert is_quiet(outcome.verdicts, ("ok", "none", "unknown", "warn", "ok"), None, ())
        assert not is_quiet(("ok", "none", "minor", "warn", "ok"), ("ok", "none", "unknown", "warn", "ok"), None, ())
        assert not is_quiet(outcome.verdicts, ("ok", "none", "minor", "warn", "ok"), None, ())
        news = (NewsItem(entry.url, NewsEvent.NEW_DRIFT, "minor", ""),)
        assert not is_quiet(outcome.verdicts, before, None, news)
        watch.record("n2", replace(outcome, quiet=True), state, None)
        rebuilt = watch.results_of("n2", watch.entries())[entry.key]
        assert rebuilt.quiet and rebuilt.since == NOW and rebuilt.result == result
        assert not watch.results_of("n1", watch.entries())[entry.key].quiet


def test_only_settled_mementos_are_kept(config: Config) -> None:
    config.archive_dir.mkdir(parents=True)
    with Index(config.archive_dir / "index.sqlite3") as index:
        assert kept_memento(index, PERMA) is None
        down = Memento(PERMA, ArchiveVerdict.UNAVAILABLE, None, None, "perma-memento-headers", reason="503")
        index.add_memento(down)
        assert kept_memento(index, PERMA) is None  # asked again next night
        when = datetime(2025, 4, 27, tzinfo=UTC)
        ok = Memento(PERMA, ArchiveVerdict.METADATA_ONLY, "http://www.news.cn/c.html", when, "perma-memento-headers")
        index.add_memento(ok)
        assert kept_memento(index, PERMA) == ok


def test_result_documents_use_the_preset_dictionary_and_old_ones_stay_readable() -> None:
    same = {"verdict": "identical", "similarity": 1.0, "payload_identical": True, "text_identical": True}
    same |= {"title_similarity": 1.0, "reason": "same bytes"}
    reasons = ["The live page answers normally.", "Link state: ok since 2025-04-20."]
    reasons.append("Unchanged since the previous capture.")
    night = {"archive_ref": None, "archive_key": None, "drift": same, "baseline": same, "previous": same}
    night |= {"reasons": reasons, "news": []}
    packed = pack_doc(night)
    plain = zlib.compress(json.dumps(night, separators=(",", ":")).encode(), 9)
    assert packed[1] & 0x20 and int.from_bytes(packed[2:6], "big") == zlib.adler32(RESULT_DICTIONARY_1)
    assert len(packed) < 80 < len(plain)  # the row every unchanged page adds every night
    assert unpack_doc(packed) == night
    assert unpack_doc(plain) == night  # rows written before the dictionary
    other = zlib.compressobj(9, zdict=b"some other dictionary")
    with pytest.raises(StoreError, match="dictionary"):
        unpack_doc(other.compress(b"{}") + other.flush())
    with pytest.raises(StoreError, match="unreadable"):
        unpack_doc(b"\x78\x9c garbage")
