"""Live verdicts that do not lie: what a fetch of a cited URL says about the page today.

The two worst lies of link checkers are opposite: calling a page dead when a bot wall stopped us,
and calling it alive when it answers 200 with "page not found". So the rules run in order, each
only when the ones before did not decide: no response, bot wall (`blocked`, never `gone`), 4xx/5xx,
soft 404, `redirected`, else `ok`. See docs/drift-thresholds.md.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

from archiver import urls
from archiver.content.fingerprint import Fingerprint, comparable_text
from archiver.judge.drift import similarity
from archiver.judge.pagekind import KIND_NOUNS
from archiver.models import Capture, ErrorKind, LiveVerdict, PageKind

PROBE_SAME_TEXT = 0.9  # a probe whose text is this alike is the same "not found" page
SHORT_PAGE = 3000  # characters of visible text under which a "not found" sentence is the page's message

_BLOCKED_STATUS = frozenset({401, 402, 403, 407, 429, 451, 999})
_GONE_STATUS = frozenset({404, 410})
_INVALID_KINDS = frozenset({ErrorKind.INVALID_URL, ErrorKind.BLOCKED_ADDRESS})
_WALLS = frozenset({PageKind.CHALLENGE, PageKind.LOGIN_WALL})
_NOTICES = frozenset({PageKind.NOT_FOUND, PageKind.REMOVED})

_CHALLENGE_TITLE = re.compile(
    r"just a moment|attention required|checking your browser|please wait while we verify|verify you are (a )?human|"
    r"are you a (robot|human)|access denied|pardon our interruption|security check|ddos-guard|captcha|bot detection|"
    r"安全验证|人机验证|访问验证|验证码|滑动验证|安全检查|请稍候",
    re.I,
)
_CHALLENGE_TEXT = re.compile(
    r"enable javascript and cookies to continue|checking if the site connection is secure|"
    r"verify you are (a )?human|please complete the security check|incapsula incident id|"
    r"请完成(下方)?(安全)?验证|拖动到最右边|访问过于频繁|请输入验证码",
    re.I,
)
_CHALLENGE_HEADERS = (("cf-mitigated", "challenge"), ("x-datadome", ""), ("x-sucuri-block", ""))
# Titles: "404" only beside an error word ("Highway 404 reopens" is an article), and Chinese
# phrases that name the page ("找不到工作" alone is a headline, "找不到页面" is not).
_NOT_FOUND_TITLE = re.compile(
    r"^\W*(error\W*)?404\b|\b404\W*(error|not found|page)|\berror\W*404|404\W*(页面|错误)|"
    r"page not found|file not found|^\W*not found\b|\bnot found\W*$|no such page|"
    r"page (does not|doesn't|cannot|can't|could not|couldn't) (exist|be found)|"
    r"页面不存在|页面未找到|页面找不到|找不到(该|此|您要的|你要的|您访问的)?(页面|网页)|网页不存在|页面已删除|"
    r"(内容|文章|信息|资源)不存在|^\W*出错了",
    re.I,
)
_NOT_FOUND_TEXT = re.compile(
    r"page not found|(could ?n[o']t|cannot|can't|unable to) (find|locate) (that|the|this) page|"
    r"page you (were|are) looking for|(may have been|has been) (moved|removed|deleted)|no longer available|"
    r"页面不存在|页面未找到|页面找不到|找不到(该|此|您要的)?页面|您(访问|要找|请求)的页面|网页不存在|页面已(被)?删除|无法找到|不存在或已被删除",
    re.I,
)
_NOT_FOUND_URL = re.compile(
    r"(^|[/_.=?&-])(404|notfound|not[-_]found|page[-_]?not[-_]?found|error|errors|errorpage|error[-_]page)"
    r"($|[/_.=?&-])",
    re.I,
)
_LOGIN_URL = re.compile(r"(^|/)(login|signin|sign-in|log-in|passport|auth|sso|account/login)([/?.]|$)", re.I)
_ROOT_PATHS = frozenset({"", "/", "/index.html", "/index.htm", "/index.php", "/index.shtml", "/default.aspx", "/home"})


class LiveJudgement(NamedTuple):
    """A live verdict and the reason for it in words (unpacks as `(verdict, reason)`)."""

    verdict: LiveVerdict
    reason: str


def probe_url(url: str, rng: random.Random) -> str:
    """A made-up URL in the same directory as `url`, with the same file extension, no query.

    e.g. http://news.cn/politics/20250426/c.html -> http://news.cn/politics/20250426/q3k9...x.html
    """
    parts = urlsplit(url)
    directory, _, leaf = parts.path.rpartition("/")
    extension = ""
    if "." in leaf and not leaf.startswith("."):
        extension = leaf[leaf.rindex(".") :]
    name = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16))
    return urlunsplit((parts.scheme, parts.netloc, f"{directory}/{name}{extension}", "", ""))


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def same_page(a: str, b: str) -> bool:
    """True when two URLs differ only by what is not a move: `urls.same_page`, query kept whole.

    A live URL that now answers without its tracking parameters did move, if only a little.
    """
    return urls.same_page(a, b, tracking=())


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _challenge(capture: Capture, fp: Fingerprint | None, headers: Sequence[tuple[str, str]]) -> str | None:
    for name, value in _CHALLENGE_HEADERS:
        found = _header(headers, name)
        if found is not None and value in found.lower():
            return f"the server sent '{name}: {found}', a bot challenge"
    title = (fp.title if fp is not None else None) or capture.title or ""
    if _CHALLENGE_TITLE.search(title):
        return f"the page is a bot challenge or captcha ({title!r})"
    text = fp.text if fp is not None else None
    if text and len(text) < SHORT_PAGE and (match := _CHALLENGE_TEXT.search(text)):
        return f"the page is a bot challenge or captcha ({match.group(0)!r})"
    final = capture.final_url or capture.url
    if capture.redirects and _LOGIN_URL.search(urlsplit(final).path) and not _LOGIN_URL.search(capture.url):
        return f"redirected to a login page ({final})"
    return None


def _soft_404(capture: Capture, fp: Fingerprint | None, probe: tuple[Capture, Fingerprint | None] | None) -> str | None:
    final = capture.final_url or capture.url
    if capture.redirects or final != capture.url:
        if urlsplit(final).path in _ROOT_PATHS and urlsplit(capture.url).path not in _ROOT_PATHS:
            return f"redirected to the site's home page ({final})"
        if _NOT_FOUND_URL.search(_path_and_query(final)) and not _NOT_FOUND_URL.search(_path_and_query(capture.url)):
            return f"redirected to a not-found page ({final})"
    title = (fp.title if fp is not None else None) or capture.title or ""
    if match := _NOT_FOUND_TITLE.search(title):
        return f"the title says the page is not found ({match.group(0)!r} in {title!r})"
    text = fp.text if fp is not None else None
    if text is not None and len(text) < SHORT_PAGE and (match := _NOT_FOUND_TEXT.search(text)):
        return f"the page says it is not found ({match.group(0)!r})"
    return _probe_says(capture, fp, probe) if probe is not None else None


def _probe_says(capture: Capture, fp: Fingerprint | None, probe: tuple[Capture, Fingerprint | None]) -> str | None:
    probe_capture, probe_fp = probe
    if probe_capture.status is None or not 200 <= probe_capture.status < 300:
        return None  # the server does say "not found" (or fails) for a made-up URL
    if probe_capture.page_kind in _WALLS:
        return None  # a made-up URL answered by a wall proves nothing about the cited page
    final, probe_final = capture.final_url or capture.url, probe_capture.final_url or probe_capture.url
    if capture.redirects and probe_capture.redirects and same_page(final, probe_final):
        return f"a made-up URL in the same directory ends on the same page ({final})"
    if fp is None or probe_fp is None or fp.text is None or probe_fp.text is None:
        return None
    if fp.text_sha256 == probe_fp.text_sha256:
        return f"a made-up URL in the same directory ({probe_capture.url}) answers with the same text"
    score = similarity(comparable_text(fp.text), comparable_text(probe_fp.text))
    if score >= PROBE_SAME_TEXT:
        return f"a made-up URL in the same directory ({probe_capture.url}) answers with {score:.0%} the same text"
    return None


def _failure(capture: Capture) -> LiveJudgement:
    error = capture.error
    if error is None:
        return LiveJudgement(LiveVerdict.UNREACHABLE, "no response was recorded")
    if error.kind in _INVALID_KINDS:
        return LiveJudgement(LiveVerdict.INVALID_URL, error.message)
    return LiveJudgement(LiveVerdict.UNREACHABLE, f"{error.kind.value}: {error.message}")


def _kind_words(capture: Capture) -> str:
    noun = KIND_NOUNS[capture.page_kind] if capture.page_kind is not None else "a page"
    return noun + (f" ({capture.page_evidence[0]})" if capture.page_evidence else "")


def _by_kind(capture: Capture, status: int) -> LiveJudgement | None:
    """What the page's kind alone decides: a wall is a refusal, a notice is not-found, whatever the status."""
    kind = capture.page_kind
    if kind in _WALLS:
        return LiveJudgement(
            LiveVerdict.BLOCKED, f"HTTP {status} with {_kind_words(capture)}; this is not proof that the page is gone"
        )
    if kind in _NOTICES and status not in _GONE_STATUS:
        return LiveJudgement(LiveVerdict.SOFT_404, f"HTTP {status}, and the page is {_kind_words(capture)}")
    return None


