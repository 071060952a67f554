"""The harness itself, against the real qbittorrent-nox: every recipe yields its state for real, on every version
the run asks for (--qbt-version), under the names and values that version really shows."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import bencode
from harness.qbt import QBittorrent, hash_from_magnet
from harness.states import StateFactory
from harness.torrents import make_torrent, write_payload
from harness.tracker import Tracker
from harness.versions import SUPPORTED, Behaviour

pytestmark = pytest.mark.integration


def real_tracker(qbt: QBittorrent, info_hash: str) -> dict[str, Any]:
    rows = qbt.real_trackers(qbt.trackers(info_hash))
    assert len(rows) == 1, rows
    return rows[0]


def tracker_field(qbt: QBittorrent, url: str) -> str:
    """What torrents/info `tracker` holds when no tracker works: "" up to 5.0, the first tracker's URL from 5.1."""
    return url if qbt.behaviour.tracker_field_is_url_when_not_working else ""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- pure pieces (no qBittorrent) --------------------------------------------------------------------
def test_bencode_round_trip() -> None:
    data = {"b": [1, -2, b"\x00\xff"], "a": "x", "c": {"k": 0}}
    raw = bencode.encode(data)
    assert raw == b"d1:a1:x1:bli1ei-2e2:\x00\xffe1:cd1:ki0eee"
    assert bencode.decode(raw) == {"a": b"x", "b": [1, -2, b"\x00\xff"], "c": {"k": 0}}
    with pytest.raises(ValueError):
        bencode.decode(b"i01e")


def test_torrent_is_deterministic_and_hash_matches_info(tmp_path: Path) -> None:
    one = make_torrent("det", announce="http://127.0.0.1:1/announce", multi_file=True)
    two = make_torrent("det", announce="http://127.0.0.1:1/announce", multi_file=True)
    assert one.data == two.data and one.info_hash == two.info_hash and len(one.info_hash) == 40
    assert set(one.files) == {"det.mkv", "det.nfo"} and one.size == 20000
    assert hash_from_magnet(one.magnet) == one.info_hash
    content = write_payload(one, tmp_path)
    assert (content / "det.mkv").read_bytes() + (content / "det.nfo").read_bytes() == b"".join(one.files.values())


def test_tracker_modes_and_binary_info_hash(tracker: Tracker) -> None:
    raw_hash = bytes(range(236, 256))  # non-ASCII bytes: must come from the raw query string
    query = "info_hash=" + "".join(f"%{b:02X}" for b in raw_hash) + "&peer_id=x&port={port}&left={left}"
    with httpx.Client(base_url=tracker.url, trust_env=False) as http:
        seeder = bencode.decode(http.get("/ok/announce?" + query.format(port=7001, left=0)).content)
        leecher = bencode.decode(http.get("/ok/announce?" + query.format(port=7002, left=5)).content)
        nopeers = bencode.decode(http.get("/nopeers/announce?" + query.format(port=7003, left=5)).content)
        failed = bencode.decode(
            http.get(
                tracker.announce_url("fail", reason="torrent not found") + "?" + query.format(port=1, left=1)
            ).content
        )
        tracker.set_failure(raw_hash.hex(), "Unregistered torrent")
        overridden = bencode.decode(http.get("/ok/announce?" + query.format(port=7002, left=5)).content)
        tracker.set_failure(raw_hash.hex(), None)
    assert isinstance(seeder, dict) and seeder["interval"] == 1800 and seeder["peers"] == b""
    assert isinstance(leecher, dict) and leecher["peers"] == bytes([127, 0, 0, 1]) + (7001).to_bytes(2, "big")
    assert isinstance(nopeers, dict) and nopeers["peers"] == b""
    assert failed == {"failure reason": b"torrent not found"}
    assert overridden == {"failure reason": b"Unregistered torrent"}
    seen = tracker.announces_for(raw_hash.hex())
    assert [(a["port"], a["left"]) for a in seen[:2]] == [(7001, 0), (7002, 5)]
    assert seen[3]["path"] == "/fail/torrent%20not%20found/announce"


