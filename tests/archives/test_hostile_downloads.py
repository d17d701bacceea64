"""Downloaded archive files built to hurt: a gzip of NUL bytes as a Perma WARC, a WACZ with a 2 GiB
member. `archiver mirror` runs as a process against the Perma imitation; its time, peak RSS
(`os.wait4`), report size and index growth are measured."""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archiver.archives.downloads import read_archive_file
from archiver.config import DownloadsConfig
from archiver.errors import ArchiveAccessError
from tests.bombs import Bomb, write_zip
from tests.conftest import shared_file
from tests.imitations import serve
from tests.imitations.perma import PermaImitation, StoredLink
from tests.measure import Measured, run_measured

ROOT = Path(__file__).resolve().parents[2]
KEY = "bomb-key-0123"
DATE = datetime(2014, 4, 14, 14, 36, 35, tzinfo=UTC)


@dataclass(frozen=True)
class World:
    config: Path
    archive: Path


def nul_gzip() -> bytes:
    return gzip.compress(b"\0" * 64 * 1024 * 1024, 9)


def bomb_wacz(tmp_path: Path) -> bytes:
    package = b'{"profile": "data-package", "resources": [{"path": "archive/data.warc", "hash": "sha256:00"}]}'
    path = write_zip(
        tmp_path / "bomb.wacz",
        [("datapackage.json", package), ("archive/data.warc", Bomb(2 * 1024**3, b"WARC/1.1\r\n", b"A"))],
    )
    return path.read_bytes()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    warc = shared_file("interop/perma-example.com.warc.gz").read_bytes()
    owners = frozenset({KEY})
    perma = PermaImitation(
        [
            StoredLink("W5MF-N9EV", "http://example.com", DATE, warc=warc, owners=owners),
            StoredLink("B0MB-0001", "http://example.com", DATE, warc=nul_gzip(), owners=owners),
            StoredLink("B0MB-0002", "http://example.com", DATE, wacz=bomb_wacz(tmp_path), owners=owners),
        ],
        api_keys=owners,
    )
    archive = tmp_path / "archive"
    with serve(perma.api) as api, serve(perma.site) as site:
        config = tmp_path / "config.toml"
        config.write_text(
            f'archive_dir = "{archive}"\n[fetch]\nallow_private_networks = true\ntimeout = 3.0\nretries = 0\n'
            f'[perma]\napi_url = "{api}"\nsite_url = "{site}"\n'
        )
        yield World(config, archive)


def mirror(world: World, ref: str) -> Measured:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["PERMA_API_KEY"] = KEY
    command = [sys.executable, "-m", "archiver", "mirror", ref, "--format", "json", "--config", str(world.config)]
    return run_measured(command, cwd=ROOT, env=env)


def index_size(world: World) -> int:
    return sum(p.stat().st_size for p in world.archive.glob("index.sqlite3*"))


@pytest.mark.parametrize("guid", ["B0MB-0001", "B0MB-0002"], ids=["nul-gzip-warc", "wacz-2gib-member"])
def test_hostile_download_ends_fast_small_and_bounded(world: World, guid: str) -> None:
    good = mirror(world, "W5MF-N9EV")
    assert good.code == 0, good.stderr
    before = index_size(world)
    hostile = mirror(world, guid)
    (memento,) = json.loads(hostile.stdout)["mementos"]
    assert memento["verdict"] in ("unavailable", "failed"), memento
    assert "cannot be read" in memento["reason"] and ("max_bytes" in memento["reason"] or "WARC" in memento["reason"])
    # The process's start-up and the Perma round trips cost what the good mirror cost (several
    # seconds on a loaded machine); reading the hostile file itself may add at most 5 s.
    assert hostile.seconds < good.seconds + 5, (hostile.seconds, good.seconds)
    assert hostile.peak_rss_mb < 300, hostile.peak_rss_mb
    assert len(hostile.stdout) < 20_000 and len(hostile.stderr) < 5_000
    assert len(memento["reason"]) < 1_000 and "\0" not in hostile.stdout
    assert index_size(world) - before < 12 * 1024


@pytest.mark.parametrize("name", ["perma.warc.gz", "bomb.wacz"])
def test_hostile_file_is_refused_within_five_seconds(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(nul_gzip() if name.endswith(".gz") else bomb_wacz(tmp_path))
    started = time.monotonic()
    with pytest.raises(ArchiveAccessError) as caught:
        read_archive_file(path, archive_dir=tmp_path, target_urls=["http://example.com/"], capture_id="c",
                          max_decoded_bytes=1 << 24)  # fmt: skip
    assert time.monotonic() - started < 5
    assert len(str(caught.value)) < 400


def test_nul_gzip_message_quotes_a_short_escaped_excerpt(tmp_path: Path) -> None:
    path = tmp_path / "perma.warc.gz"
    path.write_bytes(nul_gzip())
    with pytest.raises(ArchiveAccessError) as caught:
        read_archive_file(path, archive_dir=tmp_path, target_urls=["http://example.com/"], capture_id="c",
                          max_decoded_bytes=1 << 24)  # fmt: skip
    message = str(caught.value)
    assert "not a WARC file" in message and "\\x00" in message and "\0" not in message
    assert len(message) < 400


def test_warc_with_a_huge_header_line_is_refused(tmp_path: Path) -> None:
    # A WARC version line, then 8 MiB without a newline: warcio would read it as one line.
    path = tmp_path / "long-line.warc.gz"
    path.write_bytes(gzip.compress(b"WARC/1.1\r\nWARC-Type: response\r\nX: " + b"A" * 8 * 1024 * 1024))
    with pytest.raises(ArchiveAccessError, match="header line over"):
        read_archive_file(path, archive_dir=tmp_path, target_urls=["http://example.com/"], capture_id="c",
                          max_decoded_bytes=1 << 24)  # fmt: skip


def test_bounds_come_from_the_config(tmp_path: Path) -> None:
    source = shared_file("interop/scoop-example.com.wacz")
    tight = DownloadsConfig(max_members=2)
    with pytest.raises(ArchiveAccessError, match=r"members, over 2 \(\[downloads\] max_members\)"):
        read_archive_file(source, archive_dir=tmp_path, target_urls=["https://example.com/"], capture_id="c",
                          max_decoded_bytes=1 << 24, bounds=tight)  # fmt: skip
    with pytest.raises(ArchiveAccessError, match="max_bytes"):
        read_archive_file(source, archive_dir=tmp_path, target_urls=["https://example.com/"], capture_id="c",
                          max_decoded_bytes=1 << 24, bounds=DownloadsConfig(max_bytes=1000))  # fmt: skip
