"""Issue 3 against the real qBittorrent: outages, slow-but-moving downloads, private torrents, crash safety,
restarts, and history / explain / undo end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from e2e import RADARR_CATEGORY, SONARR_CATEGORY, Clock, cli, hashes, spawn
from harness.qbt import QBittorrent
from harness.states import StateFactory
from harness.torrents import make_torrent, write_payload
from qbittorrent_monitor.config import Config
from qbittorrent_monitor.monitor import Monitor
from sim.arr import ArrSimulator

pytestmark = pytest.mark.integration

WriteConfig = Callable[..., tuple[Path, Config]]


def mutating(sim: ArrSimulator) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in sim.mutating_calls()]


def test_tracker_outage_across_many_torrents_alerts_once_and_removes_nothing(
    states: StateFactory,
    qbt: QBittorrent,
    sonarr: ArrSimulator,
    radarr: ArrSimulator,
    write_config: WriteConfig,
    clock: Clock,
) -> None:
    victims = [
        states.unregistered(f"Outage.Show.S01E{i:02d}", category=SONARR_CATEGORY, private=False) for i in range(1, 8)
    ]
    for i, h in enumerate(victims, start=1):
        sonarr.grab_episodes(h, f"Outage.Show.S01E{i:02d}", series_id=70, season=1, episode_ids=[700 + i])
    _, config = write_config()
    monitor = Monitor(config, clock=clock)
    try:
        first = monitor.run_cycle().to_dict()
        assert {f["decision"] for f in first["findings"]} == {"outage"}
        assert len(first["findings"]) == 7
        assert len(first["alerts"]) == 1
        # The tracker's whole population in qBittorrent is these seven: all of it failing is an outage.
        assert "OUTAGE on tracker 127.0.0.1 (tracker_errors): 7 of 7 torrents failing" in first["alerts"][0]
        clock.advance(600)
        second = monitor.run_cycle().to_dict()
        assert {f["decision"] for f in second["findings"]} == {"outage"} and second["alerts"] == []
        assert mutating(sonarr) == [] and mutating(radarr) == []
        assert set(victims) <= hashes(qbt)

        clock.advance(7 * 3600)  # the failure outlived the outage window: now it is acted on (within the cap)
        third = monitor.run_cycle().to_dict()
        decisions = [f["decision"] for f in third["findings"]]
        assert decisions.count("act") == config.protection.max_removals_per_tracker
        assert decisions.count("held") == 7 - config.protection.max_removals_per_tracker
    finally:
        monitor.close()
    assert sonarr.violations == [] and radarr.violations == []


def test_a_slow_but_moving_download_is_never_stalled(
    states: StateFactory,
    qbt: QBittorrent,
    seeder_qbt: QBittorrent,
    sonarr: ArrSimulator,
    radarr: ArrSimulator,
    write_config: WriteConfig,
    clock: Clock,
) -> None:
    moving = states.downloading_from_seeder(
        "Slow.Movie.2021", seeder_qbt, category=RADARR_CATEGORY, upload_limit_bytes_per_s=20 * 1024
    )
    stuck = states.stalled("Stuck.Movie.2022", category=RADARR_CATEGORY)
    radarr.grab_movie(moving, "Slow.Movie.2021", movie_id=2021)
    radarr.grab_movie(stuck, "Stuck.Movie.2022", movie_id=2022)
    _, config = write_config(stalled={"no_progress_for": "1h", "min_age": 0})
    monitor = Monitor(config, clock=clock)
    read_trackers: list[str] = []
    original = monitor.qbts[0].trackers

    def counting(torrent_hash: str) -> Any:
        read_trackers.append(torrent_hash)
        return original(torrent_hash)

    monitor.qbts[0].trackers = counting  # type: ignore[method-assign]
    try:
        monitor.run_cycle()
        assert moving not in read_trackers  # data flowing: not a suspect, its trackers are not read
        before = qbt.torrent(moving)["downloaded"]
        qbt.wait_info(moving, lambda t: t["downloaded"] > before, "more bytes", timeout=20)
        # Now the seeder goes quiet: no data flows, but the bytes DID grow since the last cycle.
        seeder_qbt.pause(moving)
        last = [-1]

        def settled(t: dict[str, Any]) -> bool:
            done, last[0] = t["downloaded"] == last[0], t["downloaded"]
            if not done:
                time.sleep(1.5)
            return done

        qbt.wait_info(moving, settled, "bytes settled", timeout=30)
        clock.advance(2 * 3600)
        second = monitor.run_cycle().to_dict()
        assert {f["hash"]: (f["kind"], f["decision"]) for f in second["findings"]} == {stuck: ("stalled", "act")}
        assert moving in hashes(qbt) and stuck not in hashes(qbt)

        clock.advance(2 * 3600)  # two hours without a byte: now it is stalled
        third = monitor.run_cycle().to_dict()
        assert [(f["hash"], f["kind"], f["decision"]) for f in third["findings"]] == [(moving, "stalled", "act")]
    finally:
        monitor.close()
    assert radarr.violations == []


def test_a_private_torrent_owing_seed_time_is_never_deleted(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    private = states.unregistered("Private.Show.S02E01", category=SONARR_CATEGORY, private=True)
    sonarr.grab_episodes(private, "Private.Show.S02E01", series_id=8, season=2, episode_ids=[801])
    [qid] = [sonarr.queue_id(private, 801)]
    _, config = write_config()
    monitor = Monitor(config)
    try:
        report = monitor.run_cycle().to_dict()
    finally:
        monitor.close()
    [finding] = report["findings"]
    assert finding["decision"] == "act" and "owes seeding" in finding["explanation"]
    assert [
        (r.method, r.path, r.query.get("removeFromClient"), r.query.get("blocklist")) for r in sonarr.mutating_calls()
    ] == [
        ("DELETE", f"/api/v3/queue/{qid}", ["false"], ["true"]),
        ("POST", "/api/v3/command", None, None),
    ]
    assert private in hashes(qbt)  # kept in qBittorrent: no hit-and-run
    assert "qbm-failed" in qbt.torrent(private)["tags"]  # tagged so the user sees why
    assert len(sonarr.blocklist) == 1
    assert sonarr.violations == []


@pytest.mark.parametrize("killed_during", ["DELETE", "POST"])
def test_sigkill_between_two_steps_is_finished_on_restart_without_repeating(
    states: StateFactory,
    qbt: QBittorrent,
    sonarr: ArrSimulator,
    radarr: ArrSimulator,
    write_config: WriteConfig,
    killed_during: str,
) -> None:
    dead = states.unregistered("Crash.Show.S01E01", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(dead, "Crash.Show.S01E01", series_id=1, season=1, episode_ids=[111])
    path, _ = write_config()
    prefix = "/api/v3/queue/" if killed_during == "DELETE" else "/api/v3/command"
    processed = sonarr.hold_response(killed_during, prefix, seconds=5)

    proc = spawn("--config", str(path), "--test", stderr=subprocess.DEVNULL)
    try:
        assert processed.wait(timeout=30), "the monitor never reached the held step"
        os.kill(proc.pid, signal.SIGKILL)  # the change is made, the monitor never learns it
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    sonarr.clear_holds()
    assert dead not in hashes(qbt)

    result = cli("--config", str(path), "--test", "--json")

    assert result.returncode == 0, result.stderr
    assert mutating(sonarr) == [("DELETE", f"/api/v3/queue/{sonarr.queue_id(dead, 111)}"), ("POST", "/api/v3/command")]
    assert [c["name"] for c in sonarr.commands] == ["EpisodeSearch"]  # one search, never two
    resumed = [a for a in json.loads(result.stdout)["actions"] if a.get("resumed")]
    assert resumed and all(a["status"] == "done" for a in resumed)
    expected = "already removed" if killed_during == "DELETE" else "already searched"
    assert any(expected in a["result"] for a in resumed)
    history = json.loads(cli("--config", str(path), "history", "--json").stdout)
    assert [(h["type"], h["status"]) for h in history] == [("arr_remove", "done"), ("arr_search", "done")]
    assert sonarr.violations == []


def test_restart_keeps_strikes_durations_and_history(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    dead = states.unregistered("Restart.Show.S01E01", category=SONARR_CATEGORY, private=False)
    down = states.tracker_down("Restart.Movie.2020", category=RADARR_CATEGORY)
    sonarr.grab_episodes(dead, "Restart.Show.S01E01", series_id=1, season=1, episode_ids=[5])
    radarr.grab_movie(down, "Restart.Movie.2020", movie_id=5)
    path, _ = write_config(
        policy={"tracker_errors": {"strikes": 3}, "connection_errors": {"after": "4s"}},
        stalled={"min_age": "1d"},
    )

    def cycle() -> dict[str, Any]:
        result = cli("--config", str(path), "--test", "--json")  # a new process each time: a restart
        assert result.returncode == 0, result.stderr
        return {f["hash"]: f for f in json.loads(result.stdout)["findings"]}

    first = cycle()
    assert first[dead]["decision"] == "wait" and "strike 1 of the 3" in first[dead]["explanation"]
    assert first[down]["decision"] == "wait"
    second = cycle()
    assert "strike 2 of the 3" in second[dead]["explanation"]
    time.sleep(4.5)
    third = cycle()
    assert third[dead]["decision"] == "act"
    assert third[down]["decision"] == "act"  # it has lasted 4 s across three processes
    history = json.loads(cli("--config", str(path), "history", "--json").stdout)
    assert {h["hash"] for h in history} == {dead, down}
    assert {h["status"] for h in history} == {"done"}


def test_corrupt_database_gives_a_clear_message(write_config: WriteConfig) -> None:
    path, config = write_config()
    config.monitor.data_dir.mkdir(parents=True)
    (config.monitor.data_dir / "state.db").write_bytes(b"garbage" * 1000)
    result = cli("--config", str(path), "--test")
    assert result.returncode == 2
    assert "state.db is unreadable" in result.stderr and "moved aside" in result.stderr
    assert any(p.name.startswith("state.db.corrupt-") for p in config.monitor.data_dir.iterdir())
    assert cli("--config", str(path), "--test").returncode == 0  # the next start works with a new database


def test_history_explain_and_undo_end_to_end(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    dead = states.unregistered("Undo.Movie.2019", category=RADARR_CATEGORY, private=False)
    other = states.unregistered("Other.Movie.2018", category=RADARR_CATEGORY, private=False)
    radarr.grab_movie(dead, "Undo.Movie.2019", movie_id=19)
    radarr.grab_movie(other, "Other.Movie.2018", movie_id=18)
    path, _ = write_config()
    assert cli("--config", str(path), "--test").returncode == 0
    assert len(radarr.blocklist) == 2

    history = cli("--config", str(path), "history", "--since", "1h")
    assert history.returncode == 0
    assert "remove from queue, delete torrent and data, blocklist release" in history.stdout
    assert "tracker_msg=Unregistered torrent" in history.stdout
    rows = json.loads(cli("--config", str(path), "history", "--json").stdout)
    remove = next(r for r in rows if r["type"] == "arr_remove" and r["hash"] == dead)
    assert remove["evidence"]["tracker_status"] == qbt.behaviour.unregistered_status
    assert remove["kind"] == "tracker_errors"

    explained = cli("--config", str(path), "explain", dead.upper())
    assert explained.returncode == 0
    assert "Undo.Movie.2019" in explained.stdout and "last decision" in explained.stdout
    assert 'tracker 127.0.0.1 says "Unregistered torrent"' in explained.stdout
    assert f"action #{remove['id']}" in explained.stdout
    assert cli("--config", str(path), "explain", "0" * 40).returncode == 1

    radarr.clear_log()
    undone = cli("--config", str(path), "undo", str(remove["id"]))
    assert undone.returncode == 0, undone.stdout + undone.stderr
    [call] = radarr.mutating_calls()
    assert call.method == "DELETE" and call.path.startswith("/api/v3/blocklist/") and call.status == 200
    assert [b["sourceTitle"] for b in radarr.blocklist] == ["Other.Movie.2018"]  # only that release's entry
    assert "cannot be undone" in undone.stdout  # the deleted data
    assert radarr.violations == []
    rows = json.loads(cli("--config", str(path), "history", "--json").stdout)
    assert rows[-1]["type"] == "undo" and rows[-1]["params"] == {"undoes": remove["id"]}
    assert cli("--config", str(path), "undo", "99999").returncode == 1


def test_optional_cleanup_of_unregistered_seeds_is_cross_seed_aware(
    states: StateFactory,
    qbt: QBittorrent,
    tracker: Any,
    sonarr: ArrSimulator,
    radarr: ArrSimulator,
    write_config: WriteConfig,
    tmp_path: Path,
) -> None:
    alone = states.unregistered("Seed.Alone.2018", complete=True, private=False)
    kept = states.unregistered("Seed.Kept.2018", complete=True, private=False, tags=["keep"])
    owing = states.unregistered("Seed.Private.2018", complete=True, private=True)  # seeded 0 of its 72 hours
    # A cross-seed: the same content under two info hashes (one private), in one folder. One tracker forgot it.
    shared = tmp_path / "cross-seed"
    shared.mkdir()
    gone_tf = make_torrent("Seed.Cross.2018", announce=tracker.announce_url("fail", reason="Unregistered torrent"))
    alive_tf = make_torrent("Seed.Cross.2018", announce=tracker.announce_url("nopeers"), private=True)
    write_payload(gone_tf, shared)
    gone = qbt.add(gone_tf, save_path=shared)
    alive = qbt.add(alive_tf, save_path=shared)
    qbt.wait_tracker_status(gone, qbt.behaviour.unregistered_status, msg="Unregistered torrent")
    qbt.wait_info(alive, lambda t: t["progress"] == 1, "complete")
    alone_data = Path(qbt.torrent(alone)["content_path"])
    assert alone_data.exists()

    path, _ = write_config()
    assert cli("--config", str(path), "--test").returncode == 0  # off by default: nothing happens
    assert {alone, kept, owing, gone, alive} <= hashes(qbt)

    # Four of the five seeds of this tracker are unregistered, but the protected one and the private one that still
    # owes seeding are never candidates: two candidates are no outage, and the cleanup goes ahead.
    path, _ = write_config(cleanup={"unregistered_seeds": True, "interval": 0})
    result = cli("--config", str(path), "--test", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["alerts"] == []
    decisions = {f["hash"]: f for f in report["findings"]}
    assert decisions[owing]["decision"] == "protected" and "owes seeding" in decisions[owing]["explanation"]
    assert decisions[alone]["decision"] == "act" and decisions[gone]["decision"] == "act"
    assert decisions[kept]["decision"] == "protected"
    assert decisions[gone]["actions"][0]["params"]["deleteFiles"] is False
    assert decisions[alone]["actions"][0]["params"]["deleteFiles"] is True
    qbt.wait_info(alive, lambda t: True, "still there")
    left = hashes(qbt)
    assert alone not in left and gone not in left and {kept, owing, alive} <= left
    assert not alone_data.exists()  # nobody else used it: data deleted
    assert qbt.torrent(alive)["progress"] == 1 and (shared / "Seed.Cross.2018").exists()  # cross-seed intact
    assert mutating(sonarr) == [] and mutating(radarr) == []  # no *arr knew them: nothing blocklisted


def test_search_budget_defers_and_never_drops_a_search(
    states: StateFactory,
    qbt: QBittorrent,
    sonarr: ArrSimulator,
    radarr: ArrSimulator,
    write_config: WriteConfig,
    clock: Clock,
) -> None:
    first = states.unregistered("Budget.Show.S01E01", category=SONARR_CATEGORY, private=False)
    second = states.unregistered("Budget.Other.S01E01", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(first, "Budget.Show.S01E01", series_id=1, season=1, episode_ids=[1])
    sonarr.grab_episodes(second, "Budget.Other.S01E01", series_id=2, season=1, episode_ids=[2])
    _, config = write_config(search={"max_per_hour": 1})
    monitor = Monitor(config, clock=clock)
    try:
        report = monitor.run_cycle().to_dict()
        statuses = sorted(a["status"] for a in report["actions"] if a["type"] == "arr_search")
        assert statuses == ["deferred", "done"]
        assert len(sonarr.commands) == 1
        clock.advance(1800)
        assert monitor.run_cycle().to_dict()["actions"] == []  # still within the hour
        assert len(sonarr.commands) == 1
        clock.advance(1900)
        later = monitor.run_cycle().to_dict()
        assert [(a["type"], a["status"]) for a in later["actions"]] == [("arr_search", "done")]
        assert sorted(c["body"]["episodeIds"][0] for c in sonarr.commands) == [1, 2]
    finally:
        monitor.close()
    assert {first, second}.isdisjoint(hashes(qbt))
    assert sonarr.violations == []


def test_actions_are_held_while_the_arr_cannot_reach_its_download_client(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    dead = states.unregistered("Held.Show.S01E01", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(dead, "Held.Show.S01E01", series_id=1, season=1, episode_ids=[1])
    # Sonarr's health check already fails, while its queue still shows the snapshot of its last refresh.
    sonarr.set_download_client_unavailable(True, stale_queue=True)
    _, config = write_config()
    monitor = Monitor(config)
    try:
        report = monitor.run_cycle().to_dict()
    finally:
        monitor.close()
    [finding] = report["findings"]
    assert finding["decision"] == "held"
    assert "sonarr reports its download client unavailable" in finding["explanation"]
    assert mutating(sonarr) == [] and dead in hashes(qbt)
    assert sonarr.violations == []


def test_an_identical_search_moments_later_is_deferred_not_repeated(
    states: StateFactory,
    qbt: QBittorrent,
    sonarr: ArrSimulator,
    radarr: ArrSimulator,
    write_config: WriteConfig,
    clock: Clock,
) -> None:
    one = states.unregistered("Twice.Movie.2017.720p", category=RADARR_CATEGORY, private=False)
    _, config = write_config()
    monitor = Monitor(config, clock=clock)
    try:
        radarr.grab_movie(one, "Twice.Movie.2017.720p", movie_id=17)
        monitor.run_cycle()
        # The replacement grabbed for the same movie dies on the tracker too, five minutes later.
        two = states.unregistered("Twice.Movie.2017.1080p", category=RADARR_CATEGORY, private=False)
        radarr.grab_movie(two, "Twice.Movie.2017.1080p", movie_id=17)
        clock.advance(300)
        report = monitor.run_cycle().to_dict()
        [search] = [a for a in report["actions"] if a["type"] == "arr_search"]
        assert search["status"] == "deferred" and "identical search ran 5m ago" in search["result"]
        assert len(radarr.commands) == 1
        clock.advance(900)
        radarr.finish_commands()  # in real time the first search is still running, and the app would merge
        later = monitor.run_cycle().to_dict()
        assert [(a["type"], a["status"]) for a in later["actions"]] == [("arr_search", "done")]
        assert len(radarr.commands) == 2
    finally:
        monitor.close()
    assert radarr.violations == []


def test_sigterm_in_the_middle_of_a_repair_finishes_the_pair_then_stops(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    dead = states.unregistered("Term.Show.S01E01", category=SONARR_CATEGORY, private=False)
    later = states.unregistered("Term.Show.S01E02", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(dead, "Term.Show.S01E01", series_id=1, season=1, episode_ids=[1])
    sonarr.grab_episodes(later, "Term.Show.S01E02", series_id=2, season=1, episode_ids=[2])
    path, _ = write_config()
    processed = sonarr.hold_response("DELETE", "/api/v3/queue/", seconds=2)
    proc = spawn("--config", str(path), "--interval", "1")
    try:
        assert processed.wait(timeout=30)
        proc.send_signal(signal.SIGTERM)  # while the first DELETE is in flight
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    # The repair under way was finished (its search included); the next download waits for the next start.
    queue_paths = {f"/api/v3/queue/{sonarr.queue_id(dead, 1)}", f"/api/v3/queue/{sonarr.queue_id(later, 2)}"}
    [(delete, path_deleted), post] = mutating(sonarr)
    assert delete == "DELETE" and path_deleted in queue_paths and post == ("POST", "/api/v3/command")
    history = json.loads(cli("--config", str(path), "history", "--json").stdout)
    assert [(h["type"], h["status"]) for h in history] == [("arr_remove", "done"), ("arr_search", "done")]
    assert len({dead, later} & hashes(qbt)) == 1 and "stop requested" in err  # one repaired, one left


def test_dry_runs_leave_no_trace_not_even_a_strike_or_a_resumed_repair(
    states: StateFactory, qbt: QBittorrent, sonarr: ArrSimulator, radarr: ArrSimulator, write_config: WriteConfig
) -> None:
    dead = states.unregistered("Trace.Show.S01E01", category=SONARR_CATEGORY, private=False)
    sonarr.grab_episodes(dead, "Trace.Show.S01E01", series_id=1, season=1, episode_ids=[1])
    path, _ = write_config(policy={"tracker_errors": {"strikes": 2}})
    # An earlier run was killed while its removal was in flight: the rest of that repair waits in the journal.
    processed = sonarr.hold_response("DELETE", "/api/v3/queue/", seconds=5)
    path_strict, _ = write_config("strict.yaml", policy={"tracker_errors": {"strikes": 1}})
    proc = spawn("--config", str(path_strict), "--test", stderr=subprocess.DEVNULL)
    assert processed.wait(timeout=30)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    sonarr.clear_holds()
    sonarr.clear_log()

    for _ in range(3):
        result = cli("--config", str(path), "--test", "--dry-run", "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["dry_run"] is True and not any(a.get("resumed") for a in report["actions"])
    assert mutating(sonarr) == []  # the interrupted repair was not finished by a dry run

    real = json.loads(cli("--config", str(path), "--test", "--json").stdout)
    resumed = [a for a in real["actions"] if a.get("resumed")]
    assert [(a["type"], a["status"]) for a in resumed] == [("arr_remove", "done"), ("arr_search", "done")]
