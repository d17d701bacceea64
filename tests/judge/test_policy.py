"""Verdicts to levels: the [policy] table, the gone-with-archive rule, reasons in words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from archiver.config import PolicyConfig, load_config
from archiver.judge.policy import judge
from archiver.judge.title import TitleMatch
from archiver.models import (
    ArchiveKind,
    ArchiveRef,
    ArchiveVerdict,
    Comparison,
    DriftVerdict,
    LiveVerdict,
    Memento,
    Overall,
)

REF = ArchiveRef(kind=ArchiveKind.PERMA, raw="https://perma.cc/5UBL-GCVG", uri="https://perma.cc/5UBL-GCVG")


def memento(verdict: ArchiveVerdict, original: str = "http://example.com/a", title: str | None = None) -> Memento:
    return Memento(
        ref=REF,
        verdict=verdict,
        original_url=original,
        datetime=datetime(2025, 4, 27, tzinfo=UTC),
        obtained_via="perma-memento-headers",
        title=title,
    )


def drift(verdict: DriftVerdict, similarity: float | None = 0.5) -> Comparison:
    return Comparison(verdict=verdict, similarity=similarity, payload_identical=False, text_identical=False)


@pytest.mark.parametrize(
    ("live", "archive", "drift_verdict", "expected"),
    [
        (LiveVerdict.OK, ArchiveVerdict.OK, DriftVerdict.IDENTICAL, Overall.PASS),
        (LiveVerdict.OK, ArchiveVerdict.OK, DriftVerdict.MINOR, Overall.PASS),
        (LiveVerdict.OK, ArchiveVerdict.OK, DriftVerdict.MAJOR, Overall.WARN),
        (LiveVerdict.OK, ArchiveVerdict.OK, DriftVerdict.REPLACED, Overall.WARN),
        (LiveVerdict.OK, ArchiveVerdict.MISMATCH, DriftVerdict.REPLACED, Overall.FAIL),
        (LiveVerdict.OK, ArchiveVerdict.NOT_FOUND, DriftVerdict.UNKNOWN, Overall.FAIL),
        (LiveVerdict.OK, ArchiveVerdict.NONE, DriftVerdict.UNKNOWN, Overall.WARN),
        (LiveVerdict.GONE, ArchiveVerdict.OK, DriftVerdict.UNKNOWN, Overall.WARN),
        (LiveVerdict.SOFT_404, ArchiveVerdict.OK, DriftVerdict.UNKNOWN, Overall.WARN),
        (LiveVerdict.GONE, ArchiveVerdict.NONE, DriftVerdict.UNKNOWN, Overall.FAIL),
        (LiveVerdict.BLOCKED, ArchiveVerdict.OK, DriftVerdict.UNKNOWN, Overall.WARN),
        (LiveVerdict.UNREACHABLE, ArchiveVerdict.METADATA_ONLY, DriftVerdict.UNKNOWN, Overall.FAIL),
        (None, ArchiveVerdict.OK, DriftVerdict.UNKNOWN, Overall.PASS),
    ],
)
def test_default_policy(
    live: LiveVerdict | None, archive: ArchiveVerdict, drift_verdict: DriftVerdict, expected: Overall
) -> None:
    m = None if archive is ArchiveVerdict.NONE else memento(archive)
    result = judge(PolicyConfig(), live, "HTTP 404", archive, m, drift(drift_verdict))
    assert result.overall is expected
    assert all(reason.endswith(".") for reason in result.reasons)


def test_policy_table_from_config_changes_the_level(tmp_path: object) -> None:
    config = load_config(None, {"policy": {"drift": {"major": "fail"}, "gone_with_archive": "fail"}})
    assert (
        judge(
            config.policy, LiveVerdict.OK, "", ArchiveVerdict.OK, memento(ArchiveVerdict.OK), drift(DriftVerdict.MAJOR)
        ).overall
        is Overall.FAIL
    )
    assert (
        judge(
            config.policy,
            LiveVerdict.GONE,
            "HTTP 410",
            ArchiveVerdict.OK,
            memento(ArchiveVerdict.OK),
            drift(DriftVerdict.UNKNOWN),
        ).overall
        is Overall.FAIL
    )


def test_mismatch_reason_names_the_archived_url() -> None:
    result = judge(
        PolicyConfig(),
        LiveVerdict.OK,
        "",
        ArchiveVerdict.MISMATCH,
        memento(ArchiveVerdict.MISMATCH, original="http://other.example/"),
        drift(DriftVerdict.UNKNOWN),
    )
    assert any("http://other.example/" in r and "different page" in r for r in result.reasons)


def test_title_missing_from_document_warns() -> None:
    m = memento(ArchiveVerdict.OK, title="Some Other Article")
    ok = judge(
        PolicyConfig(),
        LiveVerdict.OK,
        "",
        ArchiveVerdict.OK,
        m,
        drift(DriftVerdict.IDENTICAL, 1.0),
        title_in_document=TitleMatch.FOUND,
    )
    assert ok.overall is Overall.PASS
    bad = judge(
        PolicyConfig(),
        LiveVerdict.OK,
        "",
        ArchiveVerdict.OK,
        m,
        drift(DriftVerdict.IDENTICAL, 1.0),
        title_in_document=TitleMatch.MISSING,
    )
    assert bad.overall is Overall.WARN
    assert any("Some Other Article" in r for r in bad.reasons)
