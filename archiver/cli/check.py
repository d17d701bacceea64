"""`archiver check DOC...`: verify every citation of the documents; exit code for CI."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from archiver.cli.options import (
    ArchiveDirOpt,
    ConfigOpt,
    ExitCode,
    FormatOpt,
    OutputOpt,
    emit,
    load,
    out_format,
    run_with_progress,
)
from archiver.models import Overall, Report
from archiver.pipeline.check import CheckOptions, check_documents, count_work, read_documents
from archiver.report import render


def exit_code(report: Report, strict: bool) -> ExitCode:
    worst = {r.overall for r in report.results}
    if Overall.FAIL in worst or (strict and (Overall.WARN in worst or report.uncited)):
        return ExitCode.FAILED
    return ExitCode.OK


def check(
    documents: Annotated[list[str], typer.Argument(metavar="DOC...", help="Documents to check ('-': stdin).")],
    strict: Annotated[bool, typer.Option("--strict", help="Warnings fail too (exit 2).")] = False,
    no_live: Annotated[bool, typer.Option("--no-live", help="Do not fetch the live pages.")] = False,
    no_archive: Annotated[bool, typer.Option("--no-archive", help="Do not consult the archived copies.")] = False,
    config: ConfigOpt = None,
    archive_dir: ArchiveDirOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Check every citation in the documents: live page, archived copy, drift. Exit 2 if any fails."""
    cfg = load(config, archive_dir)
    out = out_format(fmt)
    docs = read_documents(documents, cfg.documents.max_bytes)
    options = CheckOptions(live=not no_live, archive=not no_archive)
    report = run_with_progress(
        count_work(docs, cfg), "checking", lambda tick: check_documents(docs, cfg, options, progress=tick)
    )
    emit(render(report, out, color=output is None and sys.stdout.isatty()), output)
    raise typer.Exit(exit_code(report, strict))


def register(app: typer.Typer) -> None:
    app.command()(check)
