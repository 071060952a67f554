"""A cycle's transient memory given back to the system.

A cycle parses a few MiB of JSON (queue pages, torrents/info chunks) and drops it. CPython returns its small-object
arenas when they empty, but larger blocks go through the C allocator, which keeps freed memory for reuse: the RSS
then stays at the cycle's high-water mark. glibc's `malloc_trim(0)` hands the free pages back (it costs about a
millisecond); elsewhere (musl, macOS) nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def give_back() -> None:
    """Return the C allocator's free memory to the system, where the C library can."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
