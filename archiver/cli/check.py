"""`archiver check DOC...`: verify every citation of the documents; exit code for CI."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from archiver.cli.archiving_output import render_outcomes
from archiver.cli.options import (
    ClusterOpt,
    ExitCode,
    OutputOpt,
    emit,
    load,
    out_format,
    run_with_progress,
    stdout_style,
)
from archiver.cluster import with_cluster
from archiver.config import parse_age, parse_statuses
from archiver.errors import ConfigError, UsageError
from archiver.models import Overall, Report
from archiver.pipeline.archiving import archive_urls, missing_archive_urls
from archiver.pipeline.check import CheckOptions, UrlFilter, check_documents, count_work, read_documents
from archiver.report import REPORT_FORMATS, render


def exit_code(report: Report, strict: bool) -> ExitCode:
    worst = {r.overall for r in report.results}
    if Overall.FAIL in worst or (strict and (Overall.WARN in worst or report.uncited)):
        return ExitCode.FAILED
    return ExitCode.OK


def check(
    documents: Annotated[list[str], typer.Argument(metavar="DOC", help="Documents to check ('-': stdin).")],
    strict: Annotated[bool, typer.Option("--strict", help="Warnings fail too (exit 2).")] = False,
    no_live: Annotated[bool, typer.Option("--no-live", help="Do not fetch the live pages.")] = False,
    no_archive: Annotated[bool, typer.Option("--no-archive", help="Do not consult the archived copies.")] = False,
    archive_missing: Annotated[
        bool, typer.Option("--archive-missing", help="Ask for new archives where none is usable ([archiving]).")
    ] = False,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", metavar="REGEX", help="Do not check URLs matching this (repeatable; + config)."),
    ] = None,
    include: Annotated[
        list[str] | None,
        typer.Option("--include", metavar="REGEX", help="Check URLs matching this even if excluded (repeatable)."),
    ] = None,
    accept: Annotated[
        str | None,
        typer.Option("--accept", metavar="STATUSES", help="Live statuses that are fine, e.g. 200..299,403."),
    ] = None,
    cache: Annotated[
        bool, typer.Option("--cache", help="Reuse captures in the archive younger than --max-cache-age.")
    ] = False,
    max_cache_age: Annotated[
        str | None,
        typer.Option("--max-cache-age", metavar="AGE", help="With --cache: 30m, 6h, 1d ([check] max_cache_age)."),
    ] = None,
    cluster: ClusterOpt = None,
    fmt: Annotated[
        str | None, typer.Option("--format", metavar="NAME", help=f"Output format: {', '.join(REPORT_FORMATS)}.")
    ] = None,
    output: OutputOpt = None,
) -> None:
    """Check every citation in the documents: live page, archived copy, drift. Exit 2 if any fails."""
    cfg = load(None if cluster is None else {"cluster": {"address": cluster}})
    out = out_format(fmt, REPORT_FORMATS)
    patterns = (*cfg.check.exclude, *(exclude or ()))
    for pattern in (*(exclude or ()), *(include or ())):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise UsageError(f"{pattern!r} is not a regular expression ({exc})") from None
    accepted: set[int] = set()
    for text in cfg.check.accept:
        accepted |= parse_statuses(text, f"check.accept: {text!r}")
    if accept is not None:
        try:
            accepted |= parse_statuses(accept)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
    if max_cache_age is not None and not cache:
        raise UsageError("--max-cache-age applies to --cache: add --cache to reuse earlier captures")
    try:
        cache_age = parse_age(max_cache_age if max_cache_age is not None else cfg.check.max_cache_age)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    docs = read_documents(documents, cfg.documents.max_bytes)
    options = CheckOptions(
        live=not no_live,
        archive=not no_archive,
        urls=UrlFilter(exclude=patterns, include=(*cfg.check.include, *(include or ()))),
        accept=frozenset(accepted),
        cache_age=cache_age if cache else None,
    )
    report = run_with_progress(
        count_work(docs, cfg),
        "checking",
        lambda tick: with_cluster(
            cfg, lambda runner: check_documents(docs, cfg, options, progress=tick, runner=runner)
        ),
    )
    style = stdout_style(output)
    emit(render(report, out, width=style.width, color=style.color), output)
    if archive_missing:
        missing = missing_archive_urls(report)
        if missing:
            typer.echo(render_outcomes(archive_urls(cfg, missing), "table"), err=True)
    raise typer.Exit(exit_code(report, strict))


def register(app: typer.Typer) -> None:
    app.command()(check)
