"""Fixtures shared by every test module: a config that points at a temporary archive folder
and allows loopback (the address guard refuses it by default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.config import Config, load_config

SHARED = Path(__file__).resolve().parents[2] / "shared"


def shared_file(relative: str) -> Path:
    """A file from ../shared (interop files, samples); skip the test with the reason when absent."""
    path = SHARED / relative
    if not path.is_file():
        pytest.skip(f"{path} is absent: the shared folder beside the checkout holds it")
    return path


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def config(archive_dir: Path) -> Config:
    """Fast, loopback-friendly settings: short timeouts, no politeness delay, private nets allowed."""
    return load_config(
        None,
        {
            "archive_dir": str(archive_dir),
            "fetch": {
                "allow_private_networks": True,
                "timeout": 5.0,
                "deadline": 15.0,
                "backoff_base": 0.05,
                "backoff_max": 0.5,
                "host_interval": 0.0,
            },
        },
    )
