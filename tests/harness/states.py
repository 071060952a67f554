"""Produce each torrent state the monitor must handle, for real, in a running qBittorrent.

Every method returns the info hash only once qBittorrent REALLY shows the state (and, where it
matters, the tracker status). The same recipe gives the same state on 4.5.2, 5.1.0 and 5.3.0, under the
names each version really shows; where a version needs another recipe or shows another value, the row of
harness/versions.py (`qbt.behaviour`) decides. Recipes and the resulting API values: QBITTORRENT-TESTING.md,
QBITTORRENT-5X.md and tests/fixtures/qbittorrent-*/README.md.
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path
from typing import Any

from harness.qbt import QBittorrent
from harness.torrents import TorrentFile, make_torrent, write_payload
from harness.tracker import Tracker
from harness.versions import MissingFilesRecipe

__all__ = ["SEEDING_STATES", "StateFactory", "closed_port"]

SEEDING_STATES = {"stalledUP", "uploading"}


def closed_port() -> int:
    """A loopback TCP port nobody listens on (connecting to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StateFactory:
    """Makes torrents in a given state on `qbt`, announcing to `tracker`; files go under `workdir`.

    Torrent names must be unique per factory (the payload, hence the hash, derives from the name).
    Every torrent gets its own save folder `workdir/data/NNN-<name>`.
    """

    def __init__(self, qbt: QBittorrent, tracker: Tracker, workdir: Path) -> None:
        self.qbt = qbt
        self.tracker = tracker
        self.workdir = Path(workdir)
        self.torrents: dict[str, TorrentFile] = {}
        self.save_paths: dict[str, Path] = {}
        self._names: set[str] = set()
        self._foreign: list[tuple[QBittorrent, str]] = []

    # -- helpers -----------------------------------------------------------------------------------
    def _save_dir(self, name: str) -> Path:
        if name in self._names:
            raise ValueError(f"torrent name {name!r} already used in this test")
        self._names.add(name)
        path = self.workdir / "data" / f"{len(self._names):03d}-{name}"
        path.mkdir(parents=True)
        return path

    def _add(
        self,
        tf: TorrentFile,
        save_path: Path,
        *,
        category: str | None,
        tags: list[str] | None,
        paused: bool = False,
        skip_checking: bool = False,
    ) -> str:
        info_hash = self.qbt.add(
            tf, category=category, tags=tags, paused=paused, skip_checking=skip_checking, save_path=save_path
        )
        self.torrents[info_hash] = tf
        self.save_paths[info_hash] = save_path
        return info_hash

    def _make(self, name: str, mode: str, **kwargs: Any) -> tuple[TorrentFile, Path]:
        reason = kwargs.pop("reason", None)
        url = self.tracker.announce_url(mode, reason=reason) if reason else self.tracker.announce_url(mode)
        return make_torrent(name, announce=url, **kwargs), self._save_dir(name)

    # -- states on the main instance -------------------------------------------------------------
    def unregistered(
        self,
        name: str,
        *,
        category: str | None = None,
        tags: list[str] | None = None,
        reason: str = "Unregistered torrent",
        complete: bool = False,
        private: bool = True,
    ) -> str:
        """Tracker answers `failure reason: <reason>`: stalledDL (stalledUP with complete=True), num_* -1,
        tracker status 4 (5 TrackerError from 5.2) with msg == reason; info `tracker` "" (its URL from 5.1)."""
        tf, save = self._make(name, "fail", reason=reason, private=private)
        if complete:
            write_payload(tf, save)
        info_hash = self._add(tf, save, category=category, tags=tags)
        self.qbt.wait_state(info_hash, SEEDING_STATES if complete else {"stalledDL"})
        self.qbt.wait_tracker_status(info_hash, self.qbt.behaviour.unregistered_status, msg=reason)
        return info_hash

    def stalled(
        self, name: str, *, category: str | None = None, tags: list[str] | None = None, private: bool = False
    ) -> str:
        """Tracker works but knows no peers: stalledDL, tracker status 2, msg ""."""
        tf, save = self._make(name, "nopeers", private=private)
        info_hash = self._add(tf, save, category=category, tags=tags)
        self.qbt.wait_tracker_status(info_hash, 2)
        # torrents/info takes up to one refresh interval longer than torrents/trackers to show it
        self.qbt.wait_info(info_hash, lambda i: i["state"] == "stalledDL" and i["tracker"] != "", "stalled")
        return info_hash

    def metadl(self, name: str, *, category: str | None = None, tags: list[str] | None = None) -> str:
        """Magnet link whose metadata never arrives (no peers, no DHT): metaDL, total_size -1."""
        tf, save = self._make(name, "nopeers")
        self.save_paths[tf.info_hash] = save
        info_hash = self.qbt.add(tf.magnet, category=category, tags=tags, save_path=save)
        self.torrents[info_hash] = tf
        self.qbt.wait_state(info_hash, {"metaDL"})
        self.qbt.wait_tracker_status(info_hash, 2)
        return info_hash

    def error_notadir(self, name: str, *, category: str | None = None, tags: list[str] | None = None) -> str:
        """Multi-file torrent with a regular FILE where its root folder must be: state `error`,
        tracker status 1; the reason ("... Not a directory") is only in log/main."""
        tf, save = self._make(name, "ok", multi_file=True)
        (save / tf.name).write_bytes(b"a file where the torrent's folder must be\n")
        info_hash = self._add(tf, save, category=category, tags=tags)
        self.qbt.wait_state(info_hash, {"error"})
        return info_hash

    def missing_files(self, name: str, *, category: str | None = None, tags: list[str] | None = None) -> str:
        """State missingFiles. Up to 5.1: added with skip_checking=true and no data on disk (fast resume
        rejected). 5.3 makes that an empty stalledDL, so there: complete data, deleted while qBittorrent is
        stopped, then qBittorrent started again (the session's process restarts; its torrents stay)."""
        tf, save = self._make(name, "ok")
        if self.qbt.behaviour.missing_files_recipe is MissingFilesRecipe.SKIP_CHECKING:
            info_hash = self._add(tf, save, category=category, tags=tags, skip_checking=True)
        else:
            content = write_payload(tf, save)
            info_hash = self._add(tf, save, category=category, tags=tags)
            self.qbt.wait_info(info_hash, lambda i: i["state"] in SEEDING_STATES and i["progress"] == 1, "complete")
            self.qbt.stop()
            if content.is_dir():
                shutil.rmtree(content)
            else:
                content.unlink()
            self.qbt.start()
        self.qbt.wait_state(info_hash, {"missingFiles"})
        return info_hash

    def seeding(
        self,
        name: str,
        *,
        category: str | None = None,
        tags: list[str] | None = None,
        private: bool = False,
        multi_file: bool = False,
        size: int = 20000,
    ) -> str:
        """Payload written, checked to 100%: stalledUP (or uploading), tracker status 2."""
        tf, save = self._make(name, "nopeers", private=private, multi_file=multi_file, size=size)
        write_payload(tf, save)
        info_hash = self._add(tf, save, category=category, tags=tags)
        self.qbt.wait_tracker_status(info_hash, 2)
        self.qbt.wait_info(
            info_hash,
            lambda i: i["state"] in SEEDING_STATES and i["progress"] == 1 and i["tracker"] != "",
            "seeding",
        )
        return info_hash

    def many(
        self,
        kind: str,
        names: list[str],
        *,
        category: str | None = None,
        tags: list[str] | None = None,
        private: bool = False,
        wait: bool = True,
        timeout: float = 120.0,
    ) -> list[str]:
        """Many torrents of one `kind` at once, in one save folder (a library of thousands in seconds):
        "seeding" (payload written, added with skip_checking), "stalled" (no peers), "unregistered" (the tracker
        says "Unregistered torrent") or "error" (a file where the torrent's folder must be). qBittorrent 5.3 verifies
        seeds' data whatever `skip_checking` says, about one torrent a second. With `wait`, returns
        once qBittorrent shows every one in that state (for "unregistered": stalledDL; its tracker row follows)."""
        modes = {"seeding": "nopeers", "stalled": "nopeers", "unregistered": "fail", "error": "ok"}
        mode = modes[kind]
        for name in names:
            if name in self._names:
                raise ValueError(f"torrent name {name!r} already used in this test")
        self._names.update(names)
        save = self.workdir / "data" / f"bulk-{len(self._names):06d}-{kind}"
        save.mkdir(parents=True)
        url = self.tracker.announce_url(mode)  # "fail": "Unregistered torrent"
        multi = kind == "error"
        tfs = [make_torrent(n, announce=url, size=1024, private=private, multi_file=multi) for n in names]
        for tf in tfs:
            if kind == "seeding":
                write_payload(tf, save)
            elif kind == "error":
                (save / tf.name).write_bytes(b"a file where the torrent's folder must be\n")
            self.torrents[tf.info_hash] = tf
            self.save_paths[tf.info_hash] = save
        self.qbt.add_many(tfs, save_path=save, category=category, tags=tags, skip_checking=kind == "seeding")
        hashes = [tf.info_hash for tf in tfs]
        if wait:
            want = {"seeding": SEEDING_STATES, "stalled": {"stalledDL"}, "unregistered": {"stalledDL"}}
            self.wait_all(hashes, want.get(kind, {kind}), timeout)
        return hashes

    def wait_all(self, hashes: list[str], states: set[str], timeout: float = 120.0) -> None:
        """Until qBittorrent lists every one of `hashes` in one of `states`."""
        deadline = time.monotonic() + timeout
        while True:
            shown: dict[str, str] = {}
            for start in range(0, len(hashes), 500):
                shown |= {t["hash"]: t["state"] for t in self.qbt.info(hashes[start : start + 500])}
            waiting = [h for h in hashes if shown.get(h) not in states]
            if not waiting:
                return
            if time.monotonic() > deadline:
                sample = {h: shown.get(h, "<absent>") for h in waiting[:5]}
                raise AssertionError(f"{len(waiting)} torrents not in {sorted(states)} after {timeout}s: {sample}")
            time.sleep(0.2)

    def tracker_down(
        self, name: str, *, category: str | None = None, tags: list[str] | None = None, private: bool = False
    ) -> str:
        """Announce URL on a closed loopback port: stalledDL, tracker status 4 "Connection refused" (4 on every
        version the suite runs: 5.3.0 does not call it 6 Unreachable)."""
        save = self._save_dir(name)
        tf = make_torrent(name, announce=f"http://127.0.0.1:{closed_port()}/announce", private=private)
        info_hash = self._add(tf, save, category=category, tags=tags)
        self.qbt.wait_state(info_hash, {"stalledDL"})
        self.qbt.wait_tracker_status(info_hash, 4, msg="Connection refused")
        return info_hash

    def paused(
        self,
        name: str,
        *,
        category: str | None = None,
        tags: list[str] | None = None,
        complete: bool = False,
    ) -> str:
        """Added stopped: pausedDL (pausedUP with complete=True, once checked), tracker status 1. On 5.x the
        same torrent is stoppedDL/stoppedUP (`qbt.paused_state(complete=...)` names it)."""
        tf, save = self._make(name, "nopeers")
        if complete:
            write_payload(tf, save)
            info_hash = self._add(tf, save, category=category, tags=tags)
            self.qbt.wait_state(info_hash, SEEDING_STATES)
            self.qbt.pause(info_hash)
        else:
            info_hash = self._add(tf, save, category=category, tags=tags, paused=True)
        self.qbt.wait_state(info_hash, {self.qbt.paused_state(complete=complete)})
        return info_hash

    # -- a real transfer between two instances ---------------------------------------------------
    def downloading_from_seeder(
        self,
        name: str,
        seeder: QBittorrent,
        *,
        category: str | None = None,
        tags: list[str] | None = None,
        upload_limit_bytes_per_s: int = 20 * 1024,
        size: int = 4 * 1024 * 1024,
        piece_length: int = 16384,
        timeout: float = 30.0,
    ) -> str:
        """A REAL, slow download: `seeder` (another QBittorrent) seeds the payload with its per-torrent
        upload limit set, the main instance downloads it through the tracker's peer list. Returns once
        the main instance shows progress > 0. 4 MiB at 20 KiB/s stays in progress for ~3.5 minutes."""
        tf, save = self._make(name, "ok", size=size, piece_length=piece_length)
        seed_dir = seeder.save_root / f"{len(self._names):03d}-{name}"
        write_payload(tf, seed_dir)
        seed_hash = seeder.add(tf, save_path=seed_dir, skip_checking=True)  # data is known good
        self._foreign.append((seeder, seed_hash))
        seeder.set_upload_limit(seed_hash, upload_limit_bytes_per_s)
        seeder.wait_state(seed_hash, SEEDING_STATES)
        self.tracker.wait_announce(seed_hash, left=0, timeout=timeout)  # the seeder is in the swarm

        info_hash = self._add(tf, save, category=category, tags=tags)
        deadline = time.monotonic() + timeout
        while True:
            info = self.qbt.torrent(info_hash)
            if info["progress"] > 0 and info["downloaded"] > 0:
                return info_hash
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{name}: no progress {timeout}s after adding; state {info['state']!r},"
                    f" seeder peers in swarm {self.tracker.peers(info_hash)}"
                )
            time.sleep(0.1)

    # -- cleanup -----------------------------------------------------------------------------------
    def cleanup(self) -> None:
        """Remove what this factory added to OTHER instances (e.g. the seeder)."""
        by_instance: dict[int, tuple[QBittorrent, list[str]]] = {}
        for instance, info_hash in self._foreign:
            by_instance.setdefault(id(instance), (instance, []))[1].append(info_hash)
        self._foreign.clear()
        for instance, hashes in by_instance.values():
            if instance.running:
                instance.delete(hashes, delete_files=True)
