"""Texts that repeat across a library's records are held once (model._shared), whatever reads them."""

from __future__ import annotations

import dataclasses
import json

from captured import raw
from qbittorrent_monitor.apps import App, profile_for
from qbittorrent_monitor.clients.qbittorrent import parse_listed, parse_version
from qbittorrent_monitor.model import Download, QueueItem, TrackerStatus


def test_two_reads_of_a_library_share_its_few_repeated_texts_and_never_intern_what_is_unique_to_a_torrent() -> None:
    """Each cycle decodes fresh JSON, a new string for every value. A seedbox's torrents repeat a few states,
    categories, save paths and tracker URLs, its queue a few statuses and client names: those are one object each,
    so a 30,000-torrent library's cached torrents do not carry a copy apiece. What is unique to a torrent and comes
    and goes with it (hash, name, key, messages) is never interned: CPython 3.12.0-3.12.5 keeps interned strings
    forever, a daemon's memory would grow with every torrent it ever saw. The values are unchanged."""
    text = json.dumps(raw("states/fx-sonarr-unregistered/torrents_info.json"))
    first, again = (parse_listed("qbittorrent", json.loads(text)[0], parse_version("4.5.2")).torrent for _ in "12")
    assert first == again
    for field in ("state", "category", "save_path", "tracker", "working_tracker"):
        assert getattr(first, field) is getattr(again, field), field
    for field in ("hash", "name", "key", "content_path"):
        assert getattr(first, field) is not getattr(again, field), field
    assert first.state and first.hash == first.hash.lower()  # real values, unchanged by the sharing

    record = {
        "id": 1,
        "downloadId": first.hash.upper(),  # Sonarr sends it upper-case
        "title": "Show.S01E01",
        "status": "Downloading",
        "trackedDownloadState": "downloading",
        "trackedDownloadStatus": "ok",
        "protocol": "torrent",
        "downloadClient": "qBittorrent",
        "episodeId": 11,
        "seriesId": 7,
    }
    item = QueueItem.from_api("sonarr", profile_for(App.SONARR, "4.0.0"), json.loads(json.dumps(record)))
    assert item is not None and item.download_id == first.hash
    other = QueueItem.from_api("sonarr", profile_for(App.SONARR, "4.0.0"), json.loads(json.dumps(record)))
    assert other is not None
    assert item.status is other.status and item.download_client is other.download_client
    assert item.download_id is not other.download_id and item.title is not other.title

    row = {"url": "udp://tracker.example:6969/announce", "msg": "Unregistered torrent (you have 3 H&Rs)"}
    one, two = (TrackerStatus.from_api(json.loads(json.dumps(row))) for _ in "12")
    assert one.url is two.url and one.msg is not two.msg and one == two


def test_a_torrents_key_is_made_once_and_follows_a_change_of_its_instance() -> None:
    """Every room keys a torrent by `client:hash` (the store, the findings, the decisions): one string object per
    torrent, the same one its Download answers, and recomputed when a copy moves it to another instance."""
    t = parse_listed("seedbox", raw("states/fx-stalled-dl/torrents_info.json")[0], parse_version("4.5.2")).torrent
    assert t.key == f"seedbox:{t.hash}" and t.key is t.key  # made once, not formatted on each use
    moved = dataclasses.replace(t, client="home")
    assert moved.key == f"home:{t.hash}" and moved == dataclasses.replace(moved)
    assert Download(t).key is t.key
