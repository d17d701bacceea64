"""The page-kind corpus (tests/fixtures/pages/, labels.toml) as a capture would hand it to the classifier."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

PAGES = Path(__file__).resolve().parent / "fixtures" / "pages"


def corpus_pages() -> list[tuple[str, bytes, dict[str, Any]]]:
    """(name, body, classify arguments) of every corpus page, as a capture of it would pass them."""
    labels = tomllib.loads((PAGES / "labels.toml").read_text(encoding="utf-8"))["pages"]
    out = []
    for name, label in labels.items():
        headers = label.get("headers", {})
        args = {
            "status": label["status"],
            "headers": headers,
            "url": label["url"],
            "requested_url": label.get("requested_url"),
            "content_type": headers.get("content-type", "text/html"),
        }
        out.append((name, (PAGES / f"{name}.html").read_bytes(), args))
    return out
