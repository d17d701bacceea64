"""How the C heap of a capturing process gives memory back: rarely, so pages do not fault in again.

A capture allocates and frees, for every page, buffers of a few hundred KB (deflate states, the
Lexbor tree, the body spool); under glibc's defaults freeing them gave their pages back to the
kernel, and the next page faulted them in again: 48-64 minor faults a 10 KB page, 1.4 with the
thresholds below (docs/scale.md, "Workers on a real cluster"). Only glibc has mallopt.
"""

from __future__ import annotations

import ctypes
import os
import threading

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 8 * 1024 * 1024  # free heap above this at the top is given back
MMAP_THRESHOLD = 1024 * 1024  # allocations above this get their own mapping (big bodies' buffers)

_lock = threading.Lock()
_tuned: bool | None = None


def tune_heap() -> bool:
    """Set the thresholds once per process; True when they are set (on glibc)."""
    global _tuned
    with _lock:
        if _tuned is None:
            _tuned = _mallopt({M_MMAP_THRESHOLD: MMAP_THRESHOLD, M_TRIM_THRESHOLD: TRIM_THRESHOLD})
        return _tuned


def _mallopt(settings: dict[int, int]) -> bool:
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
    except (AttributeError, ValueError, OSError):  # not glibc (macOS, musl, Windows)
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own symbols, libc's among them
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; setting either threshold also ends glibc's own adjusting of
    # them (which had settled on values that still faulted, see above).
    return all(mallopt(param, value) == 1 for param, value in settings.items())
