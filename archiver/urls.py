"""URLs: validate what users paste, normalise for comparison, and judge addresses.

Two different questions live here and must not be mixed up:
- `parse_url` decides whether a URL may be fetched at all (http/https only, a real host name,
  a valid port, no spaces) and gives its wire form (IDNA host). It never "repairs" a URL: a space
  in a host is an error, not `%20`.
- `comparable` answers "is this the same resource?" for archive-vs-citation checks: scheme,
  host case, IDNA, default port, trailing slash, fragment and percent-encoding do not count.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import idna

from archiver.errors import InvalidURLError, shown

ALLOWED_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ASCII_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\u00a0\u1680\u2000-\u200f\u2028-\u202f\u205f\u2060\u3000\ufeff]")
# RFC 3986 unreserved characters need no percent-encoding; everything else keeps it.
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"


@dataclass(frozen=True)
class ParsedURL:
    """A URL accepted for fetching: `wire` is what goes on the network, `original` what was given."""

    original: str
    wire: str
    scheme: str
    host: str  # IDNA (ASCII) form, lowercase; IPv6 without brackets
    port: int  # explicit or default
    is_ip_literal: bool


def _encode_host(host: str, raw: str) -> str:
    if not host:
        raise InvalidURLError(raw, "it has no host name")
    if host.endswith("."):
        host = host[:-1]  # a fully qualified name; the guard still resolves it
    labels = host.split(".")
    out = []
    for label in labels:
        if not label:
            raise InvalidURLError(raw, f"host {host!r} has an empty label")
        if label.isascii():
            if not _ASCII_LABEL.match(label):
                raise InvalidURLError(raw, f"host label {label!r} has characters a host name cannot have")
            if label.lower().startswith("xn--"):
                try:
                    idna.decode(label.lower())  # an ACE label must decode to a valid IDN label
                except (idna.IDNAError, UnicodeError) as exc:
                    raise InvalidURLError(raw, f"host label {label!r} is not a valid punycode label ({exc})") from None
            out.append(label.lower())
            continue
        try:
            # IDNA 2008 without UTS46 mapping: compatibility look-alikes such as U+212F (ℯ) are
            # refused rather than silently mapped to another host.
            out.append(idna.encode(label.lower(), uts46=False).decode("ascii"))
        except idna.IDNAError as exc:
            raise InvalidURLError(raw, f"host label {label!r} is not a valid internationalised name ({exc})") from None
    encoded = ".".join(out)
    if len(encoded) > 253:
        raise InvalidURLError(raw, "host name is longer than 253 characters")
    return encoded


def _ipv4_number(part: str) -> int | None:
    """A WHATWG IPv4 part: 0x hex, 0-prefixed octal or decimal; None when it is not a number."""
    if part[:2].lower() == "0x":
        digits, base = part[2:], 16
        if not digits:
            return 0
    elif len(part) > 1 and part.startswith("0"):
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    try:
        return int(digits, base) if digits.isascii() and digits.isalnum() else None
    except ValueError:
        return None


def ipv4_of_host(host: str, raw: str) -> str | None:
    """The dotted IPv4 address a host names the way browsers and glibc read it, or None for a name.

    WHATWG URL "IPv4 parser": a host whose last label is a number is an IPv4 address written in
    one to four parts, each decimal, 0x hex or 0-octal, the last filling the remaining bytes, so
    `2130706433`, `0x7f.1`, `127.1`, `0x7f000001` and `017700000001` are all 127.0.0.1 and `0` is
    0.0.0.0. Normalising here, before the guard, means a proxy is never handed such a host.
    """
    parts = host.split(".")
    if parts and parts[-1] == "" and len(parts) > 1:
        parts.pop()  # a trailing dot
    last = parts[-1] if parts else ""
    ends_in_number = (last.isascii() and last.isdigit()) or (
        last[:2].lower() == "0x" and all(c in "0123456789abcdefABCDEF" for c in last[2:])
    )
    if not ends_in_number:
        return None
    numbers = [_ipv4_number(part) if part else None for part in parts]
    if len(parts) > 4 or any(n is None for n in numbers):
        raise InvalidURLError(raw, f"host {shown(host, 80)} ends in a number but is not a valid IPv4 address")
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise InvalidURLError(raw, f"host {shown(host, 80)} is an IPv4 address out of range")
    address = values[-1]
    for index, number in enumerate(values[:-1]):
        address += number << (8 * (3 - index))
    return str(ipaddress.IPv4Address(address))


@functools.lru_cache(maxsize=8192)
def _host_forms(hostname: str, bracketed: bool) -> tuple[str, str, bool]:
    """(host, host as written on the wire, is an IP literal); InvalidURLError names the problem.

    Cached: a batch has many URLs per host, and IDNA and IPv4 readings cost more than the rest of
    parse_url together. A refusal is not cached (lru_cache keeps only results).
    """
    if bracketed:
        try:
            ip = ipaddress.IPv6Address(hostname.split("%")[0])
        except ValueError:
            raise InvalidURLError(hostname, f"{hostname!r} is not a valid IPv6 address") from None
        return str(ip), f"[{ip}]", True
    ipv4 = ipv4_of_host(hostname, hostname)
    if ipv4 is not None:
        return ipv4, ipv4, True
    host = _encode_host(hostname, hostname)
    return host, host, False


def has_forbidden_characters(text: str) -> bool:
    """Does `text` hold a space or an invisible control character, which parse_url refuses?"""
    return _FORBIDDEN.search(text) is not None


def parse_url(raw: str) -> ParsedURL:
    """Validate a URL for fetching; raise InvalidURLError saying what is wrong with it."""
    text = raw.strip()
    if not text:
        raise InvalidURLError(raw, "it is empty")
    if has_forbidden_characters(text):
        raise InvalidURLError(raw, "it contains a space or an invisible control character; quote it correctly")
    if text.startswith("//"):
        raise InvalidURLError(raw, "it has no scheme; write http:// or https:// in front")
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise InvalidURLError(raw, f"it cannot be parsed ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        if not scheme:
            raise InvalidURLError(raw, "it has no scheme; write http:// or https:// in front")
        raise InvalidURLError(raw, f"scheme {scheme!r} is not fetched; only http and https are")
    netloc = parts.netloc
    if "@" in netloc:
        raise InvalidURLError(raw, "it carries a user name or password; remove them from the URL")
    try:
        port = parts.port
    except ValueError:
        raise InvalidURLError(raw, "its port is not a number from 1 to 65535") from None
    if port is not None and not 0 < port < 65536:
        raise InvalidURLError(raw, "its port is not a number from 1 to 65535")
    try:
        host, host_wire, is_ip = _host_forms(parts.hostname or "", netloc.startswith("["))
    except InvalidURLError as exc:
        raise InvalidURLError(raw, exc.reason) from None
    netloc_wire = host_wire if port is None else f"{host_wire}:{port}"
    path = quote(parts.path, safe="/%:@!$&'()*+,;=-._~") or "/"
    query = quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    wire = urlunsplit((scheme, netloc_wire, path, query, ""))
    return ParsedURL(
        original=raw,
        wire=wire,
        scheme=scheme,
        host=host,
        port=port if port is not None else _DEFAULT_PORTS[scheme],
        is_ip_literal=is_ip,
    )


def _normalise_escapes(component: str, safe: str) -> str:
    # Decode then re-encode: %7e and ~ and %7E compare equal, %2F stays distinct from "/".
    pieces = re.split(r"(%2[Ff])", component)
    return "".join(p if p.upper() == "%2F" else quote(unquote(p), safe=safe) for p in pieces)


def comparable(url: str) -> str:
    """A key under which two URLs of the same resource compare equal.

    Ignored: scheme (http vs https), host case and IDNA form, default port, a trailing slash,
    the fragment, and percent-encoding differences of unreserved characters. Query order counts.
    """
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        hostname = parts.hostname or ""
    except ValueError:
        # Unparseable (e.g. "http://[::1"): it can only equal itself. Never raise: callers compare
        # URLs that archives and documents supply, and one bad one must not stop a run.
        return text.lower()
    try:
        host = _encode_host(hostname, url) if not parts.netloc.startswith("[") else f"[{hostname}]"
    except InvalidURLError:
        host = hostname.lower()
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and port not in (80, 443):
        host = f"{host}:{port}"
    path = _normalise_escapes(parts.path, safe="/:@!$&'()*+,;=" + _UNRESERVED)
    path = path.rstrip("/")
    query = _normalise_escapes(parts.query, safe="/:@!$&'()*+,;=?" + _UNRESERVED)
    del scheme  # scheme does not distinguish resources for citation purposes
    return f"{host}{path}" + (f"?{query}" if query else "")


def same_resource(a: str, b: str) -> bool:
    """True when two URLs name the same resource by the rules of `comparable`."""
    return comparable(a) == comparable(b)


# Query parameters that say who shared a link, not which page it is (`[urls] tracking_params`).
TRACKING_PARAMS = (
    "utm_*",
    "spm",
    "from",
    "isappinstalled",
    "share_token",
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "yclid",
    "mc_cid",
    "mc_eid",
    "igshid",
    "scene",
    "srcid",
    "share_source",
    "share_medium",
    "wfr",
    "_hsenc",
    "_hsmi",
)


def _is_tracking(name: str, patterns: tuple[str, ...]) -> bool:
    lower = name.lower()
    return any(lower.startswith(p[:-1]) if p.endswith("*") else lower == p for p in patterns)


def page_identity(url: str, tracking: tuple[str, ...] = TRACKING_PARAMS) -> str:
    """The key under which a cited URL and an archive's captured URL are the same page.

    `comparable`, and also without a leading `www.` and without tracking parameters: a Perma
    capture of the cited URL plus `?utm_source=...` captured the cited page.
    """
    key = comparable(url)
    host, sep, rest = key.partition("/")
    if host.startswith("www."):
        host = host[4:]
    path, qmark, query = (sep + rest).partition("?")
    if qmark:
        kept = [p for p in query.split("&") if p and not _is_tracking(p.partition("=")[0], tracking)]
        query = "&".join(kept)
    return host + path + (f"?{query}" if query else "")


def same_page(a: str, b: str, tracking: tuple[str, ...] = TRACKING_PARAMS) -> bool:
    """True when two URLs are the same page by the rules of `page_identity`."""
    return page_identity(a, tracking) == page_identity(b, tracking)


# IPv6 prefixes that carry an IPv4 address in their last 32 bits (mapped, compatible, SIIT
# translated, NAT64 well-known and local-use): such an address reaches its IPv4 address.
_EMBEDDING_IPV4 = tuple(
    ipaddress.IPv6Network(n) for n in ("::ffff:0:0/96", "::/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48")
)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (see _EMBEDDING_IPV4, and 6to4), else None."""
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in network for network in _EMBEDDING_IPV4):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(address: str) -> bool:
    """True only for globally routable unicast addresses; IPv6 forms embedding IPv4 are judged as that IPv4.

    `is_global` rather than `not is_private`: the latter misses CGNAT 100.64.0.0/10, where
    Alibaba Cloud's metadata service lives (100.100.100.200). Teredo is refused outright: the
    client address it embeds is obfuscated and its relay could be anywhere.
    """
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo is not None:
            return False
        embedded = embedded_ipv4(ip)
        if embedded is not None:
            if ip in _EMBEDDING_IPV4[1] and int(ip) <= 1:
                return False  # :: and ::1 are not IPv4-compatible addresses, they are themselves
            ip = embedded
    return bool(ip.is_global) and not ip.is_multicast
