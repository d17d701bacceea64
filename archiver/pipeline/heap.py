"""How the C heap of a capturing process gives memory back: rarely, so pages do not fault in again.

A capture allocates and frees, for every page, buffers of a few hundred KB: each deflate state
(zlib-ng's is ~270 KB, three records a page), the Lexbor tree, the body's spool. Under glibc's
defaults those sit at the mmap threshold or the top of the heap: freeing one gives its pages back
to the kernel, and the next allocation faults them in again. bench/capture.py measured 48-64 minor
page faults a 10 KB page and 0.23-0.34 ms of system time; with the two thresholds below, 1.4
faults and 0.08-0.09 ms, for a few MB more resident at most (TRIM_THRESHOLD of free heap kept).
It is also why Dask's nanny default (MALLOC_TRIM_THRESHOLD_=65536) made a worker's capture 30%
slower: set here, a worker is tuned whatever environment its nanny gave it.

Only glibc has mallopt; elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
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
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; setting either threshold also ends glibc's own adjusting of
    # them (which had settled on values that still faulted, see above).
    return all(mallopt(param, value) == 1 for param, value in settings.items())
