"""The link state machine, replayed over weeks of nights with plain datetimes (no clock, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from archiver.config import WatchConfig
from archiver.models import LiveVerdict
from archiver.nightly.linkstate import (
    LinkCondition,
    LinkEvent,
    LinkState,
    Observation,
    advance,
    is_dead,
    observation_of,
    state_from_dict,
    state_to_dict,
)

V = LiveVerdict
START = datetime(2025, 3, 1, 3, 0, tzinfo=UTC)
CFG = WatchConfig()  # 3 failures spanning at least 3 days


def replay(
    nights: Iterable[tuple[float, LiveVerdict]], cfg: WatchConfig = CFG, state: LinkState | None = None
) -> tuple[LinkState, list[tuple[float, LinkEvent]]]:
    """Feed (day offset, verdict) pairs; return the final state and the events with their day."""
    current = state or LinkState()
    events: list[tuple[float, LinkEvent]] = []
    for day, verdict in nights:
        current, event = advance(current, verdict, START + timedelta(days=day), cfg)
        if event is not None:
            events.append((day, event))
    return current, events


def test_every_verdict_is_classified_and_blocked_is_not_a_failure() -> None:
    assert {v: observation_of(v) for v in LiveVerdict} == {
        V.OK: Observation.SUCCESS,
        V.REDIRECTED: Observation.SUCCESS,
        V.GONE: Observation.FAILURE,
        V.SOFT_404: Observation.FAILURE,
        V.SERVER_ERROR: Observation.FAILURE,
        V.UNREACHABLE: Observation.FAILURE,
        V.BLOCKED: Observation.INCONCLUSIVE,
        V.INVALID_URL: Observation.INCONCLUSIVE,
    }


def test_healthy_link_over_two_weeks_reports_nothing() -> None:
    state, events = replay((d, V.OK) for d in range(14))
    assert events == []
    assert state.condition is LinkCondition.OK
    assert state.since == START
    assert state.last_success_at == START + timedelta(days=13)


def test_three_failures_one_day_apart_are_still_only_failing() -> None:
    state, events = replay([(0, V.OK), (1, V.GONE), (2, V.GONE), (3, V.GONE)])
    assert events == [(1, LinkEvent.NEWLY_FAILING)]
    assert state.condition is LinkCondition.FAILING
    assert state.consecutive_failures == 3
    assert state.failure_days == 3
    assert state.failing_for == timedelta(days=2)


def test_three_failures_spanning_three_days_are_gone_and_reported_once() -> None:
    state, events = replay([(0, V.OK), (1, V.GONE), (2, V.UNREACHABLE), (4, V.SERVER_ERROR), (5, V.GONE), (9, V.GONE)])
    assert events == [(1, LinkEvent.NEWLY_FAILING), (4, LinkEvent.GONE)]
    assert state.condition is LinkCondition.GONE
    assert state.since == START + timedelta(days=4)
    assert state.consecutive_failures == 5


def test_daily_failures_become_gone_on_the_fourth_night() -> None:
    # Three nights one day apart span only two days; the fourth night completes the three-day span.
    _, events = replay((d, V.SOFT_404) for d in range(1, 8))
    assert events == [(1, LinkEvent.NEWLY_FAILING), (4, LinkEvent.GONE)]


def test_two_failures_far_apart_are_not_enough() -> None:
    state, events = replay([(0, V.GONE), (10, V.GONE)])
    assert state.condition is LinkCondition.FAILING
    assert events == [(0, LinkEvent.NEWLY_FAILING)]


def test_several_runs_on_one_day_count_as_one_failed_day() -> None:
    nights = [(0, V.GONE), (0.01, V.GONE), (0.02, V.GONE), (3, V.GONE)]
    state, events = replay(nights)
    assert state.consecutive_failures == 4
    assert state.failure_days == 2
    assert state.condition is LinkCondition.FAILING
    state, events = advance(state, V.GONE, START + timedelta(days=3.5), CFG)
    assert state.condition is LinkCondition.FAILING  # still the same UTC day as day 3
    state, event = advance(state, V.GONE, START + timedelta(days=4), CFG)
    assert (state.condition, event) == (LinkCondition.GONE, LinkEvent.GONE)


def test_a_success_resets_the_streak() -> None:
    nights = [(0, V.GONE), (1, V.GONE), (2, V.OK), (3, V.GONE), (4, V.GONE), (5, V.GONE)]
    state, events = replay(nights)
    assert events == [
        (0, LinkEvent.NEWLY_FAILING),
        (2, LinkEvent.RECOVERED),
        (3, LinkEvent.NEWLY_FAILING),
    ]
    assert state.condition is LinkCondition.FAILING
    assert state.first_failure_at == START + timedelta(days=3)


def test_recovery_from_gone_is_reported_once_then_quiet() -> None:
    gone, _ = replay((d, V.GONE) for d in range(5))
    assert gone.condition is LinkCondition.GONE
    state, events = replay([(6, V.OK), (7, V.OK), (8, V.REDIRECTED)], state=gone)
    assert events == [(6, LinkEvent.RECOVERED)]
    assert state.condition is LinkCondition.OK
    assert state.since == START + timedelta(days=6)
    assert (state.consecutive_failures, state.failure_days, state.first_failure_at) == (0, 0, None)


def test_blocked_nights_hold_the_state_without_counting() -> None:
    failing, _ = replay([(0, V.OK), (1, V.GONE)])
    held, events = replay([(2, V.BLOCKED), (3, V.BLOCKED), (4, V.BLOCKED)], state=failing)
    assert events == []
    assert held.condition is LinkCondition.FAILING
    assert held.consecutive_failures == 1
    assert held.last_verdict is V.BLOCKED
    assert held.last_checked_at == START + timedelta(days=4)
    # A blocked night is not a success either: the streak continues and ends in `gone`.
    state, event = advance(held, V.GONE, START + timedelta(days=5), CFG)
    assert state.condition is LinkCondition.FAILING
    state, event = advance(state, V.GONE, START + timedelta(days=6), CFG)
    assert (state.condition, event) == (LinkCondition.GONE, LinkEvent.GONE)


def test_blocked_from_the_start_stays_unknown() -> None:
    state, events = replay((d, V.BLOCKED) for d in range(10))
    assert (state.condition, events) == (LinkCondition.UNKNOWN, [])


def test_configured_thresholds_are_honoured() -> None:
    strict = WatchConfig(dead_after_failures=5, dead_after_days=7.0)
    _, events = replay(((d, V.GONE) for d in range(0, 20, 2)), cfg=strict)
    assert events == [(0, LinkEvent.NEWLY_FAILING), (8, LinkEvent.GONE)]
    immediate = WatchConfig(dead_after_failures=1, dead_after_days=0.0)
    state, events = replay([(0, V.GONE)], cfg=immediate)
    assert (state.condition, events) == (LinkCondition.GONE, [(0, LinkEvent.GONE)])
    assert is_dead(state, immediate)


def test_times_must_be_aware_and_in_order() -> None:
    with pytest.raises(ValueError, match="time zone"):
        advance(LinkState(), V.OK, datetime(2025, 1, 1), CFG)  # noqa: DTZ001 - naive on purpose
    state, _ = advance(LinkState(), V.OK, START, CFG)
    with pytest.raises(ValueError, match="precedes"):
        advance(state, V.OK, START - timedelta(hours=1), CFG)


def test_state_round_trips_through_json_form() -> None:
    state, _ = replay([(0, V.OK), (1, V.GONE), (2, V.BLOCKED)])
    data = state_to_dict(state)
    assert data["condition"] == "failing"
    assert data["last_verdict"] == "blocked"
    assert data["first_failure_at"] == "2025-03-02T03:00:00+00:00"
    assert state_from_dict(data) == state
    assert state_from_dict({}) == LinkState()
