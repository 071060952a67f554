"""memory: the cycle's freed memory handed back to the system where the C library can (glibc here), and a full
collection (the interpreter's free lists emptied) only after a busy cycle."""

from __future__ import annotations

from pathlib import Path

from qbittorrent_monitor import memory


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def test_memory_a_cycle_parsed_and_dropped_is_given_back_to_the_system() -> None:
    """256 blocks of 64 KiB (under glibc's mmap threshold: from its heap, like a queue page's strings and lists)
    freed but the last one, which pins the heap's top: without the trim glibc keeps the 16 MiB mapped; after it the
    process is back within a few MiB of where it started."""
    memory.trim()
    before = rss_kib()
    blocks = [bytearray(64 * 1024) for _ in range(256)]
    for block in blocks:
        block[::4096] = b"x" * len(block[::4096])  # touch every page
    keep = blocks[-1]
    del blocks
    memory.trim()
    assert rss_kib() - before < 4 * 1024, "freed memory still held after give_back"
    assert keep[0] == ord("x")


class Collector:
    """A fake collector: `made(n)` is a cycle during which the young generation was collected n times."""

    def __init__(self) -> None:
        self.young = 0
        self.full = 0
        self.trims = 0

    def made(self, runs: int) -> None:
        self.young += runs

    def collect(self) -> None:
        self.full += 1
        self.young += 1  # a full collection is counted in every generation's statistics

    def trim(self) -> None:
        self.trims += 1


def cycles(runs: list[int]) -> tuple[list[bool], Collector]:
    collector = Collector()
    give_back = memory.GiveBack(20, young=lambda: collector.young, collect=collector.collect, trim_heap=collector.trim)
    ran = []
    for n in runs:
        collector.made(n)
        ran.append(give_back())
    return ran, collector


def test_memory_a_small_librarys_cycles_never_pay_for_a_full_collection() -> None:
    # 10,000 torrents with a 100-item queue: about 4 young collections a cycle (bench), far below 20.
    ran, collector = cycles([4, 3, 4, 4, 5, 4])
    assert ran == [False] * 6 and collector.full == 0
    assert collector.trims == 6  # the C heap is trimmed after every cycle all the same


def test_memory_every_busy_cycle_ends_with_one_full_collection_and_only_busy_ones() -> None:
    # 30,000 torrents with 1,500 queued: a first cycle of 300 young collections, then about 60 each; a quiet cycle
    # among them (the queue emptied) is not collected, and each busy one is collected once, not for what came before.
    ran, collector = cycles([311, 61, 60, 2, 54, 19, 20])
    assert ran == [True, True, True, False, True, False, True] and collector.full == 5


def test_memory_the_real_collector_counts_a_busy_stretch_and_collects_once_after_it() -> None:
    # The real collector: a busy stretch (tens of thousands of tuples and lists made, kept, dropped) counts as busy.
    give_back = memory.GiveBack()
    kept = [(i, [i]) for i in range(100_000)]
    del kept
    assert give_back() is True
    assert give_back() is False  # nothing made since
