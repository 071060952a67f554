"""The whole path, for real: a dying torrent in a real qBittorrent -> the exact *arr calls -> the torrents left.

The monitor runs in-process (its clock injectable) against the session's qbittorrent-nox and the Sonarr/Radarr
simulators, which validate every request against the vendored OpenAPI specs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from e2e import RADARR_CATEGORY, SONARR_CATEGORY, Clock, hashes
from harness.qbt import QBittorrent
from harness.states import StateFactory
from qbittorrent_monitor.config import Config
from qbittorrent_monitor.monitor import Monitor
from qbittorrent_monitor.store import Store
from sim.arr import ArrSimulator

pytestmark = pytest.mark.integration

WriteConfig = Callable[..., tuple[Any, Config]]


def calls(sim: ArrSimulator) -> list[tuple[str, str, dict[str, list[str]], Any]]:
    """Every request that changed something, as (method, path, query, body)."""
    return [(r.method, r.path, r.query, r.json) for r in sim.mutating_calls()]


def flags(remove: bool, blocklist: bool) -> dict[str, list[str]]:
    return {
        "removeFromClient": [str(remove).lower()],
        "blocklist": [str(blocklist).lower()],
        "skipRedownload": ["true"],
    }


def queue_ids(sim: ArrSimulator, info_hash: str) -> list[int]:
    """The queue ids the app shows for a download, read through its API like any client would."""
    response = httpx.get(
        f"{sim.url}/api/v3/queue",
        params={"pageSize": 1000, "sortKey": "timeleft", "sortDirection": "ascending"},
        headers={"X-Api-Key": sim.api_key},
    )
    response.raise_for_status()
    records = response.json()["records"]
    return sorted(r["id"] for r in records if r.get("downloadId", "").lower() == info_hash)


def no_violations(*sims: ArrSimulator) -> None:
    for sim in sims:
        assert sim.violations == [], sim.violations


def run_once(config: Config, clock: Clock | None = None, dry_run: bool | None = None) -> Any:
    monitor = Monitor(config, clock=clock or Clock(), dry_run=dry_run)
    try:
        return monitor.run_cycle()
    finally:
        monitor.close()


def test_unregistered_season_pack_removed_blocklisted_and_searched_once(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    pack = states.unregistered("Show.S01.1080p-GRP", category=SONARR_CATEGORY, private=False)
    healthy = states.stalled("Other.Show.S02E01", category=SONARR_CATEGORY)  # young: not judged yet
    sonarr.grab_episodes(pack, "Show.S01.1080p-GRP", series_id=5, season=1, episode_ids=[101, 102, 103])
    sonarr.grab_episodes(healthy, "Other.Show.S02E01", series_id=6, season=2, episode_ids=[201])
    ids = queue_ids(sonarr, pack)
    assert len(ids) == 3  # one queue record per episode, one download
    _, config = write_config(stalled={"min_age": "1h"})

    report = run_once(config)

    assert calls(sonarr) == [
        ("DELETE", f"/api/v3/queue/{ids[0]}", flags(True, True), None),
        ("POST", "/api/v3/command", {}, {"name": "EpisodeSearch", "episodeIds": [101, 102, 103]}),
    ]
    assert calls(radarr) == []
    assert [c["name"] for c in sonarr.commands] == ["EpisodeSearch"]  # the app did not search a second time
    assert len(sonarr.blocklist) == 1 and sonarr.blocklist[0]["sourceTitle"] == "Show.S01.1080p-GRP"
    assert hashes(qbt) == {healthy}
    doc = report.to_dict()
    [finding] = [f for f in doc["findings"] if f["hash"] == pack]
    assert finding["decision"] == "act" and finding["kind"] == "tracker_errors"
    assert finding["evidence"]["tracker_msg"] == "Unregistered torrent"
    assert finding["evidence"]["tracker_status"] == qbt.behaviour.unregistered_status  # 4, or 5 from 5.2
    assert finding["arr"] == [{"instance": "sonarr", "app": "sonarr", "queue_ids": ids, "title": "Show.S01.1080p-GRP"}]
    assert [a["status"] for a in finding["actions"]] == ["done", "done"]
    no_violations(sonarr, radarr)


def test_movie_not_found_on_tracker(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    movie = states.unregistered("Movie.2020.1080p", category=RADARR_CATEGORY, reason="torrent not found", private=False)
    radarr.grab_movie(movie, "Movie.2020.1080p", movie_id=42)
    [qid] = queue_ids(radarr, movie)
    _, config = write_config()

    run_once(config)

    assert calls(radarr) == [
        ("DELETE", f"/api/v3/queue/{qid}", flags(True, True), None),
        ("POST", "/api/v3/command", {}, {"name": "MoviesSearch", "movieIds": [42]}),
    ]
    assert calls(sonarr) == []
    assert movie not in hashes(qbt)
    no_violations(sonarr, radarr)


def test_error_state_removed_without_blocklist_or_search_and_alerted(
    states: StateFactory,
    qbt: QBittorrent,
    sonarr: ArrSimulator,
    radarr: ArrSimulator,
    write_config: WriteConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = states.error_notadir("Broken.Movie.2019", category=RADARR_CATEGORY)
    radarr.grab_movie(broken, "Broken.Movie.2019", movie_id=7)
    [qid] = queue_ids(radarr, broken)
    _, config = write_config()

    with caplog.at_level(logging.WARNING):
        report = run_once(config)

    assert calls(radarr) == [("DELETE", f"/api/v3/queue/{qid}", flags(True, False), None)]
    assert radarr.blocklist == [] and radarr.commands == []
    assert broken not in hashes(qbt)
    [finding] = report.to_dict()["findings"]
    assert finding["kind"] == "file_errors"
    assert "Not a directory" in finding["reason"]  # the reason qBittorrent only writes in its log
    assert any("ALERT" in r.getMessage() and "Not a directory" in r.getMessage() for r in caplog.records)
    no_violations(sonarr, radarr)


def test_missing_files_removed_without_blocklist_then_searched(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    gone = states.missing_files("Show.S03E04", category=SONARR_CATEGORY)
    sonarr.grab_episodes(gone, "Show.S03E04", series_id=9, season=3, episode_ids=[304])
    [qid] = queue_ids(sonarr, gone)
    _, config = write_config()

    run_once(config)

    assert calls(sonarr) == [
        ("DELETE", f"/api/v3/queue/{qid}", flags(True, False), None),
        ("POST", "/api/v3/command", {}, {"name": "EpisodeSearch", "episodeIds": [304]}),
    ]
    assert sonarr.blocklist == []
    assert gone not in hashes(qbt)
    no_violations(sonarr, radarr)


def test_metadata_and_stall_judged_by_wall_clock(
    states: StateFactory,
    qbt: QBittorrent,
    sonarr: ArrSimulator,
    radarr: ArrSimulator,
    write_config: WriteConfig,
    clock: Clock,
) -> None:
    magnet = states.metadl("Magnet.Show.S01E01", category=SONARR_CATEGORY)
    stuck = states.stalled("Stuck.Movie.2018", category=RADARR_CATEGORY)
    sonarr.grab_episodes(magnet, "Magnet.Show.S01E01", series_id=3, season=1, episode_ids=[31])
    radarr.grab_movie(stuck, "Stuck.Movie.2018", movie_id=18)
    _, config = write_config()
    monitor = Monitor(config, clock=clock)
    try:
        first = monitor.run_cycle().to_dict()
        assert {f["kind"]: f["decision"] for f in first["findings"]} == {"metadata": "wait", "stalled": "wait"}
        assert calls(sonarr) == calls(radarr) == []

        clock.advance(2 * 3600)  # metadata waited 1 h; the stall has not lasted 6 h yet
        second = monitor.run_cycle().to_dict()
        assert {f["kind"]: f["decision"] for f in second["findings"]} == {"metadata": "act", "stalled": "wait"}
        assert [c[1] for c in calls(sonarr)][-1] == "/api/v3/command"
        assert magnet not in hashes(qbt) and stuck in hashes(qbt)

        clock.advance(5 * 3600)
        third = monitor.run_cycle().to_dict()
        assert [(f["kind"], f["decision"]) for f in third["findings"]] == [("stalled", "act")]
        assert calls(radarr)[-1] == ("POST", "/api/v3/command", {}, {"name": "MoviesSearch", "movieIds": [18]})
        assert calls(radarr)[0][2] == flags(True, True)
        assert stuck not in hashes(qbt)
    finally:
        monitor.close()
    no_violations(sonarr, radarr)


def test_tracker_down_waits_before_acting(
    states: StateFactory,
    qbt: QBittorrent,
    sonarr: ArrSimulator,
    radarr: ArrSimulator,
    write_config: WriteConfig,
    clock: Clock,
) -> None:
    down = states.tracker_down("Down.Show.S01E02", category=SONARR_CATEGORY)
    sonarr.grab_episodes(down, "Down.Show.S01E02", series_id=4, season=1, episode_ids=[12])
    _, config = write_config(stalled={"min_age": "1d"})
    monitor = Monitor(config, clock=clock)
    try:
        first = monitor.run_cycle().to_dict()
        [f] = first["findings"]
        assert (f["kind"], f["decision"]) == ("connection_errors", "wait")
        assert f["evidence"]["tracker_msg"] == "Connection refused"
        clock.advance(3600)  # a tracker down for an hour: untouched
        assert monitor.run_cycle().to_dict()["findings"][0]["decision"] == "wait"
        assert calls(sonarr) == []
        assert down in hashes(qbt)
        clock.advance(6 * 3600)
        assert monitor.run_cycle().to_dict()["findings"][0]["decision"] == "act"
        assert [c[0] for c in calls(sonarr)] == ["DELETE", "POST"]
    finally:
        monitor.close()
    no_violations(sonarr, radarr)


def test_what_must_never_be_touched(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    kept = states.unregistered("Kept.Show.S01E01", category=SONARR_CATEGORY, tags=["keep"], private=False)
    paused = states.paused("Paused.Show.S01E02", category=SONARR_CATEGORY)
    seeding = states.unregistered("Seeding.Show.S01E03", category=SONARR_CATEGORY, complete=True, private=False)
    stranger = states.unregistered("Not.Managed.By.Any.Arr", category="other", private=False)
    orphan_error = states.error_notadir("Orphan.Error", category="other")
    for i, h in enumerate((kept, paused, seeding)):
        sonarr.grab_episodes(h, f"release-{i}", series_id=20 + i, season=1, episode_ids=[500 + i])
    _, config = write_config()

    report = run_once(config).to_dict()

    assert calls(sonarr) == calls(radarr) == []
    assert {kept, paused, seeding, stranger, orphan_error} <= hashes(qbt)
    decisions = {f["hash"]: f["decision"] for f in report["findings"]}
    assert decisions[kept] == "protected"
    # Complete (awaiting import, seeding) and paused torrents are not suspects: their trackers are not even read.
    assert seeding in hashes(qbt) and seeding not in decisions
    assert paused in hashes(qbt) and paused not in decisions
    assert decisions[orphan_error] == "report"  # errored and no *arr knows it: reported only
    assert stranger not in decisions  # not in a queue and not errored: not even looked at
    no_violations(sonarr, radarr)


def test_dry_run_changes_nothing_anywhere(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    pack = states.unregistered("Dry.Show.S01", category=SONARR_CATEGORY, private=False)
    broken = states.error_notadir("Dry.Movie.2001", category=RADARR_CATEGORY)
    sonarr.grab_episodes(pack, "Dry.Show.S01", series_id=1, season=1, episode_ids=[1, 2])
    radarr.grab_movie(broken, "Dry.Movie.2001", movie_id=2001)
    before = {t["hash"]: t["state"] for t in qbt.info()}
    _, config = write_config()

    report = run_once(config, dry_run=True).to_dict()

    assert calls(sonarr) == calls(radarr) == []
    assert sonarr.blocklist == radarr.blocklist == [] and sonarr.commands == radarr.commands == []
    assert {t["hash"]: t["state"] for t in qbt.info()} == before
    assert report["dry_run"] is True
    assert {f["decision"] for f in report["findings"]} == {"dry_run"}
    planned = [a for a in report["actions"]]
    assert {a["status"] for a in planned} == {"planned"}
    assert {a["type"] for a in planned} == {"arr_remove", "arr_search", "alert"}
    # Not even the monitor's own memory changed: no strike, no clock, no history.
    store = Store(config.monitor.data_dir / "state.db")
    try:
        assert store.torrent(pack) == [] and store.history(since=0) == []
    finally:
        store.close()
    no_violations(sonarr, radarr)


def test_nothing_is_done_while_qbittorrent_is_disconnected(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    dead = states.unregistered("Offline.Show.S01E01", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(dead, "Offline.Show.S01E01", series_id=1, season=1, episode_ids=[1])
    _, config = write_config()
    # The VPN interface is gone: qBittorrent still answers its API but reports itself disconnected.
    prefs = {"current_network_interface": "nonexist0", "current_interface_address": ""}
    qbt.post("app/setPreferences", {"json": json.dumps(prefs)})
    try:
        qbt.wait_info(
            dead, lambda _: qbt.get("transfer/info").json()["connection_status"] == "disconnected", "disconnected"
        )
        monitor = Monitor(config)
        try:
            report = monitor.run_cycle().to_dict()
        finally:
            monitor.close()
    finally:
        back = {"current_network_interface": "lo", "current_interface_address": "127.0.0.1"}
        qbt.post("app/setPreferences", {"json": json.dumps(back)})
        qbt.wait_info(
            dead, lambda _: qbt.get("transfer/info").json()["connection_status"] != "disconnected", "connected again"
        )
    [finding] = report["findings"]
    assert finding["decision"] == "held", finding
    assert "qBittorrent qbittorrent reports connection status disconnected" in finding["explanation"]
    assert calls(sonarr) == [] and dead in hashes(qbt)


def test_a_queue_that_changed_underneath_is_not_searched(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    """Removed from the queue between our read and our DELETE (imported, or removed by the user): 404, no search."""
    pack = states.unregistered("Race.Show.S01E01", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(pack, "Race.Show.S01E01", series_id=1, season=1, episode_ids=[11])
    _, config = write_config()
    [qid] = queue_ids(sonarr, pack)
    monitor = Monitor(config)
    try:
        original = monitor.arrs["sonarr"].remove

        def remove_after_user(*args: Any, **kwargs: Any) -> str:
            # The user removed it in the UI a moment before our DELETE arrives.
            httpx.delete(
                f"{sonarr.url}/api/v3/queue/{qid}",
                params={"removeFromClient": "true"},
                headers={"X-Api-Key": sonarr.api_key},
            ).raise_for_status()
            return original(*args, **kwargs)

        monitor.arrs["sonarr"].remove = remove_after_user  # type: ignore[method-assign]
        report = monitor.run_cycle().to_dict()
    finally:
        monitor.close()
    [finding] = report["findings"]
    assert [(a["type"], a["status"]) for a in finding["actions"]] == [("arr_remove", "done"), ("arr_search", "skipped")]
    assert finding["actions"][0]["result"] == "gone"
    user, ours = calls(sonarr)
    assert user[:2] == ours[:2] == ("DELETE", f"/api/v3/queue/{qid}")  # ours got 404, and no search followed
    assert sonarr.commands == []
    no_violations(sonarr, radarr)