def _unreadable(capture: Capture, status: int) -> LiveJudgement | None:
    """A 2xx page with nothing we can read: an error page, an app shell, an empty page."""
    kind = capture.page_kind
    if kind is PageKind.ERROR_PAGE:
        return LiveJudgement(LiveVerdict.SERVER_ERROR, f"HTTP {status} with {_kind_words(capture)}")
    if kind in (PageKind.APP_SHELL, PageKind.EMPTY):
        return LiveJudgement(
            LiveVerdict.BLOCKED,
            f"HTTP {status} with {_kind_words(capture)}: its text cannot be read; "
            "this is not proof that the page is gone",
        )
    return None


def judge_live(
    capture: Capture,
    fp: Fingerprint | None,
    probe: tuple[Capture, Fingerprint | None] | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> LiveJudgement:
    """The live verdict of one capture of a cited URL, with its reason.

    `fp` is the fingerprint of the final payload (None when not had); `probe` the capture and
    fingerprint of `probe_url(capture.url, rng)`, if one was fetched; `headers` the final
    response's headers.
    """
    status = capture.status
    if status is None:
        return _failure(capture)
    if judged := _by_kind(capture, status):
        return judged
    if reason := _challenge(capture, fp, headers):
        return LiveJudgement(LiveVerdict.BLOCKED, reason)
    if status in _BLOCKED_STATUS:
        return LiveJudgement(LiveVerdict.BLOCKED, f"HTTP {status}: the site refuses this client, not the page")
    if status in _GONE_STATUS:
        return LiveJudgement(LiveVerdict.GONE, f"HTTP {status}")
    if status == 408:
        return LiveJudgement(LiveVerdict.UNREACHABLE, "HTTP 408: the server timed out the request")
    if 400 <= status < 500:
        # Only 404/410 or a not-found page make a page gone; a 400, 405 or 412 alone is a refusal.
        return LiveJudgement(
            LiveVerdict.BLOCKED,
            f"HTTP {status}: the site refused this request; this is not proof that the page is gone",
        )
    if status >= 500:
        return LiveJudgement(LiveVerdict.SERVER_ERROR, f"HTTP {status}")
    if 300 <= status < 400 or status < 200:
        return LiveJudgement(LiveVerdict.UNREACHABLE, f"the fetch ended on HTTP {status} without a page")
    if reason := _soft_404(capture, fp, probe):
        return LiveJudgement(LiveVerdict.SOFT_404, reason)
    if judged := _unreadable(capture, status):
        return judged
    final = capture.final_url or capture.url
    if not same_page(capture.url, final):
        return LiveJudgement(LiveVerdict.REDIRECTED, f"now at {final}")
    if capture.error is not None:
        return LiveJudgement(LiveVerdict.OK, f"HTTP {status}, but {capture.error.message}")
    return LiveJudgement(LiveVerdict.OK, f"HTTP {status}")
