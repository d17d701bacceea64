"""The signs a page gives of what it is: phrases, markup markers, cookies and URL shapes, as data.

`archiver.judge.pagekind` weighs them; this module only lists them, so that a new wall or notice
is one line here. Phrases are in two grades: *specific* ones ("页面不存在", "Just a moment...") say
what the page is wherever they stand on a page that is not long; *bare* ones ("404", "登录") say it
only when they are the title or a heading of a short page, since every site's nav and footer has them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from archiver.models import PageKind

_I = re.IGNORECASE

# Removal wording also appears, hedged, on not-found pages ("不存在或已被删除", "may have been removed"):
# the lookbehinds keep those for `not_found`.
_REMOVED = (
    r"(?<!或)(?<!可能)已被\S{0,5}删除|(?:该|此)[\u4e00-\u9fff]{0,6}已删除|因违规无法查看|已被(?:停止|限制)访问"
    r"|(?<!or )(?<!may )(?<!might )(?<!could )(?:has|have) been (?:removed|deleted|taken down)"
    r"|(?:was|been) (?:removed|deleted) by|removed by (?:the )?moderators?|account (?:has been )?suspended"
    r"|no longer available|content is not available"
    r"|现已无法查看|已被(?:封禁|屏蔽|冻结)|(?:账号|帐号)已注销|已失效|视频不见了|(?:无法|不予)显示"
    r"|(?:been )?withheld in|account withheld|tweet withheld"
)
_NOT_FOUND = (
    r"page (?:was )?not found|page (?:cannot|can.t|could not|couldn.t) be found|404 not found|\b404\b.{0,12}\berror\b"
    r"|not the web page you are looking for|file not found|nothing (?:was )?found|nothing matched your search"
    r"|can.t find (?:what you|the page|that page)|lost this page|doesn.t exist|does not exist|nosuchkey"
    r"|页面不存在|页面未找到|网页不存在|内容不存在|文章不存在|不存在或已(?:被)?删除|访问的(?:页面|网页|内容)不存在"
    r"|找不到(?:该|此|您|你)?(?:要访问的|请求的)?(?:页面|网页)|没有知识存在的荒原|页面走丢|页面没有找到|页面找不到"
    r"|(?:page|file|url|resource)[^.]{0,30}(?:could not|cannot|can.t|couldn.t) be found"
    r"|(?:couldn.t|could not|can.t|cannot) find (?:that|the|this) page|(?:页面|网页)\S{0,3}不在了"
)
_LOGIN = (
    r"sina visitor system|\blog ?in to\b|\bsign ?in to\b|log into|\blog ?in\s*[•|·–-]|[•|·–-]\s*log ?in\s*$"
    r"|sign up \| linkedin|join linkedin|(?:log|sign) ?in to (?:continue|read)|must (?:be )?log(?:ged)? ?in"
    r"|subscribe to (?:continue|read|unlock)|continue reading your article|create (?:your|a) free account"
    r"|available to (?:[\w-]+ )?members only|member-only story|authorization required|subscribers? only"
    r"|登录(?:百度|知乎|微博|新浪)?(?:帐号|账号)|登录知乎|登录后(?:查看|继续|阅读|可见|才能)|登录.{0,4}(?:查看|阅读)全文"
    r"|登录后|sign up to (?:read|see|view|continue)|(?:订阅|付费|购买|开通会员)后|已是(?:订阅|付费)用户|付费阅读"
    r"|access through your institution|buy or subscribe|purchase (?:this )?article"
    # "Open it in the app" walls ask for the same thing: an account in the platform's client.
    r"|请在.{0,6}(?:客户端|app)\S{0,2}打开|open (?:this link |it )?in the [\w ]{0,12}app\b"
)
_CHALLENGE = (
    r"just a moment(?:\.\.\.|…)|attention required!? \| cloudflare|checking (?:your browser|if the site connection)"
    r"|verify(?:ing)? (?:that )?you(?:r browser| are (?:a )?human)|verify you.re not a robot|human verification"
    r"|security checkpoint|incapsula incident|网站防火墙|已被\S{0,10}拦截|(?:不合法|非法)参数"
    r"|confirm you are\s*a human|are you a robot"
    r"|review the security of your connection|unusual traffic|you have been blocked|access to this page has been denied"
    r"|access denied|request has been blocked|enable js and disable any ad blocker|whoa there, pardner"
    r"|环境异常|安全验证|滑动验证|滑块|验证码拦截|验证码中间页|人机验证|网络环境存在异常|访问(?:请求)?(?:被拦截|触发了安全)"
)
_ERROR = (
    r"internal server error|bad gateway|service (?:temporarily )?unavailable|gateway time-?out|server error in '"
    r"|error establishing a database connection|whoops, looks like something went wrong|connection timed out"
    r"|temporarily unable to service your request|the service is unavailable|can.t connect to mysql"
    r"|http status 50\d|服务器(?:错误|出错|内部错误|繁忙)|数据库(?:连接)?(?:失败|错误|出错)|系统(?:错误|繁忙)"
    r"|something went wrong|an error occurred|application error|under maintenance|down for maintenance"
    r"|(?:系统|网站|服务器)(?:正在)?(?:进行)?(?:升级)?维护|维护中|出错了"
    r"|fatal error|uncaught (?:error|exception)|stack trace:|traceback \(most recent call last\)"
)

SPECIFIC: Mapping[PageKind, re.Pattern[str]] = {
    PageKind.CHALLENGE: re.compile(_CHALLENGE, _I),
    PageKind.LOGIN_WALL: re.compile(_LOGIN, _I),
    PageKind.REMOVED: re.compile(_REMOVED, _I),
    PageKind.NOT_FOUND: re.compile(_NOT_FOUND, _I),
    PageKind.ERROR_PAGE: re.compile(_ERROR, _I),
}
BARE: Mapping[PageKind, re.Pattern[str]] = {
    PageKind.LOGIN_WALL: re.compile(r"^\W*(?:请?登录|登入|登录/注册|log ?in|sign ?in|login|sign up)\W*$", _I),
    PageKind.REMOVED: re.compile(r"\[removed\]|\[deleted\]|已删除", _I),
    PageKind.NOT_FOUND: re.compile(r"(?<!\d)404(?!\d)|not found|找不到", _I),
    PageKind.ERROR_PAGE: re.compile(r"(?<!\d)50[0-4](?!\d)|server error|runtime error|database error|系统错误", _I),
    PageKind.CHALLENGE: re.compile(r"^\W*(?:blocked|forbidden|captcha|验证码)\W*$", _I),
}

# Markup that only bot walls carry (exact substrings of the raw page, as the vendors spell them): on a page that is not
# long, one of these is a challenge whatever the status. Cloudflare's bot-fight script
# (/cdn-cgi/challenge-platform/scripts/jsd/) rides on ordinary pages, so only its challenge-page
# variables count.
WALL_MARKERS: tuple[tuple[str, str], ...] = (
    ("_cf_chl_opt", "Cloudflare challenge script"),
    ("orchestrate/chl_page", "Cloudflare challenge script"),
    ("captcha-delivery.com", "DataDome captcha"),
    ("px-captcha", "PerimeterX captcha"),
    ("_pxAppId", "PerimeterX block script"),
    ("_____tmd_____", "Alibaba x5sec punish page"),
    ("acw_sc__v2", "Alibaba Cloud WAF cookie challenge"),
    ("nc_1_n1z", "Alibaba noCaptcha slider"),
    ("wappoc_appmsgcaptcha", "WeChat captcha"),
    ("wappass.baidu.com/static/captcha", "Baidu captcha"),
    ("$_ts.nsd", "瑞数-style dynamic script"),
    ("_Incapsula_Resource", "Imperva Incapsula block"),
    ("captcha-sdk.awswaf.com", "AWS WAF captcha"),
)
# Captcha widgets that also sit in ordinary comment and login forms: a sign only on a tiny page.
WIDGET_MARKERS: tuple[tuple[str, str], ...] = (
    ("challenges.cloudflare.com/turnstile", "Cloudflare Turnstile widget"),
    ("secsdk/captcha", "ByteDance captcha"),
    ("turing.captcha.qcloud.com", "Tencent captcha"),
    ("static.geetest.com", "GeeTest captcha"),
    ("h-captcha", "hCaptcha widget"),
    ("g-recaptcha", "reCAPTCHA widget"),
    ("recaptcha/api.js", "reCAPTCHA widget"),
    ("hcaptcha.com/1/api.js", "hCaptcha widget"),
)

# Cookies a bot manager sets. Most ride on every page of a protected site, so they only support
# a challenge read from elsewhere (a refusing status, a tiny page).
WALL_COOKIES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^acw_sc__v2$"), "Alibaba Cloud WAF"),
    (re.compile(r"^(?:__cf_bm|cf_clearance|cf_chl_\w*)$"), "Cloudflare"),
    (re.compile(r"^(?:_abck|bm_sz|ak_bmsc|bm_sv)$"), "Akamai Bot Manager"),
    (re.compile(r"^_px\w*$"), "PerimeterX"),
    (re.compile(r"^datadome$"), "DataDome"),
    (re.compile(r"^x5sec$"), "Alibaba x5sec"),
    (re.compile(r"^(?:visid_incap_|incap_ses_)\w+$"), "Imperva Incapsula"),
    # 瑞数's cookie pair: a random 13+ character name ending in S (set by the server) or T (by its script).
    (re.compile(r"^(?=[A-Za-z0-9]*[0-9])(?=[A-Za-z0-9]*[a-z])[A-Za-z0-9]{13,}[ST]$"), "瑞数-style"),
)

# Headers with which a CDN or WAF says it answered with a challenge instead of the page.
CHALLENGE_HEADERS: tuple[tuple[str, str], ...] = (
    ("cf-mitigated", "challenge"),
    ("x-vercel-mitigated", "challenge"),
    ("x-amzn-waf-action", "captcha"),
    ("x-amzn-waf-action", "challenge"),
)
# Separators between the parts of a title ("Page not found · GitHub", "404 页面不存在 - 人民网").
TITLE_SEPARATORS = re.compile(r"\s+[-|·•–—/:]\s+|\s*[|｜_]\s*|\s+[·•]\s*")

QUOTE_MARKS: tuple[tuple[str, str], ...] = (('"', '"'), ("“", "”"), ("‘", "’"), ("「", "」"), ("『", "』"))

# Final URLs that are a sign-in page, and URLs of challenge interstitials.
LOGIN_HOST_LABELS = frozenset({"passport", "login", "sso", "signin", "auth", "accounts"})
LOGIN_PATH = re.compile(
    r"/(?:login|log-in|signin|sign-in|sign_in|authwall|passport|uas/login|accounts/login|i/flow/login|signup/login)"
    r"(?:[/?#.;]|$)",
    _I,
)
CHALLENGE_URL = re.compile(
    r"wappoc_appmsgcaptcha|/_____tmd_____/|/static/captcha/|/account/unhuman|google\.[a-z.]+/sorry/|/cdn-cgi/challenge"
    r"|/captcha(?:[/?]|$)",
    _I,
)
NOT_FOUND_PATH = re.compile(r"/(?:404|error404|notfound|not-found|page-not-found)(?:[/?#.]|$)", _I)
ROOT_PATHS = frozenset({"", "/", "/index.html", "/index.htm", "/index.php", "/index.shtml", "/default.aspx"})

# Statuses a bot wall answers with besides 403 (瑞数: 412 and 202; Chinese WAFs: 405; rate limits: 429).
REFUSING_STATUSES = frozenset({202, 403, 405, 412, 429})
SCRIPT_WALL_STATUSES = frozenset({202, 412})

# What a page says when it needs scripts to show anything (the elements that mount an app are
# `content.pageshape.MOUNT_POINTS`, looked for while the page is measured).
NEEDS_SCRIPT = re.compile(
    r"enable javascript|javascript is (?:not available|disabled|required)|without javascript|开启\s*javascript"
    r"|启用\s*javascript|浏览器不支持javascript",
    _I,
)
JS_REDIRECT = re.compile(
    r"""(?:(?:window|document|top|self)\.)?location(?:\.href)?\s*=\s*(["'])(?P<a>[^"'\s]+)\1"""
    r"""|location\.(?:replace|assign)\(\s*(["'])(?P<b>[^"'\s]+)\3\s*\)"""
)
META_REFRESH_URL = re.compile(r"""^\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?["']?(?P<url>[^"'\s]+)""", _I)
COOKIE_NAME = re.compile(r"(?:^|[\n,])\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)=")
