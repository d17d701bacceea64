"""The one clock: what time it is in UTC, and the type every module injects it as.

Everything that stamps a record, a row or a report takes a `Clock` argument defaulting to
`utc_now`, so tests pass a fixed clock and compare whole outputs (STYLE.md §9).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)
