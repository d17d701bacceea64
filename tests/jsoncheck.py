"""Every JSON the CLI prints in tests is checked against its published schema (archiver/schemas/).

`validate_json(document, name)` raises jsonschema.ValidationError unless the document follows
schema `name`; `printed_json(text, name)` parses what a command printed and validates it.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema

from archiver.schemas import schema_text


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads(schema_text(name))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate_json(document: Any, name: str) -> Any:
    """`document`, once it is known to follow schema `name` (ValidationError otherwise)."""
    _validator(name).validate(document)
    return document


def printed_json(text: str | bytes, name: str) -> Any:
    """What a command printed as JSON, parsed and validated against schema `name`."""
    return validate_json(json.loads(text), name)
