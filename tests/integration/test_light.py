"""Light on a growing seedbox: what an idle cycle asks of qBittorrent, writes and logs must not grow with the library.

A real qbittorrent-nox and the Sonarr/Radarr simulators; the monitor in-process, every request it makes counted
through `clients.on_request` (what `--verbose` and the metrics see). The queue is the same small one throughout: a
young stalled episode (a suspect, not judged yet), a seed waiting for import, a paused download and a `keep`-tagged
unregistered download (protected: found again every cycle, never touched). Around it the library grows from a few
torrents to six hundred, with ten times the errored torrents no queue refers to. Counts, not timings: the speed
itself is measured in bench/.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from e2e import RADARR_CATEGORY, SONARR_CATEGORY, Clock
from harness.qbt import QBittorrent
from harness.states import StateFactory
from qbittorrent_monitor import clients
from qbittorrent_monitor.clients import Call
from qbittorrent_monitor.config import Config
from qbittorrent_monitor.monitor import Monitor
from qbittorrent_monitor.observe import TRACKER_REFRESH
from qbittorrent_monitor.record import CycleReport
from sim.arr import ArrSimulator

pytestmark = pytest.mark.integration

WriteConfig = Callable[..., tuple[Path, Config]]


@contextmanager
def counted(api: str) -> Iterator[Counter[str]]:
    """Every request to `api` made inside the block, as "METHOD path" -> count."""
    seen: Counter[str] = Counter()

    def listen(call: Call) -> None:
        if call.api == api:
            seen[f"{call.method} {call.path}"] += 1

    remove = clients.on_request(listen)
    try:
        yield seen
    finally:
        remove()


class Watched:
    """One in-process monitor, cycle after cycle, with what each cycle asked, wrote and logged."""

    def __init__(self, monitor: Monitor, caplog: pytest.LogCaptureFixture) -> None:
        self.monitor = monitor
        self.caplog = caplog

    def cycle(self) -> tuple[CycleReport, Counter[str], int, list[str]]:
        """(report, qBittorrent requests by endpoint, rows written, log lines at INFO and above)."""
        self.caplog.clear()
        before = self.monitor.store.rows_written
        with counted("qbittorrent") as requests, self.caplog.at_level(logging.INFO):
            report = self.monitor.run_cycle()
        lines = [r.getMessage() for r in self.caplog.records if r.levelno >= logging.INFO]
        return report, requests, self.monitor.store.rows_written - before, lines


@pytest.fixture
def small_seedbox(states: StateFactory, sonarr: ArrSimulator, radarr: ArrSimulator) -> dict[str, str]:
    young = states.stalled("Young.Show.S01E01", category=SONARR_CATEGORY)
    sonarr.grab_episodes(young, "Young.Show.S01E01", series_id=1, season=1, episode_ids=[11])
    awaiting = states.seeding("Awaiting.Import.2021", category=RADARR_CATEGORY)
    radarr.grab_movie(awaiting, "Awaiting.Import.2021", movie_id=2021)
    paused = states.paused("Paused.Show.S02E01", category=SONARR_CATEGORY)
    sonarr.grab_episodes(paused, "Paused.Show.S02E01", series_id=2, season=2, episode_ids=[21])
    kept = states.unregistered("Kept.Show.S03E01", category=SONARR_CATEGORY, tags=["keep"], private=False)
    sonarr.grab_episodes(kept, "Kept.Show.S03E01", series_id=3, season=3, episode_ids=[31])
    states.many("seeding", [f"Old.Seed.{i}" for i in range(5)], category=SONARR_CATEGORY)
    states.many("error", ["Hand.Added.Broken.0"])
    return {"young": young, "awaiting": awaiting, "paused": paused, "kept": kept}


def grow(states: StateFactory) -> None:
    """The library sixty times larger (10 torrents, then 609): seeds long imported, hundreds of downloads added by
    hand (no queue refers to them; mostly these, as qBittorrent 5.3 verifies seed data about one torrent a second),
    and ten times the errored torrents, none of them in any queue."""
    states.many("seeding", [f"Imported.Show.{i}" for i in range(5)], category=SONARR_CATEGORY)
    states.many("seeding", [f"Imported.Movie.{i}" for i in range(5)], category=RADARR_CATEGORY)
    states.many("stalled", [f"Hand.Added.Stalled.{i}" for i in range(580)])
    states.many("error", [f"Hand.Added.Broken.{i}" for i in range(1, 10)])


def test_an_idle_cycle_asks_qbittorrent_the_same_on_a_library_sixty_times_larger_with_ten_times_the_errored(
    states: StateFactory,
    qbt: QBittorrent,
    small_seedbox: dict[str, str],
    write_config: WriteConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, config = write_config(stalled={"min_age": "1h"}, monitor={"log_level": "INFO"})
    monitor = Monitor(config, clock=Clock())
    watched = Watched(monitor, caplog)
    try:
        first, first_requests, _, _ = watched.cycle()  # first sight: the whole log, the suspects' trackers
        assert {f["hash"] for f in first.to_dict()["findings"]} >= {small_seedbox["kept"]}
        _, small_idle, small_rows, small_lines = watched.cycle()

        grow(states)
        watched.cycle()  # the new errors are in the log: the errored list is read again, once
        report, large_idle, large_rows, large_lines = watched.cycle()
    finally:
        monitor.close()

    # Independent of the library (10 torrents, then 609) and of the unqueued errored torrents (1, then 10).
    assert large_idle == small_idle, (small_idle, large_idle)
    assert report.torrents_checked == first.torrents_checked + 9  # the errored are still watched (reported)
    # No per-torrent fan-out: only a first sight reads tracker lists (4.x; 5.1+ gets them inside torrents/info).
    assert small_idle["GET torrents/trackers"] == 0 and large_idle["GET torrents/trackers"] == 0
    if not qbt.behaviour.include_trackers:
        assert first_requests["GET torrents/trackers"] >= 2  # the stalled and the unregistered suspects
    # An idle cycle writes nothing and says so in one line.
    assert small_rows == 0 and large_rows == 0
    assert len(small_lines) == 1 and len(large_lines) == 1, (small_lines, large_lines)
    assert large_lines[0].startswith("cycle: ") and "unchanged decision(s) not logged again" in large_lines[0]


def test_downloads_that_fail_while_the_monitor_runs_are_found_in_the_next_cycle(
    states: StateFactory,
    sonarr: ArrSimulator,
    radarr: ArrSimulator,
    small_seedbox: dict[str, str],
    write_config: WriteConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The caches (tracker rows, the errored list) must not delay a new failure: between two idle cycles Sonarr
    grabs an episode its tracker does not know and Radarr a movie whose folder cannot be created; the next cycle finds
    both."""
    _, config = write_config(stalled={"min_age": "1h"})
    monitor = Monitor(config, clock=Clock(), dry_run=True)
    watched = Watched(monitor, caplog)
    try:
        watched.cycle()
        watched.cycle()
        dead = states.unregistered("Dead.On.Arrival.S04E01", category=SONARR_CATEGORY, private=False)
        sonarr.grab_episodes(dead, "Dead.On.Arrival.S04E01", series_id=4, season=4, episode_ids=[41])
        broken = states.error_notadir("Broken.Folder.2022", category=RADARR_CATEGORY)
        radarr.grab_movie(broken, "Broken.Folder.2022", movie_id=2022)
        report, _, _, _ = watched.cycle()
    finally:
        monitor.close()
    found: dict[str, Any] = {f["hash"]: f for f in report.to_dict()["findings"]}
    assert found[dead]["kind"] == "tracker_errors"
    assert found[broken]["kind"] == "file_errors"


