"""The command line: parse, call one library function, render, exit with a code from `ExitCode`.

Every command works from Python too (archiver.capture, archiver.store_ops, archiver.pipeline...);
nothing here decides anything a test would need to check apart from the exit code.
"""

from __future__ import annotations

import asyncio
import sys
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from archiver import store_ops
from archiver.capture import capture_urls
from archiver.config import Config, config_path, load_config
from archiver.errors import ArchiverError, ConfigError, UsageError
from archiver.models import Capture
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


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    FAILED = 2
    USAGE = 3


ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="Config file (default ./config.toml or $ARCHIVER_CONFIG).")
]
ArchiveDirOpt = Annotated[Path | None, typer.Option("--archive-dir", help="Archive folder (overrides config).")]
FormatOpt = Annotated[str | None, typer.Option("--format", help="table, json, markdown or html.")]
OutputOpt = Annotated[Path | None, typer.Option("--output", help="Write the report to this file.")]

FORMATS = ("table", "json", "markdown", "html")


def _config(config: Path | None, archive_dir: Path | None, extra: dict[str, Any] | None = None) -> Config:
    overrides: dict[str, Any] = dict(extra or {})
    if archive_dir is not None:
        overrides["archive_dir"] = str(archive_dir)
    return load_config(config_path(config), overrides)


def _format(fmt: str | None, output: Path | None) -> str:
    if fmt is None:
        return "table"
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def _emit(text: str, output: Path | None) -> None:
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _progress(total: int, label: str) -> tuple[Progress | None, Any]:
    err = Console(stderr=True)
    if not err.is_terminal or total < 2:
        return None, None
    progress = Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True
    )
    task = progress.add_task(label, total=total)
    return progress, task


def _read_url_list(path: Path) -> list[str]:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read URL list {path}: {exc}") from exc
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


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
    cfg = _config(config, archive_dir)
    targets = list(urls or [])
    if from_file is not None:
        targets += _read_url_list(from_file)
    if not targets:
        raise UsageError("no URL given: name URLs or use --from-file")
    out_fmt = _format(fmt, output)
    progress, task = _progress(len(targets), "fetching")

    def tick(_: Capture) -> None:
        if progress is not None:
            progress.advance(task)

    if progress is not None:
        with progress:
            captures = asyncio.run(capture_urls(targets, cfg, progress=tick))
    else:
        captures = asyncio.run(capture_urls(targets, cfg))
    _emit(render_captures(captures, out_fmt, title="captures"), output)
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
    cfg = _config(config, archive_dir)
    capture = store_ops.get_capture(cfg, capture_id)
    if body:
        _emit(store_ops.decoded_body(cfg, capture), output)
    else:
        _emit(render_captures([capture], _format(fmt, output), title=f"capture {capture.id}"), output)


@app.command()
def history(
    url: Annotated[str, typer.Argument(help="The URL whose captures to list.")],
    config: ConfigOpt = None,
    archive_dir: ArchiveDirOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """List a URL's captures, newest first, marking where the payload or the text changed."""
    cfg = _config(config, archive_dir)
    captures, markers = store_ops.history(cfg, url)
    if not captures:
        Console(stderr=True).print(f"no capture of {url} in {cfg.archive_dir}")
    _emit(render_captures(captures, _format(fmt, output), title=f"history of {url}", markers=markers), output)


@app.command()
def verify(
    config: ConfigOpt = None,
    archive_dir: ArchiveDirOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Re-read every WARC record, recompute its digests and check them against the index."""
    cfg = _config(config, archive_dir)
    report = store_ops.verify(cfg)
    _emit(store_ops.render_fixity(report, _format(fmt, output)), output)
    raise typer.Exit(ExitCode.OK if report.ok else ExitCode.FAILED)


@index_app.command("rebuild")
def index_rebuild(config: ConfigOpt = None, archive_dir: ArchiveDirOpt = None) -> None:
    """Recreate index.sqlite3 from the WARC files alone."""
    cfg = _config(config, archive_dir)
    count = store_ops.rebuild(cfg)
    typer.echo(f"index rebuilt from the WARC files: {count} captures in {cfg.archive_dir / 'index.sqlite3'}")


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
