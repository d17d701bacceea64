"""The command line: parse, call one library function, render, exit with a code from `ExitCode`.

Every command works from Python too (archiver.pipeline.capture, archiver.pipeline.stored, archiver.pipeline...);
nothing here decides anything a test would need to check apart from the exit code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from archiver.cli import archive as cli_archive
from archiver.cli import check as cli_check
from archiver.cli import fixing as cli_fixing
from archiver.cli import nightly as cli_nightly
from archiver.cli import schema as cli_schema
from archiver.cli.options import (
    ArchiveDirOpt,
    ConfigOpt,
    ExitCode,
    FormatOpt,
    OutputOpt,
    emit,
    load,
    out_format,
    read_url_list,
    run_with_progress,
)
from archiver.errors import ArchiverError, ConfigError, UsageError
from archiver.pipeline import stored as store_ops
from archiver.pipeline.capture import capture_urls
from archiver.report import render_captures

app = typer.Typer(
    name="archiver",
    help="Capture cited web pages and their archived copies as WARC, hash them, and report drift.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
index_app = typer.Typer(help="The SQLite index of the archive.", no_args_is_help=True)
app.add_typer(index_app, name="index")


@app.command()
def fetch(
    urls: Annotated[list[str] | None, typer.Argument(help="URLs to capture now.")] = None,
    from_file: Annotated[
        Path | None, typer.Option("--from-file", help="A file of URLs, one a line ('-': stdin).")
    ] = None,
    config: ConfigOpt = None,
    archive_dir: ArchiveDirOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Capture URLs into the archive now (WARC + hashes + index) and print what was stored."""
    cfg = load(config, archive_dir)
    targets = list(urls or [])
    if from_file is not None:
        targets += read_url_list(from_file)
    if not targets:
        raise UsageError("no URL given: name URLs or use --from-file")
    out_fmt = out_format(fmt)
    captures = run_with_progress(len(targets), "fetching", lambda tick: capture_urls(targets, cfg, progress=tick))
    emit(render_captures(captures, out_fmt, title="captures"), output)
    raise typer.Exit(ExitCode.OK if all(c.ok for c in captures) else ExitCode.FAILED)


@app.command()
def show(
    capture_id: Annotated[str, typer.Argument(metavar="ID", help="A capture id (or a unique prefix).")],
    body: Annotated[bool, typer.Option("--body", help="Print the decoded body read back from the WARC.")] = False,
    config: ConfigOpt = None,
    archive_dir: ArchiveDirOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Print one capture; with --body, its body decoded from the WARC record."""
    cfg = load(config, archive_dir)
    capture = store_ops.get_capture(cfg, capture_id)
    if body:
        emit(store_ops.decoded_body(cfg, capture), output)
    else:
        emit(render_captures([capture], out_format(fmt), title=f"capture {capture.id}"), output)


@app.command()
def history(
    url: Annotated[str, typer.Argument(help="The URL whose captures to list.")],
    config: ConfigOpt = None,
    archive_dir: ArchiveDirOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """List a URL's captures, newest first, marking where the payload or the text changed."""
    cfg = load(config, archive_dir)
    captures, markers = store_ops.history(cfg, url)
    if not captures:
        Console(stderr=True).print(f"no capture of {url} in {cfg.archive_dir}")
    emit(render_captures(captures, out_format(fmt), title=f"history of {url}", markers=markers), output)


@app.command()
def verify(
    config: ConfigOpt = None,
    archive_dir: ArchiveDirOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Re-read every WARC record, recompute its digests and check them against the index."""
    cfg = load(config, archive_dir)
    report = store_ops.verify(cfg)
    emit(store_ops.render_fixity(report, out_format(fmt)), output)
    raise typer.Exit(ExitCode.OK if report.ok else ExitCode.FAILED)


@index_app.command("rebuild")
def index_rebuild(config: ConfigOpt = None, archive_dir: ArchiveDirOpt = None) -> None:
    """Recreate index.sqlite3 from the WARC files alone."""
    cfg = load(config, archive_dir)
    count = store_ops.rebuild(cfg)
    typer.echo(f"index rebuilt from the WARC files: {count} captures in {cfg.archive_dir / 'index.sqlite3'}")


# Command modules (cli_*.py) add their commands to `app` here, one line each: module.register(app).
cli_check.register(app)
cli_archive.register(app)
cli_nightly.register(app)
cli_schema.register(app)
cli_fixing.register(app)


def main() -> None:
    """Console-script entry point: map the exception tree onto exit codes."""
    err = Console(stderr=True, soft_wrap=True)
    try:
        # Without standalone mode click returns the code of a typer.Exit instead of raising it.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else ExitCode.OK)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (UsageError, ConfigError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(ExitCode.USAGE)
    except ArchiverError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(ExitCode.ERROR)
    except KeyboardInterrupt:
        err.print("interrupted; the archive is consistent (WARC files are closed on exit)")
        sys.exit(130)
    except Exception as exc:  # click's usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.UsageError):
            exc.show()
            sys.exit(ExitCode.USAGE)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(130)
        raise
