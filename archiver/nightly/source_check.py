"""Checking one watched source on one night: capture, judge, advance its link state, compare, decide.

Per source: capture, judge live (`judge/live`), advance the link state (`nightly/linkstate`),
compare with the kept archived copy (`nightly/archived_copy`), the baseline and the previous
capture, judge the whole (`judge/policy`), and say whether it is news or quiet. Unchanged pages
cost almost nothing (same digest: `identical` without reading text) and are worded the same every
night so the index keeps one copy. See docs/nightly.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from dataclasses import dataclass
from datetime import UTC, datetime

from archiver.archives.protocol import Archives
from archiver.config import Config, PolicyConfig
from archiver.jsonform import comparison_from_dict
from archiver.judge.drift import TextSide, compare
from archiver.judge.live import judge_live, probe_url
from archiver.judge.policy import judge
from archiver.models import (
    DRIFTED,
    ArchiveVerdict,
    Capture,
    CheckResult,
    Comparison,
    DriftVerdict,
    LiveVerdict,
    Memento,
)
from archiver.nightly.archived_copy import KeptCopies, whole_page
from archiver.nightly.linkstate import LinkCondition, LinkEvent, LinkState, Observation, advance, observation_of
from archiver.nightly.news import NewsEvent, NewsItem
from archiver.nightly.source_result import SourceResult, Verdicts, is_quiet
from archiver.nightly.watchlist import WatchEntry, WatchList, citation_of
from archiver.pipeline.capture import CaptureEngine
from archiver.pipeline.compare import text_of_capture

_EVENT_NEWS = {
    LinkEvent.NEWLY_FAILING: NewsEvent.NEWLY_FAILING,
    LinkEvent.GONE: NewsEvent.GONE,
    LinkEvent.RECOVERED: NewsEvent.RECOVERED,
}


def capped_policy(policy: PolicyConfig, state: LinkState) -> PolicyConfig:
    """While a link is `failing` (not yet `gone`), its live failure is a warning, not a failure."""
    if state.condition is not LinkCondition.FAILING:
        return policy

    def cap(level: str) -> str:
        return "warn" if level == "fail" else level

    live = {
        verdict: cap(level) if observation_of(LiveVerdict(verdict)) is Observation.FAILURE else level
        for verdict, level in policy.live.items()
    }
    return dataclasses.replace(policy, live=live, gone_with_archive=cap(policy.gone_with_archive))


def state_reasons(state: LinkState, event: LinkEvent | None, cfg: Config) -> list[str]:
    """The link state in words, for the report's reasons."""
    since = "" if state.since is None else f" since {state.since.astimezone(UTC):%Y-%m-%d}"
    rule = (
        f"declared gone after {cfg.watch.dead_after_failures} failed days "
        f"spanning at least {cfg.watch.dead_after_days:g} days"
    )
    failures = f"{state.consecutive_failures} failed checks on {state.failure_days} days"
    if event is LinkEvent.GONE:
        return [f"Link state: gone{since}: {failures}, the first on {state.first_failure_at:%Y-%m-%d}."]
    if event is LinkEvent.NEWLY_FAILING:
        return [f"Link state: newly failing{since}; a warning until it is {rule}."]
    if event is LinkEvent.RECOVERED:
        return [f"Link state: recovered{since}: the link answers again after failing."]
    if state.condition is LinkCondition.FAILING:
        return [f"Link state: failing{since} ({failures}); {rule}."]
    return [f"Link state: {state.condition.value}{since}."]


def comparison_line(what: str, other: Capture, comparison: Comparison) -> str:
    similarity = "" if comparison.similarity is None else f", similarity {comparison.similarity:.2f}"
    return f"Since {what} ({other.fetched_at.astimezone(UTC):%Y-%m-%d}): {comparison.verdict.value}{similarity}."


@dataclass(frozen=True)
class _Night:
    """What one night observed of a source, before any comparison."""

    capture: Capture
    verdict: LiveVerdict
    reason: str
    at: datetime
    state: LinkState
    event: LinkEvent | None
    memento: Memento | None
    live_side: TextSide | None  # tonight's text, when the live page answered with a whole page
    previous: Capture | None  # the newest earlier whole-page capture
    baseline: Capture | None  # our first good capture
    before: Verdicts | None  # the source's verdicts in its previous result

    @property
    def archive_verdict(self) -> ArchiveVerdict:
        return self.memento.verdict if self.memento is not None else ArchiveVerdict.NONE


