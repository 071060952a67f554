"""The commands the simulated *arr apps know, with their own body properties.

The v3 OpenAPI specs describe `POST /api/v3/command` with the generic `CommandResource` schema
(`additionalProperties: false`) and never list a command's own properties such as `episodeIds`.
The real apps read those properties from the same JSON body (API-NOTES §3.1), so this catalogue is
what the simulator uses to accept, type-check and echo them. Property order matters: it is the
order in which the real `CommandQueueManager` compares two commands when it decides to merge them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["sonarr", "radarr", "lidarr", "readarr", "whisparr-v3"]

INT32: dict[str, Any] = {"type": "integer", "format": "int32"}
INT32_NULLABLE: dict[str, Any] = {"type": "integer", "format": "int32", "nullable": True}
INT32_LIST: dict[str, Any] = {"type": "array", "items": INT32, "nullable": True}
BOOL: dict[str, Any] = {"type": "boolean"}


@dataclass(frozen=True)
class CommandField:
    name: str
    schema: dict[str, Any]
    default: Any  # value of the .NET property when the body omits it (None = null, omitted on output)


@dataclass(frozen=True)
class CommandDef:
    name: str
    fields: tuple[CommandField, ...] = ()
    # Final progress message of a search (API-NOTES §3.2); "{n}" is the number of items searched.
    message: str = "Completed"
    refreshes_queue: bool = False

    @property
    def command_name(self) -> str:
        """`commandName` as the apps build it: the class name split at capitals."""
        return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", self.name)


_SONARR: tuple[CommandDef, ...] = (
    CommandDef(
        "EpisodeSearch",
        (CommandField("episodeIds", INT32_LIST, None),),
        message="Episode search completed. 0 reports downloaded.",
    ),
    CommandDef(
        "SeasonSearch",
        (CommandField("seriesId", INT32, 0), CommandField("seasonNumber", INT32, 0)),
        message="Season search completed. 0 reports downloaded.",
    ),
    CommandDef(
        "SeriesSearch",
        (CommandField("seriesId", INT32, 0),),
        message="Series search completed. 0 reports downloaded.",
    ),
    CommandDef(
        "MissingEpisodeSearch",
        (CommandField("seriesId", INT32_NULLABLE, None), CommandField("monitored", BOOL, False)),
    ),
    CommandDef(
        "CutoffUnmetEpisodeSearch",
        (CommandField("seriesId", INT32_NULLABLE, None), CommandField("monitored", BOOL, False)),
    ),
    CommandDef(
        "RefreshSeries",
        (CommandField("seriesId", INT32_NULLABLE, None), CommandField("isNewSeries", BOOL, False)),
    ),
    CommandDef("RefreshMonitoredDownloads", refreshes_queue=True),
    CommandDef("CheckForFinishedDownload", refreshes_queue=True),
    CommandDef("RssSync"),
)

_RADARR: tuple[CommandDef, ...] = (
    CommandDef(
        "MoviesSearch",
        (CommandField("movieIds", INT32_LIST, None),),
        message="Completed search for {n} movies. 0 reports downloaded.",
    ),
    CommandDef("MissingMoviesSearch"),
    CommandDef("CutoffUnmetMoviesSearch"),
    CommandDef(
        "RefreshMovie",
        (CommandField("movieIds", INT32_LIST, None), CommandField("isNewMovie", BOOL, False)),
    ),
    CommandDef("RefreshMonitoredDownloads", refreshes_queue=True),
    CommandDef("CheckForFinishedDownload", refreshes_queue=True),
    CommandDef("RssSync"),
)

_COMMON: tuple[CommandDef, ...] = (
    CommandDef("RefreshMonitoredDownloads", refreshes_queue=True),
    CommandDef("CheckForFinishedDownload", refreshes_queue=True),
    CommandDef("RssSync"),
)

_LIDARR: tuple[CommandDef, ...] = (
    CommandDef(
        "AlbumSearch",
        (CommandField("albumIds", INT32_LIST, None),),
        message="Album search completed. 0 reports downloaded.",
    ),
    CommandDef(
        "ArtistSearch",
        (CommandField("artistId", INT32, 0),),
        message="Artist search completed. 0 reports downloaded.",
    ),
    CommandDef("MissingAlbumSearch"),
    *_COMMON,
)

_READARR: tuple[CommandDef, ...] = (
    CommandDef(
        "BookSearch",
        (CommandField("bookIds", INT32_LIST, None),),
        message="Book search completed. 0 reports downloaded.",
    ),
    CommandDef(
        "AuthorSearch",
        (CommandField("authorId", INT32, 0),),
        message="Author search completed. 0 reports downloaded.",
    ),
    CommandDef("MissingBookSearch"),
    *_COMMON,
)

# Whisparr v3 (eros) is Radarr-based, with searches of its own for performers and studios.
_WHISPARR_V3: tuple[CommandDef, ...] = (
    *_RADARR,
    CommandDef("PerformersSearch", (CommandField("performerIds", INT32_LIST, None),)),
    CommandDef("StudiosSearch", (CommandField("studioIds", INT32_LIST, None),)),
)

CATALOGUE: dict[str, tuple[CommandDef, ...]] = {
    "sonarr": _SONARR,  # also Sonarr v5 and Whisparr v2 (Sonarr-based)
    "radarr": _RADARR,
    "lidarr": _LIDARR,
    "readarr": _READARR,
    "whisparr-v3": _WHISPARR_V3,
}


def find_command(kind: str, name: str) -> CommandDef | None:
    """Case-insensitive lookup, as the apps do (`.Single(c => name.Equals(..., IgnoreCase))`)."""
    for cmd in CATALOGUE[kind]:
        if cmd.name.lower() == name.lower():
            return cmd
    return None


def all_command_properties(kind: str) -> dict[str, dict[str, Any]]:
    """Union of every command's own properties (for patching the spec's Command schemas)."""
    props: dict[str, dict[str, Any]] = {}
    for cmd in CATALOGUE[kind]:
        for f in cmd.fields:
            props.setdefault(f.name, f.schema)
    return props
