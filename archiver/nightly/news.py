"""The news of a nightly run: what makes a run worth telling about, per source and for the run.

The nightly pass builds a `RunNews`; the watch list stores `NewsItem`s; notify and the reports
render it. It is vocabulary shared by them, so it lives apart from any one of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path


class NewsEvent(StrEnum):
    """What makes a run worth telling about (JSON contract: never rename)."""

    NEW_DRIFT = "new_drift"
    NEWLY_FAILING = "newly_failing"
    GONE = "gone"
    RECOVERED = "recovered"


# Most serious first: the order of sections in the e-mail and of counts in its subject.
NEWS_ORDER = (NewsEvent.GONE, NewsEvent.NEWLY_FAILING, NewsEvent.NEW_DRIFT, NewsEvent.RECOVERED)
NEWS_HEADINGS = {
    NewsEvent.GONE: "Gone (declared dead after repeated failures)",
    NewsEvent.NEWLY_FAILING: "Newly failing (a warning; not yet declared dead)",
    NewsEvent.NEW_DRIFT: "Changed since the last run",
    NewsEvent.RECOVERED: "Recovered",
}


@dataclass(frozen=True)
class NewsItem:
    """One source with news: its URL, what happened, and a line of detail (verdict, similarity...)."""

    url: str
    event: NewsEvent
    detail: str = ""
    label: str = ""  # the watch list's label for the source, if any


@dataclass(frozen=True)
class RunNews:
    """What a run found that people should hear about; built by the nightly pass."""

    run_id: str
    started_at: datetime
    finished_at: datetime
    items: tuple[NewsItem, ...]
    report_paths: tuple[Path, ...] = ()
    title: str = ""  # e.g. "catch-up run for 2025-04-26 03:00 UTC"
    totals: Mapping[str, int] = field(default_factory=dict)  # e.g. {"checked": 120, "pass": 117}

    @property
    def counts(self) -> dict[NewsEvent, int]:
        """Items per event, most serious first, events without items left out."""
        counted = Counter(item.event for item in self.items)
        return {event: counted[event] for event in NEWS_ORDER if counted[event]}

    @property
    def has_news(self) -> bool:
        return bool(self.items)
