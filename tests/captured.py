"""Load the real qBittorrent 4.5.2 captures (tests/fixtures/qbittorrent-4.5.2) as model objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qbittorrent_monitor.clients.qbittorrent import log_torrent_name
from qbittorrent_monitor.model import ArrDownload, Download, LogEntry, Memory, QueueItem, Torrent, TrackerStatus

ROOT = Path(__file__).resolve().parent / "fixtures" / "qbittorrent-4.5.2"
STATES = sorted(p.name for p in (ROOT / "states").iterdir())


def raw(relative: str) -> Any:
    return json.loads((ROOT / relative).read_text())


def torrent(state: str, client: str = "qbittorrent") -> Torrent:
    return Torrent.from_api(client, raw(f"states/{state}/torrents_info.json")[0])


def trackers(state: str, file: str = "torrents_trackers.json") -> tuple[TrackerStatus, ...]:
    return tuple(TrackerStatus.from_api(r) for r in raw(f"states/{state}/{file}"))


def stale(state: str, hours: float = 10) -> tuple[Memory, float]:
    """Memory of a torrent whose bytes have not moved since it was added, and a time `hours` later."""
    t = torrent(state)
    return Memory(t.added_on, t.added_on, t.downloaded), t.added_on + hours * 3600


def log_entries() -> list[LogEntry]:
    return [LogEntry.from_api(e) for e in raw("log_main.json")]


def download(
    state: str,
    *,
    arr: tuple[ArrDownload, ...] = (),
    memory: Memory | None = None,
    with_trackers: bool = True,
) -> Download:
    t = torrent(state)
    entries = tuple(e for e in log_entries() if log_torrent_name(e.message) == t.name)
    return Download(t, arr, trackers(state) if with_trackers else None, entries, memory)


def sonarr_ref(hash_: str, episode_ids: list[int], *, series_id: int = 7, season: int = 1) -> ArrDownload:
    del season  # Sonarr v3/v4 records carry it; the monitor does not use it
    items = tuple(
        QueueItem(
            arr="sonarr",
            app="sonarr",
            id=1000 + e,
            download_id=hash_.lower(),
            title="Show.S01.1080p",
            status="warning",
            tracked_state="downloading",
            tracked_status="warning",
            error_message="",
            protocol="torrent",
            download_client="qBittorrent",
            profile="sonarr",
            parent_id=series_id,
            item_ids=(e,),
        )
        for e in episode_ids
    )
    return ArrDownload("sonarr", "sonarr", hash_.lower(), items, client="qbittorrent")


def radarr_ref(hash_: str, movie_id: int = 42) -> ArrDownload:
    item = QueueItem(
        arr="radarr",
        app="radarr",
        id=555,
        download_id=hash_.lower(),
        title="Movie.2020.1080p",
        status="warning",
        tracked_state="downloading",
        tracked_status="warning",
        error_message="",
        protocol="torrent",
        download_client="qBittorrent",
        profile="radarr",
        item_ids=(movie_id,),
    )
    return ArrDownload("radarr", "radarr", hash_.lower(), (item,), client="qbittorrent")
