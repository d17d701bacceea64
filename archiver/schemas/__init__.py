"""The published JSON contract: one JSON Schema (draft 2020-12) per JSON output, shipped as data.

The files are generated from the code's vocabularies by `tests/schema_build.py` and a test checks
they still match, so an enum or a field cannot change without the schema changing with it.
"""

from __future__ import annotations

from importlib import resources

from archiver.errors import UsageError


def schema_names() -> tuple[str, ...]:
    folder = resources.files(__name__)
    return tuple(sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json")))


def schema_text(name: str) -> str:
    """The schema called `name`; UsageError listing the names when there is none."""
    if name not in schema_names():
        raise UsageError(f"no schema named {name!r}; the schemas are: {', '.join(schema_names())}")
    return resources.files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8")
