"""The one-call Python API: `archiver.capture(urls, config) -> list[Capture]`."""

from __future__ import annotations

from pytest_httpserver import HTTPServer

import archiver
import archiver.capture
from archiver.config import Config
from archiver.models import ErrorKind


def test_capture_is_callable_from_the_package(httpserver: HTTPServer, config: Config) -> None:
    httpserver.expect_request("/page").respond_with_data("<title>T</title><p>hello</p>", content_type="text/html")
    captures = archiver.capture([httpserver.url_for("/page"), "ftp://example.com/"], config)  # type: ignore[operator]
    page, refused = captures
    assert page.status == 200 and page.title == "T" and page.warc is not None
    assert (config.archive_dir / page.warc.file).is_file()
    assert refused.error is not None and refused.error.kind is ErrorKind.INVALID_URL
    assert archiver.capture.CaptureEngine.__name__ == "CaptureEngine"
