"""A cycle's transient memory given back to the system.

A cycle parses a few MiB of JSON (queue pages, torrents/info chunks) and drops it. Two things keep the RSS at the
cycle's high-water mark afterwards:

- the C allocator keeps freed blocks for reuse: glibc's `malloc_trim(0)` hands the free pages back (it costs about a
  millisecond; elsewhere, musl or macOS, nothing is done);
- the interpreter keeps freed tuples, floats and lists on its free lists (up to 2,000 tuples of each length), and
  those blocks, scattered among the objects that outlive the cycle, keep the arenas of its small-object allocator
  from emptying: the RSS creeps up cycle after cycle. Only a full garbage collection empties the free lists. It
  walks every object (about 45 ms at 30,000 torrents with a 1,500-item queue, 25 ms at 10,000 with 100), so it
  runs only after a cycle that made many objects: `BUSY_OBJECTS` more container objects made than freed while it
  ran, counted by the collector's own young-generation runs (one per `gc.get_threshold()[0]` of them: 700 on
  CPython 3.11 and 3.12, so 20 runs). A 30,000-torrent cycle with 1,500 queued downloads makes about 60 such runs,
  a 10,000-torrent one with 100 about 4: the first is collected and holds about a MiB less, the second stays level
  without it. A one-shot run (`--test`) exits after its cycle and is never collected; with the collector disabled
  (threshold 0) neither.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable

BUSY_OBJECTS = 14_000  # container objects a cycle made (net) that make a full collection after it worth its cost


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


def busy_runs(objects: int = BUSY_OBJECTS) -> int | None:
    """Young-generation runs that many objects make; None when the collector never runs by itself (threshold 0)."""
    threshold = gc.get_threshold()[0]
    return max(1, objects // threshold) if threshold > 0 else None


class GiveBack:
    """Around every cycle: `begin()` as it starts, the call after it ends (also when it failed): a full collection
    when the cycle was busy (`busy` young-generation runs or more since `begin`; None: never), then the C heap
    trimmed. The monitor makes it with `busy_runs()`, or None for a one-shot run."""

    def __init__(
        self,
        busy: int | None,
        *,
        young: Callable[[], int] = young_collections,
        collect: Callable[[], object] = gc.collect,
        trim_heap: Callable[[], None] = trim,
    ) -> None:
        self.busy = busy
        self._young = young
        self._collect = collect
        self._trim = trim_heap
        self._began = young()

    def begin(self) -> None:
        self._began = self._young()

    def __call__(self) -> bool:
        """True when it ran a full collection."""
        busy = self.busy is not None and self._young() - self._began >= self.busy
        if busy:
            self._collect()
        self._trim()
        return busy
