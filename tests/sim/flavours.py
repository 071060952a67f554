"""What the simulated apps are: one row per app and API generation (facts: shared/API-NOTES.md §1-5).

Written from the notes, independently of the monitor's own table (src/qbittorrent_monitor/apps.py): a mistake in
that table must show up as a request the simulated app refuses, not be mirrored here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sim.state import parse_version


@dataclass(frozen=True)
class Flavour:
    key: str  # "sonarr", "sonarr-v5", "radarr", "lidarr", "readarr", "whisparr" (v2), "whisparr-v3"
    kind: str  # the app: sonarr | radarr | lidarr | readarr | whisparr
    app_name: str
    default_version: str
    spec: str  # the vendored spec key (sim.validation.SPEC_FILES)
    api: str  # the API base the app serves
    shape: str  # series | movie | music | book: what a grab is for
    per_download: bool  # one queue record per download (Radarr, Sonarr v5), else one per item
    parent_field: str | None  # queue record: seriesId / artistId / authorId (Radarr: none)
    item_field: str  # queue record, per-item shapes: episodeId / movieId / albumId / bookId
    item_list_field: str | None  # queue record, Sonarr v5: episodeIds
    id_suffix: str  # the queue id hash's item part ("-ep{}", "-album{}", "-book{}"; "" per download)
    unknown_param: str
    parent_param: str | None  # includeSeries / includeMovie / includeArtist / includeAuthor
    child_param: str | None  # includeEpisode / includeAlbum / includeBook
    parent_ids_param: str | None  # seriesIds / movieIds / artistIds (Readarr and Whisparr v2: no such filter)
    blocklist_parent: str | None  # seriesId / movieId / artistId / authorId
    blocklist_items: str  # episodeIds / movieId / albumIds / bookIds
    category_prefix: str  # tv | movie | music: <prefix>Category in the download client settings
    default_category: str
    commands: str  # sim.commands.CATALOGUE key
    delete_status: int = 200  # Sonarr v5 answers 204
    size_left: str = "sizeleft"  # Sonarr v5 spells them sizeLeft / timeLeft
    time_left: str = "timeleft"
    legacy_api: str | None = None  # an older API base still served (Sonarr v5: /api/v3, system/status only here)
    legacy_spec: str | None = None
    # Radarr v4 refuses a queue sortKey it does not know with 400 (RequestExtensions.VALID_SORT_KEYS, v4.7.5);
    # later builds fall back to their default sort. None: the fallback.
    queue_sort_keys_or_400: tuple[str, ...] | None = None

    @property
    def api_version(self) -> str:
        return self.api.rsplit("/", 1)[-1]


SONARR = Flavour(
    key="sonarr",
    kind="sonarr",
    app_name="Sonarr",
    default_version="4.0.19.2979",
    spec="sonarr",
    api="/api/v3",
    shape="series",
    per_download=False,
    parent_field="seriesId",
    item_field="episodeId",
    item_list_field=None,
    id_suffix="-ep{}",
    unknown_param="includeUnknownSeriesItems",
    parent_param="includeSeries",
    child_param="includeEpisode",
    parent_ids_param="seriesIds",
    blocklist_parent="seriesId",
    blocklist_items="episodeIds",
    category_prefix="tv",
    default_category="tv-sonarr",
    commands="sonarr",
)
RADARR = Flavour(
    key="radarr",
    kind="radarr",
    app_name="Radarr",
    default_version="6.0.3.10276",
    spec="radarr",
    api="/api/v3",
    shape="movie",
    per_download=True,
    parent_field=None,
    item_field="movieId",
    item_list_field=None,
    id_suffix="",
    unknown_param="includeUnknownMovieItems",
    parent_param="includeMovie",
    child_param=None,
    parent_ids_param="movieIds",
    blocklist_parent="movieId",
    blocklist_items="movieId",
    category_prefix="movie",
    default_category="radarr",
    commands="radarr",
)

FLAVOURS: dict[str, Flavour] = {
    f.key: f
    for f in (
        SONARR,
        replace(
            SONARR,
            key="sonarr-v5",
            default_version="5.0.0.1234",
            spec="sonarr-v5",
            api="/api/v5",
            per_download=True,
            item_list_field="episodeIds",
            id_suffix="",
            parent_param=None,
            child_param=None,
            delete_status=204,
            size_left="sizeLeft",
            time_left="timeLeft",
            legacy_api="/api/v3",
            legacy_spec="sonarr-v5-legacy",
        ),
        RADARR,
        # Radarr v4.7.x: the v4.7.5 spec (no typed paging, no movieIds/protocol/languages/quality/status filters,
        # no `added`, no changeCategory), PascalCase statuses, no stoppedUP/stoppedDL (API-NOTES §5.2).
        replace(
            RADARR,
            key="radarr-v4",
            default_version="4.7.5.7809",
            spec="radarr-v4",
            parent_ids_param=None,
            queue_sort_keys_or_400=(
                "movies.sortname",
                "timeleft",
                "estimatedCompletionTime",
                "protocol",
                "indexer",
                "downloadClient",
                "quality",
                "status",
                "title",
                "progress",
            ),
        ),
        Flavour(
            key="lidarr",
            kind="lidarr",
            app_name="Lidarr",
            default_version="2.14.5.4836",
            spec="lidarr",
            api="/api/v1",
            shape="music",
            per_download=False,
            parent_field="artistId",
            item_field="albumId",
            item_list_field=None,
            id_suffix="-album{}",
            unknown_param="includeUnknownArtistItems",
            parent_param="includeArtist",
            child_param="includeAlbum",
            parent_ids_param="artistIds",
            blocklist_parent="artistId",
            blocklist_items="albumIds",
            category_prefix="music",
            default_category="lidarr",
            commands="lidarr",
        ),
        Flavour(
            key="readarr",
            kind="readarr",
            app_name="Readarr",
            default_version="0.3.21.2475",
            spec="readarr",
            api="/api/v1",
            shape="book",
            per_download=False,
            parent_field="authorId",
            item_field="bookId",
            item_list_field=None,
            id_suffix="-book{}",
            unknown_param="includeUnknownAuthorItems",
            parent_param="includeAuthor",
            child_param="includeBook",
            parent_ids_param=None,
            blocklist_parent="authorId",
            blocklist_items="bookIds",
            category_prefix="music",  # Readarr kept Lidarr's field names
            default_category="readarr",
            commands="readarr",
        ),
        replace(
            SONARR,
            key="whisparr",
            kind="whisparr",
            app_name="Whisparr",
            default_version="2.0.0.819",
            spec="whisparr",
            parent_ids_param=None,
            default_category="tv-whisparr",
        ),
        replace(
            RADARR,
            key="whisparr-v3",
            kind="whisparr",
            app_name="Whisparr",
            default_version="3.0.0.1000",
            spec="whisparr-v3",
            default_category="whisparr",
            commands="whisparr-v3",
        ),
    )
}

# Version gates, per flavour: the first build with the behaviour; a flavour not listed never has it.
CAMELCASE_STATUS = {"sonarr": (4, 0, 10, 2624), "sonarr-v5": (0,), "radarr": (5, 15, 1, 9463)}
CHANGE_CATEGORY = {
    "sonarr": (4, 0, 1, 987),
    "sonarr-v5": (0,),
    "radarr": (5, 3, 3, 8535),
    "lidarr": (0,),
    "readarr": (0,),
}
ADDED_FIELD = {"sonarr": (4, 0, 0, 924), "sonarr-v5": (0,), "radarr": (5, 3, 2), "lidarr": (0,)}
STOPPED_STATES = {"sonarr": (4, 0, 4, 1650), "sonarr-v5": (0,), "radarr": (5, 5, 3, 8819), "lidarr": (2, 3, 3, 4204)}
QBT_API_KEY_FIELD = {"sonarr": (4, 0, 17, 2967), "sonarr-v5": (0,)}
# Oldest builds whose API shape the simulator models (typed paging, skipRedownload, queue filters); Radarr v4 from
# 4.7.2, the first build whose DELETE /queue takes skipRedownload (v4.7.5's spec declares it).
MIN_VERSIONS = {"sonarr": (4, 0, 0, 741), "radarr": (5, 1, 1), "radarr-v4": (4, 7, 2)}


def has(gate: dict[str, tuple[int, ...]], flavour: Flavour, version: tuple[int, ...]) -> bool:
    first = gate.get(flavour.key)
    return first is not None and version >= first


def flavour_for(kind: str, version: str | None) -> Flavour:
    """The flavour of an app at a version: Sonarr 5.x is Sonarr v5, Whisparr 3.x is Whisparr v3, Radarr 4.x is
    Radarr v4."""
    if kind not in {f.kind for f in FLAVOURS.values()}:
        raise ValueError(f"kind must be one of sonarr, radarr, lidarr, readarr, whisparr, not {kind!r}")
    major = parse_version(version)[0] if version else None
    if kind == "sonarr" and major is not None and major >= 5:
        return FLAVOURS["sonarr-v5"]
    if kind == "whisparr" and major is not None and major >= 3:
        return FLAVOURS["whisparr-v3"]
    if kind == "radarr" and major == 4:
        return FLAVOURS["radarr-v4"]
    return FLAVOURS[kind]
