"""archiver: capture cited web pages and their archived copies as WARC, hash them, report drift."""

from __future__ import annotations

__version__ = "0.1.0"
