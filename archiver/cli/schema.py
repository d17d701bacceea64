"""`archiver schema NAME`: print the JSON Schema of one JSON output (exit 3 naming them all if unknown)."""

from __future__ import annotations

from typing import Annotated

import typer

from archiver.schemas import schema_names, schema_text


def schema(
    name: Annotated[str, typer.Argument(metavar="NAME", help=f"One of: {', '.join(schema_names())}.")],
) -> None:
    """Print the JSON Schema (draft 2020-12) that this JSON output follows."""
    typer.echo(schema_text(name), nl=False)


def register(app: typer.Typer) -> None:
    app.command()(schema)
