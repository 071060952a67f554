"""A cycle's transient memory given back to the system.

A cycle parses a few MiB of JSON (queue pages, torrents/info chunks) and drops it. Two things keep the RSS at the
cycle's high-water mark afterwards:

- the C allocator keeps freed blocks for reuse: glibc's `malloc_trim(0)` hands the free pages back (it costs about a
  millisecond; elsewhere, musl or macOS, nothing is done);
- the interpreter keeps freed tuples, floats and lists on its free lists (up to 2,000 tuples of each length), and
  those blocks, scattered among the objects that outlive the cycle, keep the arenas of its small-object allocator
  from emptying: the RSS creeps up cycle after cycle. Only a full garbage collection empties the free lists. It
  walks every object (about 45 ms at 30,000 torrents with a 1,500-item queue, 25 ms at 10,000 with 100), so it
  runs only after a cycle that made many objects: one during which the collector ran its young generation
  `BUSY_CYCLE` times or more (each run: 700 more container objects made than freed). A 30,000-torrent cycle with
  1,500 queued downloads makes about 60 such runs, a 10,000-torrent one with 100 about 4: the first is collected
  and holds about a MiB less, the second stays level without it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable

BUSY_CYCLE = 20  # young-generation collections during a cycle that make it worth a full collection after it


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


def trim() -> None:
    """Return the C allocator's free memory to the system, where the C library can."""
    malloc_trim = _malloc_trim()
    if malloc_trim is not None:
        malloc_trim(0)


def young_collections() -> int:
    """How many times the collector has run its young generation in this process."""
    return int(gc.get_stats()[0]["collections"])


class GiveBack:
    """Called after every cycle: a full collection when the cycle was busy (`busy` young collections since the last
    call), then the C heap trimmed."""

    def __init__(
        self,
        busy: int = BUSY_CYCLE,
        *,
        young: Callable[[], int] = young_collections,
        collect: Callable[[], object] = gc.collect,
        trim_heap: Callable[[], None] = trim,
    ) -> None:
        self.busy = busy
        self._young = young
        self._collect = collect
        self._trim = trim_heap
        self._seen = young()
        self.collections = 0

    def __call__(self) -> bool:
        """True when it ran a full collection."""
        now = self._young()
        busy, self._seen = now - self._seen >= self.busy, now
        if busy:
            self._collect()
            self._seen = self._young()  # a full collection counts as a young one too
            self.collections += 1
        self._trim()
        return busy
