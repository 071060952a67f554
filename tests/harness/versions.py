"""How the qBittorrent versions the suite runs differ: ONE table, compared with `packaging.version`.

Every difference the harness (qbt.py, states.py) and the tests care about is one row of `Behaviour` below:
`Since(version, old, new, why)` reads "from qBittorrent `version` on, `new`; before it, `old`". Code never
compares versions itself; it asks the row, e.g. `qbt.behaviour.stop_endpoint` is "torrents/pause" on 4.5.2 and
"torrents/stop" on 5.1.0. A new version is supported by adding it to SUPPORTED and correcting the rows it breaks.

`version` is the first release documented to behave so (API-NOTES.md §6, qbittorrent-api's version checks). Where
nothing documents it, it is the first version the suite measured it on (5.2.x and 4.6.x were never measured: no
Debian suite ships them), and the row says so. Facts measured: QBITTORRENT-TESTING.md (4.5.2) and
QBITTORRENT-5X.md (5.1.0, 5.3.0).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, NamedTuple, TypeVar, overload

from packaging.version import Version

__all__ = [
    "DEFAULT_VERSION",
    "SUPPORTED",
    "Behaviour",
    "Login",
    "MissingFilesRecipe",
    "Release",
    "Since",
    "StoppedStates",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Release:
    """A qBittorrent version the suite runs, and where its binary comes from."""

    version: str
    webapi: str
    source: str  # "system": Debian 12's package at /usr/bin; "fetched": scripts/fetch_qbittorrent.py


SUPPORTED = {
    "4.5.2": Release("4.5.2", "2.8.19", "system"),
    "5.1.0": Release("5.1.0", "2.11.4", "fetched"),
    "5.3.0": Release("5.3.0", "2.16.2", "fetched"),
}
DEFAULT_VERSION = "4.5.2"  # the fast stage; the others run in the qbittorrent-5x stage of scripts/test.sh


class StoppedStates(NamedTuple):
    dl: str
    up: str


@dataclass(frozen=True)
class Login:
    """What POST /api/v2/auth/login answers, and the session cookie's name ({port}: the WebUI port)."""

    ok_status: int
    ok_body: str
    bad_status: int
    bad_body: str
    cookie: str

    def cookie_name(self, port: int) -> str:
        return self.cookie.format(port=port)


class MissingFilesRecipe(Enum):
    SKIP_CHECKING = "add with skip_checking=true and no data on disk"
    RESTART = "complete data deleted while qBittorrent is stopped, then a restart"


class Since(Generic[T]):
    """One row of the table: `new` from qBittorrent `version` on, `old` before it."""

    def __init__(self, version: str, old: T, new: T, why: str) -> None:
        self.since = Version(version)
        self.old = old
        self.new = new
        self.why = why
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def at(self, version: Version) -> T:
        return self.new if version >= self.since else self.old

    @overload
    def __get__(self, obj: None, owner: type) -> Since[T]: ...
    @overload
    def __get__(self, obj: Behaviour, owner: type) -> T: ...
    def __get__(self, obj: Behaviour | None, owner: type) -> Since[T] | T:
        return self if obj is None else self.at(obj.version)

    def __repr__(self) -> str:
        return f"{self.name}: {self.old!r} before {self.since}, {self.new!r} since"


