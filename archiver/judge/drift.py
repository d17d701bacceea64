"""Drift: does a page still say what it said? Two texts of one resource compared and judged.

Cheapest question first: the same bytes (`identical`), the same normalised text (`equivalent`),
then a measured similarity that works for Chinese as well as English and stays fast on megabyte
pages: paragraphs aligned, then sentences, then 3-token shingles (never char-level edit
distance). Similarity is the share of text kept, judged against DriftConfig's thresholds, which
are set from the labelled corpus in tests/fixtures/drift/. See docs/drift-thresholds.md.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from archiver.config import DriftConfig
from archiver.content.fingerprint import Fingerprint, comparable_text
from archiver.judge.title import headline
from archiver.models import Change, Comparison, DriftVerdict

SHINGLE = 3
MAX_SHINGLE_TOKENS = 200_000  # per side of one residual block; past it the block counts as unmatched
EXCERPT_CHARS = 400
EDGE_LINES = 3  # differing lines at an edge of the main text that may be page chrome
EDGE_LINE_WIDTH = 80  # ... if each is at most this wide (a CJK character counts 2)

_CJK_CHARS = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK_CHAR = re.compile(f"[{_CJK_CHARS}]")
_TOKEN = re.compile(rf"[{_CJK_CHARS}]|[^\W{_CJK_CHARS}]+")
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])|(?<=[.]) ")
_STAMP = re.compile(
    r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?\s*(?:T|\s)*\d{1,2}:\d{2}(?::\d{2})?"
    r"|\b\d{1,2}:\d{2}:\d{2}\b"
)
# Words that make a line page furniture (a byline, a dateline, an "updated" note): only there is a
# time stamp template noise. A date inside a body sentence ("截止时间为2025年5月11日17:00") is content.
_FURNITURE = re.compile(
    r"(?:更新时间|发布时间|发布日期|发表时间|发表于|发布于|更新于|来源\s*:|稿源|编辑\s*:|责任编辑|作者\s*:|记者|"
    r"浏览次数|阅读量|点击数|时间\s*:|日期\s*:)"
    r"|\b(?:updated|published|posted|modified|last (?:updated|modified|reviewed)|reviewed|date|by|written by)\b",
    re.IGNORECASE,
)
_NOT_WORD = re.compile(r"[\W_]+")
# A line that keeps something after normalisation: not blank, not only zero-width characters.
_VISIBLE = re.compile(r"[^\s\u200b-\u200d\u2060\ufeff\u00ad\u180e]")


@dataclass(frozen=True)
class TextSide:
    """One side of a comparison: what drift needs of a capture and its fingerprint."""

    payload_sha256: str | None
    text_sha256: str | None
    title: str | None
    text: str | None
    main_text: str | None

    @classmethod
    def of(cls, fp: Fingerprint, payload_sha256: str | None) -> TextSide:
        return cls(payload_sha256, fp.text_sha256, fp.title, fp.text, fp.main_text)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.casefold())


def _dice(a: str, b: str) -> float:
    """Multiset Dice overlap of 3-token shingles (single tokens for very short texts)."""
    ta, tb = _tokens(a), _tokens(b)
    if not ta or not tb:
        return 0.0
    if len(ta) > MAX_SHINGLE_TOKENS or len(tb) > MAX_SHINGLE_TOKENS:
        return 0.0
    k = SHINGLE if min(len(ta), len(tb)) >= SHINGLE * 2 else 1
    ca = Counter(zip(*(ta[i:] for i in range(k)), strict=False))
    cb = Counter(zip(*(tb[i:] for i in range(k)), strict=False))
    common = sum((ca & cb).values())
    return 2 * common / (sum(ca.values()) + sum(cb.values()))


def _matcher(a: Sequence[str], b: Sequence[str]) -> SequenceMatcher[str]:
    # autojunk off: a line repeated through a page ("Advertisement") must still be able to match.
    return SequenceMatcher(None, a, b, autojunk=False)


Opcode = tuple[str, int, int, int, int]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _matched_chars(units_a: Sequence[str], units_b: Sequence[str], ops: Sequence[Opcode], level: int) -> float:
    """Characters of a matched in b (weighted), given their alignment; what differs is refined."""
    matched = 0.0
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            matched += sum(len(u) for u in units_a[i1:i2])
        elif tag == "replace":
            block_a, block_b = units_a[i1:i2], units_b[j1:j2]
            if level == 0:
                sa = [s for p in block_a for s in _sentences(p)]
                sb = [s for p in block_b for s in _sentences(p)]
                matched += _matched_chars(sa, sb, _matcher(sa, sb).get_opcodes(), 1)
            else:
                text_a, text_b = " ".join(block_a), " ".join(block_b)
                matched += _dice(text_a, text_b) * (len(text_a) + len(text_b)) / 2
    return matched


def _share_kept(lines_a: Sequence[str], lines_b: Sequence[str], ops: Sequence[Opcode]) -> float:
    total = sum(map(len, lines_a)) + sum(map(len, lines_b))
    if total == 0:
        return 1.0
    return min(1.0, 2 * _matched_chars(lines_a, lines_b, ops, 0) / total)


def _mask_line(line: str) -> str:
    masked = _STAMP.sub("<time>", line)
    if masked == line:
        return line
    rest = _NOT_WORD.sub("", masked.replace("<time>", ""))
    return masked if not rest or _FURNITURE.search(line) else line


def _mask(lines: Sequence[str]) -> list[str]:
    """Time stamps masked where they are page furniture: a line that is only a stamp, or a byline.

    Only lines with a colon can hold a clock time: the regex is the slow part of a big compare.
    """
    return [_mask_line(line) if ":" in line else line for line in lines]


def similarity(text_a: str, text_b: str) -> float:
    """Share of text that survived from a to b, in [0, 1]; texts in `comparable_text` form."""
    if text_a == text_b:
        return 1.0
    lines_a, lines_b = text_a.splitlines(), text_b.splitlines()
    return _share_kept(lines_a, lines_b, _matcher(lines_a, lines_b).get_opcodes())


def _bigram_dice(a: str, b: str) -> float:
    if not a or not b:
        return 1.0 if a == b else 0.0
    ga = Counter(a[i : i + 2] for i in range(max(1, len(a) - 1)))
    gb = Counter(b[i : i + 2] for i in range(max(1, len(b) - 1)))
    return 2 * sum((ga & gb).values()) / (sum(ga.values()) + sum(gb.values()))


def title_similarity(a: str, b: str) -> float:
    """Character-bigram Dice of the two titles' headlines (site and section names set aside)."""
    if comparable_text(a).casefold() == comparable_text(b).casefold():
        return 1.0
    return _bigram_dice(quote_key(headline(a)), quote_key(headline(b)))


