"""Find URLs in prose: the scanner every format shares, and the positions it reports.

Hand-written, not one big regular expression, because the hard cases are decisions: where a URL
stops, which trailing characters belong to the sentence, and whether a URL at a line's end goes on
at the next (PDF wrapping, `<...>`). It follows GFM's autolinker trimming and adds the wrap rule.
`LineIndex` turns offsets into 1-based line and column (characters, not bytes).
See docs/extraction.md.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

# Not after an ASCII word character: "xhttp://" is no URL, but "见https://..." in Chinese prose is.
_START = re.compile(r"(?i)(?<![A-Za-z0-9_@/\-])(?:https?://|www\.)")
# Characters that never belong to a URL in prose, beyond whitespace and controls.
_STOP_ASCII = frozenset('<>"`{}|\\^')
_STOP_OTHER = frozenset("«»¹²³")
# Sentence punctuation GFM's autolinker drops from the end of a URL.
_TRAILING = frozenset(".,;:!?*'\"")
_CLOSERS = {")": "(", "]": "[", "}": "{"}
# Characters after which a URL cut by a line break plainly goes on.
_SEPARATORS = frozenset("/-_.=&?#%~+:")
# Inside a line-initial token, these mark it as the rest of a URL rather than a word.
_STRUCTURAL = frozenset("/.=?&%#_")
# Words that follow a URL in a sentence; a URL at a line end followed by one of them has ended.
_STOPWORDS = frozenset(
    "a an and as at by for from in is it of on or see the to was were which with that this these those".split()
)
_EMBEDS_URL = re.compile(r"/web/\d{4,14}(?:[a-z]{2}_)?/$")
# Characters of context kept around a URL (make_link cuts to them); enough for a sentence.
CONTEXT_LIMIT = 400
_HOST = re.compile(r"^(?:https?://)?[^\s/?#:@.]+(?:\.[^\s/?#:@.]+)*(?::\d+)?(?:[/?#]|$)", re.I)


def is_url_char(char: str) -> bool:
    """May this character be part of a URL written in prose? (IRIs keep their letters, CJK included.)"""
    code = ord(char)
    if code <= 0x20 or code == 0x7F or char.isspace():
        return False
    if char in _STOP_ASCII or char in _STOP_OTHER:
        return False
    return not (
        0x2000 <= code <= 0x209F  # general punctuation (curly quotes, dashes, zero-width), super/subscripts
        or 0x3000 <= code <= 0x303F  # CJK symbols and punctuation: 。、「」『』《》【】
        or 0xFE10 <= code <= 0xFE6F  # vertical, compatibility and small forms
        or 0xFF01 <= code <= 0xFF0F  # fullwidth ！＂＃＄％＆＇（）＊＋，－．／
        or 0xFF1A <= code <= 0xFF20  # fullwidth ：；＜＝＞？＠
        or 0xFF3B <= code <= 0xFF40
        or 0xFF5B <= code <= 0xFF65
    )


def trim_url(url: str, before: str = "") -> str:
    """Drop sentence punctuation from the end of a URL: `.` `,` `;` `:` `!` `?` quotes, unbalanced
    closing brackets, and emphasis markers (`_` `~` only when the URL opened with the same)."""
    end = len(url)
    # A bracket's count in url[:end], taken once and kept as closers are dropped: recounting (and
    # re-slicing) per character was quadratic in a run of closers (50,000 `]`: 3 s).
    counts: dict[str, int] = {}
    while end:
        last = url[end - 1]
        if last in _TRAILING or (last in "_~" and before == last) or last == ">":
            end -= 1
        elif last in _CLOSERS:
            opener = _CLOSERS[last]
            if last not in counts:
                counts[last], counts[opener] = url.count(last, 0, end), url.count(opener, 0, end)
            if counts[last] <= counts[opener]:
                break
            counts[last] -= 1
            end -= 1
        else:
            break
    return url[:end]


@dataclass(frozen=True)
class Found:
    """A URL found in text: the URL (line breaks removed when it was wrapped) and its offsets."""

    url: str
    start: int
    end: int


def _continues(run: str, text: str, nxt: int, in_angle: bool) -> bool:
    """Does the URL `run`, cut by the line break before `nxt`, go on at the start of the next line?

    Inside `<...>` it does when the next line's first token runs up to the closing `>`. In free text
    the first token of the next line must look like the rest of a URL (a `/`, `.`, `=`, `%`...,
    or letters mixed with digits) or the URL must end in a separator (`/`, `-`, `.`...) and the
    next token must not read as the sentence going on: a common word, or a capital after a period.
    """
    end = nxt
    while end < len(text) and is_url_char(text[end]):
        end += 1
    token = text[nxt:end]
    if not token:
        return False
    if in_angle:
        return end < len(text) and text[end] == ">"
    core = trim_url(token)
    if not core:
        return False
    if re.match(r"(?i)^(?:https?://|www\.)", core):
        # A new URL on the next line: the rest of this one only when this one is an archive
        # prefix that embeds a URL (Wayback's /web/<timestamp>/).
        return bool(_EMBEDS_URL.search(run))
    if any(c in _STRUCTURAL for c in core):
        return True
    if any(c.isdigit() for c in core) and any(c.isalpha() for c in core):
        return True
    if run[-1] not in _SEPARATORS:
        return False
    if core.lower() in _STOPWORDS:
        return False
    return not (run[-1] == "." and core[0].isupper())


def scan_urls(text: str, *, join_wrapped: bool = False) -> list[Found]:
    """Every http(s) or `www.` URL in `text`, in order.

    `join_wrapped` joins a URL broken across lines (PDF text); a URL opened with `<` is joined
    across a line break in any text. `www.` URLs are returned with `http://` in front, as GFM does,
    so that every URL returned can be fetched.
    """
    found: list[Found] = []
    pos = 0
    while True:
        match = _START.search(text, pos)
        if match is None:
            break
        start = match.start()
        before = text[start - 1] if start else ""
        in_angle = before == "<"
        pieces: list[str] = []
        i = start
        piece_start = start
        while True:
            while i < len(text) and is_url_char(text[i]):
                i += 1
            pieces.append(text[piece_start:i])
            run = "".join(pieces)
            at_break = i < len(text) and text[i] == "\n" and i > piece_start
            if at_break and (join_wrapped or in_angle) and _continues(run, text, i + 1, in_angle):
                i += 1
                piece_start = i
                continue
            break
        url = trim_url("".join(pieces), before)
        pos = max(i, match.end())
        if not _HOST.match(url) or url.lower() in ("http://", "https://"):
            continue
        if url[:4].lower() == "www.":
            if "." not in url[4:].split("/")[0]:
                continue
            url = "http://" + url
        _, sep, rest = url.partition("://")
        if not sep or rest[:1] in ("", "/", ".", "?", "#"):  # no "://" left after trimming (fuzz/ found it)
            continue
        found.append(Found(url=url, start=start, end=i))
    return found


class LineIndex:
    """Offsets to 1-based (line, column) and back to the text of a line."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self._letters: dict[int, int] = {}
        self._clipped: dict[int, str] = {}
        self._alone: dict[tuple[int, str], bool] = {}

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self._starts, offset)
        return line, offset - self._starts[line - 1] + 1

    def line_text(self, line: int) -> str:
        start = self._starts[line - 1]
        end = self._starts[line] - 1 if line < len(self._starts) else len(self.text)
        return self.text[start:end]

    def offset(self, line: int, column: int) -> int:
        return self._starts[line - 1] + column - 1

    def letters(self, line: int) -> int:
        """How many letters the line holds (counted once a line)."""
        if line not in self._letters:
            self._letters[line] = sum(1 for c in self.line_text(line) if c.isalpha())
        return self._letters[line]

    def clipped(self, line: int) -> str:
        """The line, or as much of its start as a context keeps (once a line; see `clip`)."""
        if line not in self._clipped:
            self._clipped[line] = clip(self.line_text(line))
        return self._clipped[line]

    def stands_alone(self, line: int, url: str) -> bool:
        """Is `url` all the line says: no letter left once it (and one `http://`) is taken out?"""
        key = (line, url)
        if key not in self._alone:
            text = self.line_text(line)
            # Counting first spares the character-by-character look on every URL of a long line
            # (a 32 KB line of URLs took 1-4 s); it is needed only when a few letters may be left.
            left = self.letters(line) - text.count(url) * sum(1 for c in url if c.isalpha())
            if left > len("http"):
                self._alone[key] = False
            elif left <= 0:
                self._alone[key] = True
            else:
                rest = text.replace(url, "").replace("http://", "", 1)
                self._alone[key] = not any(c.isalpha() for c in rest)
        return self._alone[key]


def clip(context: str, limit: int = CONTEXT_LIMIT) -> str:
    """`context`, or the start of it that keeps its first `limit` characters once its whitespace
    is collapsed (what `make_link` keeps): a link on a 1 MB line need not carry the whole line."""
    kept = 0  # the collapsed length so far, with the space before the next word
    for word in re.finditer(r"\S+", context):
        if kept + len(word.group()) > limit:  # one character past the limit, so a cut is still seen
            return context[: word.start() + limit + 1 - kept]
        kept += len(word.group()) + 1
    return context


def line_context(index: LineIndex, line: int, url: str) -> str:
    """The line a URL stands on; when the URL stands alone there, the line before it too, which
    is where "The source text is available online at:" puts the words that explain it."""
    text = index.clipped(line)
    if not index.stands_alone(line, url):
        return text
    for previous in range(line - 1, 0, -1):
        before = index.clipped(previous)
        if before.strip():
            return clip(f"{before.strip()} {text.strip()}")
    return text


def normalise_newlines(text: str) -> str:
    """CRLF and CR become LF, so that line numbers agree with what an editor shows."""
    return text.replace("\r\n", "\n").replace("\r", "\n")
