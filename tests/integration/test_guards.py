"""The cycle-wide guards against the real qbittorrent-nox: what qBittorrent's own counts decide (a backlog on a
tracker that serves its other torrents, a wipe that hits the seeds too), protected trackers of downloads no tracker
ever answered, and the seed cleanup's safety gates."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from e2e import RADARR_CATEGORY, SONARR_CATEGORY, Clock, cli, hashes
from harness.qbt import QBittorrent
from harness.states import StateFactory, closed_port
from qbittorrent_monitor.config import Config
from qbittorrent_monitor.monitor import Monitor
from sim.arr import ArrSimulator

pytestmark = pytest.mark.integration

WriteConfig = Callable[..., tuple[Path, Config]]


def cycle(config: Config) -> dict[str, Any]:
    monitor = Monitor(config, clock=Clock())
    try:
        return monitor.run_cycle().to_dict()
    finally:
        monitor.close()


def test_three_dead_downloads_on_a_tracker_that_seeds_ten_fine_are_a_backlog_by_qbittorrents_count(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    # All the monitor watches of this tracker is failing (3 of 3): only qBittorrent's own count (3 of 13) says backlog.
    dead = [states.unregistered(f"Dead.Movie.{i}", category=RADARR_CATEGORY, private=False) for i in range(3)]
    for i, h in enumerate(dead):
        radarr.grab_movie(h, f"Dead.Movie.{i}", movie_id=40 + i)
    seeds = [states.seeding(f"Fine.Seed.{i}") for i in range(10)]
    _, config = write_config()
    report = cycle(config)
    assert {f["hash"]: f["decision"] for f in report["findings"]} == dict.fromkeys(dead, "act")
    assert report["alerts"] == []
    assert set(dead).isdisjoint(hashes(qbt)) and set(seeds) <= hashes(qbt)
    assert radarr.violations == []


def test_a_tracker_that_forgot_every_torrent_is_an_outage_on_first_start(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    # Three queued downloads and five seeds, all unregistered: qBittorrent counts 8 of 8 failing on that tracker.
    dead = [states.unregistered(f"Wiped.Show.S01E0{i}", category=SONARR_CATEGORY, private=False) for i in range(3)]
    for i, h in enumerate(dead):
        sonarr.grab_episodes(h, f"Wiped.Show.S01E0{i}", series_id=9, season=1, episode_ids=[90 + i])
    for i in range(5):
        states.unregistered(f"Wiped.Seed.{i}", complete=True, private=False)
    _, config = write_config()
    report = cycle(config)
    decisions = {f["hash"]: f["decision"] for f in report["findings"]}
    b = qbt.behaviour
    if not b.maindata_tracker_flags and b.tracker_field_is_url_when_not_working:
        # 5.1 cannot say which of its torrents fail (no flags, and the `tracker` field names a tracker anyway):
        # only our three count, 3 of 8, a backlog. The README says so.
        assert decisions == dict.fromkeys(dead, "act") and report["alerts"] == []
        return
    assert decisions == dict.fromkeys(dead, "outage")
    [alert] = report["alerts"]
    assert "OUTAGE on tracker 127.0.0.1 (tracker_errors): 8 of 8 torrents failing (qBittorrent's count)" in alert
    assert sonarr.mutating_calls() == [] and set(dead) <= hashes(qbt)


def test_a_protected_tracker_protects_a_download_in_error_that_never_contacted_it(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    broken = states.error_notadir("Protected.Broken.Movie", category=RADARR_CATEGORY)
    radarr.grab_movie(broken, "Protected.Broken.Movie", movie_id=77)
    _, config = write_config(protection={"trackers": ["127.0.0.1"]})
    report = cycle(config)
    [finding] = report["findings"]
    assert finding["decision"] == "protected" and "its tracker 127.0.0.1 is protected" in finding["explanation"]
    assert radarr.mutating_calls() == [] and broken in hashes(qbt)


def test_the_seed_cleanup_never_deletes_a_seed_awaiting_import_nor_runs_when_a_queue_is_unreadable(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    awaiting = states.unregistered("Awaiting.Import.2020", category=RADARR_CATEGORY, complete=True, private=False)
    radarr.grab_movie(awaiting, "Awaiting.Import.2020", movie_id=2020)
    orphan = states.unregistered("Orphan.Seed.2015", complete=True, private=False)
    for i in range(4):  # the tracker also seeds fine: the orphan is no outage
        states.seeding(f"Fine.Seed.{i}")
    # Radarr does not answer: the seed it may still own must not look orphaned, so the cleanup does not run at all.
    path, _ = write_config(
        cleanup={"unregistered_seeds": True, "interval": 0},
        radarr=[{"name": "radarr", "url": f"http://127.0.0.1:{closed_port()}", "api_key": radarr.api_key}],
    )
    blind = json.loads(cli("--config", str(path), "--test", "--json").stdout)
    assert "radarr" in blind["service_errors"] and not any(f["origin"] == "seed_cleanup" for f in blind["findings"])
    assert {awaiting, orphan} <= hashes(qbt)
    # Every queue read: the orphan goes, the one Radarr queues (complete, awaiting import) stays.
    path, _ = write_config(cleanup={"unregistered_seeds": True, "interval": 0})
    seen = json.loads(cli("--config", str(path), "--test", "--json").stdout)
    decisions = {f["hash"]: f for f in seen["findings"]}
    assert decisions[orphan]["decision"] == "act" and decisions[orphan]["origin"] == "seed_cleanup"
    assert awaiting not in decisions or decisions[awaiting]["decision"] == "protected"
    assert awaiting in hashes(qbt) and orphan not in hashes(qbt)
    assert radarr.mutating_calls() == []
