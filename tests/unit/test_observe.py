"""observe on its own: the log-to-torrent join (never two torrents mixed up), the tracker populations read from a
real sync/maindata answer, and reading them at most once per outage window."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import cast

import pytest

from captured import log_entries, torrent
from qbittorrent_monitor.clients import ServiceError
from qbittorrent_monitor.clients.qbittorrent import Populations, QBittorrentClient, count_populations
from qbittorrent_monitor.config import Config
from qbittorrent_monitor.model import LogEntry, PopulationKey, Torrent
from qbittorrent_monitor.observe import Observer, join_log
from qbittorrent_monitor.store import Store

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_each_errored_torrent_gets_its_own_reason_from_the_real_log() -> None:
    errored = [torrent(s) for s in ("fx-error-notadir", "fx-missingfiles-skipcheck", "fx-missingfiles-restart")]
    seeding = torrent("fx-seeding")
    warnings = [e for e in log_entries() if e.type >= 4]  # what the monitor asks qBittorrent for
    joined = join_log([*errored, seeding], warnings)
    assert "Not a directory" in joined[errored[0].hash][-1].message
    assert "fast resume rejected" in joined[errored[1].hash][-1].message
    assert "fx-missingfiles-restart" in joined[errored[2].hash][-1].message
    assert seeding.hash not in joined


def cross_seed(base: Torrent, n: int, *, save_path: str, state: str, added_on: int = 1000) -> Torrent:
    return dataclasses.replace(
        base,
        hash=f"{n:040x}",
        name="Cross.Seed.2020",
        save_path=save_path,
        content_path=f"{save_path}/Cross.Seed.2020",
        state=state,
        added_on=added_on,
    )


def line(message: str, ts: float = 5000.0, n: int = 1) -> LogEntry:
    return LogEntry(n, message, ts, 4)


ERROR = 'File error alert. Torrent: "Cross.Seed.2020". File: "{path}/Cross.Seed.2020/a.mkv". Reason: "Not a directory"'


def test_two_torrents_that_share_a_name_are_never_mixed_up() -> None:
    base = torrent("fx-error-notadir")
    in_a = cross_seed(base, 1, save_path="/data/a", state="error")
    in_b = cross_seed(base, 2, save_path="/data/b", state="error")
    # The path in the line tells them apart.
    joined = join_log([in_a, in_b], [line(ERROR.format(path="/data/b"))])
    assert set(joined) == {in_b.hash}
    # Same data, one of them seeding fine: the line is about the one in error.
    seeding = dataclasses.replace(cross_seed(base, 3, save_path="/data/b", state="stalledUP"))
    assert set(join_log([in_b, seeding], [line(ERROR.format(path="/data/b"))])) == {in_b.hash}
    # A line older than a torrent is not about it (an earlier torrent of that name was deleted).
    newer = cross_seed(base, 4, save_path="/data/b", state="error", added_on=9000)
    assert set(join_log([in_b, newer], [line(ERROR.format(path="/data/b"), ts=5000)])) == {in_b.hash}
    # Both in error on the same data, and nothing tells them apart: the line goes to neither, not to the wrong one.
    twin = cross_seed(base, 5, save_path="/data/b", state="error")
    assert join_log([in_b, twin], [line(ERROR.format(path="/data/b"))]) == {}


def test_a_line_that_quotes_the_hash_goes_to_that_torrent_whatever_the_names() -> None:
    base = torrent("fx-error-notadir")
    one = cross_seed(base, 1, save_path="/data/a", state="error")
    two = cross_seed(base, 2, save_path="/data/a", state="error")
    message = f'Failed to resume torrent. Torrent: "{two.hash}". Reason: "cannot open resume data"'
    assert set(join_log([one, two], [line(message)])) == {two.hash}


@pytest.mark.parametrize("version", ["4.5.2", "5.1.0", "5.3.0"])
def test_populations_are_counted_from_a_real_maindata_answer(version: str) -> None:
    body = (FIXTURES / f"qbittorrent-{version}" / "sync_maindata_full.json").read_bytes()
    counted = count_populations(body)
    assert counted.total == len(json.loads(body)["torrents"]) > 20  # every failure state of the capture run
    # Every torrent of the capture lists one tracker on 127.0.0.1 (the harness tracker, or a closed port there).
    assert counted.by_host == {"127.0.0.1": counted.total}


def test_a_maindata_answer_without_a_tracker_map_is_refused() -> None:
    with pytest.raises(ValueError, match="no tracker map"):
        count_populations(b'{"rid": 1, "torrents": {}}')
    with pytest.raises(ValueError, match="unexpected answer"):
        count_populations(b"<html>login</html>")


class CountingQbt:
    name = "qbittorrent"

    def __init__(self, answer: Populations | None) -> None:
        self.answer = answer
        self.reads = 0

    def populations(self) -> Populations:
        self.reads += 1
        if self.answer is None:
            raise ServiceError(self.name, "sync/maindata: timed out")
        return self.answer


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def observer(tmp_path: Path, qbt: CountingQbt, clock: Clock) -> tuple[Observer, Store]:
    cfg = Config.model_validate({"qbittorrent": [{"url": "http://127.0.0.1:1"}], "outage": {"window": "6h"}})
    store = Store(tmp_path / "state.db")
    return Observer(cfg, [cast(QBittorrentClient, qbt)], {}, lambda: store, clock), store


def test_a_trackers_population_is_read_at_most_once_per_outage_window(tmp_path: Path) -> None:
    qbt, clock = CountingQbt(Populations(500, {"t.example": 400, "u.example": 90})), Clock()
    obs, store = observer(tmp_path, qbt, clock)
    tracker = PopulationKey("qbittorrent", "t.example")
    assert obs.populations({tracker}, dry_run=False) == {tracker: 400}
    clock.now += 3600
    other = PopulationKey("qbittorrent", "u.example")
    assert obs.populations({tracker, other}, dry_run=False) == {tracker: 400, other: 90}  # one read served both
    assert obs.known_populations()[PopulationKey("qbittorrent")] == 500
    assert qbt.reads == 1
    clock.now += 5 * 3600 + 1  # the window has passed: read again
    obs.populations({tracker}, dry_run=False)
    assert qbt.reads == 2
    store.close()


def test_a_failed_population_read_is_not_retried_before_the_window_ends(tmp_path: Path) -> None:
    qbt, clock = CountingQbt(None), Clock()
    obs, store = observer(tmp_path, qbt, clock)
    key = PopulationKey("qbittorrent", "t.example")
    for _ in range(5):  # a library too large to answer in time must not be asked every cycle
        assert obs.populations({key}, dry_run=False) == {}
        clock.now += 300
    assert qbt.reads == 1
    store.close()


def test_a_dry_run_reads_but_keeps_nothing(tmp_path: Path) -> None:
    qbt, clock = CountingQbt(Populations(10, {"t.example": 10})), Clock()
    obs, store = observer(tmp_path, qbt, clock)
    key = PopulationKey("qbittorrent", "t.example")
    assert obs.populations({key}, dry_run=True) == {key: 10}
    assert store.populations(since=0) == {}
    store.close()
