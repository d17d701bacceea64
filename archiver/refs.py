"""Archive references: recognise and canonicalise what users paste as "the archived copy".

Accepted forms:
- Perma.cc: `https://perma.cc/5UBL-GCVG`, `perma.cc/5ubl-gcvg`, a bare GUID `5UBL-GCVG`, legacy
  GUIDs (`0J6pkzDeQwT`). The GUID is canonicalised as Perma's `Link.get_canonical_guid` does
  (reference/permacc.md §4), because Perma's API looks GUIDs up exactly: `5ubl-gcvg` is a 404 there.
- Wayback: `https://web.archive.org/web/20250426010203/http://example.com/a`, with a modifier
  (`id_`, `if_`, `im_`, ...) or none, and a 4- to 14-digit timestamp.
- Any other Memento URI-M (an http(s) URL given as an archive link): kind `memento`.
- `capture:<id>`: one of our own captures, kind `local`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from archiver.models import ArchiveKind, ArchiveRef

PERMA_HOSTS = ("perma.cc", "www.perma.cc")
WAYBACK_HOSTS = ("web.archive.org", "wayback.archive.org", "archive.org")

_MODERN_GUID = re.compile(r"^[0-9A-Za-z]{4}-[0-9A-Za-z]{4}$")
_LEGACY_GUID = re.compile(r"^[0-9A-Za-z]{9,11}$|^[0-9A-Za-z]-[0-9A-Za-z]{4}(?:-[0-9A-Za-z]{4})?$")
_WAYBACK_PATH = re.compile(r"^/web/(?P<ts>\d{4,14})(?P<mod>[a-z]{2}_)?/(?P<url>.+)$")
_SCHEME_FIX = re.compile(r"^(https?):/+(?=[^/])")


def canonical_guid(guid: str) -> str:
    """Perma's `Link.get_canonical_guid`: legacy GUIDs kept as they are, modern ones regrouped.

    No '-' and length >= 9: legacy, returned as is after a leading 'O' becomes '0'. Otherwise
    upper-cased, stripped to [0-9A-Z] and regrouped in blocks of 4 from the right: a2b3c4d5 -> A2B3-C4D5.
    """
    if "-" not in guid and len(guid) >= 9:
        return "0" + guid[1:] if guid.startswith("O") else guid
    cleaned = re.sub(r"[^0-9A-Z]", "", guid.upper())
    blocks = []
    while cleaned:
        blocks.append(cleaned[-4:])
        cleaned = cleaned[:-4]
    return "-".join(reversed(blocks))


def looks_like_guid(text: str) -> bool:
    return bool(_MODERN_GUID.match(text) or _LEGACY_GUID.match(text))


def _canonicalises_to_guid(segment: str) -> bool:
    """perma.cc/{x} canonicalises what it is given (perma.cc/a2b3c4d5 answers 301 to /A2B3-C4D5).

    Generated GUIDs never start with four letters (Perma redraws those), which keeps site pages
    such as perma.cc/settings from being taken for GUIDs.
    """
    canonical = canonical_guid(segment)
    return bool(_MODERN_GUID.match(canonical)) and not canonical[:4].isalpha()


def _perma(raw: str, guid: str, site_url: str) -> ArchiveRef:
    canonical = canonical_guid(guid)
    return ArchiveRef(kind=ArchiveKind.PERMA, raw=raw, uri=f"{site_url.rstrip('/')}/{canonical}", guid=canonical)


def wayback_uri(timestamp: str, original_url: str, base: str = "https://web.archive.org", modifier: str = "") -> str:
    return f"{base.rstrip('/')}/web/{timestamp}{modifier}/{original_url}"


def parse_archive_ref(
    text: str,
    *,
    perma_site_url: str = "https://perma.cc",
    wayback_url: str = "https://web.archive.org",
    bare_guid: bool = True,
) -> ArchiveRef | None:
    """The archive reference `text` names, or None when it is not one.

    Configured hosts (`perma_site_url`, `wayback_url`) are recognised besides the public ones, so
    a local imitation server works like the real service. A bare GUID counts only with `bare_guid`
    (a document's prose is full of 9-letter words; callers that read documents turn it off).
    """
    raw = text
    text = text.strip()
    if text.startswith("capture:") and len(text) > len("capture:"):
        capture_id = text[len("capture:") :]
        return ArchiveRef(kind=ArchiveKind.LOCAL, raw=raw, uri=text, capture_id=capture_id)
    if bare_guid and "/" not in text and "." not in text and looks_like_guid(text):
        return _perma(raw, text, perma_site_url)
    candidate = text if re.match(r"^https?://", text, re.I) else "https://" + text
    try:
        parts = urlsplit(candidate)
        netloc = parts.netloc.lower()
    except ValueError:
        return None
    perma_hosts = {*PERMA_HOSTS, urlsplit(perma_site_url).netloc.lower()}
    wayback_hosts = {*WAYBACK_HOSTS, urlsplit(wayback_url).netloc.lower()}
    if netloc in perma_hosts:
        segment = parts.path.strip("/")
        if segment and "/" not in segment and (looks_like_guid(segment) or _canonicalises_to_guid(segment)):
            return _perma(raw, segment, perma_site_url)
        return None
    if netloc in wayback_hosts:
        # The embedded URL may contain '?' and '#': take it from the original text, not the parts.
        path_start = candidate.find("/web/", len(parts.scheme) + 3)
        match = _WAYBACK_PATH.match(candidate[path_start:]) if path_start >= 0 else None
        if match is None:
            return None
        original = _SCHEME_FIX.sub(lambda m: m.group(1) + "://", match.group("url"))
        if not re.match(r"^https?://", original, re.I):
            original = "http://" + original
        timestamp = match.group("ts")
        return ArchiveRef(
            kind=ArchiveKind.WAYBACK,
            raw=raw,
            uri=wayback_uri(timestamp, original, wayback_url),
            timestamp=timestamp,
            original_url=original,
        )
    if re.match(r"^https?://", text, re.I):
        return ArchiveRef(kind=ArchiveKind.MEMENTO, raw=raw, uri=text)
    return None
