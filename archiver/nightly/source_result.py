"""What one nightly run found for one watched source, and the compact document it is stored as.

A `SourceResult` is a source's check result plus what only the nightly pass knows: link state,
comparisons with our first and previous captures, news, and whether it is quiet. Each is stored as
a `watch_results` row whose document is compact on purpose, because an unchanged page adds one
every night: defaults left out, no spaces, deflated with a preset dictionary (zlib, the one
feature that makes small documents small). See docs/nightly.md.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archiver.errors import StoreError
from archiver.jsonform import comparison_to_dict
from archiver.models import CheckResult, Comparison, DriftVerdict
from archiver.nightly.linkstate import LinkCondition, LinkEvent
from archiver.nightly.news import NewsItem

# live, archive, drift and overall verdict and the link condition: what "the same as last night" compares.
Verdicts = tuple[str | None, str, str, str, str]


@dataclass(frozen=True)
class SourceResult:
    """One watched source checked in one run.

    `result.drift` compares the live page with the archived copy when one has content, else with
    our baseline; `baseline` and `previous` compare it with our first and our previous good capture.
    `archive_key` names the copy `result.drift` was measured against, so an unchanged page can
    reuse last night's comparison instead of re-reading both texts. `quiet` says the source has
    the same verdicts and link condition as its previous result and no news; `since` is when the
    link entered its current condition.
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
    quiet: bool = False
    since: datetime | None = None

    @property
    def verdicts(self) -> Verdicts:
        result = self.result
        live = None if result.live_verdict is None else result.live_verdict.value
        archive, drift = result.archive_verdict.value, result.drift.verdict.value
        return live, archive, drift, result.overall.value, self.condition.value


# Drift verdicts that only say "the same as before": reached from `unknown`, they are not news.
_SAME = frozenset({DriftVerdict.IDENTICAL.value, DriftVerdict.EQUIVALENT.value})


def is_quiet(verdicts: Verdicts, before: Verdicts | None, event: LinkEvent | None, news: tuple[NewsItem, ...]) -> bool:
    """Nothing to tell a reader: the verdicts of the previous result again, no event, no news.

    A source seen for the first time is never quiet: its verdicts are news, even a persistent
    warning, which is why the night it started is reported in full. One change of verdict is not
    news either: drift going from `unknown` to `identical` or `equivalent`, which is what every
    source does on its second night (the first with an earlier capture to compare with) and which
    says only that the page is still what it was.
    """
    if before is None or event is not None or news:
        return False
    if before[2] == DriftVerdict.UNKNOWN.value and verdicts[2] in _SAME:
        before = (before[0], before[1], verdicts[2], before[3], before[4])
    return verdicts == before


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


def result_doc(outcome: SourceResult) -> dict[str, Any]:
    """The part of a result the index's columns do not hold (verdicts, capture id, event are columns)."""
    result = outcome.result
    memento = result.archive
    doc: dict[str, Any] = {
        "archive_ref": None if memento is None else memento.ref.uri,
        "archive_key": outcome.archive_key,
        "drift": comparison_doc(result.drift),
        "baseline": comparison_doc(outcome.baseline),
        "previous": comparison_doc(outcome.previous),
        "reasons": list(result.reasons),
        "news": [[n.event.value, n.detail] for n in outcome.news],
    }
    if outcome.quiet:  # only when true: a document written before `quiet` existed reads as not quiet
        doc["quiet"] = True
    return doc


# A preset deflate dictionary for the result documents: the keys and the sentences most nights
# repeat. A 300-byte document (the night after a first capture: identical everywhere, five
# reasons) deflates to ~70 bytes with it instead of ~300 without, and that row is written for
# every watched URL every night. The zlib stream names its dictionary (the Adler-32 in its
# header), so this text must NEVER change: a better one is added to `_DICTIONARIES` beside it, and
# `pack_doc` switched to it; rows written with an older one (or none) stay readable.
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


def pack_doc(doc: dict[str, Any]) -> bytes:
    """A result document as stored: JSON without spaces, deflated with the newest dictionary."""
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


def unpack_doc(blob: bytes) -> dict[str, Any]:
    """A stored result document read back; StoreError (naming the likely cause) when it cannot be."""
    try:
        value = json.loads(_inflate(bytes(blob)))
    except (zlib.error, ValueError) as exc:
        raise StoreError(f"a watch result document is unreadable ({exc}); the index may be damaged") from exc
    if not isinstance(value, dict):
        raise StoreError("a watch result document is not a JSON object; the index may be damaged")
    return value
