"""The one clock: what time it is in UTC, the type every module injects it as, and how times
are written to and read back from text.

Everything that stamps a record, a row or a report takes a `Clock` argument defaulting to
`utc_now`, so tests pass a fixed clock and compare whole outputs (STYLE.md §9).

`stamp` is the one fixed-width form (UTC, always with microseconds, trailing Z): WARC-Date,
index rows and watch-list rows all use it, so text order is time order and a rebuilt WARC is
byte-identical. `parse_stamp` reads that form and any other ISO 8601 text back (a trailing Z or
an offset), so every reader of stored times goes through one function.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    """`YYYY-MM-DDThh:mm:ss.ffffffZ` in UTC: fixed width, always with microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(text: str | None) -> datetime | None:
    """ISO 8601 text (`Z` or an offset) to a datetime; None or empty text is no time."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_required_stamp(text: str) -> datetime:
    """`parse_stamp` for a time that must be there: empty text is a ValueError, as `fromisoformat` says."""
    moment = parse_stamp(text)
    if moment is None:
        raise ValueError(f"Invalid isoformat string: {text!r}")
    return moment
