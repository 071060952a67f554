"""The *arr apps and their API versions as one table: pure data, no I/O.

Everything that differs between Sonarr v3/v4, Sonarr v5, Radarr v4-v6, Lidarr, Readarr, Whisparr v2 (Sonarr-based)
and Whisparr v3 (Radarr-based) is a column of `PROFILES` (facts: shared/API-NOTES.md §1-5, from the apps' source):
the API base, the queue's include-unknown parameter, the queue record fields that name what a download is for, the
search command and its id field, the command and download-client endpoints, the download client's category field.
clients/arr.py talks to an app through its profile, decide/repair.py builds the targeted search from it, history.py
matches blocklist entries with it. A profile is chosen once per app from `system/status`'s version
(`profile_for`), compared with packaging.version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from packaging.version import InvalidVersion, Version


class App(StrEnum):
    """The configuration sections (`sonarr:`, `radarr:` ...): which app an instance is."""

    SONARR = "sonarr"
    RADARR = "radarr"
    LIDARR = "lidarr"
    READARR = "readarr"
    WHISPARR = "whisparr"


@dataclass(frozen=True, slots=True)
class Profile:
    """One app at one API generation."""

    key: str  # stable name, kept in the journal with each queue item ("sonarr", "sonarr-v5", ...)
    app: App
    label: str  # for people: "Sonarr v5"
    since: Version  # the first app version this profile applies to
    api: str  # API base path
    queue_unknown: str  # GET queue: the include-unknown-items parameter (sent as false: see clients/arr.py)
    parent_field: str  # queue record: the series/artist/author id ("" when the item is the whole thing: movies)
    item: str  # what one download is for, and what a search targets: episode | movie | album | book
    item_fields: tuple[str, ...]  # queue record fields holding the item ids (an int or a list of ints)
    search: str  # the targeted search command ...
    search_ids: str  # ... and its id list field
    blocklist_fields: tuple[str, ...]  # blocklist entry fields holding the item ids
    category_field: str  # download client settings: the qBittorrent category the app uses
    command_path: str = "/command"
    download_client_path: str = "/downloadclient"

    def item_ids(self, record: dict[str, Any]) -> tuple[int, ...]:
        """The item ids a queue record (or a blocklist entry, with `fields`) names."""
        return _ids(record, self.item_fields)

    def names(self, ids: tuple[int, ...] | list[int]) -> list[str]:
        """Stable names of items: `episode:101`, `movie:42`, `album:12`, `book:7`."""
        return [f"{self.item}:{i}" for i in ids]

    def search_command(self, ids: tuple[int, ...] | list[int]) -> dict[str, object] | None:
        """A search for exactly these items; None without ids (never a global Missing*Search)."""
        if not ids:
            return None
        return {"name": self.search, self.search_ids: sorted(ids)}

    def blocklist_items(self, entry: dict[str, Any]) -> set[str]:
        """The item names a blocklist entry is about."""
        return set(self.names(_ids(entry, self.blocklist_fields)))


def _ids(record: dict[str, Any], fields: tuple[str, ...]) -> tuple[int, ...]:
    found: set[int] = set()
    for name in fields:
        value = record.get(name)
        values = value if isinstance(value, list) else [value]
        found |= {v for v in values if isinstance(v, int) and not isinstance(v, bool) and v > 0}
    return tuple(sorted(found))


_ANY = Version("0")

# Sonarr v3 and v4 serve API v3: one queue record per episode (`episodeId`).
_SONARR = Profile(
    "sonarr",
    App.SONARR,
    "Sonarr v3/v4",
    _ANY,
    "/api/v3",
    queue_unknown="includeUnknownSeriesItems",
    parent_field="seriesId",
    item="episode",
    item_fields=("episodeId",),
    search="EpisodeSearch",
    search_ids="episodeIds",
    blocklist_fields=("episodeIds",),
    category_field="tvCategory",
)
# Radarr v3-v6 serve API v3 with the same shape: one record per download (`movieId`).
_RADARR = Profile(
    "radarr",
    App.RADARR,
    "Radarr",
    _ANY,
    "/api/v3",
    queue_unknown="includeUnknownMovieItems",
    parent_field="",
    item="movie",
    item_fields=("movieId",),
    search="MoviesSearch",
    search_ids="movieIds",
    blocklist_fields=("movieId",),
    category_field="movieCategory",
)

PROFILES: tuple[Profile, ...] = (
    _SONARR,
    # Sonarr v5: /api/v5, one record per download with `episodeIds`; includeUnknownSeriesItems defaults to true.
    replace(
        _SONARR, key="sonarr-v5", label="Sonarr v5", since=Version("5"), api="/api/v5", item_fields=("episodeIds",)
    ),
    _RADARR,
    Profile(
        "lidarr",
        App.LIDARR,
        "Lidarr",
        _ANY,
        "/api/v1",
        queue_unknown="includeUnknownArtistItems",
        parent_field="artistId",
        item="album",
        item_fields=("albumId",),
        search="AlbumSearch",
        search_ids="albumIds",
        blocklist_fields=("albumIds",),
        category_field="musicCategory",
    ),
    Profile(
        "readarr",
        App.READARR,
        "Readarr",
        _ANY,
        "/api/v1",
        queue_unknown="includeUnknownAuthorItems",
        parent_field="authorId",
        item="book",
        item_fields=("bookId",),
        search="BookSearch",
        search_ids="bookIds",
        blocklist_fields=("bookIds",),
        category_field="musicCategory",  # yes, "music": Readarr kept Lidarr's field name
    ),
    # Whisparr v2 (`develop`, versions 2.x) is Sonarr-based; v3 (`eros`, versions 3.x) is Radarr-based.
    replace(_SONARR, key="whisparr", app=App.WHISPARR, label="Whisparr v2"),
    replace(_RADARR, key="whisparr-v3", app=App.WHISPARR, label="Whisparr v3", since=Version("3")),
)

BY_KEY: dict[str, Profile] = {p.key: p for p in PROFILES}


def profiles_of(app: App | str) -> list[Profile]:
    """The profiles of one app, oldest first."""
    return sorted((p for p in PROFILES if p.app == App(app)), key=lambda p: p.since)


def detection_api(app: App | str) -> str:
    """Where `system/status` is read before the version is known: the oldest profile's API, which every later
    version still serves (Sonarr v5 keeps /api/v3)."""
    return profiles_of(app)[0].api


def parse_version(text: str | None) -> Version | None:
    """`4.0.19.2979`, `v5.0.0.1`, `3.0.0.1000-eros`, qBittorrent's `v4.5.2`, `v5.0.0beta1` -> Version; None when it
    cannot be read. The one version reader of every service."""
    m = re.search(r"\d+(?:\.\d+)*", text or "")
    if not m:
        return None
    try:
        return Version(m.group(0))
    except InvalidVersion:
        return None


def profile_for(app: App | str, version: str) -> Profile:
    """The profile of this app at this version (an unreadable version gets the oldest one)."""
    candidates = profiles_of(app)
    parsed = parse_version(version)
    if parsed is None:
        return candidates[0]
    return [p for p in candidates if p.since <= parsed][-1]


def profile(key: str) -> Profile:
    """A profile by its key (the journal and the queue items keep the key)."""
    return BY_KEY[key]
