"""The app table (apps.py): which profile each app version gets, and what each profile reads and sends. The
expected values are the apps' own (API-NOTES §1.1, §2.2, §3.1, §4.6), written out here, not read from the table."""

from __future__ import annotations

import pytest

from captured import radarr_ref, sonarr_ref
from qbittorrent_monitor import apps
from qbittorrent_monitor.apps import App
from qbittorrent_monitor.decide.repair import search_command, search_items
from qbittorrent_monitor.model import ArrDownload, QueueItem, group_queue

HASH = "a" * 40


@pytest.mark.parametrize(
    ("app", "version", "key", "api"),
    [
        ("sonarr", "3.0.10.1567", "sonarr", "/api/v3"),
        ("sonarr", "4.0.19.2979", "sonarr", "/api/v3"),
        ("sonarr", "5.0.0.1234", "sonarr-v5", "/api/v5"),
        ("radarr", "4.7.5.7809", "radarr", "/api/v3"),
        ("radarr", "6.0.3.10276", "radarr", "/api/v3"),
        ("lidarr", "2.14.5.4836", "lidarr", "/api/v1"),
        ("readarr", "0.3.21.2475", "readarr", "/api/v1"),
        ("whisparr", "2.0.0.819", "whisparr", "/api/v3"),
        ("whisparr", "3.0.0.1000", "whisparr-v3", "/api/v3"),
        ("sonarr", "not a version", "sonarr", "/api/v3"),  # unreadable: the oldest profile, never a crash
    ],
)
def test_each_app_version_gets_its_api(app: str, version: str, key: str, api: str) -> None:
    profile = apps.profile_for(app, version)
    assert (profile.key, profile.api) == (key, api)


def test_the_version_is_read_where_every_version_of_the_app_answers() -> None:
    # Sonarr v5 still serves /api/v3/system/status; Lidarr and Readarr never served /api/v3.
    assert {a: apps.detection_api(a) for a in App} == {
        App.SONARR: "/api/v3",
        App.RADARR: "/api/v3",
        App.LIDARR: "/api/v1",
        App.READARR: "/api/v1",
        App.WHISPARR: "/api/v3",
    }


@pytest.mark.parametrize(
    ("key", "record", "search", "names"),
    [
        ("sonarr", {"seriesId": 5, "episodeId": 101}, {"name": "EpisodeSearch", "episodeIds": [101]}, ["episode:101"]),
        (
            "sonarr-v5",
            {"seriesId": 5, "episodeIds": [102, 101]},
            {"name": "EpisodeSearch", "episodeIds": [101, 102]},
            ["episode:101", "episode:102"],
        ),
        ("radarr", {"movieId": 42}, {"name": "MoviesSearch", "movieIds": [42]}, ["movie:42"]),
        ("lidarr", {"artistId": 3, "albumId": 12}, {"name": "AlbumSearch", "albumIds": [12]}, ["album:12"]),
        ("readarr", {"authorId": 2, "bookId": 7}, {"name": "BookSearch", "bookIds": [7]}, ["book:7"]),
        ("whisparr", {"seriesId": 1, "episodeId": 9}, {"name": "EpisodeSearch", "episodeIds": [9]}, ["episode:9"]),
        ("whisparr-v3", {"movieId": 8}, {"name": "MoviesSearch", "movieIds": [8]}, ["movie:8"]),
    ],
)
def test_a_queue_record_becomes_one_targeted_search_of_its_app(
    key: str, record: dict[str, object], search: dict[str, object], names: list[str]
) -> None:
    profile = apps.profile(key)
    item = QueueItem.from_api("arr", profile, {"id": 1, "downloadId": HASH.upper(), **record})
    assert item is not None and item.profile == key and item.app == profile.app.value
    [download] = group_queue([item])
    assert search_command(download) == search
    assert search_items(download) == names


def test_records_of_one_download_search_together_and_once() -> None:
    # Lidarr lists a two-album download twice (one record per album): one download, one AlbumSearch.
    lidarr = apps.profile("lidarr")
    records = [{"id": i, "downloadId": HASH.upper(), "artistId": 3, "albumId": a} for i, a in ((1, 12), (2, 13))]
    items = [QueueItem.from_api("lidarr", lidarr, r) for r in records]
    [download] = group_queue([i for i in items if i is not None])
    assert download.queue_ids == (1, 2)
    assert search_command(download) == {"name": "AlbumSearch", "albumIds": [12, 13]}
    assert download.as_evidence()["album_ids"] == [12, 13]


def test_nothing_to_search_means_no_search_never_a_global_one() -> None:
    unknown = QueueItem.from_api("sonarr", apps.profile("sonarr"), {"id": 1, "downloadId": HASH})
    assert unknown is not None
    assert search_command(ArrDownload("sonarr", "sonarr", HASH, (unknown,))) is None


def test_the_captured_refs_keep_their_meaning() -> None:
    assert search_command(sonarr_ref(HASH, [11, 12])) == {"name": "EpisodeSearch", "episodeIds": [11, 12]}
    assert search_command(radarr_ref(HASH, 42)) == {"name": "MoviesSearch", "movieIds": [42]}


@pytest.mark.parametrize(
    ("key", "entry", "items"),
    [
        ("sonarr", {"seriesId": 1, "episodeIds": [11, 12]}, {"episode:11", "episode:12"}),
        ("sonarr-v5", {"seriesId": 1, "episodeIds": [11]}, {"episode:11"}),
        ("radarr", {"movieId": 42}, {"movie:42"}),
        ("lidarr", {"artistId": 3, "albumIds": [12]}, {"album:12"}),
        ("readarr", {"authorId": 2, "bookIds": [7, 8]}, {"book:7", "book:8"}),
        ("whisparr-v3", {"movieId": 8}, {"movie:8"}),
    ],
)
def test_blocklist_entries_name_their_items_for_undo(key: str, entry: dict[str, object], items: set[str]) -> None:
    assert apps.profile(key).blocklist_items(entry) == items


def test_status_casing_and_translated_messages_change_nothing() -> None:
    sonarr = apps.profile("sonarr")
    base = {"id": 1, "downloadId": HASH.upper(), "episodeId": 5}
    old = QueueItem.from_api("s", sonarr, {**base, "status": "Warning", "errorMessage": "The download is stalled"})
    new = QueueItem.from_api("s", sonarr, {**base, "status": "warning", "errorMessage": "Le téléchargement est bloqué"})
    assert old is not None and new is not None
    assert old.status == new.status == "warning"
    d_old, d_new = group_queue([old]), group_queue([new])
    assert search_command(d_old[0]) == search_command(d_new[0])
