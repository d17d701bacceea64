"""`archiver mirror` and `archiver compare`: parse, call the use case, render, exit with a code.

The decisions live in `archiver.pipeline.mirror` and `archiver.pipeline.compare`; this module only
maps them to the command line: 0 when every copy is usable / the texts agree, 2 when not, 3 on a
usage error. The exact exit codes are listed in docs/pipeline.md.
"""

from __future__ import annotations

from typing import Annotated

import typer

from archiver.cli.options import (
    ExitCode,
    FormatOpt,
    OutputOpt,
    Tick,
    emit,
    load,
    out_format,
    run_with_progress,
    stdout_style,
)
from archiver.models import Memento
from archiver.pipeline.capture import CaptureEngine
from archiver.pipeline.compare import compare as compare_sources
from archiver.pipeline.compare import compared_document
from archiver.pipeline.mirror import check_cited_url, mirror_with, parse_refs, usable
from archiver.report import render_comparison, render_mementos
from archiver.report.jsonout import dumps


def mirror(
    refs: Annotated[
        list[str],
        typer.Argument(
            metavar="REF",
            help="Perma.cc links or GUIDs, Wayback Machine URLs, Memento URI-Ms, or capture:<id>.",
        ),
    ],
    cited: Annotated[
        str | None, typer.Option("--for", metavar="URL", help="The cited URL: judge each copy ok or mismatch.")
    ] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Resolve and retrieve archived copies, store them, print what each archived and when. Exit 2 if any is unusable.

    Perma.cc content needs PERMA_API_KEY (environment only); without it a near Wayback snapshot stands in.
    """
    cfg = load()
    parsed = parse_refs(refs, cfg)
    cited_url = check_cited_url(cited)
    out_fmt = out_format(fmt)

    async def run(tick: Tick | None) -> list[Memento]:
        async with CaptureEngine(cfg) as engine:
            return await mirror_with(engine, parsed, cited_url, progress=tick)

    mementos = run_with_progress(len(parsed), "mirroring", run)
    title = "archived copies" if cited_url is None else f"archived copies of {cited_url}"
    style = stdout_style(output)
    emit(render_mementos(mementos, out_fmt, title=title, width=style.width, color=style.color), output)
    raise typer.Exit(ExitCode.OK if all(usable(m) for m in mementos) else ExitCode.FAILED)


def compare(
    a: Annotated[str, typer.Argument(metavar="A", help="The earlier copy: a URL, a capture id, or an archive link.")],
    b: Annotated[str, typer.Argument(metavar="B", help="The later copy: a URL, a capture id, or an archive link.")],
    quote: Annotated[
        str | None, typer.Option("--quote", metavar="TEXT", help="Text the cited page must contain: checked in both.")
    ] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Compare two copies of a page (URLs fetched now, captures read back, archive links retrieved).

    Exit 0: identical, equivalent or minor; 2: major, replaced, unknown, or the --quote missing from a copy.
    """
    cfg = load()
    out_fmt = out_format(fmt)
    compared = compare_sources(cfg, a, b, quote=quote)
    if out_fmt == "json":
        text = dumps(compared_document(compared))
    else:
        style = stdout_style(output)
        text = render_comparison(
            compared.comparison, compared.a.label, compared.b.label, out_fmt, width=style.width, color=style.color
        )
        notes = [f"{name}: {side.note}" for name, side in (("A", compared.a), ("B", compared.b)) if side.note]
        if notes and out_fmt in ("table", "markdown"):
            text = text.rstrip("\n") + "\n\n" + "\n".join(notes) + "\n"
    emit(text, output)
    raise typer.Exit(ExitCode.OK if compared.acceptable else ExitCode.FAILED)


def register(app: typer.Typer) -> None:
    app.command()(mirror)
    app.command()(compare)
