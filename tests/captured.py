"""Load the real qBittorrent captures (tests/fixtures/qbittorrent-<version>) as model objects.

Every loader takes `version=` (4.5.2, 5.1.0 or 5.3.0); the default is 4.5.2, so older callers read what they
always did. The three sets have the same scenario names and the same deterministic torrents (same hashes); 5.x
adds `fx-public-*` scenarios and `torrents_info_includeTrackers.json` per state.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from qbittorrent_monitor.clients.qbittorrent import log_torrent_name, parse_listed, parse_version
from qbittorrent_monitor.model import ArrDownload, Download, LogEntry, Memory, QueueItem, Torrent, TrackerStatus

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEFAULT_VERSION = "4.5.2"
VERSIONS = ("4.5.2", "5.1.0", "5.3.0")


def root(version: str = DEFAULT_VERSION) -> Path:
    if version not in VERSIONS:
        raise ValueError(f"no captures of qBittorrent {version} (there are {', '.join(VERSIONS)})")
    return FIXTURES / f"qbittorrent-{version}"


def scenarios(version: str = DEFAULT_VERSION) -> list[str]:
    """The captured scenario names of `version`, sorted."""
    return sorted(p.name for p in (root(version) / "states").iterdir())


ROOT = root()
STATES = scenarios()


@cache
def _read(path: Path) -> str:
    return path.read_text()


def raw(relative: str, *, version: str = DEFAULT_VERSION) -> Any:
    return json.loads(_read(root(version) / relative))


def torrent(state: str, client: str = "qbittorrent", *, version: str = DEFAULT_VERSION) -> Torrent:
    """A captured torrent as the qBittorrent adapter of that version reads it."""
    row = raw(f"states/{state}/torrents_info.json", version=version)[0]
    return parse_listed(client, row, parse_version(version)).torrent


def info(state: str, *, version: str = DEFAULT_VERSION, include_trackers: bool = False) -> dict[str, Any]:
    """The raw torrents/info object of a state (with `includeTrackers=true`, 5.x only, if asked)."""
    name = "torrents_info_includeTrackers.json" if include_trackers else "torrents_info.json"
    found: dict[str, Any] = raw(f"states/{state}/{name}", version=version)[0]
    return found


def trackers(
    state: str, file: str = "torrents_trackers.json", *, version: str = DEFAULT_VERSION
) -> tuple[TrackerStatus, ...]:
    return tuple(TrackerStatus.from_api(r) for r in raw(f"states/{state}/{file}", version=version))


def stale(state: str, hours: float = 10, *, version: str = DEFAULT_VERSION) -> tuple[Memory, float]:
    """Memory of a torrent whose bytes have not moved since it was added, and a time `hours` later."""
    t = torrent(state, version=version)
    return Memory(t.added_on, t.added_on, t.downloaded), t.added_on + hours * 3600


def log_entries(*, version: str = DEFAULT_VERSION) -> list[LogEntry]:
    return [LogEntry.from_api(e) for e in raw("log_main.json", version=version)]


def download(
    state: str,
    *,
    arr: tuple[ArrDownload, ...] = (),
    memory: Memory | None = None,
    with_trackers: bool = True,
    version: str = DEFAULT_VERSION,
) -> Download:
    t = torrent(state, version=version)
    entries = tuple(e for e in log_entries(version=version) if log_torrent_name(e.message) == t.name)
    return Download(t, arr, trackers(state, version=version) if with_trackers else None, entries, memory)


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