# -- each state, for real ----------------------------------------------------------------------------
def test_unregistered_downloading(qbt: QBittorrent, states: StateFactory, tracker: Tracker) -> None:
    h = states.unregistered("hx-unregistered-dl", category="tv-sonarr", tags=["sonarr", "harness"])
    info = qbt.torrent(h)
    url = tracker.announce_url("fail", reason="Unregistered torrent")
    assert (info["state"], info["progress"], info["tracker"]) == ("stalledDL", 0, tracker_field(qbt, url))
    assert (info["category"], info["tags"]) == ("tv-sonarr", "harness, sonarr")
    rows = qbt.trackers(h)
    (row,) = qbt.real_trackers(rows)
    status = qbt.behaviour.unregistered_status  # 4 NotWorking up to 5.1, 5 TrackerError from 5.2
    assert (row["url"], row["status"], row["msg"], row["num_peers"], row["tier"]) == (
        url,
        status,
        "Unregistered torrent",
        -1,
        0,
    )
    if qbt.behaviour.tracker_rows_have_endpoints:
        assert row["updating"] is False
        assert [(e["status"], e["msg"]) for e in row["endpoints"]] == [(status, "Unregistered torrent")]
    else:
        assert "updating" not in row and "endpoints" not in row
    pseudo = [t for t in rows if t["url"].startswith("** [")]
    assert [(t["url"], t["tier"], t["status"]) for t in pseudo] == [
        ("** [DHT] **", -1, 0),
        ("** [PeX] **", -1, 0),
        ("** [LSD] **", -1, 0),
    ]
    assert {t["msg"] for t in pseudo} == {"This torrent is private"}
    announce = tracker.announces_for(h)[0]
    assert announce["path"] == "/fail/Unregistered%20torrent/announce" and announce["event"] == "started"
    assert announce["left"] == info["total_size"] and announce["port"] == qbt.torrent_port


def test_unregistered_seeding_with_custom_reason(qbt: QBittorrent, states: StateFactory) -> None:
    reason = "Torrent not registered with this tracker"
    h = states.unregistered("hx-unregistered-seed", reason=reason, complete=True)
    info = qbt.torrent(h)
    assert (info["state"], info["progress"]) == ("stalledUP", 1)
    row = real_tracker(qbt, h)
    assert (row["status"], row["msg"]) == (qbt.behaviour.unregistered_status, reason)


def test_stalled(qbt: QBittorrent, states: StateFactory, tracker: Tracker) -> None:
    h = states.stalled("hx-stalled", category="radarr", tags=["radarr"])
    info = qbt.torrent(h)
    assert (info["state"], info["progress"]) == ("stalledDL", 0)
    assert info["tracker"] == tracker.announce_url("nopeers")
    row = real_tracker(qbt, h)
    assert (row["status"], row["msg"]) == (2, "")


def test_tracker_failure_switched_on_at_runtime(qbt: QBittorrent, states: StateFactory, tracker: Tracker) -> None:
    h = states.stalled("hx-runtime-unregistered")
    tracker.set_failure(h, "Unregistered torrent")
    qbt.reannounce(h)
    qbt.wait_tracker_status(h, qbt.behaviour.unregistered_status, msg="Unregistered torrent", timeout=10)
    info = qbt.torrent(h)
    assert info["state"] == "stalledDL"
    # 4.5.2 keeps the last working URL; 5.1+ falls back to the first tracker's URL: the same one here
    assert info["tracker"] == tracker.announce_url("nopeers")


def test_metadl(qbt: QBittorrent, states: StateFactory) -> None:
    h = states.metadl("hx-metadl", category="tv-sonarr")
    info = qbt.torrent(h)
    assert (info["state"], info["total_size"], info["category"]) == ("metaDL", -1, "tv-sonarr")
    assert qbt.get("torrents/files", hash=h).json() == []
    # Nobody can know yet whether it is private: 5.x says null, 4.5.2 has no such field in torrents/info.
    if qbt.behaviour.private_in_info:
        assert info["private"] is None
    else:
        assert "private" not in info


def test_error_not_a_directory(qbt: QBittorrent, states: StateFactory) -> None:
    h = states.error_notadir("hx-error-notadir")
    info = qbt.torrent(h)
    url = states.torrents[h].announce
    assert (info["state"], info["progress"], info["tracker"]) == ("error", 0, tracker_field(qbt, url))
    assert real_tracker(qbt, h)["status"] == 1
    messages = [entry["message"] for entry in qbt.log() if entry["type"] == 4]
    assert any("hx-error-notadir" in m and "Not a directory" in m for m in messages), messages[-5:]
    assert qbt.info(filter="errored")[0]["hash"] == h


