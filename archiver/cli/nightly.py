"""`archiver watch add|import|list|remove`, `archiver run`, `archiver schedule`, `archiver status`.

A thin adapter over archiver.nightly.watchlist and archiver.nightly.watch_import (the watch list),
archiver.nightly.run (the run pass and the status) and archiver.nightly.schedule (the scheduler): parse, call
one function, print, exit with a code from `ExitCode`. `run` exits 0 when every source passes, 2
when one fails (warnings too with `--strict`), 1 when the archive is busy with another run and the
wait ran out, 130 when stopped by SIGINT/SIGTERM (the run resumes with `--run-id`).
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from archiver.cli.options import (
    ClusterOpt,
    ExitCode,
    FormatOpt,
    OutputOpt,
    emit,
    load,
    note,
    out_format,
    progress,
    stdout_style,
)
from archiver.errors import InvalidURLError, RunInterrupted, UsageError
from archiver.nightly.linkstate import state_to_dict
from archiver.nightly.reports import quiet_sources
from archiver.nightly.run import ArchiveStatus, archive_status, run_once
from archiver.nightly.schedule import ScheduleStatus, run_scheduler
from archiver.nightly.watch_import import import_documents
from archiver.nightly.watchlist import WatchEntry, open_watch
from archiver.pipeline.mirror import parse_refs
from archiver.report import REPORT_FORMATS, render, shown, size_text, when
from archiver.urls import parse_url

watch_app = typer.Typer(help="The watch list: sources checked on every run.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(watch_app, name="watch")
    app.command("run")(run)
    app.command("schedule")(schedule)
    app.command("status")(status)


@watch_app.command("add")
def watch_add(
    url: Annotated[str, typer.Argument(help="The source URL to watch.")],
    archive: Annotated[
        list[str] | None,
        typer.Option("--archive", metavar="REF", help="An archived copy (Perma, Wayback, URI-M, capture:<id>)."),
    ] = None,
    label: Annotated[str, typer.Option("--label", help="A name for the source in reports.")] = "",
) -> None:
    """Watch a URL; adding it again only merges a new archive reference or label."""
    cfg = load()
    try:
        parse_url(url)
    except InvalidURLError as exc:
        raise UsageError(str(exc)) from None
    refs = parse_refs(archive or [], cfg, allow_empty=True)
    with open_watch(cfg) as watch:
        entry, outcome = watch.add(url, refs, label=label)
    typer.echo(shown(f"{outcome.value}: {entry.url}" + "".join(f"\n  archive: {r.uri}" for r in entry.archives)))


@watch_app.command("import")
def watch_import(
    documents: Annotated[list[Path] | None, typer.Argument(help="Documents whose citations to watch.")] = None,
    no_resolve: Annotated[
        bool, typer.Option("--no-resolve", help="Do not ask Perma/memento links what they captured.")
    ] = False,
) -> None:
    """Watch every citation of the documents, each with the archive links paired with it."""
    cfg = load()
    if not documents:
        raise UsageError("no document given: name one or more documents to import")
    imported = import_documents(cfg, documents, resolve=not no_resolve)
    for entry, outcome in imported.added:
        archives = ", ".join(r.uri for r in entry.archives) or "no archive"
        typer.echo(shown(f"{outcome.value}: {entry.url} ({archives})"))
    for url, why in imported.skipped:
        note(f"skipped {url}: {why}")
    typer.echo(f"{len(imported.added)} citations watched, {len(imported.skipped)} skipped")


def _entry_dict(entry: WatchEntry) -> dict[str, Any]:
    return {
        "url": entry.url,
        "label": entry.label,
        "archives": [r.uri for r in entry.archives],
        "added_at": entry.added_at.isoformat(),
        "baseline_id": entry.baseline_id,
        "state": state_to_dict(entry.state),
    }


@watch_app.command("list")
def watch_list(
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """List the watched sources with their link state."""
    cfg = load()
    kind = out_format(fmt)
    with open_watch(cfg) as watch:
        entries = watch.entries()
    if kind == "json":
        emit(json.dumps({"schema_version": 1, "watch": [_entry_dict(e) for e in entries]}, indent=2), output)
        return
    lines = [f"{len(entries)} watched sources"]
    for e in entries:
        checked = when(e.state.last_checked_at) or "never checked"
        label = f" [{e.label}]" if e.label else ""
        lines.append(f"{e.state.condition.value:8} {e.url}{label}  ({len(e.archives)} archives; {checked})")
    # Labels come from documents (`watch import` takes a link's text): shown as text, never as controls.
    emit(shown("\n".join(lines)), output)


@watch_app.command("remove")
def watch_remove(
    url: Annotated[str, typer.Argument(help="The watched URL to remove.")],
) -> None:
    """Stop watching a URL (its captures and past results stay in the archive)."""
    cfg = load()
    with open_watch(cfg) as watch:
        removed = watch.remove(url)
    if not removed:
        raise UsageError(f"{url} is not on the watch list; 'archiver watch list' shows what is")
    typer.echo(shown(f"removed: {url}"))


def run(
    strict: Annotated[bool, typer.Option("--strict", help="Exit 2 on warnings too.")] = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait", metavar="SECONDS", help="Seconds to wait for a run already in progress (default: do not wait)."
        ),
    ] = 0.0,
    run_id: Annotated[
        str | None, typer.Option("--run-id", metavar="ID", help="Resume an interrupted run with this id.")
    ] = None,
    cluster: ClusterOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Check every watched source now: capture, compare, advance link states, report, notify."""
    cfg = load(None if cluster is None else {"cluster": {"address": cluster}})
    kind = out_format(fmt, REPORT_FORMATS)  # a bad --format is refused before the run, not after it
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, on_signal)
    with open_watch(cfg) as watch:
        total = len(watch.entries())
    try:
        with progress(total, "checking sources") as tick:
            summary = run_once(cfg, run_id=run_id, lock_wait=wait, stop=stop, progress=tick)
    except RunInterrupted as exc:
        note(f"interrupted: {exc}", always=True)
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if fmt is not None or output is not None:
        # As in the run's report files: sources with news in full, the quiet ones folded (HTML, Markdown).
        style = stdout_style(output)
        quiet = quiet_sources(summary.sources)
        emit(render(summary.report, kind, quiet=quiet, width=style.width, color=style.color), output)
        note(summary.text())
    else:
        typer.echo(shown(summary.text()))
    raise typer.Exit(summary.exit_code(strict))