@dataclass(frozen=True)
class _Comparisons:
    vs_baseline: Comparison | None = None
    vs_previous: Comparison | None = None
    vs_archive: Comparison | None = None
    archive_key: str | None = None  # which archived copy vs_archive compared with


class SourceChecker:
    """Checks one watched source at a time; shared by the run's workers (state is per call)."""

    def __init__(
        self, config: Config, engine: CaptureEngine, archives: Archives, watch: WatchList, rng: random.Random
    ) -> None:
        assert engine.index is not None, "the capture engine must be open"
        self.config = config
        self.engine = engine
        self.copies = KeptCopies(engine.index, archives, tuple(config.urls.tracking_params))
        self.watch = watch
        self.rng = rng

    async def check(self, entry: WatchEntry, run_id: str) -> tuple[SourceResult, LinkState, str | None]:
        """The source judged tonight, its new link state, and the id of its baseline capture."""
        night = await self._observe(entry, run_id)
        seen = await self._comparisons(entry, run_id, night)
        drift = seen.vs_archive or seen.vs_baseline
        if drift is None:
            why = (
                "the live page did not answer with a page" if night.live_side is None else "no earlier copy to compare"
            )
            drift = Comparison.unknown(why)
        judged = judge(
            capped_policy(self.config.policy, night.state),
            night.verdict,
            night.reason,
            night.archive_verdict,
            night.memento,
            drift,
        )
        result = CheckResult(
            citation=citation_of(entry),
            live_verdict=night.verdict,
            live_capture=night.capture,
            archive=night.memento,
            archive_verdict=night.archive_verdict,
            drift=drift,
            overall=judged.overall,
            reasons=(*judged.reasons, *self._history_reasons(night, seen)),
        )
        outcome = SourceResult(
            entry.key,
            result,
            night.state.condition,
            night.event,
            night.at,
            seen.vs_baseline,
            seen.vs_previous,
            seen.archive_key,
            self._news(entry, night, seen),
        )
        quiet = is_quiet(outcome.verdicts, night.before, night.event, outcome.news)
        outcome = dataclasses.replace(outcome, quiet=quiet, since=night.state.since)
        if night.baseline is not None:
            new_baseline: str | None = night.baseline.id
        else:
            new_baseline = night.capture.id if night.live_side is not None else None
        return outcome, night.state, new_baseline

    async def _observe(self, entry: WatchEntry, run_id: str) -> _Night:
        """Tonight's capture and live verdict, the link state it advances to, and the archived copy."""
        index = self.engine.index
        assert index is not None
        history = await asyncio.to_thread(index.history, entry.url)
        before = self.watch.previous_verdicts(entry.key, run_id)
        good = [c for c in history if whole_page(c)]
        previous = good[0] if good else None
        live = await self.engine.capture_detailed(entry.url, with_main_text=True, follow_page_redirects=True)
        capture, fp = live.capture, live.fingerprint
        probe = None
        if self._wants_probe(entry, capture, previous):
            probed = await self.engine.capture_detailed(probe_url(entry.url, self.rng))
            probe = (probed.capture, probed.fingerprint)
        judgement = judge_live(capture, fp, probe, live.headers)
        at = capture.fetched_at
        if entry.state.last_checked_at is not None and at < entry.state.last_checked_at:
            at = entry.state.last_checked_at  # a clock stepped back must not break the state machine
        state, event = advance(entry.state, judgement.verdict, at, self.config.watch)
        memento = await self.copies.best(entry.archives, entry.url)
        live_side = None
        if observation_of(judgement.verdict) is Observation.SUCCESS and whole_page(capture) and fp is not None:
            live_side = TextSide.of(fp, capture.payload_sha256)
        return _Night(
            capture=capture,
            verdict=judgement.verdict,
            reason=judgement.reason,
            at=at,
            state=state,
            event=event,
            memento=memento,
            live_side=live_side,
            previous=previous,
            baseline=self._baseline(entry, good),
            before=before,
        )

    async def _comparisons(self, entry: WatchEntry, run_id: str, night: _Night) -> _Comparisons:
        """Tonight's page against our baseline, the previous capture and the archived copy."""
        live_side, baseline, previous, memento = night.live_side, night.baseline, night.previous, night.memento
        if live_side is None:
            return _Comparisons()
        vs_baseline = vs_previous = vs_archive = None
        archive_key = None
        if baseline is not None and baseline.id != night.capture.id:
            vs_baseline = await self._compare(baseline, live_side)
        if previous is not None:
            vs_previous = vs_baseline if baseline is previous else await self._compare(previous, live_side)
        if memento is not None and whole_page(memento.capture):
            assert memento.capture is not None
            archive_key = f"{memento.ref.uri}#{memento.capture.id}"
            vs_archive = self._reused(entry, run_id, previous, night.capture, archive_key)
            if vs_archive is None:
                vs_archive = await self._compare(memento.capture, live_side)
        return _Comparisons(vs_baseline, vs_previous, vs_archive, archive_key)

    def _history_reasons(self, night: _Night, seen: _Comparisons) -> list[str]:
        reasons = state_reasons(night.state, night.event, self.config)
        if seen.vs_archive is None and seen.vs_baseline is not None and night.baseline is not None:
            reasons.append(comparison_line("our first capture", night.baseline, seen.vs_baseline))
        if seen.vs_previous is not None and night.previous is not None:
            # Undated when unchanged: the same words every night let the result share last night's.
            unchanged = seen.vs_previous.verdict is DriftVerdict.IDENTICAL
            line = "Unchanged since the previous capture." if unchanged else None
            reasons.append(line or comparison_line("the previous capture", night.previous, seen.vs_previous))
        return reasons

    @staticmethod
    def _news(entry: WatchEntry, night: _Night, seen: _Comparisons) -> tuple[NewsItem, ...]:
        news = []
        if night.event is not None:
            news.append(NewsItem(entry.url, _EVENT_NEWS[night.event], night.reason, entry.label))
        if seen.vs_previous is not None and night.previous is not None and seen.vs_previous.verdict in DRIFTED:
            detail = comparison_line("the previous capture", night.previous, seen.vs_previous)
            news.append(NewsItem(entry.url, NewsEvent.NEW_DRIFT, detail, entry.label))
        return tuple(news)

    @staticmethod
    def _baseline(entry: WatchEntry, good: list[Capture]) -> Capture | None:
        """Our first good capture: the one recorded as baseline, else the oldest one there is."""
        if entry.baseline_id is not None:
            for capture in good:
                if capture.id == entry.baseline_id:
                    return capture
        return good[-1] if good else None

    def _wants_probe(self, entry: WatchEntry, capture: Capture, previous: Capture | None) -> bool:
        if not self.config.live.soft_404_probe or capture.status is None or not 200 <= capture.status < 300:
            return False
        unchanged = previous is not None and previous.payload_sha256 == capture.payload_sha256
        # The same bytes that were a real page last night are a real page tonight: no probe needed.
        return not (unchanged and entry.state.last_verdict in (LiveVerdict.OK, LiveVerdict.REDIRECTED))

    def _reused(
        self, entry: WatchEntry, run_id: str, previous: Capture | None, capture: Capture, archive_key: str
    ) -> Comparison | None:
        """Last night's comparison with the archive, if neither side has changed since."""
        if previous is None or previous.payload_sha256 != capture.payload_sha256:
            return None
        last = self.watch.last_result(entry.key, run_id)
        if last is None or last[0] != previous.id or last[1].get("archive_key") != archive_key:
            return None
        return comparison_from_dict(last[1].get("drift"))

    async def _compare(self, stored: Capture, live: TextSide) -> Comparison:
        if stored.payload_sha256 == live.payload_sha256:  # identical: no text needs reading
            same = TextSide(stored.payload_sha256, stored.text_sha256, stored.title, None, None)
            return compare(same, live, self.config.drift)
        side, why = await asyncio.to_thread(
            text_of_capture, self.config.archive_dir, stored, self.config.fetch.max_decoded_bytes
        )
        if side is None:
            return Comparison.unknown(why)
        return await asyncio.to_thread(compare, side, live, self.config.drift)
