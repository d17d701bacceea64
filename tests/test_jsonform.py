"""The JSON contract's decoders are the inverses of its encoders, through real JSON text."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from archiver.jsonform import comparison_from_dict, comparison_to_dict, memento_from_dict, memento_to_dict
from archiver.models import (
    ArchiveVerdict,
    Capture,
    Change,
    Comparison,
    DriftVerdict,
    Hop,
    Memento,
    WarcLocation,
)
from archiver.refs import parse_archive_ref


def _through_json(doc: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(json.dumps(doc))
    return decoded


def test_memento_from_dict_inverts_memento_to_dict() -> None:
    ref = parse_archive_ref("https://perma.cc/ABCD-1234")
    substitute = parse_archive_ref("https://web.archive.org/web/20200101000000/https://example.org/a", bare_guid=False)
    assert ref is not None and substitute is not None
    capture = Capture(
        id="01J0000000000000000000000A",
        url="https://example.org/a",
        final_url="https://example.org/a/",
        status=200,
        redirects=(Hop("https://example.org/a", 301, "https://example.org/a/"),),
        fetched_at=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        content_type="text/html; charset=utf-8",
        payload_sha256="ab" * 32,
        payload_size=2048,
        text_sha256="cd" * 32,
        title="A page",
        warc=WarcLocation("warcs/archive-00001.warc.gz", 1234, 567),
    )
    memento = Memento(
        ref=ref,
        verdict=ArchiveVerdict.OK,
        original_url="https://example.org/a",
        datetime=datetime(2020, 1, 1, tzinfo=UTC),
        obtained_via="perma-api",
        capture=capture,
        reason="the cited copy was gone; using the Wayback one",
        substitute_for=substitute,
        substitute_days=1.5,
        mirror_file="mirrors/ABCD-1234.wacz",
        mirror_sha256="ef" * 32,
        title="A page",
        problems=("record for https://example.org/b is missing",),
    )
    assert memento_from_dict(_through_json(memento_to_dict(memento)), ref) == memento


def test_comparison_from_dict_inverts_comparison_to_dict() -> None:
    comparison = Comparison(
        verdict=DriftVerdict.MAJOR,
        similarity=0.75,
        payload_identical=False,
        text_identical=False,
        title_similarity=0.5,
        added=3,
        removed=2,
        changes=(Change("changed", "old words", "new words"), Change("added", "", "a new line")),
        quote_in_a=True,
        quote_in_b=False,
        reason="the text changed",
    )
    assert comparison_from_dict(_through_json(comparison_to_dict(comparison))) == comparison
    assert comparison_from_dict(None) is None
