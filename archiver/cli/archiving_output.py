"""Printing `archiver archive` outcomes: one line per request, or the JSON contract.

In cli/, not report/: it formats a use case's record (pipeline/archiving), which report/ sits below.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from archiver.jsonform import iso
from archiver.models import SCHEMA_VERSION
from archiver.pipeline.archiving import ArchivingOutcome


def outcomes_to_dict(outcomes: Sequence[ArchivingOutcome]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "archiver archive",
        "results": [
            {
                "url": o.url,
                "capture": {"id": o.capture.id, "status": o.capture.status, "payload_sha256": o.capture.payload_sha256},
                "requests": [
                    {
                        "service": r.service,
                        "verdict": r.verdict.value,
                        "archive_url": r.archive_url,
                        "datetime": iso(r.datetime),
                        "job": r.job,
                        "retryable": r.retryable,
                        "reason": r.reason,
                    }
                    for r in o.requests
                ],
            }
            for o in outcomes
        ],
    }


def render_outcomes(outcomes: Sequence[ArchivingOutcome], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(outcomes_to_dict(outcomes), indent=2, ensure_ascii=False)
    lines = []
    for outcome in outcomes:
        own = (
            f"our capture {outcome.capture.id[:12]} (HTTP {outcome.capture.status})"
            if outcome.capture.ok
            else (f"our capture failed: {outcome.capture.error.message if outcome.capture.error else 'no response'}")
        )
        lines.append(f"{outcome.url}\n  {own}")
        for r in outcome.requests:
            lines.append(f"  {r.service:8} {r.verdict.value:11} {r.archive_url or r.reason}")
    return "\n".join(lines) + "\n"
