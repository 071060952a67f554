"""The realistic mixed seedbox, end to end: a real qbittorrent-nox, the Sonarr and Radarr simulators, and one
`--test` cycle of the monitor as a user runs it on the day they install it.

A dead tracker host (127.0.0.2, refusing connections) holds ten Radarr downloads; the suite's tracker (127.0.0.1)
says "Unregistered torrent" for two Sonarr downloads (one a three-episode season pack) and for a `keep`-tagged one;
a Radarr movie is in `error`, another in `missingFiles`; seeds (one awaiting import, one private), a paused download
and an unmanaged torrent sit beside them. The four broken downloads must be repaired exactly as the default policy
says; the dead-tracker downloads and every protected torrent must not be touched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from e2e import RADARR_CATEGORY, SONARR_CATEGORY, cli, hashes
from harness.qbt import QBittorrent
from harness.states import StateFactory, closed_port
from harness.torrents import make_torrent
from qbittorrent_monitor.config import Config
from sim.arr import ArrSimulator

pytestmark = pytest.mark.integration

WriteConfig = Callable[..., tuple[Path, Config]]
DEAD_HOST = "127.0.0.2"  # another loopback address: another tracker host, nothing listens there


def dead_tracker_download(states: StateFactory, qbt: QBittorrent, name: str, port: int) -> str:
    save = states.workdir / "data" / name
    save.mkdir(parents=True)
    tf = make_torrent(name, announce=f"http://{DEAD_HOST}:{port}/announce", private=False)
    info_hash = qbt.add(tf, category=RADARR_CATEGORY, save_path=save)
    qbt.wait_state(info_hash, {"stalledDL"})
    qbt.wait_tracker_status(info_hash, 4, msg="Connection refused")
    return info_hash


def flags(remove: bool, blocklist: bool) -> dict[str, list[str]]:
    return {
        "removeFromClient": [str(remove).lower()],
        "blocklist": [str(blocklist).lower()],
        "skipRedownload": ["true"],
    }


def test_first_cycle_on_a_realistic_seedbox_repairs_the_four_broken_downloads_and_touches_nothing_else(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    port = closed_port()
    dead = [dead_tracker_download(states, qbt, f"Dead.Tracker.Movie.{i}", port) for i in range(10)]
    for i, h in enumerate(dead):
        radarr.grab_movie(h, f"Dead.Tracker.Movie.{i}", movie_id=300 + i)
    episode = states.unregistered("Show.S01E05.1080p", category=SONARR_CATEGORY, private=False)
    pack = states.unregistered("Show.S02.1080p.Pack", category=SONARR_CATEGORY, private=False)
    kept = states.unregistered("Kept.Show.S01E01", category=SONARR_CATEGORY, tags=["keep"], private=False)
    sonarr.grab_episodes(episode, "Show.S01E05.1080p", series_id=1, season=1, episode_ids=[105])
    sonarr.grab_episodes(pack, "Show.S02.1080p.Pack", series_id=1, season=2, episode_ids=[201, 202, 203])
    sonarr.grab_episodes(kept, "Kept.Show.S01E01", series_id=2, season=1, episode_ids=[901])
    broken = states.error_notadir("Broken.Movie.2019", category=RADARR_CATEGORY)
    missing = states.missing_files("Missing.Movie.2020", category=RADARR_CATEGORY)
    radarr.grab_movie(broken, "Broken.Movie.2019", movie_id=2019)
    radarr.grab_movie(missing, "Missing.Movie.2020", movie_id=2020)
    awaiting = states.seeding("Done.Movie.2018", category=RADARR_CATEGORY)
    radarr.grab_movie(awaiting, "Done.Movie.2018", movie_id=2018)
    private_seed = states.seeding("Private.Seed.2017", private=True)
    unmanaged = states.seeding("Linux.ISO", category="other")
    paused = states.paused("Paused.Show.S03E01", category=SONARR_CATEGORY)
    sonarr.grab_episodes(paused, "Paused.Show.S03E01", series_id=3, season=3, episode_ids=[301])
    untouchable = {*dead, kept, awaiting, private_seed, unmanaged, paused}
    path, _ = write_config()

    result = cli("--config", str(path), "--test", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    decisions = {f["hash"]: f for f in report["findings"]}
    # Repaired exactly as the default policy says: one DELETE per download (the pack is one download), a blocklist
    # where the release is at fault, one targeted search where the policy searches.
    sonarr_calls = [(r.method, r.path, r.query, r.json) for r in sonarr.mutating_calls()]
    assert sorted(sonarr_calls, key=str) == sorted(
        [
            ("DELETE", f"/api/v3/queue/{sonarr.queue_id(episode, 105)}", flags(True, True), None),
            ("DELETE", f"/api/v3/queue/{sonarr.queue_id(pack, 201)}", flags(True, True), None),
            ("POST", "/api/v3/command", {}, {"name": "EpisodeSearch", "episodeIds": [105]}),
            ("POST", "/api/v3/command", {}, {"name": "EpisodeSearch", "episodeIds": [201, 202, 203]}),
        ],
        key=str,
    )
    radarr_calls = [(r.method, r.path, r.query, r.json) for r in radarr.mutating_calls()]
    assert sorted(radarr_calls, key=str) == sorted(
        [
            ("DELETE", f"/api/v3/queue/{radarr.queue_id(broken)}", flags(True, False), None),  # file error: no search
            ("DELETE", f"/api/v3/queue/{radarr.queue_id(missing)}", flags(True, False), None),
            ("POST", "/api/v3/command", {}, {"name": "MoviesSearch", "movieIds": [2020]}),
        ],
        key=str,
    )
    assert {h for h, f in decisions.items() if f["decision"] == "act"} == {episode, pack, broken, missing}
    left = hashes(qbt)
    assert {episode, pack, broken, missing}.isdisjoint(left)
    assert untouchable <= left
    # The dead tracker is an outage: one alert, its ten downloads wait; no client-wide outage.
    assert {decisions[h]["decision"] for h in dead} == {"outage"}
    assert len(report["alerts"]) == 1, (report["alerts"], report["findings"])
    [alert] = report["alerts"]
    assert alert.startswith(f"OUTAGE on tracker {DEAD_HOST} (connection_errors): 10 of 10 torrents failing")
    assert decisions[kept]["decision"] == "protected"
    assert {awaiting, private_seed, unmanaged, paused}.isdisjoint(decisions)  # not even findings
    assert sonarr.violations == [] and radarr.violations == []
    # Every decision is explained in the history with its evidence.
    history = json.loads(cli("--config", str(path), "history", "--json").stdout)
    assert {h["hash"] for h in history} == {episode, pack, broken, missing}
    assert all(h["evidence"] for h in history)