def test_missing_files(qbt: QBittorrent, states: StateFactory) -> None:
    h = states.missing_files("hx-missing", tags=["sonarr"])
    assert qbt.torrent(h)["state"] == "missingFiles"
    assert real_tracker(qbt, h)["status"] == 1
    warnings = [e["message"] for e in qbt.log() if e["type"] == 4]
    assert any('Torrent: "hx-missing"' in m and "mismatching file size" in m for m in warnings), warnings[-3:]


def test_seeding(qbt: QBittorrent, states: StateFactory) -> None:
    h = states.seeding("hx-seeding", multi_file=True)
    info = qbt.torrent(h)
    assert info["state"] in {"stalledUP", "uploading"} and info["progress"] == 1
    assert real_tracker(qbt, h)["status"] == 2


def test_tracker_down(qbt: QBittorrent, states: StateFactory) -> None:
    h = states.tracker_down("hx-tracker-down")
    info = qbt.torrent(h)
    assert (info["state"], info["tracker"]) == ("stalledDL", tracker_field(qbt, states.torrents[h].announce))
    row = real_tracker(qbt, h)
    assert (row["status"], row["msg"]) == (4, "Connection refused")  # 4 on 5.3 too: not 6 Unreachable


def test_paused(qbt: QBittorrent, states: StateFactory) -> None:
    h = states.paused("hx-paused")
    assert qbt.torrent(h)["state"] == qbt.paused_state()  # pausedDL on 4.x, stoppedDL on 5.x
    assert real_tracker(qbt, h)["status"] == 1
    qbt.resume(h)
    qbt.wait_state(h, {"stalledDL"})
    qbt.pause(h)
    qbt.wait_state(h, {qbt.paused_state()})


def test_paused_complete(qbt: QBittorrent, states: StateFactory) -> None:
    h = states.paused("hx-paused-seed", complete=True)
    info = qbt.torrent(h)
    assert (info["state"], info["progress"]) == (qbt.paused_state(complete=True), 1)
    assert info["state"] in qbt.paused_states


def test_delete_all_leaves_nothing(qbt: QBittorrent, states: StateFactory) -> None:
    states.stalled("hx-del-1")
    h = states.seeding("hx-del-2")
    content = states.save_paths[h] / "hx-del-2"
    assert content.exists()
    qbt.delete_all()
    assert qbt.info() == []
    deadline = time.monotonic() + 10  # the torrent leaves the list first; its files go a moment later
    while content.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not content.exists()
    # 5.x would move it to the trash by default (still on disk): the harness's profile says Delete
    assert not list((qbt.home / ".local" / "share").glob("Trash/files/*"))
    if qbt.behaviour.content_remove_option_key:
        assert qbt.get("app/preferences").json()["torrent_content_remove_option"] == "Delete"


# -- what differs between versions, for real --------------------------------------------------------------
def test_the_other_versions_stopped_field_is_silently_ignored(qbt: QBittorrent, states: StateFactory) -> None:
    # 5.x ignores paused=true (and 4.5.2 ignores stopped=true): a harness using the wrong one gets a running torrent.
    row = Behaviour.add_stopped_field
    wrong = row.old if qbt.behaviour.add_stopped_field == row.new else row.new
    tf = make_torrent("hx-wrong-stop-field", announce=states.tracker.announce_url("nopeers"))
    response = qbt.api.post(
        "/api/v2/torrents/add",
        data={wrong: "true", "savepath": str(states.workdir)},
        files={"torrents": ("x.torrent", tf.data, "application/x-bittorrent")},
    )
    assert response.status_code == 200
    info = qbt.wait_state(tf.info_hash, {"stalledDL"})
    assert info["state"] not in qbt.paused_states


def test_stop_and_start_endpoints_and_filters_by_version(qbt: QBittorrent, states: StateFactory) -> None:
    stopped = states.paused("hx-filter-stopped")
    running = states.stalled("hx-filter-running")
    b = qbt.behaviour
    assert [t["hash"] for t in qbt.info(filter=b.stopped_filter)] == [stopped]
    assert [t["hash"] for t in qbt.info(filter=b.running_filter)] == [running]
    # The other version's names: an unknown filter means every torrent, an unknown endpoint 404.
    for row in (Behaviour.stopped_filter, Behaviour.running_filter):
        other = row.old if row.at(b.version) == row.new else row.new
        assert {t["hash"] for t in qbt.info(filter=other)} == {stopped, running}, other
    for row in (Behaviour.stop_endpoint, Behaviour.start_endpoint):
        other = row.old if row.at(b.version) == row.new else row.new
        assert qbt.api.post(f"/api/v2/{other}", data={"hashes": running}).status_code == 404, other
    qbt.pause(running)
    qbt.wait_state(running, {qbt.paused_state()})


