"""What every command shares: exit codes, common options, config loading, output, progress.

Command modules (`cli_*.py`) import from here; `cli.py` registers their commands on one app.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from archiver.config import Config, config_path, load_config
from archiver.errors import UsageError


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
ClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        metavar="ADDRESS",
        help="Run on Dask: tcp://host:8786 (a running scheduler) or local:N (N worker processes here).",
    ),
]
OutputOpt = Annotated[Path | None, typer.Option("--output", help="Write the report to this file.")]

FORMATS = ("table", "json", "markdown", "html")


T = TypeVar("T")


def load(
    config: Path | None, archive_dir: Path | None, extra: dict[str, Any] | None = None, *, cluster: str | None = None
) -> Config:
    overrides: dict[str, Any] = dict(extra or {})
    if archive_dir is not None:
        overrides["archive_dir"] = str(archive_dir)
    if cluster is not None:
        overrides["cluster"] = {"address": cluster}
    return load_config(config_path(config), overrides)


def out_format(fmt: str | None) -> str:
    if fmt is None:
        return "table"
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def emit(text: str, output: Path | None) -> None:
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def progress_bar(total: int, label: str) -> tuple[Progress | None, Any]:
    err = Console(stderr=True)
    if not err.is_terminal or total < 2:
        return None, None
    progress = Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True
    )
    task = progress.add_task(label, total=total)
    return progress, task


def run_with_progress(
    total: int, label: str, job: Callable[[Callable[[object], None] | None], Coroutine[Any, Any, T]]
) -> T:
    """Run `job(tick)` to completion under a progress bar on stderr, or `job(None)` when there is none.

    `job` builds the coroutine so the command states its call once; `tick` advances the bar by one
    for each item done (its argument, a capture or a URL, is ignored).
    """
    progress, task = progress_bar(total, label)
    if progress is None:
        return asyncio.run(job(None))

    def tick(_: object) -> None:
        progress.advance(task)

    with progress:
        return asyncio.run(job(tick))


def read_url_list(path: Path) -> list[str]:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read URL list {path}: {exc}") from exc
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
