"""The SQLite memory: survives restarts, migrates old files, refuses to silently empty a corrupt one."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from captured import download, sonarr_ref, torrent
from qbittorrent_monitor.model import (
    Action,
    ActionType,
    Decision,
    Evidence,
    Finding,
    Kind,
    OutageGroup,
    Population,
    PopulationKey,
    RememberedOutage,
    Scope,
    Verdict,
)
from qbittorrent_monitor.store import _SCHEMA_V1, SCHEMA_VERSION, Store, StoreError


def test_memory_strikes_and_durations_survive_a_restart(tmp_path: Path) -> None:
    t = torrent("fx-stalled-dl")
    store = Store(tmp_path / "state.db")
    store.observe([t], now=1000.0)
    since, strikes = store.note_findings({"qbittorrent:" + t.hash: ["stalled"]}, now=1000.0)
    store.note_findings({"qbittorrent:" + t.hash: ["stalled"]}, now=1300.0)
    store.close()

    store = Store(tmp_path / "state.db")
    memory = store.observe([t], now=1600.0)["qbittorrent:" + t.hash]
    assert memory.first_seen == 1000.0
    since, strikes = store.note_findings({"qbittorrent:" + t.hash: ["stalled"]}, now=1600.0)
    assert since["qbittorrent:" + t.hash]["stalled"] == 1000.0
    assert strikes["qbittorrent:" + t.hash]["stalled"] == 3
    # A finding that is no longer seen is forgotten: its clock and strikes restart.
    store.note_findings({"qbittorrent:" + t.hash: []}, now=1900.0)
    since, strikes = store.note_findings({"qbittorrent:" + t.hash: ["stalled"]}, now=2200.0)
    assert since["qbittorrent:" + t.hash]["stalled"] == 2200.0 and strikes["qbittorrent:" + t.hash]["stalled"] == 1
    store.close()


def test_progress_resets_the_stall_clock_and_the_speed_window(tmp_path: Path) -> None:
    t = torrent("fx-stalled-dl")
    store = Store(tmp_path / "state.db")
    first = store.observe([t], now=t.added_on + 10.0)[f"qbittorrent:{t.hash}"]
    assert first.last_progress_at == t.last_activity
    grown = dataclasses.replace(t, downloaded=t.downloaded + 16384)
    later = store.observe([grown], now=t.added_on + 7300.0, speed_window=7200.0)[f"qbittorrent:{t.hash}"]
    assert later.last_progress_at == t.added_on + 7300.0 and later.last_downloaded == t.downloaded + 16384
    assert later.last_rate is not None and later.last_rate == pytest.approx(16384 / 7290.0)
    store.close()


def test_a_version_1_file_is_migrated_without_losing_anything(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    for statement in _SCHEMA_V1.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute("INSERT INTO torrents VALUES ('q:abc','q','abc','old',1,2,3,4,NULL)")
    db.execute("INSERT INTO findings VALUES ('q:abc','stalled',5,6)")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()

    store = Store(path)
    assert store.torrent("abc")[0]["first_seen"] == 1
    assert store.torrent("abc")[0]["findings"]["stalled"]["first_seen"] == 5
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    check.close()
    store.close()


def test_a_corrupt_file_is_moved_aside_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 200)
    with pytest.raises(StoreError) as err:
        Store(path)
    message = str(err.value)
    assert "unreadable" in message and "moved aside" in message and "nothing deleted" in message
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("state.db.corrupt-")]
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a database")
    assert not path.exists()
    Store(path).close()  # the next start begins with a new database


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer than this monitor understands"):
        Store(path)
    assert path.exists()  # left in place


def test_the_journal_keeps_every_step_in_order(tmp_path: Path) -> None:
    t = torrent("fx-sonarr-unregistered")
    d = download("fx-sonarr-unregistered", arr=(sonarr_ref(t.hash, [1, 2]),))
    finding = Finding(Kind.TRACKER, "tracker", "dead", {"tracker_msg": "Unregistered torrent"})
    actions = (
        Action(ActionType.ARR_REMOVE, "sonarr", {"queue_id": 1}, "rm"),
        Action(ActionType.ARR_SEARCH, "sonarr", {}, "search"),
    )
    store = Store(tmp_path / "state.db")
    rows = store.plan(Decision(d, finding, Verdict.ACT, "why", actions), now=100.0)
    assert [(r.step, r.type, r.status) for r in rows] == [(0, "arr_remove", "pending"), (1, "arr_search", "pending")]
    store.finish(rows[0].id, "done", "removed", 101.0)
    store.close()
    store = Store(tmp_path / "state.db")
    assert [r.type for r in store.unfinished()] == ["arr_search"]
    history = store.history(since=0)
    assert [r.status for r in history] == ["done", "pending"]
    assert history[0].evidence == {"tracker_msg": "Unregistered torrent"} and history[0].result == "removed"
    store.close()


def test_time_nobody_watched_does_not_count(tmp_path: Path) -> None:
    """The host was off for 7 hours: the stall clock and finding clocks move forward by the gap."""
    t = torrent("fx-stalled-dl")
    key = f"qbittorrent:{t.hash}"
    store = Store(tmp_path / "state.db")
    read = ["qbittorrent"]  # the instance was read in each of these cycles
    store.observe([t], now=t.added_on + 60.0, max_gap=900, clients=read)
    store.note_findings({key: ["stalled"]}, now=t.added_on + 60.0)
    store.observe([t], now=t.added_on + 360.0, max_gap=900, clients=read)  # watched: 5 minutes count
    store.close()
    store = Store(tmp_path / "state.db")  # the monitor went down with the host: the watch is remembered
    memory = store.observe([t], now=t.added_on + 360.0 + 7 * 3600, max_gap=900, clients=read)[key]  # 7 h unwatched
    assert memory.last_progress_at == t.last_activity + 7 * 3600
    since, _ = store.note_findings({key: ["stalled"]}, now=t.added_on + 360.0 + 7 * 3600)
    assert since[key]["stalled"] == t.added_on + 60.0 + 7 * 3600
    store.close()


def test_a_dry_run_works_on_a_copy_that_remembers_its_own_cycles_and_leaves_the_file_as_it_was(
    tmp_path: Path,
) -> None:
    t = torrent("fx-stalled-dl")
    key = f"qbittorrent:{t.hash}"
    real = Store(tmp_path / "state.db")
    real.observe([t], now=1000.0)
    real.close()
    before = (tmp_path / "state.db").read_bytes()
    scratch = Store.scratch_copy(tmp_path / "state.db")
    assert scratch.observe([t], now=1300.0)[key].first_seen == 1000.0  # it starts from what the file knew
    scratch.note_findings({key: ["stalled"]}, now=1300.0)
    _, strikes = scratch.note_findings({key: ["stalled"]}, now=1600.0)
    assert strikes[key]["stalled"] == 2  # and remembers between its own cycles
    group = OutageGroup(Scope.CLIENT, "qbittorrent", Kind.MISSING_FILES)
    scratch.save_outages({group.key: RememberedOutage(group, 1000.0, 1000.0, Evidence(6, 6, 6), (key,))})
    scratch.save_private_flags({key: True})
    scratch.save_populations({PopulationKey("qbittorrent", "t.example"): Population(40)}, 1000.0)
    assert group.key in scratch.outages()
    scratch.close()
    assert (tmp_path / "state.db").read_bytes() == before
    real = Store(tmp_path / "state.db")
    assert real.outages() == {} and real.private_flags([key]) == {} and real.populations(since=0) == {}
    assert "stalled" not in real.torrent(t.hash)[0]["findings"]
    real.close()
    assert Store.scratch_copy(tmp_path / "missing.db").outages() == {}  # no file: an empty memory


def test_outage_memory_private_flags_and_populations_survive_a_restart(tmp_path: Path) -> None:
    tracker = OutageGroup(Scope.TRACKER, "qbt:main", Kind.TRACKER, "t.example")  # names may hold any character
    disk = OutageGroup(Scope.CLIENT, "qbt:main", Kind.MISSING_FILES)
    memory = {
        tracker.key: RememberedOutage(tracker, 1000.0, 1300.0, Evidence(12, 12, 400), ("q:a", "q:b")),
        disk.key: RememberedOutage(disk, 900.0, 1300.0, Evidence(4, 0, 5), ("q:c",)),
    }
    store = Store(tmp_path / "state.db")
    store.save_outages(memory)
    store.save_private_flags({"q:a": True, "q:b": False})
    counted = Population(400, {"tracker_errors": 12})
    store.save_populations({PopulationKey("qbt:main", "t.example"): counted, PopulationKey("qbt:main"): None}, 1000.0)
    store.close()
    store = Store(tmp_path / "state.db")
    assert store.outages() == memory
    assert store.private_flags(["q:a", "q:b", "q:z"]) == {"q:a": True, "q:b": False}
    # A read that failed is remembered too (None), so it is not tried again before the window ends.
    assert store.populations(since=999.0) == {
        PopulationKey("qbt:main", "t.example"): counted,
        PopulationKey("qbt:main"): None,
    }
    assert store.populations(since=1001.0) == {}
    store.save_outages({})
    assert store.outages() == {}
    store.close()


def test_an_idle_cycle_writes_no_row_and_a_moving_torrent_writes_its_own(tmp_path: Path) -> None:
    """A seedbox with a stalled download and a healthy one, watched every minute: once both are known, a cycle where
    nothing moved writes nothing; bytes that arrive write that torrent's row and only it. Strikes past what any rule
    waits for are not counted (3 here: nothing more to remember, nothing written)."""
    stalled, moving = torrent("fx-stalled-dl"), torrent("fx-forced-dl")
    key = f"qbittorrent:{stalled.hash}"
    store = Store(tmp_path / "state.db")
    read = ["qbittorrent"]
    t0 = stalled.added_on + 60.0
    store.observe([stalled, moving], now=t0, max_gap=900, clients=read)
    for minute in range(1, 4):
        store.note_findings({key: ["stalled"]}, now=t0 + 60 * minute, strikes_cap=3)
    before = store.rows_written
    store.observe([stalled, moving], now=t0 + 240, max_gap=900, clients=read)
    _, strikes = store.note_findings({key: ["stalled"]}, now=t0 + 240, strikes_cap=3)
    assert strikes[key]["stalled"] == 3 and store.rows_written == before  # idle: nothing written
    more = dataclasses.replace(moving, downloaded=moving.downloaded + (1 << 20))
    memory = store.observe([stalled, more], now=t0 + 300, max_gap=900, clients=read)
    # The cursor of the watch is due (every max_gap / 3 = 300 s) with each seen row's last_seen: 1 + 2, and the
    # torrent whose bytes moved: 1.
    assert store.rows_written == before + 4
    assert memory[f"qbittorrent:{moving.hash}"].last_progress_at == t0 + 300
    assert memory[key].last_progress_at == stalled.last_activity  # the stalled clock did not move
    store.close()


def test_a_torrent_gone_for_a_month_is_forgotten_with_its_findings(tmp_path: Path) -> None:
    gone, staying = torrent("fx-stalled-dl"), torrent("fx-forced-dl")
    store = Store(tmp_path / "state.db")
    read = ["qbittorrent"]
    store.observe([gone, staying], now=1000.0, max_gap=900, clients=read)
    store.note_findings({f"qbittorrent:{gone.hash}": ["stalled"]}, now=1000.0)
    day = 86400.0
    for n in range(1, 32):  # watched every day (a gap of a day shifts clocks; the forgetting must not care)
        store.observe([staying], now=1000.0 + n * day, max_gap=900, clients=read)
    assert store.torrent(gone.hash) == [] and store.torrent(staying.hash)
    store.close()
    with sqlite3.connect(tmp_path / "state.db") as db:
        assert db.execute("SELECT count(*) FROM findings").fetchone() == (0,)


def test_the_data_dir_lock_names_its_holder_with_an_iso_8601_time_with_offset(tmp_path: Path) -> None:
    """monitor.lock.json `since` is read by people (and the refusal message of a second monitor): the same
    `2026-12-01T09:12:03+01:00` the logs and `history` print, an offset with a colon, never `+0100`."""
    import json
    import re
    import time
    from datetime import datetime

    from qbittorrent_monitor.store import hold_data_dir

    before = time.time()
    lock = hold_data_dir(tmp_path)
    try:
        since = json.loads((tmp_path / "monitor.lock.json").read_text())["since"]
    finally:
        lock.release()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", since), since
    assert abs(datetime.fromisoformat(since).timestamp() - before) < 5


def test_the_state_files_page_cache_is_bounded_below_sqlites_default_so_a_busy_first_cycle_leaves_no_2_mib_behind(
    tmp_path: Path,
) -> None:
    """SQLite's default cache (2,000 KiB) filled by a first cycle's thousands of writes stays allocated for the life
    of the daemon; the kernel caches the file anyway. The bound must hold on the connection the store really uses,
    and a cycle's writes and reads must still work within it."""
    from qbittorrent_monitor.store import CACHE_KIB

    store = Store(tmp_path / "state.db")
    (kib,) = store._db.execute("PRAGMA cache_size").fetchone()
    assert kib == -CACHE_KIB and CACHE_KIB < 2000
    many = [dataclasses.replace(torrent("fx-stalled-dl"), hash=f"{i:040x}") for i in range(3000)]
    store.observe(many, now=1000.0)
    assert len(store.observe(many, now=1030.0)) == 3000
