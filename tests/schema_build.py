"""Write `archiver/schemas/*.json` (JSON Schema 2020-12) from the code's own vocabularies.

The enums come from `archiver.models`, the fields from what `archiver.jsonform` writes; every
field jsonform writes is `required` (the contract: add freely, never rename or drop), and
`additionalProperties` is left open (new fields may be added). `tests/test_schemas.py` checks
that running this again reproduces the committed files, so they cannot drift from the code.

    python tests/schema_build.py
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

from archiver.models import (
    ArchiveKind,
    ArchiveVerdict,
    DriftVerdict,
    ErrorKind,
    LiveVerdict,
    Overall,
    PageKind,
    Truncation,
)

OUT = Path(__file__).resolve().parents[1] / "archiver" / "schemas"
BASE = "https://archiver.invalid/schemas/"  # an identifier, never fetched

STR, INT, NUM, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def enum(kind: type[StrEnum]) -> dict[str, Any]:
    return {"enum": [m.value for m in kind]}


def obj(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(properties), "properties": properties}


SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
DEFS: dict[str, Any] = {
    "warc": obj({"file": STR, "offset": INT, "length": INT}),
    "capture": obj(
        {
            "id": STR,
            "url": STR,
            "final_url": nullable(STR),
            "status": nullable(INT),
            "redirects": {"type": "array", "items": obj({"url": STR, "status": INT, "location": nullable(STR)})},
            "fetched_at": STR,
            "content_type": nullable(STR),
            "payload_sha256": nullable(SHA256),
            "payload_size": nullable(INT),
            "text_sha256": nullable(SHA256),
            "title": nullable(STR),
            "warc": nullable({"$ref": "#/$defs/warc"}),
            "error": nullable(obj({"kind": enum(ErrorKind), "message": STR})),
            "truncated": nullable(enum(Truncation)),
            "ip_address": nullable(STR),
            "encoding": nullable(STR),
            "text_error": nullable(STR),
            "revisit_of": nullable(STR),
            "elapsed_ms": nullable(INT),
            "page": nullable(obj({"kind": enum(PageKind), "evidence": {"type": "array", "items": STR}})),
        }
    ),
    "memento": obj(
        {
            "verdict": enum(ArchiveVerdict),
            "kind": enum(ArchiveKind),
            "ref": STR,
            "original_url": nullable(STR),
            "datetime": nullable(STR),
            "obtained_via": STR,
            "reason": nullable(STR),
            "substitute_for": nullable(STR),
            "substitute_days": nullable(NUM),
            "mirror_file": nullable(STR),
            "mirror_sha256": nullable(SHA256),
            "title": nullable(STR),
            "problems": {"type": "array", "items": STR},
            "capture": nullable({"$ref": "#/$defs/capture"}),
        }
    ),
    "comparison": obj(
        {
            "verdict": enum(DriftVerdict),
            "similarity": nullable(NUM),
            "added": INT,
            "removed": INT,
            "excerpt": nullable(STR),
            "payload_identical": BOOL,
            "text_identical": BOOL,
            "title_similarity": nullable(NUM),
            "changes": {"type": "array", "items": obj({"op": STR, "before": nullable(STR), "after": nullable(STR)})},
            "quote_in_a": nullable(BOOL),
            "quote_in_b": nullable(BOOL),
            "reason": nullable(STR),
        }
    ),
}
HEAD = {"schema_version": {"const": 1}, "tool": STR}


def result() -> dict[str, Any]:
    archive = obj(
        {
            "verdict": enum(ArchiveVerdict),
            "kind": nullable(enum(ArchiveKind)),
            "ref": nullable(STR),
            "original_url": nullable(STR),
            "datetime": nullable(STR),
            "capture": nullable({"$ref": "#/$defs/capture"}),
        }
    )
    return obj(
        {
            "citation": obj(
                {
                    "url": STR,
                    "archives": {"type": "array", "items": STR},
                    "found_in": obj({"path": STR, "line": INT, "column": INT}),
                }
            ),
            "live": obj({"verdict": nullable(enum(LiveVerdict)), "capture": nullable({"$ref": "#/$defs/capture"})}),
            "archive": archive,
            "drift": {"$ref": "#/$defs/comparison"},
            "overall": enum(Overall),
            "reasons": {"type": "array", "items": STR},
        }
    )


def document(name: str, title: str, properties: dict[str, Any], defs: tuple[str, ...]) -> dict[str, Any]:
    body = obj(HEAD | properties)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{BASE}{name}.json",
        "title": title,
        **body,
        "$defs": {d: DEFS[d] for d in defs},
    }


def schemas() -> dict[str, dict[str, Any]]:
    captured = {
        "allOf": [{"$ref": "#/$defs/capture"}],
        "properties": {"changed": obj({"payload": nullable(BOOL), "text": nullable(BOOL)})},
    }
    return {
        "report": document(
            "report",
            "archiver check report",
            {
                "started_at": STR,
                "finished_at": STR,
                "results": {"type": "array", "items": result()},
                "summary": obj({"pass": INT, "warn": INT, "fail": INT}),
            },
            ("warc", "capture", "comparison"),
        ),
        "capture": document(
            "capture",
            "archiver fetch / history: captures",
            {"captures": {"type": "array", "items": captured}},
            ("warc", "capture"),
        ),
        "memento": document(
            "memento",
            "archiver mirror: mementos",
            {"mementos": {"type": "array", "items": {"$ref": "#/$defs/memento"}}},
            ("warc", "capture", "memento"),
        ),
        "comparison": document(
            "comparison",
            "archiver compare",
            {"a": STR, "b": STR, "comparison": {"$ref": "#/$defs/comparison"}},
            ("comparison",),
        ),
    }


def rendered() -> dict[str, str]:
    return {f"{name}.json": json.dumps(schema, indent=2) + "\n" for name, schema in schemas().items()}


if __name__ == "__main__":
    for filename, text in rendered().items():
        (OUT / filename).write_text(text)
