"""The public API: six plain synchronous functions, inputs first, exported with `__all__`."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

import archiver
from archiver.config import Config
from archiver.errors import StoreError
from archiver.models import DriftVerdict, LiveVerdict, Overall

API = ["capture", "check", "compare", "mirror", "run", "verify"]


def test_all_lists_the_api_and_each_is_a_plain_function() -> None:
    assert archiver.__all__ == ["__version__", *API]
    for name in API:
        func = getattr(archiver, name)
        assert inspect.isfunction(func) and not inspect.iscoroutinefunction(func), name
        params = inspect.signature(func).parameters
        assert params["config"].default is None, name
        assert list(params).index("config") <= 2, name  # inputs first, then config


def test_importing_a_vocabulary_module_does_not_load_the_engine() -> None:
    code = "import sys, archiver.models; print('archiver.api' in sys.modules, 'httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_the_api_end_to_end(httpserver: HTTPServer, config: Config, tmp_path: Path) -> None:
    httpserver.expect_request("/page").respond_with_data(
        "<title>T</title><p>The one paragraph of the page.</p>", content_type="text/html"
    )
    url = httpserver.url_for("/page")
    (capture,) = archiver.capture([url], config)
    assert capture.status == 200 and capture.id

    compared = archiver.compare(url, capture.id, config)
    assert compared.comparison.verdict is DriftVerdict.IDENTICAL

    (memento,) = archiver.mirror([f"capture:{capture.id}"], config)
    assert memento.original_url == url

    doc = tmp_path / "doc.md"
    doc.write_text(f"See <{url}>.\n", encoding="utf-8")
    report = archiver.check([doc], config, archive=False)
    (result,) = report.results
    assert result.live_verdict is LiveVerdict.OK and result.overall in (Overall.PASS, Overall.WARN)

    assert archiver.verify(config).ok
    summary = archiver.run(config)
    assert summary.report.results == ()


def test_config_none_means_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No config: the default archive folder, ./archive, relative to the working directory."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match="no archive to verify at archive"):
        archiver.verify()
    (tmp_path / "archive" / "warcs").mkdir(parents=True)
    report = archiver.verify()
    assert report.ok and report.files_checked == 0
