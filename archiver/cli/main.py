"""The command line: parse, call one library function, render, exit with a code from `ExitCode`.

`main(argv)` is the whole program and returns its exit code (the console script passes it to
sys.exit; tests call it in-process). Every usage or config error is one line on stderr and exit 3:
typer's own exception types are caught here, never click's (typer vendors it; `import click` may
fail in an install with only the runtime dependencies). Global options may stand before or after
the command: `hoist` moves them in front, where the app's callback reads them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.main import get_command

from archiver import __version__
from archiver.cli import archive as cli_archive
from archiver.cli import check as cli_check
from archiver.cli import fixing as cli_fixing
from archiver.cli import nightly as cli_nightly
from archiver.cli import schema as cli_schema
from archiver.cli.options import (
    ClusterOpt,
    ColorMode,
    ExitCode,
    FormatOpt,
    Globals,
    OutputOpt,
    emit,
    error_line,
    load,
    note,
    out_format,
    progress,
    read_url_list,
    run_with_progress,
    set_globals,
    stdout_style,
)
from archiver.cluster import with_cluster
from archiver.errors import ArchiverError, ConfigError, UsageError
from archiver.pipeline import stored
from archiver.pipeline.capture import capture_urls
from archiver.report import render_captures

app = typer.Typer(
    name="archiver",
    help="Capture cited web pages and their archived copies as WARC, hash them, and report drift.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    # Plain help: rich's help panels tag every option with its Python type (<bool>, <path>).
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
index_app = typer.Typer(help="The SQLite index of the archive.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(index_app, name="index")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"archiver {__version__}")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def root(
    config: Annotated[
        Path | None,
        typer.Option("--config", metavar="FILE", help="Config file (default ./config.toml or $ARCHIVER_CONFIG)."),
    ] = None,
    archive_dir: Annotated[
        Path | None, typer.Option("--archive-dir", metavar="DIR", help="Archive folder (overrides the config).")
    ] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print only the report and errors.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Say more: logs, causes of errors.")] = False,
    color: Annotated[
        ColorMode,
        typer.Option("--color", metavar="WHEN", help="Colour: auto (on a terminal, unless NO_COLOR), always, never."),
    ] = ColorMode.AUTO,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Capture cited web pages and their archived copies as WARC, hash them, and report drift.

    Global options (--config, --archive-dir, -q, -v, --color) may also follow the command.
    """
    if quiet and verbose:
        raise UsageError("-q/--quiet and -v/--verbose contradict each other; give one")
    set_globals(Globals(config=config, archive_dir=archive_dir, quiet=quiet, verbose=verbose, color=color))
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger = logging.getLogger("archiver")
        logger.handlers = [handler]
        logger.setLevel(logging.INFO)


