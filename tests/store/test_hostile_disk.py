"""A read-only archive and a full disk, made for real: a read-only bind mount and a 2 MB tmpfs.

Tests run as root here, and chmod does not stop root, so the archive is bind-mounted read-only
(`mount -o remount,ro,bind`); the full disk is a tmpfs of a few MB. Both need mount rights: the
tests skip, saying why, where mounting is not allowed.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.cli.test_cli_capture import captures_of, run, write_config


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({done.stderr.strip()}): needs root with mount rights")


def _umount(target: Path) -> None:
    # Lazy: a child process of the test (or another xdist worker) may still hold a handle briefly.
    subprocess.run(["umount", "-l", str(target)], check=True)


@pytest.fixture
def site(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request("/a").respond_with_data("<title>A</title><p>first</p>", content_type="text/html")
    httpserver.expect_request("/b").respond_with_data("<title>B</title><p>second</p>", content_type="text/html")
    return httpserver


@pytest.fixture
def read_only(tmp_path: Path, site: HTTPServer) -> Iterator[tuple[Path, list[str]]]:
    """An archive with two captures, then the same folder mounted read-only at a second place."""
    (tmp_path / "rw").mkdir()
    source = write_config(tmp_path / "rw")
    result = run(source, "fetch", site.url_for("/a"), site.url_for("/b"), "--format", "json")
    assert result.returncode == 0, result.stderr
    ids = [str(c["id"]) for c in captures_of(result)]
    mounted = tmp_path / "ro"
    mounted.mkdir()
    _mount("--bind", str(tmp_path / "rw" / "archive"), str(mounted))
    try:
        _mount("-o", "remount,ro,bind", str(mounted))
        config = tmp_path / "ro.toml"
        config.write_text(f'archive_dir = "{mounted}"\n[fetch]\nallow_private_networks = true\n')
        yield config, ids
    finally:
        _umount(mounted)


def test_read_commands_work_on_a_read_only_archive(read_only: tuple[Path, list[str]], site: HTTPServer) -> None:
    config, (first, second) = read_only
    archive = Path(config.read_text().split('"')[1])
    assert not os.access(archive, os.W_OK)
    before = sorted(p.name for p in archive.iterdir())
    shown = run(config, "show", first, "--body")
    assert shown.returncode == 0 and "first" in shown.stdout, shown.stderr
    history = run(config, "history", site.url_for("/a"))
    assert history.returncode == 0, history.stderr
    status = run(config, "status", "--format", "json")
    assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr
    verify = run(config, "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    compared = run(config, "compare", first, second, "--format", "json")
    assert compared.returncode in (0, 2) and json.loads(compared.stdout)["comparison"]["verdict"], compared.stderr
    for result in (shown, history, status, verify, compared):
        assert "rebuild recreates" not in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in archive.iterdir()) == before  # nothing written at open time


def test_writing_commands_on_a_read_only_archive_say_so(read_only: tuple[Path, list[str]], site: HTTPServer) -> None:
    config, _ = read_only
    rebuild = run(config, "index", "rebuild")
    assert rebuild.returncode == 1 and "Traceback" not in rebuild.stderr, rebuild.stderr
    assert "read-only" in rebuild.stderr and "rebuild recreates" not in rebuild.stderr
    fetch = run(config, "fetch", site.url_for("/a"))
    assert fetch.returncode != 0 and "read-only" in fetch.stdout + fetch.stderr
    assert "Traceback" not in fetch.stderr


def test_full_disk_stops_the_fetch_and_loses_nothing_stored(tmp_path: Path, httpserver: HTTPServer) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    _mount("-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk))
    try:
        small = os.urandom(20_000)
        big = os.urandom(900_000)  # random: gzip cannot shrink it
        httpserver.expect_request("/small").respond_with_data(small, content_type="application/octet-stream")
        for n in range(6):
            httpserver.expect_request(f"/big{n}").respond_with_data(big, content_type="application/octet-stream")
        config = tmp_path / "config.toml"
        config.write_text(
            f'archive_dir = "{disk / "archive"}"\n[fetch]\nallow_private_networks = true\nconcurrency = 1\n'
        )
        stored = run(config, "fetch", httpserver.url_for("/small"), "--format", "json")
        assert stored.returncode == 0, stored.stderr
        (kept,) = captures_of(stored)
        full = run(config, "fetch", *[httpserver.url_for(f"/big{n}") for n in range(6)])
        assert full.returncode == 1, full.stdout + full.stderr
        assert "disk" in full.stderr and "is full" in full.stderr and "Traceback" not in full.stderr
        assert "every capture stored before it is kept" in full.stderr
        _mount("-o", "remount,size=20m", str(disk))  # space freed: recovery finishes the cut file
        verify = run(config, "verify", "--format", "json")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert run(config, "show", str(kept["id"])).returncode == 0
    finally:
        _umount(disk)
