"""What one parse of a page tells: title, headings, visible text and its size, scripts, redirects.

`archiver.judge.pagekind` reads its signs from this shape. The page is parsed once, with
selectolax's Lexbor parser (the fastest HTML parser the project has, see `archiver.fingerprint`),
and the costly parts are skipped on the pages that need them least: an article's text is measured,
never collapsed or searched, and its headings and chrome are not looked at.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from selectolax.lexbor import LexborHTMLParser

from archiver.judge import pagesigns as signs

# Visible-text sizes are in UTF-8 bytes: a Chinese character is 3, so a limit means about the same
# amount of reading in either language.
LONG = 12_000  # past this a page is an article whatever its title or headings say
ARTICLE = 2000  # paragraph (<p>) text past this makes an article too: notices and walls have a line or two
TINY = 600  # below this, a page is only its scripts (where a mount point matters)
BODY_WINDOW = 4000  # characters of a page's text kept for phrase search
_HIDDEN = ["script", "style", "noscript", "template", "svg"]


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


def plain_shape(body: str) -> PageShape:
    """A text/plain (or JSON) body: all of it is visible text."""
    text, size = _visible(body)
    return PageShape(text=text, text_bytes=size, core_bytes=size, article=size >= LONG)


def html_shape(body: str) -> PageShape:
    """Parse `body` once and measure it."""
    tree = LexborHTMLParser(body)
    title, refresh, noscript = "", None, []
    scripts: list[str] = []
    script_bytes = external = hidden = 0  # hidden: characters of script, style and noscript, which text() includes
    for node in tree.css("title, meta[http-equiv], script, noscript, style"):
        tag = node.tag
        if tag == "title":
            title = title or " ".join(node.text().split())
        elif tag == "meta":
            if (node.attributes.get("http-equiv") or "").lower() == "refresh":
                refresh = node.attributes.get("content") or ""
        elif tag == "script" and node.attributes.get("src"):
            external += 1
        else:
            code = node.text()
            hidden += len(code)
            if tag == "script":
                script_bytes += len(code)
                if len(scripts) < 8:
                    scripts.append(code[:20_000])
            elif tag == "noscript":
                noscript.append(code)
    head = PageShape(
        title=title,
        refresh=refresh,
        noscript=" ".join(" ".join(noscript).split())[:1000],
        scripts=tuple(scripts),
        script_bytes=script_bytes,
        external_scripts=external,
    )
    root = tree.body
    # Most captures are articles: when the text is plainly long even counting every script and
    # style as part of it, the second pass (strip those, take the text again) is skipped. Only
    # tried when the markup outside scripts could hold that much text (not on an app shell).
    if len(body) - hidden >= LONG:
        raw = root.text(separator=" ") if root is not None else ""
        if len(raw) - raw.count(" ") - raw.count("\n") - hidden >= LONG:
            size = len(raw) - hidden
            return replace(head, text_bytes=size, core_bytes=size, article=True)
    tree.strip_tags(_HIDDEN)
    text, size = _visible(root.text(separator=" ") if root is not None else "")
    mount_point = size < TINY and tree.css_first(signs.MOUNT_POINTS) is not None
    article = size >= LONG or sum(len(n.text().encode()) for n in tree.css("p")) >= ARTICLE
    core, headings = size, tuple[str, ...]()
    if not article:
        chrome = tree.css("nav, header, footer, aside")
        core = max(0, size - sum(len(" ".join(n.text(separator=" ").split()).encode()) for n in chrome))
        headings = tuple(" ".join(h.text().split())[:200] for h in tree.css("h1, h2, h3")[:8])
    return replace(
        head,
        headings=headings,
        text="" if article else text,
        text_bytes=size,
        core_bytes=core,
        article=article,
        mount_point=mount_point,
    )


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
    text = " ".join(raw.split())
    return text[:BODY_WINDOW], len(text.encode("utf-8", "replace"))
