"""What a captured page is: its own content, or a wall, a notice, a shell, an error or nothing.

Every verdict reads this first (issue 10): a captcha page or "页面不存在或已被删除" answered with
200 is not evidence of what a citation said. `classify` is pure and cheap (one parse of at most
the first 512 KiB, phrase search only in the title, headings and the text of short pages). Signs
are weighed by where they stand: 3 = decisive (a wall's header or URL, the title), 2 = strong (the
status, a heading), 1 = suggestive (the text of a short page, the page's shape). The strongest
kind wins; ties go by `PRECEDENCE`. An article (long, or with paragraphs of prose) stays `content`
whatever its title, nav or text mention: phrases are read only on pages that are not articles.
The tables of phrases and markers are data in `archiver.judge.pagesigns`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

from archiver.judge import pagesigns as signs
from archiver.models import PageKind

# Only the head of a huge body is read: walls and notices are small, and an article is an
# article long before its 512th KiB.
MAX_CHARS = 512 * 1024
# Visible-text sizes in UTF-8 bytes (a Chinese character is 3, so the limits mean about the same
# amount of reading in either language).
LONG = 12_000  # past this a page is an article whatever its title or headings say
ARTICLE = 2000  # paragraph (<p>) text past this makes an article too: notices and walls have a line or two
SHORT = 1500  # below this (nav, header, footer and aside set apart) the body's wording is the page's message
SCANNED = 3000  # below this the raw markup is scanned for wall markers
TINY = 600  # below this, with scripts, a page is a shell; a widget alone makes it a challenge
BARELY = 64  # below this, without scripts, a page is empty
SCRIPT_HEAVY = 200  # bytes of inline script (external scripts count 1000 each) that can build a page
BODY_WINDOW = 4000  # characters of a short page's text that phrases are looked for in
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
_NOUN: Mapping[PageKind, str] = {
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

Headers = Mapping[str, str] | Sequence[tuple[str, str]]


@dataclass(frozen=True, kw_only=True)
class PageInput:
    """What a capture says about itself. `headers` are the final hop's (looked up case-insensitively);
    `html` is the decoded body (HTML or plain text) or None when there was none."""

    html: str | None
    status: int | None = None
    headers: Headers = ()
    url: str = ""
    requested_url: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class PageClass:
    """The kind of a page, the signs it was read from, and where the page sends a browser if it only redirects."""

    kind: PageKind
    evidence: tuple[str, ...] = ()
    redirect_to: str | None = None

    def describe(self) -> str:
        """One sentence, e.g. "a login wall (title says 'Sina Visitor System')"."""
        text = _NOUN[self.kind] + (f" ({self.evidence[0]})" if self.evidence else "")
        return text + (f", redirecting to {self.redirect_to}" if self.redirect_to else "")


@dataclass(frozen=True)
class _Sign:
    kind: PageKind
    weight: int
    evidence: str
    span: int = 0  # characters of the phrase matched, for a title's


@dataclass
class _Shape:
    """What one parse tells: the parts of the page that signs are looked for in."""

    title: str = ""
    headings: list[str] = field(default_factory=list)
    text: str = ""
    text_bytes: int = 0
    core_bytes: int = 0
    article: bool = False
    script_bytes: int = 0
    external_scripts: int = 0
    scripts: list[str] = field(default_factory=list)
    noscript: str = ""
    mount_point: bool = False
    refresh: str | None = None


def classify(page: PageInput) -> PageClass:
    """Read what kind of page `page` is; see the module docstring for how signs are weighed."""
    headers = _lower_headers(page.headers)
    body = (page.html or "")[:MAX_CHARS]
    found: list[_Sign] = []
    found += _status_signs(page.status, headers)
    found += _header_signs(headers, page.status)
    if not body.strip():
        found += _url_signs(page.url, page.requested_url)
        found.append(_Sign(PageKind.EMPTY, 3 if page.status != 204 else 2, "no body"))
        return _decide(found, None)
    ctype = (page.content_type or headers.get("content-type", "")).split(";", 1)[0].strip().lower()
    shape = _plain_shape(body) if ctype in _PLAIN_TYPES else _html_shape(body)
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
    rank = {kind: i for i, kind in enumerate(PRECEDENCE)}
    best = max(found, key=lambda s: (s.weight, -rank[s.kind])).kind
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


def _plain_shape(body: str) -> _Shape:
    text, size = _visible(body)
    return _Shape(text=text, text_bytes=size, core_bytes=size, article=size >= LONG)


def _html_shape(body: str) -> _Shape:
    tree = LexborHTMLParser(body)
    shape = _Shape()
    hidden = 0  # characters of script, style and noscript, which a page's text() includes
    noscript = []
    for node in tree.css("title, meta[http-equiv], script, noscript, style"):
        tag = node.tag
        if tag == "title" and not shape.title:
            shape.title = " ".join(node.text().split())
        elif tag == "meta":
            if (node.attributes.get("http-equiv") or "").lower() == "refresh":
                shape.refresh = node.attributes.get("content") or ""
        elif tag == "script" and node.attributes.get("src"):
            shape.external_scripts += 1
        else:
            code = node.text()
            hidden += len(code)
            if tag == "script":
                shape.script_bytes += len(code)
                if len(shape.scripts) < 8:
                    shape.scripts.append(code[:20_000])
            elif tag == "noscript":
                noscript.append(code)
    shape.noscript = " ".join(" ".join(noscript).split())[:1000]
    root = tree.body
    raw = root.text(separator=" ") if root is not None else ""
    # Most captures are articles: when the text is plainly long even counting every script and
    # style as part of it, the second pass (strip those, take the text again) is skipped.
    if len(raw) - raw.count(" ") - raw.count("\n") - hidden >= LONG:
        shape.text_bytes = shape.core_bytes = len(raw) - hidden
        shape.article = True
        return shape
    tree.strip_tags(["script", "style", "noscript", "template", "svg"])
    shape.text, shape.text_bytes = _visible(root.text(separator=" ") if root is not None else "")
    if shape.text_bytes < TINY:
        shape.mount_point = tree.css_first(signs.MOUNT_POINTS) is not None
    shape.core_bytes = shape.text_bytes
    shape.article = shape.text_bytes >= LONG
    if not shape.article:
        shape.article = sum(len(n.text().encode()) for n in tree.css("p")) >= ARTICLE
    if not shape.article:
        chrome = sum(
            len(" ".join(n.text(separator=" ").split()).encode()) for n in tree.css("nav, header, footer, aside")
        )
        shape.core_bytes = max(0, shape.text_bytes - chrome)
        shape.headings = [" ".join(h.text().split())[:200] for h in tree.css("h1, h2, h3")[:8]]
    return shape


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


def _phrase_signs(shape: _Shape) -> list[_Sign]:
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


def _matches(where: str, text: str, weight: int, bare_counts: bool) -> list[_Sign]:
    found = []
    for kind, pattern in signs.SPECIFIC.items():
        if hit := pattern.search(text):
            evidence = f"{where} says '{_quote(text, hit.start(), hit.end())}'"
            found.append(_Sign(kind, weight, evidence, hit.end() - hit.start()))
    if bare_counts:
        for kind, pattern in signs.BARE.items():
            if hit := pattern.search(text):
                evidence = f"{where} of a short page says '{_quote(text, 0, 0)}'"
                found.append(_Sign(kind, weight - 1, evidence, hit.end() - hit.start()))
    return found


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


def _markup_signs(body: str, shape: _Shape, status: int | None) -> list[_Sign]:
    raw = body[:262_144].lower()
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
            found.append(
                _Sign(PageKind.CHALLENGE, 3, f"HTTP {status} with cookie-setting script and no text (瑞数-style wall)")
            )
        elif "document.cookie" in code and "reload" in code:
            found.append(_Sign(PageKind.CHALLENGE, 2, "a script that sets a cookie and reloads (cookie challenge)"))
    return found


def _shape_signs(shape: _Shape, redirect: str | None) -> list[_Sign]:
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
    return []


def _redirect_target(shape: _Shape, url: str, headers: Mapping[str, str], status: int | None) -> str | None:
    """Where the page sends the browser, when sending it on is all the page does."""
    target: str | None = None
    if status is not None and 300 <= status < 400 and headers.get("location"):
        target = headers["location"]
    elif shape.core_bytes < SHORT:
        if shape.refresh is not None and (hit := signs.META_REFRESH_URL.match(shape.refresh)):
            target = hit.group("url")
        for code in shape.scripts if target is None else ():
            if hit := signs.JS_REDIRECT.search(code):
                target = hit.group("a") or hit.group("b")
                break
    return urljoin(url, target) if target else None