def quote_key(text: str) -> str:
    """A text reduced to letters, digits and CJK: for finding a quote whatever its punctuation."""
    return _NOT_WORD.sub("", comparable_text(text).casefold())


def contains_quote(side: TextSide, quote: str) -> bool | None:
    """Whether the quote (or expected title) appears in the side's title or visible text."""
    if side.text is None:
        return None
    needle = quote_key(quote)
    if not needle:
        return None
    return needle in quote_key(f"{side.title or ''}\n{side.text}")


def as_written(raw: str, compared: list[str]) -> list[str]:
    """The lines of `raw` as the page wrote them (full-width "，" stays), one per compared line.

    Excerpts are quoted from these (a translator copies them); the normalised lines are for
    comparing only. Should the two ever not pair up line for line, the compared lines are shown.
    """
    lines = [" ".join(line.split()) for line in raw.splitlines()]
    lines = [line for line in lines if _VISIBLE.search(line)]
    return lines if len(lines) == len(compared) else compared


def _clip(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def paragraph_changes(
    shown_a: Sequence[str], shown_b: Sequence[str], ops: Sequence[Opcode], limit: int
) -> tuple[int, int, list[Change]]:
    """(paragraphs removed, paragraphs added, first `limit` changes) from an alignment of the two
    line lists, counted like a diffstat: a changed paragraph counts once on each side."""
    added = removed = 0
    changes: list[Change] = []
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            continue
        removed += i2 - i1
        added += j2 - j1
        if len(changes) >= limit:
            continue
        before, after = shown_a[i1:i2], shown_b[j1:j2]
        for k in range(max(len(before), len(after))):
            old = before[k] if k < len(before) else ""
            new = after[k] if k < len(after) else ""
            op = "changed" if old and new else ("removed" if old else "added")
            changes.append(Change(op, _clip(old), _clip(new)))
    return removed, added, changes[:limit]


def _quotes(a: TextSide, b: TextSide, quote: str | None) -> tuple[bool | None, bool | None]:
    if not quote:
        return None, None
    return contains_quote(a, quote), contains_quote(b, quote)


def _width(line: str) -> int:
    return len(line) + len(_CJK_CHAR.findall(line))  # a CJK character is as wide as two letters


def _chrome(lines: Sequence[str]) -> bool:
    return len(lines) <= EDGE_LINES and all(_width(line) <= EDGE_LINE_WIDTH for line in lines)


def trim_chrome(lines_a: Sequence[str], lines_b: Sequence[str], ops: Sequence[Opcode]) -> tuple[list[Opcode], int]:
    """The alignment without differing page chrome at the edges, and how many lines that cut.

    Extractors disagree about where an article starts and ends (the headline, a byline or
    date line, "source:" and "editor:" notes), not about its middle: on the corpus a new template
    only added or dropped up to three short lines at the edges. So up to three short lines
    present on one side only, before the first or after the last matching paragraph, are not
    counted as drift. An edited edge line still counts, and so does every difference in between,
    however short (a table row, a figure). The cost: a short closing line deleted is not seen.
    """
    kept = list(ops)
    if not any(op[0] == "equal" for op in kept):
        return kept, 0
    cut = 0
    for index in (0, -1):
        tag, i1, i2, j1, j2 = kept[index]
        if tag in ("insert", "delete") and _chrome([*lines_a[i1:i2], *lines_b[j1:j2]]):
            del kept[index]
            cut += (i2 - i1) + (j2 - j1)
    return kept, cut


def compare(a: TextSide | None, b: TextSide | None, cfg: DriftConfig, expected_quote: str | None = None) -> Comparison:
    """Judge how b differs from a (a: the earlier or archived copy, b: the later or live one)."""
    if a is None or b is None:
        missing = "first" if a is None else "second"
        return Comparison.unknown(f"the {missing} copy is missing")
    quote_a, quote_b = _quotes(a, b, expected_quote)
    if a.payload_sha256 is not None and a.payload_sha256 == b.payload_sha256:
        return Comparison(
            DriftVerdict.IDENTICAL, 1.0, True, True, 1.0, quote_in_a=quote_a, quote_in_b=quote_b, reason="same bytes"
        )
    if a.text is None or b.text is None:
        which = "first" if a.text is None else "second"
        return Comparison.unknown(f"the {which} copy has no text to compare")
    use_main = a.main_text is not None and b.main_text is not None
    which = "main text" if use_main else "visible text"
    raw_a = a.main_text if use_main and a.main_text is not None else a.text
    raw_b = b.main_text if use_main and b.main_text is not None else b.text
    text_a, text_b = comparable_text(raw_a), comparable_text(raw_b)
    titles = title_similarity(a.title, b.title) if a.title and b.title else None
    titles_out = None if titles is None else round(titles, 4)
    if text_a == text_b:
        return Comparison(
            DriftVerdict.EQUIVALENT, 1.0, False, True, titles_out, quote_in_a=quote_a, quote_in_b=quote_b,
            reason=f"bytes differ, normalised {which} is the same",
        )  # fmt: skip
    lines_a, lines_b = text_a.splitlines(), text_b.splitlines()
    masked_a, masked_b = _mask(lines_a), _mask(lines_b)
    ops, cut = trim_chrome(masked_a, masked_b, _matcher(masked_a, masked_b).get_opcodes())
    kept_a = [i for op in ops for i in range(op[1], op[2])]
    kept_b = [j for op in ops for j in range(op[3], op[4])]
    total = sum(len(masked_a[i]) for i in kept_a) + sum(len(masked_b[j]) for j in kept_b)
    score = 1.0 if total == 0 else min(1.0, 2 * _matched_chars(masked_a, masked_b, ops, 0) / total)
    shown_a, shown_b = as_written(raw_a, lines_a), as_written(raw_b, lines_b)
    removed, added, changes = paragraph_changes(shown_a, shown_b, ops, cfg.max_excerpts)
    verdict, reason = _verdict(score, titles, cfg)
    if verdict in (DriftVerdict.EQUIVALENT, DriftVerdict.MINOR) and quote_a is not None and quote_a != quote_b:
        verdict, reason = DriftVerdict.MAJOR, "the expected quote is in one copy only"
    notes = f"{which}: {score:.1%} kept" + (f"; {cut} edge lines of page chrome ignored" if cut else "")
    return Comparison(
        verdict, round(score, 4), False, False, titles_out,
        added, removed, tuple(changes), quote_a, quote_b, f"{reason} ({notes})",
    )  # fmt: skip


def _verdict(score: float, titles: float | None, cfg: DriftConfig) -> tuple[DriftVerdict, str]:
    if score >= cfg.equivalent:
        return DriftVerdict.EQUIVALENT, "only trivial differences"
    if score >= cfg.minor:
        return DriftVerdict.MINOR, "small edits"
    if score < cfg.replaced:
        return DriftVerdict.REPLACED, "a different text"
    if titles is not None and titles < cfg.title_replaced:
        return DriftVerdict.REPLACED, f"a different title ({titles:.0%} alike) and a changed text"
    return DriftVerdict.MAJOR, "substantial changes"
