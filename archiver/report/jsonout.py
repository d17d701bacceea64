"""JSON output: the contract of DESIGN.md, serialised.

The shapes come from `archiver.jsonform` and nowhere else, so what `archiver check --format json`
prints is what the run's report file holds and what the index stores. Non-ASCII text is written as
is (`ensure_ascii=False`): a Chinese title stays readable in a pull request or a terminal, and JSON
is UTF-8 by definition (RFC 8259 §8.1). Keys keep the contract's order, indented for diffs, except
in `compact` output: the report file a nightly run writes for every watched URL every night is
read by tools, not people, and indentation was a third of its bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from archiver import jsonform
from archiver.models import Capture, Comparison, HistoryMark, Memento, Report


def dumps(data: dict[str, Any], *, compact: bool = False) -> str:
    if compact:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"
    return json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def render_report(report: Report, *, compact: bool = False) -> str:
    return dumps(jsonform.report_to_dict(report), compact=compact)


def render_captures(captures: Sequence[Capture], *, markers: Sequence[HistoryMark] | None = None) -> str:
    return dumps(jsonform.captures_to_dict(captures, markers))


def render_mementos(mementos: Sequence[Memento]) -> str:
    return dumps(jsonform.mementos_to_dict(mementos))


def render_comparison(comparison: Comparison, a_label: str, b_label: str) -> str:
    return dumps(jsonform.compared_to_dict(comparison, a_label, b_label))
