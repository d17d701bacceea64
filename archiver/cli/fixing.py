"""From checking to fixing: `archiver archive URL...`, `archiver annotate DOC`, `archiver export DOC...`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from archiver.cli.archiving_output import render_outcomes
from archiver.cli.options import (
    ExitCode,
    FormatOpt,
    OutputOpt,
    emit,
    load,
    out_format,
    read_url_list,
)
from archiver.errors import UsageError
from archiver.pipeline.annotate import annotate_document
from archiver.pipeline.archiving import archive_urls
from archiver.pipeline.check import read_documents
from archiver.pipeline.export import export_documents
from archiver.warc.wacz import load_signing_key, new_signing_key, verify_wacz


def archive(
    urls: Annotated[list[str] | None, typer.Argument(help="URLs to archive now.")] = None,
    from_file: Annotated[Path | None, typer.Option("--from-file", help="A file of URLs, one a line.")] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Capture URLs ourselves and ask Perma.cc / Save Page Now for new archives ([archiving] in config)."""
    cfg = load()
    targets = list(urls or []) + (read_url_list(from_file) if from_file is not None else [])
    outcomes = archive_urls(cfg, targets)
    emit(render_outcomes(outcomes, "json" if out_format(fmt) == "json" else "table"), output)
    raise typer.Exit(ExitCode.OK if all(o.archived for o in outcomes) else ExitCode.FAILED)


def annotate(
    document: Annotated[Path, typer.Argument(metavar="DOC", help="An HTML, Markdown or text document.")],
    output: Annotated[Path | None, typer.Option("--output", help="Write the annotated document here.")] = None,
    in_place: Annotated[bool, typer.Option("--in-place", help="Rewrite DOC itself.")] = False,
) -> None:
    """Write the recorded archives next to their citations (Robust Links in HTML); print the diff."""
    if output is None and not in_place:
        raise UsageError("give --output FILE for the annotated document (or --in-place to rewrite it)")
    cfg = load()
    result = annotate_document(cfg, document, output=output, in_place=in_place)
    sys.stdout.write(result.diff or "no change\n")
    for url, why in result.skipped:
        typer.echo(f"not annotated: {url}: {why}", err=True)
    raise typer.Exit(ExitCode.OK if not result.skipped else ExitCode.FAILED)


def export(
    documents: Annotated[
        list[str] | None, typer.Argument(metavar="DOC...", help="Documents to check and package.")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", help="The WACZ file to write.")] = None,
    verify: Annotated[Path | None, typer.Option("--verify", help="Verify this WACZ instead.")] = None,
    sign: Annotated[bool, typer.Option("--sign", help="Sign anonymously with a new ECDSA P-256 key.")] = False,
    sign_key: Annotated[Path | None, typer.Option("--sign-key", help="Sign with this P-256 PEM key.")] = None,
) -> None:
    """Check documents and package the evidence as a WACZ; or --verify a package's hashes and signature."""
    if verify is not None:
        check = verify_wacz(verify)
        for problem in check.problems:
            typer.echo(f"problem: {problem}", err=True)
        signed = f", signed by public key {check.public_key}" if check.signed else ", unsigned"
        typer.echo(f"{verify}: {check.files} files, {check.records} records{signed}: {'ok' if check.ok else 'FAILED'}")
        raise typer.Exit(ExitCode.OK if check.ok else ExitCode.FAILED)
    if not documents or output is None:
        raise UsageError("give DOC... and --output FILE.wacz (or --verify FILE.wacz)")
    cfg = load()
    key = load_signing_key(sign_key) if sign_key is not None else (new_signing_key() if sign else None)
    result = asyncio.run(export_documents(read_documents(documents), cfg, output, signing_key=key))
    package = result.package
    typer.echo(
        f"{package.path}: {package.records} records ({package.record_bytes} bytes of WARC), "
        f"{len(result.report.results)} citations, {package.size} bytes{', signed' if package.signed else ''}"
    )
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)


def register(app: typer.Typer) -> None:
    app.command()(archive)
    app.command()(annotate)
    app.command()(export)
