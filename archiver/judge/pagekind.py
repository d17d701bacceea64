"""What a captured page is: its own content, or a wall, a notice, a shell, an error or nothing.

Every verdict reads this first (issue 10): a captcha page or "页面不存在或已被删除" served with 200 is
not evidence of what a citation said. Signs are weighed by where they stand: 3 = decisive (a wall's
header or URL, the title), 2 = strong (the status, a heading), 1 = suggestive (a short page's text,
its shape); the strongest kind wins, ties go by `PRECEDENCE`. An article (long, or with paragraphs
of prose) is `content` whatever its title or nav mention. Pure and cheap: one parse of at most
512 KiB (`content.pageshape`), none when the fingerprint measured the page on its own parse; the
phrase and marker tables are data (`judge.pagesigns`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from archiver.content.fingerprint import MARKUP_CHARS, Fingerprint, PayloadKind
from archiver.content.pageshape import TINY, PageShape, html_shape, plain_shape
from archiver.judge import pagesigns as signs
from archiver.models import PageKind

# Only the head of a huge body is read: walls and notices are small, and an article is an
# article long before its 512th KiB.
MAX_CHARS = MARKUP_CHARS
# Visible-text sizes in UTF-8 bytes, as in `content.pageshape`.
SHORT = 1500  # below this (nav, header, footer and aside set apart) the body's wording is the page's message
SCANNED = 3000  # below this the raw markup is scanned for wall markers
MARKUP_WINDOW = 32 * 1024  # characters of markup scanned
BARELY = 3  # bytes of visible text below which, without scripts, a page is empty ("" or a lone nbsp); "hello" is a page
SCRIPT_HEAVY = 200  # bytes of inline script (external scripts count 1000 each) that can build a page
TOPIC_SLACK = 12  # characters a title part may add to a phrase and still be the page's message

# Ties between equally strong signs: a wall hides everything behind it, a removal notice is more
# specific than "not found", and the structural kinds are what is left when nothing speaks.
PRECEDENCE: tuple[PageKind, ...] = (
    PageKind.CHALLENGE,
    PageKind.LOGIN_WALL,
    PageKind.REMOVED,
    PageKind.NOT_FOUND,
    PageKind.ERROR_PAGE,
    PageKind.APP_SHELL,
    PageKind.EMPTY,
)
_RANK = {kind: i for i, kind in enumerate(PRECEDENCE)}
# A kind in words, as verdict reasons name what a page is.
KIND_NOUNS: Mapping[PageKind, str] = {
    PageKind.CONTENT: "the page's own content",
    PageKind.NOT_FOUND: "a not-found page",
    PageKind.REMOVED: "a removal notice",
    PageKind.LOGIN_WALL: "a login wall",
    PageKind.CHALLENGE: "a bot challenge",
    PageKind.APP_SHELL: "an app shell whose content only scripts would load",
    PageKind.EMPTY: "an empty page",
    PageKind.ERROR_PAGE: "a server-error page",
}
_PLAIN_TYPES = ("text/plain", "application/json", "text/csv")
# Whole bodies that say nothing: an API or a template that rendered no value.
_NOTHING = frozenset({"null", "undefined", "{}", "[]", '""', "none", "nil"})

Headers = Mapping[str, str] | Sequence[tuple[str, str]]


@dataclass(frozen=True, kw_only=True)
class PageInput:
    """What a capture says about itself. `headers` are the final hop's (looked up case-insensitively);
    `html` is the decoded body (HTML or plain text) or None when there was none; `shape` is
    `html_shape(html)` when a parse already measured it (the fingerprint's), for an HTML body."""

    html: str | None
    status: int | None = None
    headers: Headers = ()
    url: str = ""
    requested_url: str | None = None
    content_type: str | None = None
    shape: PageShape | None = None


@dataclass(frozen=True)
class PageClass:
    """The kind of a page, the signs it was read from, and where the page sends a browser if it only redirects."""

    kind: PageKind
    evidence: tuple[str, ...] = ()
    redirect_to: str | None = None

    def describe(self) -> str:
        """One sentence, e.g. "a login wall (title says 'Sina Visitor System')"."""
        text = KIND_NOUNS[self.kind] + (f" ({self.evidence[0]})" if self.evidence else "")
        return text + (f", redirecting to {self.redirect_to}" if self.redirect_to else "")


@dataclass(frozen=True)
class _Sign:
    kind: PageKind
    weight: int
    evidence: str
    span: int = 0  # characters of the phrase matched, for a title's


def classify(page: PageInput) -> PageClass:
    """Read what kind of page `page` is; see the module docstring for how signs are weighed."""
    headers = _lower_headers(page.headers)
    body = (page.html or "")[:MAX_CHARS]
    found: list[_Sign] = []
    found += _status_signs(page.status, headers)
    found += _header_signs(headers, page.status)
    if not body.strip():
        found += _url_signs(page.url, page.requested_url)
        found.append(_Sign(PageKind.EMPTY, 3, "no body"))
        return _decide(found, None)
    ctype = (page.content_type or headers.get("content-type", "")).split(";", 1)[0].strip().lower()
    if ctype in _PLAIN_TYPES:
        shape = plain_shape(body)
    else:
        shape = page.shape if page.shape is not None and len(body) == len(page.html or "") else html_shape(body)
    redirected = bool(page.requested_url) and page.requested_url != page.url
    # An article that happens to live at /passport/… or /404-errors-explained is still an article;
    # being sent there from the cited URL is what makes the URL a sign.
    if redirected or not shape.article:
        found += _url_signs(page.url, page.requested_url)
    found += _phrase_signs(shape)
    redirect = _redirect_target(shape, page.url, headers, page.status)
    if redirect and (signs.LOGIN_PATH.search(urlsplit(redirect).path) or _is_login_host(redirect)):
        found.append(_Sign(PageKind.LOGIN_WALL, 3, f"the page only sends the browser to a sign-in page ({redirect})"))
    if shape.text_bytes < SCANNED:
        found += _markup_signs(body, shape, page.status)
    found += _shape_signs(shape, redirect)
    if any(s.kind is PageKind.CHALLENGE for s in found):
        found += _cookie_signs(headers)
    return _decide(found, redirect)


def _decide(found: list[_Sign], redirect: str | None) -> PageClass:
    if not found:
        return PageClass(PageKind.CONTENT, (), redirect)
    best = max(found, key=lambda s: (s.weight, -_RANK[s.kind])).kind
    ordered = sorted((s for s in found if s.kind is best), key=lambda s: -s.weight)
    evidence = tuple(dict.fromkeys(s.evidence for s in ordered))
    return PageClass(best, evidence, redirect)


def _lower_headers(headers: Headers) -> dict[str, str]:
    pairs: Iterable[tuple[str, str]] = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        # Set-Cookie repeats; keep every value, one a line, so each cookie name is seen.
        out[key] = f"{out[key]}\n{value}" if key in out else value
    return out


def _status_signs(status: int | None, headers: Mapping[str, str]) -> list[_Sign]:
    if status is None:
        return []
    if status in (404, 410):
        kind = PageKind.NOT_FOUND if status == 404 else PageKind.REMOVED
        return [_Sign(kind, 2, f"HTTP {status}")]
    if status == 401 or (status == 407 and "proxy-authenticate" in headers):
        return [_Sign(PageKind.LOGIN_WALL, 2, f"HTTP {status} (authentication required)")]
    if status in signs.REFUSING_STATUSES and status != 202:
        # A refusal is most often a bot wall, but it says little alone: any phrase outweighs it.
        return [_Sign(PageKind.CHALLENGE, 1, f"HTTP {status} (the server refused the request)")]
    if status >= 500:
        return [_Sign(PageKind.ERROR_PAGE, 2, f"HTTP {status}")]
    if status == 204:
        return [_Sign(PageKind.EMPTY, 2, "HTTP 204 (no content)")]
    return []


def _header_signs(headers: Mapping[str, str], status: int | None) -> list[_Sign]:
    found = []
    for name, value in signs.CHALLENGE_HEADERS:
        if headers.get(name, "").strip().lower() == value:
            found.append(_Sign(PageKind.CHALLENGE, 3, f"header {name}: {value}"))
    if "x-datadome" in headers and status in signs.REFUSING_STATUSES:
        found.append(_Sign(PageKind.CHALLENGE, 3, f"HTTP {status} with an x-datadome header (DataDome)"))
    return found


def _cookie_signs(headers: Mapping[str, str]) -> list[_Sign]:
    names = signs.COOKIE_NAME.findall(headers.get("set-cookie", ""))
    found = []
    for name in names:
        for pattern, vendor in signs.WALL_COOKIES:
            if pattern.match(name):
                found.append(_Sign(PageKind.CHALLENGE, 1, f"sets cookie {name} ({vendor})"))
                break
    return found


def _is_login_host(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return any(label in signs.LOGIN_HOST_LABELS for label in host.split(".")[:-2])


def _url_signs(url: str, requested: str | None) -> list[_Sign]:
    if not url:
        return []
    found = []
    parts = urlsplit(url)
    if _is_login_host(url) or signs.LOGIN_PATH.search(parts.path):
        found.append(_Sign(PageKind.LOGIN_WALL, 3, f"final URL is a sign-in page ({parts.hostname}{parts.path})"))
    if signs.CHALLENGE_URL.search(url):
        found.append(_Sign(PageKind.CHALLENGE, 3, f"final URL is a challenge page ({parts.hostname}{parts.path})"))
    if signs.NOT_FOUND_PATH.search(parts.path):
        found.append(_Sign(PageKind.NOT_FOUND, 2, f"final URL is an error page ({parts.path})"))
    if requested and requested != url:
        asked = urlsplit(requested)
        if (
            asked.path not in signs.ROOT_PATHS
            and parts.path in signs.ROOT_PATHS
            and not parts.query
            and _site(asked.hostname) == _site(parts.hostname)
        ):
            found.append(_Sign(PageKind.NOT_FOUND, 2, f"asked for {asked.path}, landed on the site's home page"))
    return found


def _site(host: str | None) -> str:
    return ".".join((host or "").removeprefix("www.").split(".")[-3:])


def _phrase_signs(shape: PageShape) -> list[_Sign]:
    if shape.article:
        return []
    short = shape.core_bytes < SHORT
    found, topics = _title_signs(shape.title, short)
    for heading in shape.headings:
        # An h1 that repeats a title part naming its topic ("nginx 502 Bad Gateway with gunicorn") is not a notice.
        if heading and not any(topic in heading or heading in topic for topic in topics):
            found += _matches("heading", heading, 2, short)
    if short:
        text = shape.text
        for topic in topics:
            text = text.replace(topic, " ")
        found += _matches("text", text, 1, False)
    return found


def _title_signs(title: str, short: bool) -> tuple[list[_Sign], list[str]]:
    """Signs from the parts of the title, and the parts that only name a topic.

    A notice's title is the phrase and little else ("404 页面不存在 - 人民网"); a part that wraps the
    phrase in many more words ("Page not found after deploy · Issue #482") names what a page is about.
    """
    found, topics = [], []
    for part in signs.TITLE_SEPARATORS.split(title):
        for sign in _matches("title", part, 3, short):
            if sign.weight and len(part) - sign.span > TOPIC_SLACK:
                topics.append(part)
            else:
                found.append(sign)
    return found, topics


class _NoGuard(Exception):
    """A pattern whose first character could be anything (or that re's parser no longer reads)."""


def guarded(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """`pattern` behind a lookahead for the characters a match of it can start with: the same matches.

    re tries each of a phrase table's ~40 case-insensitive alternatives at every position of a text;
    one character-set test first turns most positions away (3-4x faster over the corpus's texts).
    The set is read from re's own parse of the pattern; when it cannot be (a pattern that may start
    with any character, or match nothing), the pattern is returned as it is.
    """
    try:
        parser, constants = importlib.import_module("re._parser"), importlib.import_module("re._constants")
        firsts, nullable = _first_chars(parser.parse(pattern.pattern, pattern.flags).data, constants)
        if nullable or not firsts:
            raise _NoGuard
        chars = "".join(re.escape(a) + ("" if a == b else "-" + re.escape(b)) for a, b in firsts)
        return re.compile(f"(?=[{chars}])(?:{pattern.pattern})", pattern.flags)
    except (_NoGuard, ImportError, AttributeError, ValueError, TypeError, re.error):
        return pattern


def _first_chars(items: Iterable[tuple[Any, Any]], c: Any) -> tuple[list[tuple[str, str]], bool]:
    """The character ranges a sequence of parsed items can start with, and whether it can match nothing."""
    out: list[tuple[str, str]] = []
    for op, av in items:
        if op is c.LITERAL:
            return [*out, (chr(av), chr(av))], False
        if op in (c.AT, c.ASSERT, c.ASSERT_NOT):  # zero-width: the next item starts the match
            continue
        if op is c.SUBPATTERN:
            firsts, nullable = _first_chars(av[3].data, c)
        elif op is c.BRANCH:
            firsts, nullable = [], False
            for branch in av[1]:
                more, empty = _first_chars(branch.data, c)
                firsts, nullable = firsts + more, nullable or empty
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            firsts, nullable = _first_chars(av[2].data, c)
            nullable = nullable or av[0] == 0
        elif op is c.IN and all(o in (c.LITERAL, c.RANGE) for o, _ in av):  # no negation, no \w or \s
            firsts = [(chr(a), chr(a)) if o is c.LITERAL else (chr(a[0]), chr(a[1])) for o, a in av]
            nullable = False
        else:
            raise _NoGuard
        out += firsts
        if not nullable:
            return out, False
    return out, True


_SPECIFIC = {kind: guarded(pattern) for kind, pattern in signs.SPECIFIC.items()}


def _matches(where: str, text: str, weight: int, bare_counts: bool) -> list[_Sign]:
    found = []
    for kind, pattern in _SPECIFIC.items():
        # A phrase in quotation marks is mentioned, not said: 'the link now gives a "Page not found" screen'.
        hit = next((m for m in pattern.finditer(text) if not _quoted(text, m.start(), m.end())), None)
        if hit:
            evidence = f"{where} says '{_quote(text, hit.start(), hit.end())}'"
            found.append(_Sign(kind, weight, evidence, hit.end() - hit.start()))
    if bare_counts:
        for kind, pattern in signs.BARE.items():
            if hit := pattern.search(text):
                evidence = f"{where} of a short page says '{_quote(text, 0, 0)}'"
                found.append(_Sign(kind, weight - 1, evidence, hit.end() - hit.start()))
    return found


def _quoted(text: str, start: int, end: int) -> bool:
    before, after = text[max(0, start - 30) : start], text[end : end + 30]
    for mark, close in signs.QUOTE_MARKS:
        if mark == close:
            if before.count(mark) % 2 and mark in after:
                return True
        elif before.rfind(mark) > before.rfind(close) and close in after:
            return True
    return False


def _quote(text: str, start: int, end: int) -> str:
    """The match with a little context, or the whole text when it is short."""
    if len(text) <= 60:
        return text
    head, tail = max(0, start - 20), min(len(text), end + 20)
    snippet = text[head:tail]
    # Cut partial words at either end (Chinese has no spaces, and is cut where it stands).
    if head and " " in snippet[: start - head]:
        snippet = snippet.split(" ", 1)[1]
    if tail < len(text) and " " in snippet[-(tail - end) :]:
        snippet = snippet.rsplit(" ", 1)[0]
    return snippet.strip()


def _markup_signs(body: str, shape: PageShape, status: int | None) -> list[_Sign]:
    # Walls are small pages: their markers sit in the first few KiB, so only the first 32 KiB are searched
    # (an app shell's megabyte of state would otherwise cost more than the whole parse).
    raw = body[:MARKUP_WINDOW]
    found = []
    for marker, what in signs.WALL_MARKERS:
        if marker in raw:
            found.append(_Sign(PageKind.CHALLENGE, 3, f"markup has {marker} ({what})"))
            break
    if shape.text_bytes < TINY:
        for marker, what in signs.WIDGET_MARKERS:
            if marker in raw:
                found.append(_Sign(PageKind.CHALLENGE, 2, f"a tiny page built around a {what}"))
                break
    if shape.text_bytes < TINY and (shape.script_bytes > 300 or shape.external_scripts):
        code = "\n".join(shape.scripts)
        if status in signs.SCRIPT_WALL_STATUSES:
            wall = f"HTTP {status} with only obfuscated script, no text (瑞数-style cookie wall)"
            found.append(_Sign(PageKind.CHALLENGE, 3, wall))
        elif "document.cookie" in code and "reload" in code:
            found.append(_Sign(PageKind.CHALLENGE, 2, "a script that sets a cookie and reloads (cookie challenge)"))
    return found


def _shape_signs(shape: PageShape, redirect: str | None) -> list[_Sign]:
    scripts = shape.script_bytes + 1000 * shape.external_scripts
    if shape.text_bytes < TINY and signs.NEEDS_SCRIPT.search(shape.noscript):
        return [_Sign(PageKind.APP_SHELL, 2, f"noscript says '{shape.noscript[:80]}'")]
    # A page whose script only sends the browser elsewhere is a redirect stub (empty), not a shell.
    if redirect is None and shape.text_bytes < TINY and (scripts >= SCRIPT_HEAVY or (shape.mount_point and scripts)):
        return [
            _Sign(
                PageKind.APP_SHELL,
                1,
                f"visible text is {shape.text_bytes} bytes while scripts are {scripts / 1024:.1f} KB",
            )
        ]
    if shape.text_bytes < BARELY:
        return [_Sign(PageKind.EMPTY, 1, f"visible text is {shape.text_bytes} bytes")]
    if shape.text.strip().lower() in _NOTHING:
        return [_Sign(PageKind.EMPTY, 1, f"the whole page is {shape.text.strip()!r}")]
    return []


def _redirect_target(shape: PageShape, url: str, headers: Mapping[str, str], status: int | None) -> str | None:
    """Where the page sends the browser, when sending it on is all the page does."""
    target: str | None = None
    if status is not None and 300 <= status < 400 and headers.get("location"):
        target = headers["location"]
    elif shape.core_bytes < SHORT:
        if shape.refresh is not None and (hit := signs.META_REFRESH_URL.match(shape.refresh)):
            target = hit.group("url")
        for code in shape.scripts if target is None else ():
            if "location" in code and (hit := signs.JS_REDIRECT.search(code, 0, 4096)):
                target = hit.group("a") or hit.group("b")
                break
    return urljoin(url, target) if target else None


def classify_fingerprint(
    fp: Fingerprint,
    *,
    status: int | None,
    headers: Headers,
    url: str,
    requested_url: str | None,
    content_type: str | None,
) -> PageClass:
    """The kind of a fetched payload, from its fingerprint (taken `with_markup=True`).

    A binary payload (a PDF, an image) is the cited document itself, not a page about it; a
    payload that could not be decoded has no kind to read, and says so.
    """
    if fp.kind is PayloadKind.BINARY:
        return PageClass(PageKind.CONTENT, (f"a {content_type or 'binary'} document, not a web page",))
    if fp.markup is None and fp.error:
        return PageClass(PageKind.CONTENT, (f"its text could not be read ({fp.error})",))
    return classify(
        PageInput(
            html=fp.markup.text if fp.markup is not None else None,
            shape=fp.markup.shape if fp.markup is not None else None,
            status=status,
            headers=headers,
            url=url,
            requested_url=requested_url,
            content_type=content_type,
        )
    )
