"""archiver: capture cited web pages and their archived copies as WARC, hash them, report drift.

The public API is the functions in `__all__` (defined in `archiver.api`); everything else is
internal. They are loaded on first use, so `import archiver.models` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "capture", "check", "compare", "mirror", "run", "verify"]

if TYPE_CHECKING:
    from archiver.api import capture, check, compare, mirror, run, verify


def __getattr__(name: str) -> Any:
    if name in __all__:
        value = getattr(importlib.import_module("archiver.api"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'archiver' has no attribute {name!r}")
