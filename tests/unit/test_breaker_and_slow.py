"""The outage breaker's grouping and thresholds, and the optional slow rule, over real captured torrents."""

from __future__ import annotations

import dataclasses

from captured import download, torrent
from qbittorrent_monitor.breaker import find_outages
from qbittorrent_monitor.config import OutageSettings, SlowSettings
from qbittorrent_monitor.model import Download, Finding, Kind, Memory
from qbittorrent_monitor.rules import slow


def clone(state: str, i: int, client: str = "qbittorrent") -> Download:
    d = download(state)
    t = dataclasses.replace(d.torrent, hash=f"{i:040x}", name=f"{d.torrent.name}-{i}", client=client)
    return dataclasses.replace(d, torrent=t)


def failing(ds: list[Download], kind: Kind = Kind.CONNECTION) -> list[tuple[Download, Finding]]:
    return [(d, Finding(kind, "tracker", "down", {"tracker": d.tracker_host})) for d in ds]


def test_many_torrents_on_one_tracker_is_an_outage() -> None:
    broken = [clone("fx-tracker-down", i) for i in range(6)]
    out = find_outages(failing(broken), broken, OutageSettings())
    assert out["tracker:127.0.0.1"][1:] == (6, 6)
    assert out["client:qbittorrent"][1] == 6 and out["kind:connection_errors"][1] == 6
    assert sorted(out["tracker:127.0.0.1"][0]) == sorted(d.key for d in broken)


def test_a_few_broken_among_many_healthy_is_not() -> None:
    broken = [clone("fx-unregistered-dl", i) for i in range(2)]
    healthy = [clone("fx-stalled-dl", 100 + i) for i in range(20)]  # same tracker host, working
    assert find_outages(failing(broken, Kind.TRACKER), broken + healthy, OutageSettings()) == {}


def test_half_of_a_trackers_torrents_is_an_outage_even_when_few() -> None:
    broken = [clone("fx-unregistered-dl", i) for i in range(3)]
    healthy = [clone("fx-stalled-dl", 100 + i) for i in range(3)]
    out = find_outages(failing(broken, Kind.TRACKER), broken + healthy, OutageSettings())
    assert out["tracker:127.0.0.1"][1:] == (3, 6)
    two = broken[:2]
    assert find_outages(failing(two, Kind.TRACKER), two + healthy, OutageSettings()) == {}  # under the minimum


def test_groups_per_client_and_disabled_breaker() -> None:
    a = [clone("fx-error-notadir", i, client="qbt-a") for i in range(6)]
    b = [clone("fx-stalled-dl", 50 + i, client="qbt-b") for i in range(30)]
    out = find_outages(failing(a, Kind.FILE), a + b, OutageSettings())
    assert "client:qbt-a" in out and "client:qbt-b" not in out
    assert find_outages(failing(a, Kind.FILE), a + b, OutageSettings(enabled=False)) == {}


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
