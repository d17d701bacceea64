"""What a nightly run reports: its summary for the terminal, and `reports/<run-id>.{json,html,md}`.

A person reads a nightly report for its news, and reports repeating every source in full grew the
archive more than the captures did. So the JSON keeps every result but without indentation, and
the HTML and Markdown fold quiet sources into one short table. The formatters (`archiver.report`)
render; this module decides what is quiet, words link states and writes the files atomically.
See docs/nightly.md.
"""

from __future__ import annotations

import gzip
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from archiver.config import Config
from archiver.models import Overall, Report
from archiver.nightly.linkstate import LinkCondition
from archiver.nightly.news import NewsItem
from archiver.nightly.notify import Delivery
from archiver.nightly.source_result import SourceResult
from archiver.report import QuietSources, render

REPORT_FORMATS = {"json": "json", "html": "html", "md": "markdown"}


@dataclass(frozen=True)
class RunSummary:
    """What one run did: its report (one result per watched source), files written, deliveries."""

    run_id: str
    label: str
    report: Report
    sources: tuple[SourceResult, ...]
    report_paths: tuple[Path, ...]
    deliveries: tuple[Delivery, ...]
    resumed: int = 0  # sources checked by an earlier, interrupted attempt of the same run

    @property
    def counts(self) -> dict[str, int]:
        return self.report.summary

    @property
    def conditions(self) -> dict[str, int]:
        counted = Counter(s.condition.value for s in self.sources)
        return {c.value: counted[c.value] for c in LinkCondition}

    @property
    def news(self) -> tuple[NewsItem, ...]:
        return tuple(item for s in self.sources for item in s.news)

    @property
    def quiet(self) -> int:
        return sum(1 for s in self.sources if s.quiet)

    def exit_code(self, strict: bool = False) -> int:
        """DESIGN.md: 0 all pass, 2 any fail (warnings too with `strict`)."""
        counts = self.counts
        return 2 if counts["fail"] or (strict and counts["warn"]) else 0

    def text(self) -> str:
        """The few lines `archiver run` prints."""
        counts, conditions = self.counts, self.conditions
        lines = [
            f"run {self.run_id} ({self.label}): {len(self.sources)} sources checked"
            + (f", {self.resumed} of them before an interruption" if self.resumed else ""),
            "results: " + ", ".join(f"{counts[o.value]} {o.value}" for o in Overall),
            "link states: " + ", ".join(f"{n} {name}" for name, n in conditions.items()),
        ]
        news = Counter(item.event.value for item in self.news)
        lines.append("news: " + (", ".join(f"{n} {e.replace('_', ' ')}" for e, n in news.items()) or "none"))
        if self.quiet:
            lines.append(f"quiet: {self.quiet} sources with the same verdicts as in their previous run")
        lines += [f"report: {path}" for path in self.report_paths]
        for d in self.deliveries:
            lines.append(f"notified {d.channel.value} {d.target}: {'ok' if d.ok else 'FAILED'} ({d.detail})")
        return "\n".join(lines)


def link_state_text(source: SourceResult) -> str:
    """`ok since 2025-03-01`: the link's condition and the UTC day it began."""
    if source.since is None:
        return source.condition.value
    return f"{source.condition.value} since {source.since.astimezone(UTC):%Y-%m-%d}"


def quiet_sources(sources: Sequence[SourceResult]) -> QuietSources:
    """The quiet sources of a run, numbered by their place in the report (from 1)."""
    return QuietSources({n: link_state_text(s) for n, s in enumerate(sources, start=1) if s.quiet})


def run_report(
    run_id: str, label: str, started_at: datetime, finished_at: datetime, sources: Sequence[SourceResult], resumed: int
) -> Report:
    """The run's report: one result per source, in watch-list order, with the link states counted."""
    conditions = Counter(s.condition.value for s in sources)
    notes = [
        f"{label}; run id {run_id}.",
        "Link states: " + ", ".join(f"{conditions[c.value]} {c.value}" for c in LinkCondition) + ".",
    ]
    if resumed:
        notes.append(f"Resumed: {resumed} sources were checked before an interruption of this run.")
    return Report(
        tool="archiver",
        started_at=started_at,
        finished_at=finished_at,
        results=tuple(s.result for s in sources),
        title=f"archiver run {run_id}",
        notes=tuple(notes),
    )


def write_reports(config: Config, run_id: str, report: Report, quiet: QuietSources | None = None) -> tuple[Path, ...]:
    """`reports/<run-id>.{json,html,md}`: compact JSON, and HTML and Markdown with `quiet` folded."""
    folder = config.archive_dir / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, fmt in REPORT_FORMATS.items():
        path = folder / f"{run_id}.{suffix}"
        temp = path.with_name(path.name + ".part")
        temp.write_text(render(report, fmt, quiet=quiet, compact=True), encoding="utf-8")
        temp.replace(path)  # a reader never sees half a report
        paths.append(path)
    compress_older_reports(folder, keep=set(paths))
    return tuple(paths)


def compress_older_reports(folder: Path, keep: set[Path]) -> list[Path]:
    """Gzip every plain report but the newest run's: the latest stays where tools read it, older
    ones shrink ~20x (a quiet night's JSON is ~1.5 KB a source plain, ~80 B gzipped) and lose
    nothing. Written to a temporary name and renamed, so a crash leaves the plain file or both."""
    done = []
    for path in sorted(folder.iterdir()):
        if path in keep or path.suffix.lstrip(".") not in REPORT_FORMATS:
            continue
        target = path.with_name(path.name + ".gz")
        temp = target.with_name(target.name + ".part")
        with path.open("rb") as source, gzip.open(temp, "wb", compresslevel=9) as sink:
            shutil.copyfileobj(source, sink)
        temp.replace(target)
        path.unlink()
        done.append(target)
    return done
