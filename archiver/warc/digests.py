"""WARC digests as text: every form other tools write, read into one (algorithm, raw bytes) value.

A module of its own because the strict reader (`warc/record`) and the fixity audit must accept
exactly the same forms: one that only one of them accepts would be reported as damage that is not
there. Pure functions of their text, stdlib only. See docs/warc-layout.md.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class ParsedDigest:
    algorithm: str  # hashlib name
    value: bytes


class MalformedDigestError(ValueError):
    pass


class UnknownAlgorithmError(ValueError):
    pass


_ALGORITHMS = {name: name for name in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")}


def parse_digest(text: str) -> ParsedDigest:
    """`sha1:<b32>`, `SHA-1:<b32 lower>`, `sha1:<hex>`, `sha256:<hex>`... -> algorithm + raw bytes."""
    label, sep, value = text.strip().partition(":")
    if not sep or not value:
        raise MalformedDigestError(f"digest {text!r} is not <algorithm>:<value>")
    name = _ALGORITHMS.get(label.lower().replace("-", "").replace("_", ""))
    if name is None:
        raise UnknownAlgorithmError(f"digest algorithm {label!r} is not one we can compute")
    size = hashlib.new(name).digest_size
    candidates: list[bytes] = []
    if len(value) == 2 * size:
        try:
            candidates.append(bytes.fromhex(value))
        except ValueError:
            pass
    b32 = value.upper().rstrip("=")
    if len(b32) == -(-size * 8 // 5):
        try:
            candidates.append(base64.b32decode(b32 + "=" * (-len(b32) % 8)))
        except ValueError:  # binascii.Error, or a non-ASCII character (fuzz/ found it)
            pass
    b64 = value.rstrip("=")
    if len(b64) == -(-size * 4 // 3):
        try:
            candidates.append(base64.b64decode(b64 + "=" * (-len(b64) % 4), altchars=b"-_" if "-" in b64 else None))
        except ValueError:  # binascii.Error, or a non-ASCII character (fuzz/ found it)
            pass
    for raw in candidates:
        if len(raw) == size:
            return ParsedDigest(name, raw)
    raise MalformedDigestError(f"digest {text!r} is not hex, base32 or base64 of a {label} digest")


def declares_sha256(declared: str | None, sha256: str | None) -> bool:
    """Whether a declared payload digest (any form parse_digest reads) is this sha256."""
    if declared is None or sha256 is None:
        return declared is None and sha256 is None
    try:
        parsed = parse_digest(declared)
    except ValueError:
        return False
    return parsed.algorithm == "sha256" and parsed.value.hex() == sha256
