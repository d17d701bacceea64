"""The command line as a newcomer meets it: usage errors, global options, help, colour, width,
progress, and outside text shown as text. In-process through `main(argv)`; two real processes
(`python -m archiver` for exit codes, a pseudo-terminal for the table's width)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from archiver import __version__
from archiver.cli.main import app, hoist
from archiver.config import load_config
from archiver.nightly.watchlist import open_watch
from tests.cli.test_cli_capture import run, write_config
from tests.clirun import ROOT, clean_env, invoke

ANSI = re.compile(r"\x1b\[[0-9;]*m")
PAGE = "<html><head><title>Source</title></head><body><p>The ministry announced new measures.</p></body></html>"


def assert_one_line_usage_error(result: object, *words: str) -> None:
    code, out, err = result.returncode, result.stdout, result.stderr  # type: ignore[attr-defined]
    assert code == 3, (out, err)
    assert "Traceback" not in err and out == ""
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for word in words:
        assert word in lines[0], err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["bogus"], ["No such command 'bogus'", "archiver --help"]),
        (["fetch", "--bogus"], ["No such option: --bogus", "archiver fetch --help"]),
        (["check"], ["Missing argument 'DOC'", "archiver check --help"]),
        (["fetch"], ["no URL given"]),
        (["--config", "/nonexistent/archiver.toml", "fetch", "http://example.com/"], ["does not exist"]),
        (["fetch", "http://example.com/", "--config", "/nonexistent/archiver.toml"], ["does not exist"]),
        (["--color", "sometimes", "status"], ["'sometimes' is not one of"]),
        (["-q", "-v", "status"], ["contradict"]),
        (["check", "--format", "yaml", "README.md"], ["unknown format 'yaml'"]),
        (["watch", "add", "http://ex ample.com/"], ["invalid URL"]),
    ],
)
def test_usage_and_config_errors_are_one_line_and_exit_3(args: list[str], words: list[str], tmp_path: Path) -> None:
    assert_one_line_usage_error(invoke(*args, "--archive-dir", str(tmp_path / "a")), *words)


def test_a_bad_config_file_is_one_line_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("archive_dir = [unclosed\n")
    assert_one_line_usage_error(invoke("status", "--config", str(bad)), str(bad), "not valid TOML")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[fetch]\ntimeuot = 3\n")
    assert_one_line_usage_error(invoke("--config", str(unknown), "status"), str(unknown), "timeuot")


def test_the_projects_own_bracketed_messages_print_verbatim(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[schedule]\ncron = "bogus"\n')
    result = invoke("status", "--config", str(config))
    assert_one_line_usage_error(result, "error: [schedule] cron: 'bogus' is not a crontab expression")


def test_version_help_and_completion() -> None:
    version = invoke("--version")
    assert (version.returncode, version.stdout) == (0, f"archiver {__version__}\n")
    assert __version__ == "0.1.0"
    helps = [invoke("--help")] + [
        invoke(*cmd, "--help") for cmd in (["check"], ["fetch"], ["watch", "add"], ["run"], ["index", "rebuild"])
    ]
    for shown in helps:
        assert shown.returncode == 0, shown.stderr
        for tag in ("<bool>", "<path>", "<str>", "<list", "<float>", "TEXT", "PATH", "BOOLEAN", "FLOAT"):
            assert tag not in shown.stdout, (shown.args, shown.stdout)
    top = helps[0].stdout
    for option in ("--config FILE", "--archive-dir DIR", "-q, --quiet", "-v, --verbose", "--color WHEN", "--version"):
        assert option in top
    assert "--install-completion" in top and "--show-completion" in top
    assert "Usage: archiver check [OPTIONS] DOC..." in helps[1].stdout
    completion = invoke("--show-completion", "bash")
    assert completion.returncode == 0 and "complete" in completion.stdout and "archiver" in completion.stdout
    bare = invoke()
    assert bare.returncode == 3 and "Usage: archiver" in bare.stderr and "Traceback" not in bare.stderr


def test_hoist_moves_global_options_and_leaves_a_commands_own_values() -> None:
    from typer.main import get_command

    root = get_command(app)
    assert hoist(["fetch", "U", "--config", "F", "-q"], root) == ["--config", "F", "-q", "fetch", "U"]
    assert hoist(["fetch", "--archive-dir=D", "U"], root) == ["--archive-dir=D", "fetch", "U"]
    # The value of a command's own option stays with it, whatever it looks like; so does all after `--`.
    assert hoist(["watch", "add", "U", "--label", "-v"], root) == ["watch", "add", "U", "--label", "-v"]
    assert hoist(["check", "--", "--config"], root) == ["check", "--", "--config"]


def test_global_options_before_or_after_the_command(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/page").respond_with_data(PAGE, content_type="text/html")
    config = write_config(tmp_path, retries=0)
    url = httpserver.url_for("/page")
    before = invoke("--config", str(config), "fetch", url, "--format", "json")
    after = invoke("fetch", url, "--format", "json", "--config", str(config))
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    elsewhere = tmp_path / "elsewhere"
    moved = invoke("fetch", url, "--archive-dir", str(elsewhere), "--config", str(config), "--format", "json")
    moved_first = invoke("--archive-dir", str(elsewhere), "history", url, "--config", str(config), "--format", "json")
    assert moved.returncode == 0 and moved_first.returncode == 0
    assert len(json.loads(moved_first.stdout)["captures"]) == 1
    history = json.loads(invoke("history", url, "--config", str(config), "--format", "json").stdout)
    assert len(history["captures"]) == 2, "the two fetches without --archive-dir went to the config's archive"


def test_quiet_and_verbose(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    missing = "http://example.com/never-fetched"
    assert invoke("watch", "add", "http://example.com/", "--config", str(config)).returncode == 0  # an index
    noisy = invoke("history", missing, "--config", str(config))
    assert "no capture of" in noisy.stderr
    quiet = invoke("-q", "history", missing, "--config", str(config))
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == noisy.stdout
    # -v adds the cause below an error translated at a seam (here pypdf's, under an ExtractError).
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage")
    args = ["check", str(broken), "--no-live", "--no-archive", "--config", str(config)]
    plain, verbose = invoke(*args), invoke("-v", *args)
    assert plain.returncode == verbose.returncode == 1, plain.stderr
    assert plain.stderr.count("\n") == 1 and plain.stderr.startswith("error: ")
    assert verbose.stderr.startswith(plain.stderr) and "caused by" in verbose.stderr


def _table(tmp_path: Path) -> list[str]:
    doc = tmp_path / "doc.md"
    doc.write_text("A source: <http://example.com/a/very/long/path/" + "segment/" * 30 + "page.html>\n")
    return ["check", str(doc), "--no-live", "--no-archive", "--archive-dir", str(tmp_path / "a")]


def _widths(text: str) -> set[int]:
    return {len(ANSI.sub("", line)) for line in text.splitlines() if line.startswith(("┌", "│", "└"))}


def test_table_width_follows_the_terminal_and_is_100_off_a_terminal(tmp_path: Path) -> None:
    args = _table(tmp_path)
    assert _widths(invoke(*args).stdout) == {100}
    assert _widths(invoke(*args, tty=True, columns=100).stdout) == {100}
    assert _widths(invoke(*args, tty=True, columns=200).stdout) == {200}
    report = tmp_path / "report.txt"
    invoke(*args, "--output", str(report), tty=True, columns=200)
    assert _widths(report.read_text()) == {100}, "a file gets the pipe width, not the terminal's"


def test_color_auto_always_never_and_no_color(tmp_path: Path) -> None:
    args = _table(tmp_path)
    assert ANSI.search(invoke(*args, tty=True).stdout)
    assert not ANSI.search(invoke(*args).stdout)
    assert ANSI.search(invoke(*args, "--color", "always").stdout)
    assert not ANSI.search(invoke(*args, "--color", "never", tty=True).stdout)
    assert not ANSI.search(invoke(*args, tty=True, env={"NO_COLOR": "1"}).stdout)
    assert ANSI.search(invoke(*args, "--color=always", env={"NO_COLOR": "1"}).stdout), "an explicit flag wins"
    error = invoke("bogus", tty=True)
    assert ANSI.search(error.stderr) and not ANSI.search(invoke("bogus").stderr)


def test_progress_bars_on_a_terminal_only(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/one").respond_with_data(PAGE, content_type="text/html")
    httpserver.expect_request("/two").respond_with_data(PAGE.replace("Source", "Two"), content_type="text/html")
    config = write_config(tmp_path, retries=0)
    archive = tmp_path / "archive"
    one, two = httpserver.url_for("/one"), httpserver.url_for("/two")
    # Two WARC files, so that verify has more than one thing to count.
    for url in (one, two):
        assert invoke("fetch", url, "--config", str(config), "--format", "json").returncode == 0
        for path in (archive / "warcs").glob("*.open"):
            path.unlink()  # pragma: no cover - the fetch closes its file; only a crash leaves one
    assert len(list((archive / "warcs").glob("*.warc.gz"))) >= 2
    assert invoke("watch", "add", one, "--config", str(config)).returncode == 0
    assert invoke("watch", "add", two, "--config", str(config)).returncode == 0
    commands = {
        "fetching": ["fetch", one, two],
        "verifying": ["verify"],
        "checking sources": ["run"],
        "indexing captures": ["index", "rebuild"],
    }
    for label, args in commands.items():
        shown = invoke(*args, "--config", str(config), tty=True, columns=120)
        assert shown.returncode in (0, 2), (label, shown.stderr)
        assert label in shown.stderr, (label, shown.stderr)
        hidden = invoke(*args, "--config", str(config))
        assert label not in hidden.stderr, label
        assert label not in invoke("-q", *args, "--config", str(config), tty=True).stderr, label


def test_outside_text_is_shown_as_text_with_controls_escaped(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    osc = "\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07"
    cfg = load_config(config)
    with open_watch(cfg) as watch:
        watch.add("http://example.com/a", [], label=f"[bold]{osc}[/bold]")
    listed = invoke("watch", "list", "--config", str(config), tty=True)
    assert listed.returncode == 0
    assert "\x1b" not in listed.stdout and "\x07" not in listed.stdout
    assert "[bold]\\x1b]8;;http://evil.example/\\x07click" in listed.stdout
    markup = invoke("show", "[link=http://evil.example/]x[/link]", "--config", str(config), tty=True)
    assert markup.returncode == 3 and "\x1b]8" not in markup.stderr
    assert "'[link=http://evil.example/]x[/link]'" in ANSI.sub("", markup.stderr)
    control = invoke("show", "ab\x1b[2Jcd", "--config", str(config))
    assert "\x1b" not in control.stderr and "ab\\x1b[2Jcd" in control.stderr


def test_real_process_exit_codes_and_no_traceback(tmp_path: Path) -> None:
    """What a shell sees: the console entry point's exit codes, through `python -m archiver`."""
    env = clean_env()
    for args, code in ((["fetch", "--bogus"], 3), (["bogus"], 3), (["check"], 3), (["--version"], 0)):
        proc = subprocess.run(
            [sys.executable, "-m", "archiver", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
        )
        assert proc.returncode == code, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert run(write_config(tmp_path), "status").returncode == 0


def _in_pty(args: list[str], columns: int) -> str:
    """Run `python -m archiver ARGS` on a pseudo-terminal of `columns` columns; its output."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in clean_env().items() if k not in ("TERM",)} | {"TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "archiver", *args], stdin=follower, stdout=follower, stderr=follower, cwd=ROOT, env=env
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower side closed: the process is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def test_table_in_a_real_terminal_of_100_and_200_columns(tmp_path: Path) -> None:
    args = [*_table(tmp_path), "--color", "never"]
    assert _widths(_in_pty(args, 100)) == {100}
    assert _widths(_in_pty(args, 200)) == {200}
