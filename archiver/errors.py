"""One exception tree for the whole package, drawn below.

Third-party errors (httpx, warcio, sqlite3, zipfile) are translated at the seam where they are
raised, so callers handle only these. Every message says what happened and what to do next.
"""

# ArchiverError
# ├── UsageError              bad command-line input (exit 3)
# │   ├── UnknownCaptureError no capture (or more than one) matches an ID or prefix
# │   └── DocumentTooLargeError a document (or a part of it, inflated) is over its [documents] cap
# ├── ConfigError             a bad config file or value (exit 3)
# ├── InvalidURLError         a URL we refuse to fetch, with the reason
# ├── FetchFailure            a fetch that did not produce a response; carries an ErrorKind
# │   └── BlockedAddressError the address guard refused a host
# ├── DecodeError             text could not be had from a payload
# │   └── DecompressionLimitError   content-encoding inflates past max_decoded_bytes
# ├── StoreError              the archive folder (WARC files, index) is unusable
# │   ├── CorruptWarcError    a WARC record fails to parse or to verify
# │   ├── DiskFullError       the disk holding the archive is full (the run stops)
# │   ├── ArchiveLockedError  another archiver process holds the archive
# │   └── ArchiveBusyError    the archive kept changing under a reader that needs a still view
# ├── ArchiveAccessError      an archive (Perma.cc, Wayback) could not be asked or read
# ├── ExtractError            a document could not be read for citations
# ├── ScheduleError           the scheduler could not start or persist its job
# ├── RunInterrupted          a run stopped early on request (SIGTERM/SIGINT); caught up later
# └── ClusterError            the Dask cluster cannot be used (no scheduler, workers see another folder)
#     └── ClusterLost         the scheduler went away mid-batch; what was returned is kept

from __future__ import annotations

from archiver.models import ErrorKind, Problem

EXCERPT_CHARS = 200


def _escaped(ch: str) -> str:
    if ch in "'\\":
        return "\\" + ch
    return ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")


def quoted(value: str | bytes, limit: int = EXCERPT_CHARS) -> str:
    """`value` as a message may quote it: in quotes, control characters escaped, at most `limit` characters.

    Messages quote what came from outside (a URL, a file's first line); a hostile value must not
    make a message huge or reach a terminal as control sequences.
    """
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    pieces = [_escaped(ch) for ch in text[:limit]]  # escaping only lengthens: more is never shown
    if sum(map(len, pieces)) + 2 <= limit and len(text) <= limit:
        return "'" + "".join(pieces) + "'"
    tail = f"... ({len(text)} characters)"
    room, shown = max(limit - len(tail) - 2, 8), []
    for piece in pieces:
        room -= len(piece)
        if room < 0:
            break
        shown.append(piece)
    return "'" + "".join(shown) + "'" + tail


def shown(value: str, limit: int = EXCERPT_CHARS) -> str:
    """`value` itself when it is short and printable (a file name, a URL), else `quoted(value, limit)`."""
    if len(value) <= limit and value.isprintable():
        return value
    return quoted(value, limit)


class ArchiverError(Exception):
    """Base of every error this package raises on purpose."""


class UsageError(ArchiverError):
    """The command line asked for something that cannot be done."""


class UnknownCaptureError(UsageError):
    """No capture, or more than one, matches the ID (or ID prefix) asked for."""

    def __init__(self, wanted: str, matches: tuple[str, ...] = ()) -> None:
        if matches:
            shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
            message = f"capture ID {wanted!r} is ambiguous ({len(matches)} match: {shown}); give more characters"
        else:
            message = f"no capture with ID {wanted!r}; `archiver history URL` lists the IDs of a URL's captures"
        super().__init__(message)
        self.wanted = wanted
        self.matches = matches


class DocumentTooLargeError(UsageError):
    """A document, or what one of its compressed parts inflates to, is over its [documents] cap."""

    def __init__(self, document: str, what: str, size: int, cap: int, setting: str) -> None:
        super().__init__(
            f"{shown(document, 120)}: {what} is {size} bytes, over the cap of {cap} bytes "
            f"([documents] {setting}); nothing was read from it: raise the cap if the document is genuine"
        )
        self.document = document
        self.size = size
        self.cap = cap


class ConfigError(ArchiverError):
    """A configuration file or value is invalid; the message names the file and the key."""


class InvalidURLError(ArchiverError):
    """A URL that is malformed or not allowed (scheme, host, port)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"invalid URL {quoted(url, 160)}: {reason}")  # a URL may be 100 KB long
        self.url = url
        self.reason = reason


class FetchFailure(ArchiverError):
    """A fetch ended without a usable response; `kind` is recorded in the capture."""

    def __init__(self, kind: ErrorKind, message: str | Problem) -> None:
        problem = message if isinstance(message, Problem) else None
        text = message.text() if isinstance(message, Problem) else message
        super().__init__(text)
        self.kind = kind
        self.message = text
        # The parts, when the raiser built them: a caller quoting this failure takes the sentence
        # and drops a hint that does not fit its context.
        self.problem = problem

    def sentence(self) -> str:
        """The failure without its hint (all of it when it carries no Problem)."""
        return self.problem.sentence() if self.problem is not None else self.message


class BlockedAddressError(FetchFailure):
    """The address guard refused a host that resolves to a non-global address."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(
            ErrorKind.BLOCKED_ADDRESS,
            f"refused {host!r}: it resolves to {address}, which is not a public address; "
            "set [fetch] allow_private_networks = true to fetch from private networks",
        )
        self.host = host
        self.address = address


class DecodeError(ArchiverError):
    """A payload could not be turned into text."""


class DecompressionLimitError(DecodeError):
    """The content-encoded payload inflates past `max_decoded_bytes`."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"decompressed size limit exceeded ({limit} bytes); the raw payload is archived, "
            "raise [fetch] max_decoded_bytes to extract its text"
        )
        self.limit = limit


class StoreError(ArchiverError):
    """The archive folder cannot be used as asked."""


class CorruptWarcError(StoreError):
    """A WARC record does not parse or does not match its digests."""

    def __init__(self, file: str, offset: int, reason: str) -> None:
        super().__init__(f"{file} at offset {offset}: {reason}")
        self.file = file
        self.offset = offset
        self.reason = reason


class ArchiveLockedError(StoreError):
    """Another archiver process holds the archive's lock."""


class DiskFullError(StoreError):
    """No space left where the archive is written: the run stops, what was stored before stays."""

    def __init__(self, where: object, detail: str) -> None:
        super().__init__(
            f"the disk holding {where} is full ({detail}); the run stopped: every capture stored before "
            "it is kept and the interrupted WARC file is finished by recovery at the next start; "
            "free some space (or move the archive) and run again"
        )


class ArchiveBusyError(StoreError):
    """The archive's files kept changing while a reader (verify) tried to list them at one moment."""


class ArchiveAccessError(ArchiverError):
    """An archive service or archive file could not be used."""


class ExtractError(ArchiverError):
    """A document could not be read for citations."""


class ScheduleError(ArchiverError):
    """The scheduler could not be started or its job store used."""


class RunInterrupted(ArchiverError):
    """A run stopped early because it was asked to (SIGTERM/SIGINT); the scheduler catches it up."""


class ClusterError(ArchiverError):
    """The Dask cluster named by --cluster / [cluster] address cannot be used."""


class ClusterLost(ClusterError):
    """The scheduler went away mid-batch: the shards already returned are recorded, the rest are not."""