@app.command()
def fetch(
    urls: Annotated[list[str] | None, typer.Argument(metavar="URL", help="URLs to capture now.")] = None,
    from_file: Annotated[
        Path | None, typer.Option("--from-file", metavar="FILE", help="A file of URLs, one a line ('-': stdin).")
    ] = None,
    cluster: ClusterOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Capture URLs into the archive now (WARC + hashes + index) and print what was stored."""
    cfg = load(None if cluster is None else {"cluster": {"address": cluster}})
    targets = list(urls or [])
    if from_file is not None:
        targets += read_url_list(from_file)
    if not targets:
        raise UsageError("no URL given: name URLs or use --from-file")
    out_fmt = out_format(fmt)
    captures = run_with_progress(
        len(targets),
        "fetching",
        lambda tick: with_cluster(cfg, lambda runner: capture_urls(targets, cfg, progress=tick, runner=runner)),
    )
    style = stdout_style(output)
    emit(render_captures(captures, out_fmt, title="captures", width=style.width, color=style.color), output)
    raise typer.Exit(ExitCode.OK if all(c.ok for c in captures) else ExitCode.FAILED)


@app.command()
def show(
    capture_id: Annotated[str, typer.Argument(metavar="ID", help="A capture id (or a unique prefix).")],
    body: Annotated[bool, typer.Option("--body", help="Print the decoded body read back from the WARC.")] = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Print one capture; with --body, its body decoded from the WARC record."""
    cfg = load()
    capture = stored.get_capture(cfg, capture_id)
    if body:
        emit(stored.decoded_body(cfg, capture), output)
    else:
        style = stdout_style(output)
        title = f"capture {capture.id}"
        emit(render_captures([capture], out_format(fmt), title=title, width=style.width, color=style.color), output)


@app.command()
def history(
    url: Annotated[str, typer.Argument(metavar="URL", help="The URL whose captures to list.")],
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """List a URL's captures, newest first, marking where the payload or the text changed."""
    cfg = load()
    captures, markers = stored.history(cfg, url)
    if not captures:
        note(f"no capture of {url} in {cfg.archive_dir}")
    style = stdout_style(output)
    title = f"history of {url}"
    text = render_captures(
        captures, out_format(fmt), title=title, markers=markers, width=style.width, color=style.color
    )
    emit(text, output)


@app.command()
def verify(fmt: FormatOpt = None, output: OutputOpt = None) -> None:
    """Re-read every WARC record, recompute its digests and check them against the index."""
    cfg = load()
    kind = out_format(fmt)
    with progress(stored.warc_count(cfg), "verifying") as tick:
        report = stored.verify(cfg, progress=tick)
    emit(stored.render_fixity(report, kind), output)
    raise typer.Exit(ExitCode.OK if report.ok else ExitCode.FAILED)


@index_app.command("rebuild")
def index_rebuild() -> None:
    """Recreate index.sqlite3 from the WARC files alone."""
    cfg = load()
    with progress(None, "indexing captures") as tick:
        count = stored.rebuild(cfg, progress=tick)
    typer.echo(f"index rebuilt from the WARC files: {count} captures in {cfg.archive_dir / 'index.sqlite3'}")


# Command modules add their commands to `app` here, one line each: module.register(app).
cli_check.register(app)
cli_archive.register(app)
cli_nightly.register(app)
cli_schema.register(app)
cli_fixing.register(app)


# -- global options anywhere on the line ----------------------------------------------------------

_GLOBAL_VALUED = ("--config", "--archive-dir", "--color")
_GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")


def _takes_value(command: Any, token: str) -> bool:
    """Does option `token` of `command` (a click command from typer) consume the next word?"""
    for param in getattr(command, "params", ()):
        if token in getattr(param, "opts", ()) or token in getattr(param, "secondary_opts", ()):
            return not (getattr(param, "is_flag", False) or getattr(param, "count", False))
    return False


def hoist(args: Sequence[str], root_command: Any) -> list[str]:
    """`args` with the global options moved in front of the command, where the callback reads them.

    The command tree is walked as the parser will walk it, so a value of a command's own option
    (`--label -v`) or anything after `--` stays where it is.
    """
    front: list[str] = []
    rest: list[str] = []
    command = root_command
    i = 0
    while i < len(args):
        token = args[i]
        name = token.split("=", 1)[0]
        if token == "--":
            rest.extend(args[i:])
            break
        if name in _GLOBAL_VALUED:
            front.append(token)
            if "=" not in token and i + 1 < len(args):
                front.append(args[i + 1])
                i += 1
        elif token in _GLOBAL_FLAGS:
            front.append(token)
        else:
            rest.append(token)
            subcommands = getattr(command, "commands", None)
            if not token.startswith("-") and subcommands and token in subcommands:
                command = subcommands[token]
            elif token.startswith("-") and "=" not in token and _takes_value(command, token) and i + 1 < len(args):
                rest.append(args[i + 1])
                i += 1
        i += 1
    return front + rest


def _usage_hint(exc: Exception) -> str:
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None) or "archiver"
    return f" (see `{path} --help`)"


def _plain_help(command: Any) -> Any:
    """The command tree with help that names values, not Python types (`DOC...`, not `<list[str]>`)."""
    for param in getattr(command, "params", ()):
        if param.param_type_name == "argument":
            many = "..." if param.nargs != 1 else ""
            usage = f"{param.metavar or param.name.upper()}{many}"
            param.display_type_rich = lambda ctx: None
            param._rich_display_name = lambda usage=usage: usage
            param._usage_display_name = lambda usage=usage, required=param.required: usage if required else f"[{usage}]"
        elif param.param_type_name == "option" and not param.is_flag and param.metavar is None:
            param.metavar = param.name.upper()
    for sub in (getattr(command, "commands", None) or {}).values():
        _plain_help(sub)
    return command


_CLICK_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def main(argv: Sequence[str] | None = None) -> int:
    """The program: run the command line `argv` (default sys.argv[1:]) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    set_globals(Globals())
    command = _plain_help(get_command(app))
    try:
        code = command.main(args=hoist(args, command), prog_name="archiver", standalone_mode=False)
        return code if isinstance(code, int) else ExitCode.OK
    except typer.Exit as exc:
        return int(exc.exit_code)
    except _CLICK_ERROR as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            # `archiver` or `archiver watch` alone: the help is the answer, on stderr as a usage error's.
            sys.stderr.write(exc.format_message().rstrip("\n") + "\n")  # type: ignore[attr-defined]
            return ExitCode.USAGE
        message = exc.format_message()  # type: ignore[attr-defined]
        error_line(message.rstrip(".") + _usage_hint(exc))
        return ExitCode.USAGE
    except (UsageError, ConfigError) as exc:
        error_line(str(exc))
        return ExitCode.USAGE
    except ArchiverError as exc:
        error_line(str(exc))
        _causes(exc)
        return ExitCode.ERROR
    except (KeyboardInterrupt, typer.Abort):
        note("interrupted; the archive is consistent (WARC files are closed on exit)", always=True)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # `archiver ... | head`: the reader left; nothing more to say to it.
        return ExitCode.ERROR


def _causes(exc: BaseException) -> None:
    """Under -v, the chain of causes below an error (the third-party error it was translated from)."""
    from archiver.cli.options import current

    if not current().verbose:
        return
    cause = exc.__cause__
    while cause is not None:
        note(f"  caused by {type(cause).__name__}: {cause}")
        cause = cause.__cause__
