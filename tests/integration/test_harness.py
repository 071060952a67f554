"""The harness itself, against the real qbittorrent-nox: every recipe yields its state for real."""

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

pytestmark = pytest.mark.integration


def real_tracker(qbt: QBittorrent, info_hash: str) -> dict[str, Any]:
    rows = qbt.real_trackers(qbt.trackers(info_hash))
    assert len(rows) == 1, rows
    return rows[0]


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
    assert (info["state"], info["progress"], info["tracker"]) == ("stalledDL", 0, "")
    assert (info["category"], info["tags"]) == ("tv-sonarr", "harness, sonarr")
    rows = qbt.trackers(h)
    (row,) = qbt.real_trackers(rows)
    assert (row["status"], row["msg"], row["num_peers"], row["tier"]) == (4, "Unregistered torrent", -1, 0)
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
    assert (row["status"], row["msg"]) == (4, reason)


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
    qbt.wait_tracker_status(h, 4, msg="Unregistered torrent", timeout=10)
    info = qbt.torrent(h)
    assert info["state"] == "stalledDL"
    assert info["tracker"] == tracker.announce_url("nopeers")  # 4.5.2 keeps the last working URL


def test_metadl(qbt: QBittorrent, states: StateFactory) -> None:
    h = states.metadl("hx-metadl", category="tv-sonarr")
    info = qbt.torrent(h)
    assert (info["state"], info["total_size"], info["category"]) == ("metaDL", -1, "tv-sonarr")
    assert qbt.get("torrents/files", hash=h).json() == []


def test_error_not_a_directory(qbt: QBittorrent, states: StateFactory) -> None:
    h = states.error_notadir("hx-error-notadir")
    info = qbt.torrent(h)
    assert (info["state"], info["progress"], info["tracker"]) == ("error", 0, "")
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
    assert (info["state"], info["tracker"]) == ("stalledDL", "")
    row = real_tracker(qbt, h)
    assert (row["status"], row["msg"]) == (4, "Connection refused")


def test_paused(qbt: QBittorrent, states: StateFactory) -> None:
    h = states.paused("hx-paused")
    assert qbt.torrent(h)["state"] == "pausedDL"
    assert real_tracker(qbt, h)["status"] == 1
    qbt.resume(h)
    qbt.wait_state(h, {"stalledDL"})
    qbt.pause(h)
    qbt.wait_state(h, {"pausedDL"})


def test_delete_all_leaves_nothing(qbt: QBittorrent, states: StateFactory) -> None:
    states.stalled("hx-del-1")
    h = states.seeding("hx-del-2")
    content = states.save_paths[h] / "hx-del-2"
    assert content.exists()
    qbt.delete_all()
    assert qbt.info() == [] and not content.exists()


# -- process level ------------------------------------------------------------------------------------
def test_restart_keeps_torrents_and_client_logs_in_again(qbt: QBittorrent, states: StateFactory) -> None:
    seeding = states.seeding("hx-restart-seed")
    paused = states.paused("hx-restart-paused")
    with qbt.client() as client:
        assert client.get("/api/v2/app/version").text == "v4.5.2"
        old_pid = qbt.pid
        started = time.monotonic()
        qbt.restart()
        restart_s = time.monotonic() - started
        assert qbt.pid != old_pid and old_pid is not None and not pid_alive(old_pid)
        # the old SID is gone with the old process: the client gets 403 and logs in again by itself
        assert client.get("/api/v2/app/webapiVersion").text == "2.8.19"
    assert restart_s < 10
    qbt.wait_state(seeding, {"stalledUP", "uploading"})
    qbt.wait_state(paused, {"pausedDL"})
    assert {t["hash"] for t in qbt.info()} == {seeding, paused}


def test_stop_leaves_no_process(tmp_path: Path) -> None:
    instance = QBittorrent(tmp_path / "own", password="another-Passw0rd")
    instance.start()
    pid = instance.pid
    assert pid is not None and pid_alive(pid)
    assert "qbittorrent-nox" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    with instance.client() as client:
        assert client.get("/api/v2/app/version").status_code == 200
    bad = httpx.post(
        f"{instance.url}/api/v2/auth/login", data={"username": "admin", "password": "adminadmin"}, trust_env=False
    )
    assert (bad.status_code, bad.text) == (200, "Fails.")
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
