"""Link state over nights: when a watched source is `failing`, when it is `gone`, when it came back.

One failed night is a warning, not a verdict: like InternetArchiveBot, a link is `gone` only after
repeated failures on separate days with no success between. A pure state machine: `advance` takes
yesterday's `LinkState` and tonight's verdict and returns the new state and any `LinkEvent`;
`blocked` and `invalid_url` hold the state, because they say nothing about link rot.
See docs/nightly.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from archiver.clock import parse_stamp
from archiver.config import WatchConfig
from archiver.models import LiveVerdict


class LinkCondition(StrEnum):
    """Where a watched link stands after the nights seen so far (JSON contract: never rename)."""

    UNKNOWN = "unknown"  # never checked, or only inconclusive checks so far
    OK = "ok"
    FAILING = "failing"  # failed at least once since the last success; a warning, not yet dead
    GONE = "gone"  # failed on enough separate days over a long enough span


class LinkEvent(StrEnum):
    """What changed tonight; news for the report and for notifications (JSON contract)."""

    NEWLY_FAILING = "newly_failing"
    GONE = "gone"
    RECOVERED = "recovered"


class Observation(StrEnum):
    """What one night's live verdict says about the link itself."""

    SUCCESS = "success"
    FAILURE = "failure"
    INCONCLUSIVE = "inconclusive"


_OBSERVATIONS: dict[LiveVerdict, Observation] = {
    LiveVerdict.OK: Observation.SUCCESS,
    LiveVerdict.REDIRECTED: Observation.SUCCESS,
    LiveVerdict.GONE: Observation.FAILURE,
    LiveVerdict.SOFT_404: Observation.FAILURE,
    LiveVerdict.SERVER_ERROR: Observation.FAILURE,
    LiveVerdict.UNREACHABLE: Observation.FAILURE,
    LiveVerdict.BLOCKED: Observation.INCONCLUSIVE,
    LiveVerdict.INVALID_URL: Observation.INCONCLUSIVE,
}


def observation_of(verdict: LiveVerdict) -> Observation:
    """Whether a live verdict is a success, a failure or says nothing about the link."""
    return _OBSERVATIONS[verdict]


@dataclass(frozen=True)
class LinkState:
    """One watched link's standing. The default is a link never checked.

    `consecutive_failures` counts failed checks since the last success; `failure_days` counts the
    distinct UTC days among them (the number the `gone` rule uses). `since` is when the current
    condition began. All times are timezone-aware.
    """

    condition: LinkCondition = LinkCondition.UNKNOWN
    since: datetime | None = None
    consecutive_failures: int = 0
    failure_days: int = 0
    first_failure_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_success_at: datetime | None = None
    last_checked_at: datetime | None = None
    last_verdict: LiveVerdict | None = None

    @property
    def failing_for(self) -> timedelta | None:
        """Time between the first and the latest failure of the current streak."""
        if self.first_failure_at is None or self.last_failure_at is None:
            return None
        return self.last_failure_at - self.first_failure_at


def advance(
    state: LinkState, verdict: LiveVerdict, at: datetime, cfg: WatchConfig
) -> tuple[LinkState, LinkEvent | None]:
    """Tonight's check at `at` with `verdict`: the new state, and the event if this is news."""
    if at.tzinfo is None:
        raise ValueError(f"check time {at.isoformat()} has no time zone; pass an aware datetime")
    if state.last_checked_at is not None and at < state.last_checked_at:
        raise ValueError(
            f"check at {at.isoformat()} precedes the last check at {state.last_checked_at.isoformat()}; "
            "advance link states in time order"
        )
    observation = observation_of(verdict)
    checked = dataclasses.replace(state, last_checked_at=at, last_verdict=verdict)
    if observation is Observation.INCONCLUSIVE:
        return checked, None
    if observation is Observation.SUCCESS:
        return _succeed(checked, at)
    return _fail(checked, at, cfg)


def _succeed(state: LinkState, at: datetime) -> tuple[LinkState, LinkEvent | None]:
    event = LinkEvent.RECOVERED if state.condition in (LinkCondition.FAILING, LinkCondition.GONE) else None
    since = state.since if state.condition is LinkCondition.OK else at
    return (
        dataclasses.replace(
            state,
            condition=LinkCondition.OK,
            since=since,
            consecutive_failures=0,
            failure_days=0,
            first_failure_at=None,
            last_failure_at=None,
            last_success_at=at,
        ),
        event,
    )


def _fail(state: LinkState, at: datetime, cfg: WatchConfig) -> tuple[LinkState, LinkEvent | None]:
    first = state.first_failure_at or at
    new_day = state.last_failure_at is None or _utc_day(state.last_failure_at) != _utc_day(at)
    failed = dataclasses.replace(
        state,
        consecutive_failures=state.consecutive_failures + 1,
        failure_days=state.failure_days + (1 if new_day else 0),
        first_failure_at=first,
        last_failure_at=at,
    )
    if state.condition is LinkCondition.GONE:
        return failed, None
    if is_dead(failed, cfg):
        return dataclasses.replace(failed, condition=LinkCondition.GONE, since=at), LinkEvent.GONE
    if state.condition is LinkCondition.FAILING:
        return failed, None
    return dataclasses.replace(failed, condition=LinkCondition.FAILING, since=at), LinkEvent.NEWLY_FAILING


def is_dead(state: LinkState, cfg: WatchConfig) -> bool:
    """The `gone` rule: enough failed days, spanning enough time, with no success in between."""
    span = state.failing_for
    return (
        span is not None
        and state.failure_days >= max(cfg.dead_after_failures, 1)
        and span >= timedelta(days=cfg.dead_after_days)
    )


def _utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def state_to_dict(state: LinkState) -> dict[str, Any]:
    """A JSON-ready form (ISO 8601 times, enum values) for the index and the report."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(state):
        value = getattr(state, f.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, StrEnum):
            value = value.value
        out[f.name] = value
    return out


def state_from_dict(data: dict[str, Any]) -> LinkState:
    """Inverse of `state_to_dict`; missing keys take their defaults (older rows stay readable)."""

    def when(key: str) -> datetime | None:
        value = data.get(key)
        return parse_stamp(value)

    verdict = data.get("last_verdict")
    return LinkState(
        condition=LinkCondition(data.get("condition", LinkCondition.UNKNOWN.value)),
        since=when("since"),
        consecutive_failures=int(data.get("consecutive_failures", 0)),
        failure_days=int(data.get("failure_days", 0)),
        first_failure_at=when("first_failure_at"),
        last_failure_at=when("last_failure_at"),
        last_success_at=when("last_success_at"),
        last_checked_at=when("last_checked_at"),
        last_verdict=LiveVerdict(verdict) if verdict else None,
    )
