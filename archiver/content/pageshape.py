"""What one parse of a page tells: title, headings, visible text and its size, scripts, redirects.

`archiver.judge.pagekind` reads its signs from this shape. The page is parsed once, with
selectolax's Lexbor parser, and the fingerprint measures the shape on its own parse (`measure`),
so a capture parses its page once. The costly parts are skipped on the pages that need them
least: an article's text is measured, never searched, and its headings and chrome are not looked
at. An ASCII text's whitespace is collapsed with `str.replace` passes (memchr scans) rather than
a split into words, with exactly `" ".join(text.split())`'s result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple, cast

from selectolax.lexbor import LexborHTMLParser, LexborNode

# Visible-text sizes are in UTF-8 bytes: a Chinese character is 3, so a limit means about the same
# amount of reading in either language.
LONG = 12_000  # past this a page is an article whatever its title or headings say
ARTICLE = 2000  # paragraph (<p>) text past this makes an article too: notices and walls have a line or two
TINY = 600  # below this, a page is only its scripts (where a mount point matters)
BODY_WINDOW = 4000  # characters of a page's text kept for phrase search
# What `text()` would otherwise include: `measure` strips these from the tree it is given, as the
# fingerprint's visible text wants them stripped too. SVG is set apart only while measuring.
SCRIPTING = ["script", "style", "noscript", "template"]
# Elements that mount a client-side app (a sign only on a tiny page).
MOUNT_POINTS = "#root, #app, #__next, #__nuxt, #react-root, #q-app, #svelte, app-root, [data-reactroot]"

# The ASCII characters `str.split()` splits on besides the space (`str.isspace`; a test holds it).
ASCII_SPACES = "\n\t\r\x0b\x0c\x1c\x1d\x1e\x1f"
_SPLIT_IS_CHEAPER = 2000  # characters: below this, splitting into words costs less than the scans
TWO_SPACES = re.compile("  ")  # its search is twice as fast as `"  " in text`


@dataclass(frozen=True)
class PageShape:
    """The parts of a page that signs are looked for in. `core_bytes` is the text outside nav, header,
    footer and aside; `article` says the page is prose (long, or with paragraphs), so its wording is
    not read; `text` is the start of the visible text, whitespace collapsed (empty for an article)."""

    title: str = ""
    headings: tuple[str, ...] = ()
    text: str = ""
    text_bytes: int = 0
    core_bytes: int = 0
    article: bool = False
    script_bytes: int = 0
    external_scripts: int = 0
    scripts: tuple[str, ...] = ()
    noscript: str = ""
    mount_point: bool = False
    refresh: str | None = None


def collapse(text: str) -> str:
    """`" ".join(text.split())`, without making a string of every word of a long ASCII text.

    Other texts are split: finding the rarer Unicode spaces in them costs as much as the split.
    """
    if len(text) < _SPLIT_IS_CHEAPER or not text.isascii():
        return " ".join(text.split())
    for space in ASCII_SPACES:
        if space in text:
            text = text.replace(space, " ")
    while TWO_SPACES.search(text):
        text = text.replace("  ", " ")
    return text.strip(" ")


def utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))


def plain_shape(body: str) -> PageShape:
    """A text/plain (or JSON) body: all of it is visible text."""
    text, size = _visible(body)
    return PageShape(text=text, text_bytes=size, core_bytes=size, article=size >= LONG)


def html_shape(body: str) -> PageShape:
    """Parse `body` once and measure it."""
    return measure(LexborHTMLParser(body), len(body))


def measure(tree: LexborHTMLParser, chars: int) -> PageShape:
    """Measure a parsed page of `chars` characters of markup, and strip `SCRIPTING` from `tree`.

    The rest of the tree is left as it was: SVG (whose text is not visible) is taken out while
    the text is measured and put back, so that the fingerprint reads the same tree after this as
    before it.
    """
    # By tag name, not CSS: a page whose shape needs no selector never pays for Lexbor's CSS engine
    # (set up and torn down with each parse, about as dear as parsing 10 KB).
    title, refresh, noscript = "", None, []
    for node in tree.tags("title"):
        title = collapse(node.text())
        if title:
            break
    for node in tree.tags("meta"):
        if (node.attributes.get("http-equiv") or "").lower() == "refresh":
            refresh = node.attributes.get("content") or ""
    scripts: list[str] = []
    script_bytes = external = hidden = 0  # hidden: characters of script, style and noscript, which text() includes
    for node in tree.tags("script"):
        if node.attributes.get("src"):
            external += 1
            continue
        code = node.text()
        hidden += len(code)
        script_bytes += len(code)
        if len(scripts) < 8:
            scripts.append(code[:20_000])
    for node in tree.tags("noscript"):
        code = node.text()
        hidden += len(code)
        noscript.append(code)
    hidden += sum(len(node.text()) for node in tree.tags("style"))

    def shape(text: _TextShape) -> PageShape:
        return PageShape(
            title=title,
            refresh=refresh,
            noscript=collapse(" ".join(noscript))[:1000],
            scripts=tuple(scripts),
            script_bytes=script_bytes,
            external_scripts=external,
            headings=text.headings,
            text=text.text,
            text_bytes=text.text_bytes,
            core_bytes=text.core_bytes,
            article=text.article,
            mount_point=text.mount_point,
        )

    root = tree.body
    # Most captures are articles: when the text is plainly long even counting every script and
    # style as part of it, the second pass (strip those, take the text again) is skipped. Only
    # tried when the markup outside scripts could hold that much text (not on an app shell).
    if chars - hidden >= LONG:
        raw = root.text(separator=" ") if root is not None else ""
        if len(raw) - raw.count(" ") - raw.count("\n") - hidden >= LONG:
            size = len(raw) - hidden
            tree.strip_tags(SCRIPTING)
            return shape(_TextShape(text_bytes=size, core_bytes=size, article=True))
    tree.strip_tags(SCRIPTING)
    # Each SVG leaves an empty text node where it stood, to be put back there: the node adds
    # nothing to a text but a separator, which collapsing removes.
    svgs = tree.tags("svg")
    places = []
    for svg in svgs:
        svg.insert_before("")
        places.append(cast(LexborNode, svg.prev))  # the text node just inserted
        svg.decompose(recursive=False)
    try:
        return shape(_measure_text(tree, root))
    finally:
        for svg, place in zip(reversed(svgs), reversed(places), strict=True):
            place.insert_before(svg, move=True)
            place.decompose()


class _TextShape(NamedTuple):
    """The part of a `PageShape` read from the visible text (SVG, scripts and styles left out)."""

    text_bytes: int
    core_bytes: int
    article: bool
    text: str = ""
    headings: tuple[str, ...] = ()
    mount_point: bool = False


def _measure_text(tree: LexborHTMLParser, root: LexborNode | None) -> _TextShape:
    text, size = _visible(root.text(separator=" ") if root is not None else "")
    mount_point = size < TINY and tree.css_first(MOUNT_POINTS) is not None
    article = size >= LONG or sum(utf8_size(n.text()) for n in tree.tags("p")) >= ARTICLE
    core, headings = size, tuple[str, ...]()
    if not article:
        chrome = tree.css("nav, header, footer, aside")
        core = max(0, size - sum(utf8_size(collapse(n.text(separator=" "))) for n in chrome))
        headings = tuple(collapse(h.text())[:200] for h in tree.css("h1, h2, h3")[:8])
    return _TextShape(size, core, article, "" if article else text, headings, mount_point)


def _visible(raw: str) -> tuple[str, int]:
    """The start of the text with whitespace collapsed (none for an article), and its size in UTF-8 bytes.

    Collapsing 100 KB of text costs more than the rest of `classify`, so a big text is measured
    by counting what is not a separator instead; only whether it passes `LONG` hangs on the figure.
    """
    if len(raw) > 4 * LONG:
        # Characters other than the separators: a lower bound of the UTF-8 size, enough to pass LONG.
        size = len(raw) - raw.count(" ") - raw.count("\n")
        if size >= LONG:
            return "", size  # an article: its wording is never read
    text = collapse(raw)
    return text[:BODY_WINDOW], utf8_size(text)
