"""The vocabulary: closed outcomes as enums, and the frozen records that cross module boundaries.

The enum values are the JSON contract of DESIGN.md ("Verdicts"): never rename or drop one.
Times are timezone-aware UTC datetimes; hashes are lowercase hex sha256.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

SCHEMA_VERSION = 1


class LiveVerdict(StrEnum):
    OK = "ok"
    REDIRECTED = "redirected"
    GONE = "gone"
    SOFT_404 = "soft_404"
    BLOCKED = "blocked"
    SERVER_ERROR = "server_error"
    UNREACHABLE = "unreachable"
    INVALID_URL = "invalid_url"


class ArchiveVerdict(StrEnum):
    OK = "ok"
    MISMATCH = "mismatch"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"
    METADATA_ONLY = "metadata_only"
    PENDING = "pending"
    FAILED = "failed"
    NONE = "none"


class DriftVerdict(StrEnum):
    IDENTICAL = "identical"
    EQUIVALENT = "equivalent"
    MINOR = "minor"
    MAJOR = "major"
    REPLACED = "replaced"
    UNKNOWN = "unknown"


# The drift verdicts that mean the page changed (unknown is not a change: it is no answer).
DRIFTED = frozenset({DriftVerdict.MINOR, DriftVerdict.MAJOR, DriftVerdict.REPLACED})


class PageKind(StrEnum):
    """What a capture (live or archived) shows: only `content` is evidence of what a citation said."""

    CONTENT = "content"
    NOT_FOUND = "not_found"
    REMOVED = "removed"
    LOGIN_WALL = "login_wall"
    CHALLENGE = "challenge"
    APP_SHELL = "app_shell"
    EMPTY = "empty"
    ERROR_PAGE = "error_page"


class Overall(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


class ArchiveKind(StrEnum):
    PERMA = "perma"
    WAYBACK = "wayback"
    MEMENTO = "memento"
    LOCAL = "local"


class ErrorKind(StrEnum):
    """Why a fetch produced no (complete) response. Stored in captures: provenance of a failure."""

    INVALID_URL = "invalid_url"
    BLOCKED_ADDRESS = "blocked_address"
    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    TIMEOUT = "timeout"
    DEADLINE = "deadline"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    PROTOCOL = "protocol"
    PROXY = "proxy"
    POOL_TIMEOUT = "pool_timeout"
    ARCHIVE = "archive"
    IO = "io"


class Truncation(StrEnum):
    """Values of `WARC-Truncated` (WARC 1.1 §5.13)."""

    LENGTH = "length"
    TIME = "time"
    DISCONNECT = "disconnect"
    UNSPECIFIED = "unspecified"


@dataclass(frozen=True)
class Problem:
    """A failure in words, built once where it happens: what (`subject`), what went wrong
    (`detail`), and at most one thing to do (`hint`, only where it fits: no "check the host name
    for typos" about an archive's own host). Later messages quote `sentence()` or point at it;
    they never paste a whole message inside another one."""

    subject: str
    detail: str
    hint: str = ""

    def sentence(self) -> str:
        return f"{self.subject} {self.detail}"

    def text(self) -> str:
        return self.sentence() + (f"; {self.hint}" if self.hint else "")

    def __str__(self) -> str:
        return self.text()


@dataclass(frozen=True)
class Failure:
    """A typed reason a fetch failed: `{kind, message}` in JSON; `problem` keeps its parts.

    `message` is the problem's whole text (sentence and hint); a caller that quotes the failure
    where the hint does not fit takes `problem.sentence()`.
    """

    kind: ErrorKind
    message: str
    problem: Problem | None = field(default=None, compare=False)

    @classmethod
    def of(cls, kind: ErrorKind, problem: Problem) -> Failure:
        return cls(kind, problem.text(), problem)

    def sentence(self) -> str:
        return self.problem.sentence() if self.problem is not None else self.message


@dataclass(frozen=True)
class Hop:
    """One response in a redirect chain: the URL asked for and the status it answered with."""

    url: str
    status: int
    location: str | None = None


@dataclass(frozen=True)
class WarcLocation:
    """Where a record lives: file name relative to the archive folder, byte offset and length."""

    file: str
    offset: int
    length: int


@dataclass(frozen=True)
class Capture:
    """One fetch, stored (or its typed failure).

    `url` is the URL as it was asked for (the original string, IDN included); `final_url` the last
    hop's URL. `warc` points at the final response (or revisit) record. `redirects` lists every hop
    that answered with a redirect, in order.
    """

    id: str
    url: str
    final_url: str | None
    status: int | None
    redirects: tuple[Hop, ...]
    fetched_at: datetime
    content_type: str | None
    payload_sha256: str | None
    payload_size: int | None
    text_sha256: str | None
    title: str | None
    warc: WarcLocation | None
    error: Failure | None = None
    truncated: Truncation | None = None
    ip_address: str | None = None
    encoding: str | None = None
    text_error: str | None = None
    revisit_of: str | None = None
    elapsed_ms: int | None = None
    page_kind: PageKind | None = None  # what the page shows (None: not read, e.g. a stopped redirect)
    page_evidence: tuple[str, ...] = ()  # why, in words

    @property
    def ok(self) -> bool:
        """True when a response was received and stored, whatever its HTTP status."""
        return self.error is None and self.status is not None

    @property
    def is_content(self) -> bool:
        """True unless the page was read as a wall, a notice, a shell, an error page or nothing."""
        return self.page_kind in (None, PageKind.CONTENT)


@dataclass(frozen=True)
class HistoryMark:
    """How one capture differs from the next older capture of the same URL (`archiver history`).

    None means unknown: there is no older capture, or one side has no hash to compare.
    """

    payload_changed: bool | None
    text_changed: bool | None

    @classmethod
    def between(cls, newer: Capture, older: Capture | None) -> HistoryMark:
        def differs(a: str | None, b: str | None) -> bool | None:
            return None if a is None or b is None else a != b

        if older is None:
            return cls(None, None)
        return cls(
            differs(newer.payload_sha256, older.payload_sha256),
            differs(newer.text_sha256, older.text_sha256),
        )


@dataclass(frozen=True)
class ArchiveRef:
    """A pointer to an archived copy, parsed from what a user pasted.

    perma: `guid` (canonical); wayback: `timestamp` + `original_url`; memento: `uri` only;
    local: `capture_id` of one of our own captures.
    """

    kind: ArchiveKind
    raw: str
    uri: str
    guid: str | None = None
    timestamp: str | None = None
    original_url: str | None = None
    capture_id: str | None = None


@dataclass(frozen=True)
class Memento:
    """An archived copy resolved: what it captured, when, how we know, and its content if had.

    `obtained_via` names the route (e.g. "perma-api", "perma-memento-headers", "wayback-id");
    `substitute_days` is set when the content comes from another archive than the one cited.
    """

    ref: ArchiveRef
    verdict: ArchiveVerdict
    original_url: str | None
    datetime: datetime | None
    obtained_via: str
    capture: Capture | None = None
    reason: str | None = None
    substitute_for: ArchiveRef | None = None
    substitute_days: float | None = None
    mirror_file: str | None = None
    mirror_sha256: str | None = None
    title: str | None = None
    # Integrity problems found in a downloaded archive file (a WACZ hash mismatch, a missing
    # record): reported with the content, never silently dropped.
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceSpan:
    """Where in a document a citation was found (1-based line and column)."""

    path: str
    line: int
    column: int


@dataclass(frozen=True)
class Citation:
    """A cited URL found in a document, with the archive links paired with it."""

    url: str
    found_in: SourceSpan
    archives: tuple[ArchiveRef, ...] = ()
    expected_title: str | None = None
    expected_quote: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Change:
    """One paragraph-level difference between two texts."""

    op: str  # "added" | "removed" | "changed"
    before: str
    after: str


@dataclass(frozen=True)
class Comparison:
    """Two captures of one resource compared."""

    verdict: DriftVerdict
    similarity: float | None
    payload_identical: bool
    text_identical: bool
    title_similarity: float | None = None
    added: int = 0
    removed: int = 0
    changes: tuple[Change, ...] = ()
    quote_in_a: bool | None = None
    quote_in_b: bool | None = None
    reason: str | None = None

    @classmethod
    def unknown(cls, reason: str | None = None) -> Comparison:
        """No answer: one side is missing or has nothing to compare, and `reason` says which."""
        return cls(DriftVerdict.UNKNOWN, None, False, False, reason=reason)

    @property
    def excerpt(self) -> str | None:
        if not self.changes:
            return None
        first = self.changes[0]
        return first.after or first.before


@dataclass(frozen=True)
class CheckResult:
    """One citation judged."""

    citation: Citation
    live_verdict: LiveVerdict | None
    live_capture: Capture | None
    archive: Memento | None
    archive_verdict: ArchiveVerdict
    drift: Comparison
    overall: Overall
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    """One run of a reporting command."""

    tool: str
    started_at: datetime
    finished_at: datetime
    results: tuple[CheckResult, ...]
    title: str = "archiver report"
    notes: tuple[str, ...] = field(default_factory=tuple)
    # Documents in which no citation was found (empty, binary, or without URLs): said in the notes,
    # and a failure under --strict, because a check of nothing must not pass silently.
    uncited: tuple[str, ...] = field(default_factory=tuple)

    @property
    def summary(self) -> dict[str, int]:
        counts = {o.value: 0 for o in Overall}
        for result in self.results:
            counts[result.overall.value] += 1
        return counts


@dataclass(frozen=True)
class ArchivePaths:
    """The archive folder's layout (DESIGN.md "The archive folder")."""

    root: Path

    @property
    def warcs(self) -> Path:
        return self.root / "warcs"

    @property
    def mirrors(self) -> Path:
        return self.root / "mirrors"

    @property
    def index(self) -> Path:
        return self.root / "index.sqlite3"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"
