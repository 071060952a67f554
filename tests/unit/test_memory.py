"""memory: the cycle's freed memory handed back to the system where the C library can (glibc here), and a full
collection (the interpreter's free lists emptied) only after a busy cycle."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

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
    assert rss_kib() - before < 4 * 1024, "freed memory still held after the trim"
    assert keep[0] == ord("x")


class Collector:
    """A fake collector: the young-generation runs so far, the full collections and trims asked of it."""

    def __init__(self) -> None:
        self.young = 0
        self.full = 0
        self.trims = 0

    def collect(self) -> None:
        self.full += 1

    def trim(self) -> None:
        self.trims += 1


def cycles(runs: list[int], *, between: int = 0, busy: int | None = None) -> tuple[list[bool], Collector]:
    """Cycles of `runs` young-generation runs each, `between` more while the monitor waits for the next one (the web
    server's threads allocate too), with the monitor's threshold unless `busy` says otherwise."""
    collector = Collector()
    threshold = memory.busy_runs() if busy is None else busy
    give_back = memory.GiveBack(
        threshold, young=lambda: collector.young, collect=collector.collect, trim_heap=collector.trim
    )
    ran = []
    for n in runs:
        collector.young += between
        give_back.begin()
        collector.young += n
        ran.append(give_back())
    return ran, collector


def test_memory_a_busy_cycle_is_14000_objects_which_is_20_young_runs_at_the_700_threshold() -> None:
    # 20 sits between the bench's cycles: about 4 runs at 10,000 torrents / 100 queued, about 60 at 30,000 / 1,500.
    assert memory.BUSY_OBJECTS == 14_000
    assert memory.busy_runs(14_000) == 14_000 // gc.get_threshold()[0]
    if gc.get_threshold()[0] == 700:  # CPython 3.11 and 3.12's default
        assert memory.busy_runs() == 20


def test_memory_a_small_librarys_4_young_runs_a_cycle_never_pay_for_a_full_collection() -> None:
    # 10,000 torrents with a 100-item queue: about 4 runs a cycle (bench), even with 15 more between two cycles
    # (a dashboard open in a browser): what happens between cycles is not the cycle's.
    ran, collector = cycles([4, 3, 4, 4, 5, 4], between=15)
    assert ran == [False] * 6 and collector.full == 0
    assert collector.trims == 6  # the C heap is trimmed after every cycle all the same


def test_memory_every_busy_cycle_of_a_30000_torrent_library_ends_with_one_full_collection() -> None:
    # 30,000 torrents with 1,500 queued: a first cycle of about 300 runs, then about 60 each. A quiet cycle among
    # them (the queue emptied: 2 runs) is not collected; 19 is one short of busy, 20 is busy.
    ran, collector = cycles([311, 61, 60, 2, 54, 19, 20])
    assert ran == [True, True, True, False, True, False, True] and collector.full == 5


def test_memory_a_one_shot_run_and_a_disabled_collector_never_collect() -> None:
    never = memory.GiveBack(None, young=lambda: 10**6, collect=lambda: pytest.fail("collected"), trim_heap=lambda: None)
    never.begin()
    assert never() is False
    saved = gc.get_threshold()
    try:
        gc.set_threshold(0)
        assert memory.busy_runs() is None
    finally:
        gc.set_threshold(*saved)


def test_memory_the_real_collector_counts_a_busy_stretch_and_collects_once_after_it() -> None:
    # The real collector: 200,000 tuples and lists made and kept for a while is busy by any threshold.
    give_back = memory.GiveBack(memory.busy_runs())
    give_back.begin()
    kept = [(i, [i]) for i in range(100_000)]
    del kept
    assert give_back() is True
    give_back.begin()
    assert give_back() is False  # nothing made since


class Recording(memory.GiveBack):
    def __init__(self, busy: int | None) -> None:
        super().__init__(busy, young=lambda: 0, collect=lambda: None, trim_heap=lambda: None)
        self.calls: list[str] = []

    def begin(self) -> None:
        self.calls.append("begin")

    def __call__(self) -> bool:
        self.calls.append("after")
        return False


def test_memory_every_cycle_is_bracketed_even_one_that_fails_and_a_one_shot_run_never_collects(
    tmp_path: Path,
) -> None:
    import yaml

    from harness.states import closed_port
    from qbittorrent_monitor.config import load_config
    from qbittorrent_monitor.monitor import Monitor

    path = tmp_path / "config.yaml"
    url = f"http://127.0.0.1:{closed_port()}"
    doc = {"monitor": {"data_dir": str(tmp_path / "data")}, "qbittorrent": [{"url": url}]}
    path.write_text(yaml.safe_dump(doc))
    daemon, one_shot = Monitor(load_config(path, env={})), Monitor(load_config(path, env={}), one_shot=True)
    try:
        assert daemon.give_back.busy == memory.busy_runs() and one_shot.give_back.busy is None
        recording = daemon.give_back = Recording(memory.busy_runs())
        daemon.run_cycle()  # qBittorrent is down: the cycle reports it and ends
        broken = RuntimeError("a cycle that fails")

        def fail() -> None:
            raise broken

        daemon._cycle = fail  # type: ignore[method-assign,assignment]
        with pytest.raises(RuntimeError):
            daemon.run_cycle()
        assert recording.calls == ["begin", "after", "begin", "after"]
    finally:
        daemon.close()
        one_shot.close()