def test_tracker_field_of_torrents_that_never_reached_their_tracker(qbt: QBittorrent, states: StateFactory) -> None:
    # From 5.1 the `tracker` field holds the URL even when the tracker was never contacted (tracker status 1):
    # "has a tracker URL" does not mean "its tracker works".
    hashes = [
        states.paused("hx-never-stopped"),
        states.error_notadir("hx-never-error"),
        states.missing_files("hx-never"),
    ]
    for h in hashes:
        info = qbt.torrent(h)
        assert real_tracker(qbt, h)["status"] == 1, info["state"]
        assert info["tracker"] == tracker_field(qbt, states.torrents[h].announce), info["state"]


def test_private_flag_where_each_version_shows_it(qbt: QBittorrent, states: StateFactory) -> None:
    private = states.unregistered("hx-private", private=True)
    public = states.seeding("hx-public", private=False)
    for h, expected in ((private, True), (public, False)):
        props = qbt.get("torrents/properties", hash=h).json()
        assert props["is_private"] is expected  # every version
        if qbt.behaviour.private_in_info:
            assert (qbt.torrent(h)["private"], props["private"]) == (expected, expected)
        else:
            assert "private" not in qbt.torrent(h) and "private" not in props


def test_include_trackers_on_torrents_info(qbt: QBittorrent, states: StateFactory) -> None:
    h = states.unregistered("hx-include-trackers")
    (info,) = qbt.info([h], includeTrackers="true")
    if not qbt.behaviour.include_trackers:
        assert "trackers" not in info  # 4.5.2 ignores the parameter: one trackers call per torrent
        return
    # the real rows of torrents/trackers, without the DHT/PeX/LSD pseudo rows
    assert [(t["url"], t["status"], t["msg"]) for t in info["trackers"]] == [
        (t["url"], t["status"], t["msg"]) for t in qbt.real_trackers(qbt.trackers(h))
    ]
    assert info["trackers"][0]["status"] == qbt.behaviour.unregistered_status


def test_never_is_zero_on_4x_and_minus_one_on_5x(qbt: QBittorrent, states: StateFactory) -> None:
    never = states.stalled("hx-never-complete")
    done = states.seeding("hx-completed")
    info = qbt.torrent(never)
    assert (info["completion_on"], info["seen_complete"]) == (qbt.behaviour.never_timestamp,) * 2
    assert qbt.torrent(done)["completion_on"] >= qbt.torrent(done)["added_on"] > 0


def test_maindata_tracker_flags(qbt: QBittorrent, states: StateFactory) -> None:
    bad = states.unregistered("hx-flags-unregistered")
    down = states.tracker_down("hx-flags-down")
    fine = states.seeding("hx-flags-fine")
    torrents = qbt.get("sync/maindata", rid=0).json()["torrents"]
    flags = ("has_tracker_error", "has_other_announce_error")
    if not qbt.behaviour.maindata_tracker_flags:
        assert not any(f in t for t in torrents.values() for f in flags)
        return
    assert [torrents[h][f] for h in (bad, down, fine) for f in flags] == [True, False, False, True, False, False]


def test_add_reply_by_version(qbt: QBittorrent, states: StateFactory) -> None:
    tf = make_torrent("hx-add-reply", announce=states.tracker.announce_url("nopeers"))
    files = {"torrents": ("x.torrent", tf.data, "application/x-bittorrent")}
    first = qbt.api.post("/api/v2/torrents/add", data={"savepath": str(states.workdir)}, files=files)
    # qBittorrent adds asynchronously: a second add sent before the first is in the session is not yet a duplicate
    # (5.3.0 answered 200 to it once in CI), so the second is sent once the torrent is listed
    qbt.wait_state(tf.info_hash, {"stalledDL"})
    again = qbt.api.post("/api/v2/torrents/add", data={"savepath": str(states.workdir)}, files=files)
    if qbt.behaviour.add_reply_is_json:
        assert (first.status_code, first.json()["added_torrent_ids"], first.json()["success_count"]) == (
            200,
            [tf.info_hash],
            1,
        )
        assert again.status_code == 409  # already there
    else:
        assert (first.status_code, first.text) == (200, "Ok.")
        assert (again.status_code, again.text) == (200, "Fails.")
    qbt.wait_state(tf.info_hash, {"stalledDL"})  # the duplicate changed nothing


