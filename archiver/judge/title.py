"""Page titles: the headline without the site name, and whether a document names it.

Titles are "headline | section | site" in some order, with separators that sites write with or
without spaces ("标题-新华网", "Title – Site", "a::b"); the longest part is the headline. A title
in another script than the document (a Chinese page cited in an English brief) cannot be looked
for in it, which is information, not a reason to doubt the archive link.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from archiver.content.fingerprint import comparable_text

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_LETTER = re.compile(r"[^\W\d_]")
_NOT_WORD = re.compile(r"[\W_]+")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+|www\.\S+")
# Spaced separators of any kind; unspaced ones that never join a word (| ｜ _ – — ::); and a plain
# hyphen next to a CJK character, where it cannot be part of a compound word.
_SEPARATORS = re.compile(rf"\s+(?:[-|–—_·:]|::)\s+|\s*(?:[|｜_–—]|::)\s*|(?<=[{_CJK}])\s*-\s*|\s*-\s*(?=[{_CJK}])")
MIN_HEADLINE = 4  # characters; a shorter headline ("首页", "Home") says nothing about the page


class TitleMatch(StrEnum):
    FOUND = "found"
    MISSING = "missing"
    OTHER_SCRIPT = "other_script"  # the title is CJK and the document is not, or the other way round


def title_parts(title: str) -> list[str]:
    parts = [p.strip() for p in _SEPARATORS.split(title) if p and p.strip()]
    return parts or [title.strip()]


def _width(text: str) -> int:
    return len(text) + len(_CJK_CHAR.findall(text))  # a CJK character is as wide as two letters


def headline(title: str) -> str:
    """The longest part of a title: the headline, without site and section names."""
    return max(title_parts(title), key=_width)


def _key(text: str) -> str:
    return _NOT_WORD.sub("", comparable_text(text).casefold())


def is_cjk(text: str) -> bool:
    """Mostly CJK characters among its letters."""
    letters = _LETTER.findall(text)
    if not letters:
        return False
    return sum(1 for ch in letters if _CJK_CHAR.match(ch)) * 2 > len(letters)


@dataclass(frozen=True)
class DocumentText:
    """A document's text as titles are looked for in it: its `quote_key` form, and its script."""

    key: str
    cjk: bool

    @classmethod
    def of(cls, text: str) -> DocumentText:
        # The document's URLs are letters too, and would make any Chinese document "Latin".
        return cls(_key(text), is_cjk(_URL.sub(" ", text)))


def title_in_text(title: str | None, document: DocumentText) -> TitleMatch | None:
    """Does the title's headline appear in the document? None when there is no usable title."""
    if not title:
        return None
    key = _key(headline(title))
    if len(key) < MIN_HEADLINE:
        return None
    if key in document.key:
        return TitleMatch.FOUND
    if is_cjk(key) != document.cjk:
        return TitleMatch.OTHER_SCRIPT
    return TitleMatch.MISSING
