"""From verdicts to pass/warn/fail, and the reasons in words a person understands.

Pure: the levels come from the `[policy]` table of config.toml. The one rule that is not a plain
look-up is the reason archives exist: a live page that is gone (or a soft 404) while its archived
copy is good is `gone_with_archive` (a warning by default), not a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from archiver.config import PolicyConfig
from archiver.judge.title import TitleMatch
from archiver.models import ArchiveVerdict, Comparison, DriftVerdict, LiveVerdict, Memento, Overall

_RANK = {Overall.PASS: 0, Overall.WARN: 1, Overall.FAIL: 2}

LIVE_WORDS = {
    LiveVerdict.OK: "The live page answers normally.",
    LiveVerdict.REDIRECTED: "The live URL now redirects to a different page ({detail}).",
    LiveVerdict.GONE: "The live page is gone ({detail}).",
    LiveVerdict.SOFT_404: "The live URL answers, but with a 'not found' page ({detail}).",
    LiveVerdict.BLOCKED: "The site refused our request ({detail}); this is not proof that the page is gone.",
    LiveVerdict.SERVER_ERROR: "The site answered with a server error after retries ({detail}).",
    LiveVerdict.UNREACHABLE: "The site could not be reached ({detail}).",
    LiveVerdict.INVALID_URL: "The cited URL is not a valid web address ({detail}).",
}

ARCHIVE_WORDS = {
    ArchiveVerdict.OK: "The archived copy captures the cited URL{when}.",
    ArchiveVerdict.MISMATCH: "The archive link captures a different page ({detail}) than the one cited.",
    ArchiveVerdict.NOT_FOUND: "The archive link leads to no archived copy ({detail}).",
    ArchiveVerdict.UNAVAILABLE: "The archive could not be consulted ({detail}); try again later.",
    ArchiveVerdict.METADATA_ONLY: "The archive confirms what it captured and when, but its content "
    "could not be retrieved ({detail}).",
    ArchiveVerdict.PENDING: "The archive's own capture is still pending ({detail}).",
    ArchiveVerdict.FAILED: "The archive did not preserve the page ({detail}).",
    ArchiveVerdict.NONE: "No archived copy is cited for this URL; add one (e.g. a Perma.cc link).",
}

DRIFT_WORDS = {
    DriftVerdict.IDENTICAL: "The live page is byte-for-byte the archived one.",
    DriftVerdict.EQUIVALENT: "The live page says the same as the archived one (only its template or markup changed).",
    DriftVerdict.MINOR: "The live page has small changes from the archived one (similarity {similarity}).",
    DriftVerdict.MAJOR: "The live page has changed substantially since it was archived (similarity {similarity}).",
    DriftVerdict.REPLACED: "The live page is a different page from the archived one (similarity {similarity}).",
    DriftVerdict.UNKNOWN: "Live and archived text could not be compared ({detail}).",
}


@dataclass(frozen=True)
class Judgement:
    overall: Overall
    reasons: tuple[str, ...]


def _level(table: dict[str, str], key: str) -> Overall:
    return Overall(table.get(key, "warn"))


# One part of a judgement: the level it sets (None: information only) and its reason in words.
_Part = tuple[Overall | None, str]


def _live_part(policy: PolicyConfig, live: LiveVerdict, detail: str, archive_verdict: ArchiveVerdict) -> _Part:
    level = _level(policy.live, live.value)
    if live in (LiveVerdict.GONE, LiveVerdict.SOFT_404) and archive_verdict is ArchiveVerdict.OK:
        level = Overall(policy.gone_with_archive)
    return level, LIVE_WORDS[live].format(detail=detail or live.value)


def _archive_part(policy: PolicyConfig, verdict: ArchiveVerdict, memento: Memento | None) -> _Part:
    detail = (memento.reason if memento else None) or (memento.original_url if memento else None) or ""
    if verdict is ArchiveVerdict.MISMATCH and memento is not None and memento.original_url:
        detail = memento.original_url
    when = ""
    if memento is not None and memento.datetime is not None:
        when = f" as of {memento.datetime.date().isoformat()}"
    return _level(policy.archive, verdict.value), ARCHIVE_WORDS[verdict].format(
        detail=detail or verdict.value, when=when
    )


def _memento_parts(memento: Memento) -> list[_Part]:
    """What the archived copy itself says: a substitute's distance, a file that failed its checks."""
    parts: list[_Part] = []
    if memento.substitute_days is not None:
        parts.append(
            (
                None,
                f"Its content was taken from a substitute ({memento.obtained_via}), "
                f"{memento.substitute_days:.1f} days from the cited archive's date.",
            )
        )
    if memento.problems:
        problems = "; ".join(memento.problems[:3])
        parts.append(
            (
                Overall.WARN,
                f"The archive file failed its integrity checks ({problems}): "
                "its content may not be what the archive stored.",
            )
        )
    return parts


def _drift_part(policy: PolicyConfig, drift: Comparison) -> _Part:
    similarity = "n/a" if drift.similarity is None else f"{drift.similarity:.2f}"
    reason = DRIFT_WORDS[drift.verdict].format(similarity=similarity, detail=drift.reason or "one side is missing")
    return _level(policy.drift, drift.verdict.value), reason


def _title_part(memento: Memento, match: TitleMatch) -> _Part:
    if match is TitleMatch.OTHER_SCRIPT:
        return (
            None,
            f"The archived page's title {memento.title!r} is in another script than the document, so it "
            "was not looked for there; the archive captures the cited URL.",
        )
    return (
        Overall.WARN,
        f"The archived page's title {memento.title!r} does not appear in the document: "
        "check that the archive link belongs to this citation.",
    )


def judge(
    policy: PolicyConfig,
    live: LiveVerdict | None,
    live_detail: str,
    archive_verdict: ArchiveVerdict,
    memento: Memento | None,
    drift: Comparison,
    *,
    title_in_document: TitleMatch | None = None,
    archive_checked: bool = True,
) -> Judgement:
    """Combine the three verdicts into one level; every level above pass comes with its reason."""
    parts: list[_Part] = []
    if live is not None:
        parts.append(_live_part(policy, live, live_detail, archive_verdict))
    if archive_checked:
        parts.append(_archive_part(policy, archive_verdict, memento))
    if memento is not None:
        parts.extend(_memento_parts(memento))
    if live is not None and archive_checked and archive_verdict is not ArchiveVerdict.NONE:
        parts.append(_drift_part(policy, drift))
    if title_in_document in (TitleMatch.MISSING, TitleMatch.OTHER_SCRIPT) and memento is not None and memento.title:
        parts.append(_title_part(memento, title_in_document))
    levels = [level for level, _ in parts if level is not None]
    overall = max(levels, key=lambda o: _RANK[o]) if levels else Overall.PASS
    return Judgement(overall=overall, reasons=tuple(reason for _, reason in parts))