def schedule() -> None:
    """Run the nightly schedule (schedule.cron in schedule.timezone) until SIGTERM or SIGINT."""
    cfg = load()

    def ready(status: ScheduleStatus) -> None:
        catch_up = f"; catching up the run for {when(status.catch_up_for)}" if status.catch_up_for else ""
        typer.echo(f"scheduler running on {status.archive_dir}: next run at {when(status.next_run_at)}{catch_up}")

    run_scheduler(cfg, on_ready=ready)
    typer.echo("scheduler stopped")


def _status_dict(s: ArchiveStatus) -> dict[str, Any]:
    sched = s.schedule
    last = s.last_run
    return {
        "schema_version": 1,
        "archive_dir": str(sched.archive_dir),
        "schedule": {
            "cron": sched.cron,
            "timezone": sched.timezone,
            "installed": sched.installed,
            "scheduler_running": sched.scheduler_running,
            "run_in_progress": sched.run_in_progress,
            "next_run_at": None if sched.next_run_at is None else sched.next_run_at.isoformat(),
            "unfinished": [e.run_id for e in sched.unfinished],
        },
        "last_run": None
        if last is None
        else {
            "run_id": last.run_id,
            "kind": last.kind,
            "label": last.label,
            "outcome": last.outcome,
            "started_at": last.started_at.isoformat(),
            "finished_at": None if last.finished_at is None else last.finished_at.isoformat(),
        },
        "watched": s.watched,
        "link_states": s.conditions,
        "last_run_counts": s.last_counts,
        "archive_bytes": s.archive_bytes,
        "warc_bytes": s.warc_bytes,
    }


def _status_text(s: ArchiveStatus) -> str:
    sched, last = s.schedule, s.last_run
    lines = [f"archive {sched.archive_dir}: {size_text(s.archive_bytes)} ({size_text(s.warc_bytes)} of WARCs)"]
    running = "running" if sched.scheduler_running else "not running"
    lines.append(f"schedule: {sched.cron} ({sched.timezone}), scheduler {running}; next run {when(sched.next_run_at)}")
    if sched.run_in_progress:
        lines.append("a run is in progress now")
    if last is None:
        lines.append("last run: none yet")
    else:
        ended = f", finished {when(last.finished_at)}" if last.finished_at else ""
        lines.append(f"last run: {last.run_id} ({last.label}): {last.outcome}, started {when(last.started_at)}{ended}")
        for column, counts in s.last_counts.items():
            lines.append(f"  {column}: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
    lines.append(f"watched: {s.watched}; link states: " + ", ".join(f"{n} {c}" for c, n in s.conditions.items()))
    if sched.unfinished:
        lines.append("unfinished scheduled runs: " + ", ".join(e.run_id for e in sched.unfinished))
    return "\n".join(lines)


def status(
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Show the last run, the next one, counts by verdict and link state, and the archive's size."""
    cfg = load()
    info = archive_status(cfg)
    kind = out_format(fmt)
    emit(json.dumps(_status_dict(info), indent=2) if kind == "json" else _status_text(info), output)
    raise typer.Exit(ExitCode.OK)