class Behaviour:
    """What one qBittorrent version does. Each attribute is one row of the table (read on an instance: its value
    for that version; on the class: the row)."""

    def __init__(self, version: str) -> None:
        self.version = Version(version)

    def __repr__(self) -> str:
        return f"Behaviour({str(self.version)!r})"

    @classmethod
    def rows(cls) -> list[Since[Any]]:
        return [v for v in vars(cls).values() if isinstance(v, Since)]

    # -- stopping and starting ------------------------------------------------------------------------------
    add_stopped_field = Since(
        "5.0.0", "paused", "stopped", "torrents/add: 5.x silently IGNORES paused=true (the torrent starts)"
    )
    stop_endpoint = Since("5.0.0", "torrents/pause", "torrents/stop", "renamed; the other name answers 404")
    start_endpoint = Since("5.0.0", "torrents/resume", "torrents/start", "renamed; the other name answers 404")
    stopped_states = Since(
        "5.0.0", StoppedStates("pausedDL", "pausedUP"), StoppedStates("stoppedDL", "stoppedUP"), "renamed, no aliases"
    )
    stopped_filter = Since(
        "5.0.0",
        "paused",
        "stopped",
        "torrents/info filter; an unknown filter means ALL torrents (filter=paused on 5.x)",
    )
    running_filter = Since("5.0.0", "resumed", "running", "torrents/info filter, renamed like stopped")

    # -- authentication and replies ------------------------------------------------------------------------
    login = Since(
        "5.2.0",
        Login(200, "Ok.", 200, "Fails.", "SID"),
        Login(204, "", 401, "Unauthorized", "QBT_SID_{port}"),
        "auth/login (WebAPI 2.15.1); measured: 4.5.2 and 5.1.0 the old way, 5.3.0 the new",
    )
    api_key_and_basic = Since(
        "5.2.0",
        False,
        True,
        "Bearer API keys (app/rotateAPIKey) and HTTP Basic (WebAPI 2.15.0); measured: 4.5.2 answers 403 to both,"
        " 5.3.0 403 to a wrong key and 401 to wrong Basic",
    )
    add_reply_is_json = Since(
        "5.2.0",
        False,
        True,
        'torrents/add answers {"added_torrent_ids": [...], "success_count": n, ...} instead of "Ok." (WebAPI 2.14.0)',
    )

    # -- trackers ------------------------------------------------------------------------------------------
    unregistered_status = Since(
        "5.2.0", 4, 5, 'a tracker "failure reason" (e.g. Unregistered torrent): status 5 TrackerError, was 4'
    )
    tracker_rows_have_endpoints = Since("5.2.0", False, True, "torrents/trackers rows carry updating and endpoints[]")
    maindata_tracker_flags = Since(
        "5.2.0",
        False,
        True,
        "sync/maindata torrents carry has_tracker_error, has_tracker_warning, has_other_announce_error",
    )
    tracker_field_is_url_when_not_working = Since(
        "5.1.0",
        False,
        True,
        "torrents/info `tracker`: the first tracker's URL even if never contacted (error, missingFiles, stopped);"
        ' was "" when no tracker works',
    )
    include_trackers = Since(
        "5.1.0", False, True, "torrents/info?includeTrackers=true adds trackers[] (documented 5.2; measured on 5.1.0)"
    )

    stuck_announce_nudge = Since(
        "5.1.0",
        None,
        5.0,
        "seconds a tracker row may stay updating before the harness reannounces: 5.1.0 and 5.3.0 sometimes keep"
        " it updating for good although the tracker answered within milliseconds (about 1 add in 30; a reannounce"
        " clears it in under a second); never seen on 4.5.2 (first measured on 5.1.0; 5.0 never was)",
    )

    # -- torrent fields ------------------------------------------------------------------------------------
    private_in_info = Since("5.0.0", False, True, "torrents/info `private`: bool, null while metadata is unknown")
    never_timestamp = Since("5.0.0", 0, -1, "completion_on / seen_complete when the event never happened")

    # -- making states -------------------------------------------------------------------------------------
    missing_files_recipe = Since(
        "5.3.0",
        MissingFilesRecipe.SKIP_CHECKING,
        MissingFilesRecipe.RESTART,
        "skip_checking with no data gives stalledDL, progress 0 on 5.3.0 (first measured there; 5.2 never was)",
    )
    content_remove_option_key = Since(
        "5.0.0",
        None,
        "Session\\TorrentContentRemoveOption",
        "deleteFiles obeys it; its default MoveToTrash keeps the data (the harness writes Delete)",
    )

    # -- the log -------------------------------------------------------------------------------------------
    start_warnings = Since(
        "5.3.0",
        ("UI translation for selected locale (C)",),
        (
            "Load Qt translation failed. Temporarily falling back to English. Locale not found: C.",
            "Load qBittorrent translation failed. Temporarily falling back to English. Locale not found: C.",
            "UI translation for selected locale (C)",
        ),
        "the type-4 (warning) lines every start logs under the harness's LANG=C.UTF-8, as substrings"
        " (5.3.0 is the first measured with the two translation ones; 5.2 never was)",
    )
