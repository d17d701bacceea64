"""What every command shares: exit codes, global options, config loading, output, progress.

The global options (--config, --archive-dir, -q, -v, --color) are read once by the app's callback
into `Globals`, wherever they stood on the line (`main.hoist` moves them in front of the command);
commands read them through `load()`, `stdout_style()`, `note()` and `progress()` here.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from archiver.config import Config, config_path, load_config
from archiver.errors import UsageError
from archiver.report import FORMATS, shown


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    FAILED = 2
    USAGE = 3
    INTERRUPTED = 130


class ColorMode(StrEnum):
    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


# The width of a table written to a file or a pipe: what a CI log viewer shows without wrapping.
PIPE_WIDTH = 100


@dataclass(frozen=True)
class Globals:
    config: Path | None = None
    archive_dir: Path | None = None
    quiet: bool = False
    verbose: bool = False
    color: ColorMode = ColorMode.AUTO


_GLOBALS: ContextVar[Globals | None] = ContextVar("archiver_cli_globals", default=None)


def set_globals(value: Globals) -> None:
    _GLOBALS.set(value)


def current() -> Globals:
    return _GLOBALS.get() or Globals()


FormatOpt = Annotated[
    str | None, typer.Option("--format", metavar="NAME", help=f"Output format: {', '.join(FORMATS)}.")
]
OutputOpt = Annotated[Path | None, typer.Option("--output", metavar="FILE", help="Write the report to this file.")]
ClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        metavar="ADDRESS",
        help="Run on Dask: tcp://host:8786 (a running scheduler) or local:N (N worker processes here).",
    ),
]


T = TypeVar("T")


def load(extra: dict[str, Any] | None = None) -> Config:
    """The config the global options name (--config, --archive-dir), with `extra` overrides on top."""
    options = current()
    overrides: dict[str, Any] = dict(extra or {})
    if options.archive_dir is not None:
        overrides["archive_dir"] = str(options.archive_dir)
    return load_config(config_path(options.config), overrides)


def out_format(fmt: str | None, allowed: tuple[str, ...] = FORMATS) -> str:
    if fmt is None:
        return "table"
    if fmt not in allowed:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(allowed)}")
    return fmt


def wants_color(stream: TextIO) -> bool:
    """--color always/never; auto: colour on a terminal unless NO_COLOR is set (no-color.org)."""
    mode = current().color
    if mode is ColorMode.ALWAYS:
        return True
    if mode is ColorMode.NEVER or os.environ.get("NO_COLOR"):
        return False
    return _isatty(stream)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def table_width(stream: TextIO) -> int:
    """The terminal's width on a terminal ($COLUMNS first, as rich does); PIPE_WIDTH elsewhere."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 20:
        return int(columns)
    if _isatty(stream):
        return max(40, shutil.get_terminal_size((PIPE_WIDTH, 24)).columns)
    return PIPE_WIDTH


@dataclass(frozen=True)
class Style:
    """How a table should look where it is going: its width and whether it carries colour codes."""

    width: int
    color: bool


def stdout_style(output: Path | None) -> Style:
    """A report for --output FILE is plain at PIPE_WIDTH; on stdout it follows the terminal."""
    if output is not None:
        return Style(PIPE_WIDTH, current().color is ColorMode.ALWAYS)
    return Style(table_width(sys.stdout), wants_color(sys.stdout))


def err_console() -> Console:
    color = wants_color(sys.stderr)
    return Console(
        file=sys.stderr,
        soft_wrap=True,
        highlight=False,
        markup=False,
        emoji=False,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
    )


def note(message: str, *, always: bool = False) -> None:
    """An informational line on stderr (suppressed by -q unless `always`): shown as text, never markup."""
    if current().quiet and not always:
        return
    err_console().print(Text(shown(message)))


def error_line(message: str) -> None:
    """`error: MESSAGE` on stderr, one line, the message shown as text with controls escaped."""
    line = Text("error:", style="bold red")
    line.append(" " + shown(message))
    err_console().print(line)


def emit(text: str, output: Path | None) -> None:
    if output is not None:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write the report to {output}: {exc.strerror or exc}") from exc
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


Tick = Callable[[object], None]


@contextmanager
def progress(total: int | None, label: str) -> Iterator[Tick | None]:
    """A bar on stderr for a long command, advanced by the tick it yields; None (no bar) when stderr
    is not a terminal, under -q, or for a single item. `total=None` draws a bar without an end."""
    console = Console(file=sys.stderr)
    if current().quiet or not _isatty(sys.stderr) or (total is not None and total < 2):
        yield None
        return
    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    if total is None:
        columns = [TextColumn(label), BarColumn(), TextColumn("{task.completed}"), TimeElapsedColumn()]
    bar = Progress(*columns, console=console, transient=True)
    task = bar.add_task(label, total=total)

    def tick(_: object) -> None:
        bar.advance(task)

    with bar:
        yield tick


def run_with_progress(total: int, label: str, job: Callable[[Tick | None], Coroutine[Any, Any, T]]) -> T:
    """Run `job(tick)` to completion under a progress bar on stderr (`job(None)` without one).

    `job` builds the coroutine so the command states its call once; `tick` advances the bar by one
    for each item done (its argument, a capture or a URL, is ignored).
    """
    with progress(total, label) as tick:
        return asyncio.run(job(tick))


def read_url_list(path: Path) -> list[str]:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read URL list {path}: {exc.strerror or exc}") from exc
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
