"""The optional slow rule, over a real captured torrent."""

from __future__ import annotations

import dataclasses

from captured import download, torrent
from qbittorrent_monitor.config import SlowSettings
from qbittorrent_monitor.model import Kind, Memory
from qbittorrent_monitor.rules import slow


def test_slow_rule_off_by_default_and_judged_on_the_window_average() -> None:
    t = torrent("fx-stalled-dl")
    crawling = Memory(t.added_on, t.added_on, t.downloaded, window_at=t.added_on, last_rate=2048.0)
    d = download("fx-stalled-dl", memory=crawling)
    assert slow.check(d, SlowSettings()) is None
    f = slow.check(d, SlowSettings(enabled=True, min_speed_kib=20))
    assert f is not None and f.kind is Kind.SLOW and f.evidence["average_kib_s"] == 2.0
    fast = dataclasses.replace(crawling, last_rate=50 * 1024.0)
    assert slow.check(download("fx-stalled-dl", memory=fast), SlowSettings(enabled=True)) is None
    still = dataclasses.replace(crawling, last_rate=0.0)  # not moving at all: the stalled rule's business
    assert slow.check(download("fx-stalled-dl", memory=still), SlowSettings(enabled=True)) is None
    seeding = download("fx-seeding", memory=crawling)
    assert slow.check(seeding, SlowSettings(enabled=True)) is None
