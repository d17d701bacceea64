"""Run the command line in-process, as a user's shell would run it, through `main(argv)`.

`invoke` swaps in its own standard streams (bytes underneath, so `sys.stdout.buffer` and
`sys.stdin.buffer` work), an environment without proxies or a Perma API key, and a working
folder, and restores them all after. The result looks like `subprocess.CompletedProcess`, so a
test reads `.returncode`, `.stdout`, `.stderr` either way. `tty=True` makes the streams claim to
be a terminal of `columns` columns, to exercise the progress bar and the terminal width.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from archiver.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
AnyStr_ = TypeVar("AnyStr_", str, bytes)


@dataclass(frozen=True)
class Result(Generic[AnyStr_]):
    args: list[str]
    returncode: int
    stdout: AnyStr_
    stderr: AnyStr_


class _Stream(io.TextIOWrapper):
    def __init__(self, data: bytes = b"", *, tty: bool = False) -> None:
        super().__init__(io.BytesIO(data), encoding="utf-8", errors="replace", write_through=True)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty

    def value(self) -> bytes:
        self.flush()
        raw = self.buffer
        assert isinstance(raw, io.BytesIO)
        return raw.getvalue()


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the CLI tests run in: no proxies, no Perma.cc key, plus `extra`."""
    # Nor what would make the output depend on the terminal the tests run in.
    dropped = {"PERMA_API_KEY", "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR"}
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and k not in dropped}
    env.update(extra or {})
    return env


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _run(
    args: Sequence[str],
    stdin: bytes | str | None,
    env: Mapping[str, str] | None,
    cwd: Path | None,
    tty: bool,
    columns: int | None,
) -> tuple[int, bytes, bytes]:
    data = stdin.encode() if isinstance(stdin, str) else (stdin or b"")
    streams = _Stream(data), _Stream(tty=tty), _Stream(tty=tty)
    saved = sys.stdin, sys.stdout, sys.stderr
    here = Path.cwd()
    environment = clean_env(env)
    if columns is not None:
        environment["COLUMNS"] = str(columns)
    logger = logging.getLogger("archiver")
    handlers, level = list(logger.handlers), logger.level
    sys.stdin, sys.stdout, sys.stderr = streams
    try:
        with _environment(environment):
            os.chdir(cwd or ROOT)
            try:
                code = main(list(args))
            except SystemExit as exc:  # a command that exits on its own still gives its code
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
        os.chdir(here)
        logger.handlers, logger.level = handlers, level
    return code, streams[1].value(), streams[2].value()


def invoke(
    *args: str,
    stdin: bytes | str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    tty: bool = False,
    columns: int | None = None,
) -> Result[str]:
    """`archiver ARGS...` run in this process; stdout and stderr as text."""
    code, out, err = _run(args, stdin, env, cwd, tty, columns)
    return Result(list(args), code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def invoke_bytes(
    *args: str,
    stdin: bytes | str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Result[bytes]:
    """`invoke` with stdout and stderr as bytes."""
    code, out, err = _run(args, stdin, env, cwd, False, None)
    return Result(list(args), code, out, err)