def test_a_queued_download_whose_tracker_starts_refusing_it_is_found_next_cycle_on_5x_within_the_refresh_on_4x(
    states: StateFactory,
    qbt: QBittorrent,
    sonarr: ArrSimulator,
    write_config: WriteConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stalled episode whose tracker starts answering "Unregistered torrent". qBittorrent 5.1+ returns tracker rows
    inside torrents/info: the next cycle sees it. 4.x returns them only from torrents/trackers, and nothing in
    torrents/info changes (the `tracker` field keeps the last working URL): the cached rows are read again after
    TRACKER_REFRESH, which is the bound on how late it is found there (trackers answer at announce intervals)."""
    young = states.stalled("Soon.Dead.S01E01", category=SONARR_CATEGORY)
    sonarr.grab_episodes(young, "Soon.Dead.S01E01", series_id=7, season=1, episode_ids=[71])
    _, config = write_config(stalled={"min_age": "1h"})
    clock = Clock()
    monitor = Monitor(config, clock=clock, dry_run=True)
    watched = Watched(monitor, caplog)
    try:
        watched.cycle()
        _, idle, _, _ = watched.cycle()
        assert idle["GET torrents/trackers"] == 0
        states.tracker.set_failure(young, "Unregistered torrent")
        qbt.post("torrents/reannounce", {"hashes": young})
        qbt.wait_tracker_status(young, qbt.behaviour.unregistered_status, msg="Unregistered torrent")
        if not qbt.behaviour.include_trackers:
            clock.advance(TRACKER_REFRESH)
        report, requests, _, _ = watched.cycle()
    finally:
        monitor.close()
        states.tracker.set_failure(young, None)
    found: dict[str, Any] = {f["hash"]: f for f in report.to_dict()["findings"]}
    assert found[young]["kind"] == "tracker_errors"
    assert found[young]["evidence"]["tracker_msg"] == "Unregistered torrent"
    assert requests["GET torrents/trackers"] == (0 if qbt.behaviour.include_trackers else 1)  # only the stale one