def test_the_warnings_every_start_logs(qbt: QBittorrent, states: StateFactory) -> None:
    # What a fresh start logs as warnings with no torrent at fault; any other warning is news (a new version's
    # noise to put in the table, or a harness setting it did not take).
    qbt.restart()
    warnings = [e["message"] for e in qbt.log() if e["type"] == 4]
    noise = qbt.behaviour.start_warnings
    assert sorted(n for n in noise if any(n in w for w in warnings)) == sorted(noise), warnings
    assert [w for w in warnings if not any(n in w for n in noise)] == []


# -- process level ------------------------------------------------------------------------------------
def test_restart_keeps_torrents_and_client_logs_in_again(qbt: QBittorrent, states: StateFactory) -> None:
    seeding = states.seeding("hx-restart-seed")
    paused = states.paused("hx-restart-paused")
    with qbt.client() as client:
        assert client.get("/api/v2/app/version").text == f"v{qbt.version}"
        old_pid = qbt.pid
        started = time.monotonic()
        qbt.restart()
        restart_s = time.monotonic() - started
        assert qbt.pid != old_pid and old_pid is not None and not pid_alive(old_pid)
        # the old session is gone with the old process: the client gets 403 and logs in again by itself
        assert client.get("/api/v2/app/webapiVersion").text == SUPPORTED[qbt.version].webapi
    assert restart_s < 10
    qbt.wait_state(seeding, {"stalledUP", "uploading"})
    qbt.wait_state(paused, {qbt.paused_state()})
    assert {t["hash"] for t in qbt.info()} == {seeding, paused}


def test_stop_leaves_no_process(tmp_path: Path, qbt_version: str, qbt_binary: str) -> None:
    instance = QBittorrent(tmp_path / "own", password="another-Passw0rd", version=qbt_version, binary=qbt_binary)
    instance.start()
    pid = instance.pid
    assert pid is not None and pid_alive(pid)
    assert "qbittorrent-nox" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    with instance.client() as client:
        assert client.get("/api/v2/app/version").status_code == 200
    login = instance.behaviour.login
    good = httpx.post(
        f"{instance.url}/api/v2/auth/login",
        data={"username": "admin", "password": "another-Passw0rd"},
        trust_env=False,
    )
    assert (good.status_code, good.text) == (login.ok_status, login.ok_body)
    assert list(good.cookies) == [login.cookie_name(instance.port)]  # SID, or QBT_SID_<port> from 5.2
    bad = httpx.post(
        f"{instance.url}/api/v2/auth/login", data={"username": "admin", "password": "adminadmin"}, trust_env=False
    )
    assert (bad.status_code, bad.text) == (login.bad_status, login.bad_body)
    assert not bad.cookies
    instance.stop()
    assert not pid_alive(pid) and not instance.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{instance.url}/api/v2/app/version", timeout=2, trust_env=False)
    instance.stop()  # idempotent


def test_real_slow_download_makes_progress(
    qbt: QBittorrent, seeder_qbt: QBittorrent, states: StateFactory, tracker: Tracker
) -> None:
    limit = 20 * 1024
    h = states.downloading_from_seeder("hx-slow-download", seeder_qbt, upload_limit_bytes_per_s=limit)
    first = qbt.torrent(h)
    t0 = time.monotonic()
    time.sleep(3)
    second = qbt.torrent(h)
    elapsed = time.monotonic() - t0
    assert second["downloaded"] > first["downloaded"] > 0
    assert 0 < second["progress"] < 0.5
    assert second["state"] in {"downloading", "stalledDL"}, second["state"]
    rate = (second["downloaded"] - first["downloaded"]) / elapsed
    assert rate < 4 * limit, f"upload limit not applied: {rate:.0f} B/s"
    peers = qbt.get("sync/torrentPeers", hash=h).json()["peers"]
    assert any(p.endswith(f":{seeder_qbt.torrent_port}") for p in peers), peers
    assert ("127.0.0.1", seeder_qbt.torrent_port, 0) in tracker.peers(h)  # the seeder announced left=0
