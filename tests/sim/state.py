"""World state of a simulated *arr app and the pure mapping from qBittorrent torrents to queue records."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sim.commands import CommandDef

CLIENT_ID = 1  # id of the single download-client definition (part of every queue-id hash)

# QueueStatus enum order (used when sorting by status).
QUEUE_STATUSES = (
    "unknown",
    "queued",
    "paused",
    "downloading",
    "completed",
    "failed",
    "warning",
    "delay",
    "downloadClientUnavailable",
    "fallback",
)

MSG_ERROR = "qBittorrent is reporting an error"
MSG_STALLED = "The download is stalled with no connections"
MSG_MISSING = "qBittorrent is reporting missing files"
MSG_META_DHT = "qBittorrent is downloading metadata"
MSG_META_NO_DHT = "qBittorrent cannot resolve magnet link with DHT disabled"
MSG_PATH_MATCH = (
    "Unable to Import. Path matches client base download directory, it's possible 'Keep top-level folder' "
    "is disabled for this torrent or 'Torrent Content Layout' is NOT set to 'Original' or 'Create Subfolder'?"
)
FAILED_MESSAGE = "Manually marked as failed"
QBT_MAX_ETA = 8640000  # qBittorrent's "infinite" eta

UNKNOWN_LANGUAGE = {"id": 0, "name": "Unknown"}
ENGLISH = {"id": 1, "name": "English"}


def parse_version(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def utcnow() -> datetime:
    return datetime.now(UTC)


def fmt_dt(dt: datetime) -> str:
    """DateTime output of the apps: UTC, yyyy-MM-ddTHH:mm:ssZ."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_span(seconds: float) -> str:
    """.NET TimeSpan "c" format: [d.]hh:mm:ss[.fffffff]."""
    ticks = round(seconds * 10_000_000)
    sign = "-" if ticks < 0 else ""
    ticks = abs(ticks)
    whole, frac = divmod(ticks, 10_000_000)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{sign}{days}." if days else sign
    text += f"{hours:02d}:{minutes:02d}:{secs:02d}"
    if frac:
        text += f".{frac:07d}"
    return text


def hash_int31(text: str) -> int:
    """NzbDrone.Common.Crypto.HashConverter.GetHashInt31: SHA-1, first 4 bytes little-endian, & 0x7fffffff."""
    digest = hashlib.sha1(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def quality_unknown(with_modifier: bool) -> dict[str, Any]:
    """The "Unknown" quality; Radarr-based apps' Quality has a `modifier` too."""
    quality: dict[str, Any] = {"id": 0, "name": "Unknown", "source": "unknown", "resolution": 0}
    if with_modifier:
        quality["modifier"] = "none"
    return {"quality": quality, "revision": {"version": 1, "real": 0, "isRepack": False}}


@dataclass
class Grab:
    """A Grabbed history event: what the app itself sent to qBittorrent."""

    download_id: str  # upper-case hash
    source_title: str
    indexer: str
    date: datetime
    parent_id: int | None = None  # the series / artist / author (movies have none)
    season: int | None = None  # Sonarr-based apps
    item_ids: list[int] = field(default_factory=list)  # the episodes / the movie / the albums / the books


@dataclass
class Tracked:
    """A tracked download (one torrent in the app's category), as the queue sees it."""

    download_id: str
    title: str
    size: int
    sizeleft: int
    timeleft: int | None  # seconds
    status: str  # QueueStatus (camelCase)
    message: str | None
    output_path: str | None
    state: str  # TrackedDownloadState
    grab: Grab | None
    qbt_state: str

    @property
    def progress(self) -> float:
        return 0.0 if self.size == 0 else 100 - self.sizeleft / self.size * 100


@dataclass
class Record:
    """One queue record (Sonarr v3/v4: one per episode, Lidarr per album, Readarr per book; Radarr and Sonarr v5:
    one per download)."""

    id: int
    tracked: Tracked
    item_id: int | None = None


def map_torrent(
    torrent: dict[str, Any], *, dht_enabled: bool, stopped_states_supported: bool
) -> tuple[str, str | None, int | None, str | None]:
    """qBittorrent state -> (status, message, timeleft seconds, outputPath) as QBittorrent.GetItems does."""
    state = str(torrent.get("state", ""))
    eta = int(torrent.get("eta", -1))
    timeleft: int | None = None if eta < 0 or eta > 365 * 24 * 3600 or eta == QBT_MAX_ETA else eta
    message: str | None = None
    completed_states = {"pausedUP", "uploading", "stalledUP", "queuedUP", "forcedUP"}
    paused_states = {"pausedDL"}
    if stopped_states_supported:
        completed_states.add("stoppedUP")
        paused_states.add("stoppedDL")
    if state == "error":
        status, message = "warning", MSG_ERROR
    elif state in paused_states:
        status = "paused"
    elif state in ("queuedDL", "checkingDL", "checkingUP", "checkingResumeData"):
        status = "queued"
    elif state in completed_states:
        status, timeleft = "completed", 0
    elif state == "stalledDL":
        status, message = "warning", MSG_STALLED
    elif state == "missingFiles":
        status, message = "warning", MSG_MISSING
    elif state in ("metaDL", "forcedMetaDL"):
        if dht_enabled:
            status, message = "queued", MSG_META_DHT
        else:
            status, message = "warning", MSG_META_NO_DHT
    elif state in ("forcedDL", "moving", "downloading"):
        status = "downloading"
    else:
        status, message = "downloading", f"Unknown download state: {state}"
    output_path: str | None = None
    content_path = torrent.get("content_path")
    if content_path is not None:
        if content_path != torrent.get("save_path"):
            output_path = str(content_path)
        elif status == "completed":
            status, message = "warning", MSG_PATH_MATCH
    return status, message, timeleft, output_path


@dataclass
class SimCommand:
    """A command in the simulated command queue; its status moves on with the clock."""

    id: int
    definition: CommandDef
    values: dict[str, Any]  # the command's own properties, defaults filled in
    trigger: str
    queued: datetime
    duration: float
    ended_override: datetime | None = None
    cancelled: datetime | None = None

    def equals(self, definition: CommandDef, values: dict[str, Any]) -> bool:
        """CommandEqualityComparer: own properties in order, lists as sets; both-null ends the loop as equal."""
        if definition.name != self.definition.name:
            return False
        for f in definition.fields:
            mine, theirs = self.values.get(f.name), values.get(f.name)
            if mine is None and theirs is None:
                return True
            if isinstance(mine, list) and isinstance(theirs, list):
                if set(mine) != set(theirs):
                    return False
            elif mine != theirs:
                return False
        return True

    def times(self, now: datetime) -> tuple[str, datetime | None, datetime | None]:
        if self.cancelled is not None:
            return "cancelled", None, self.cancelled
        end = self.ended_override or self.queued + timedelta(seconds=self.duration)
        start = min(self.queued + timedelta(seconds=self.duration / 2), end)
        if now >= end:
            return "completed", start, end
        if now >= start:
            return "started", start, None
        return "queued", None, None

    def status(self, now: datetime) -> str:
        return self.times(now)[0]

    def resource(self, type_exclusive: bool, now: datetime) -> dict[str, Any]:
        status, started, ended = self.times(now)
        body: dict[str, Any] = {}
        for f in self.definition.fields:
            if self.values.get(f.name) is not None:
                body[f.name] = self.values[f.name]
        body.update(
            {
                "sendUpdatesToClient": True,
                "updateScheduledTask": True,
                "completionMessage": "Completed",
                "requiresDiskAccess": False,
                "isExclusive": False,
            }
        )
        if type_exclusive:  # Radarr-based apps, Lidarr and Readarr
            body["isTypeExclusive"] = False
        body.update(
            {
                "isLongRunning": False,
                "name": self.definition.name,
                "trigger": self.trigger,
                "suppressMessages": False,
            }
        )
        if started is not None:
            body["lastStartTime"] = fmt_dt(started)
        res: dict[str, Any] = {
            "id": self.id,
            "name": self.definition.name,
            "commandName": self.definition.command_name,
        }
        if status == "completed":
            lists = [v for v in self.values.values() if isinstance(v, list)]
            count = len(lists[0]) if lists else 0
            res["message"] = self.definition.message.replace("{n}", str(count))
        res.update({"body": body, "priority": "normal", "status": status})
        res["result"] = "successful" if status == "completed" else "unknown"
        res["queued"] = fmt_dt(self.queued)
        if started is not None:
            res["started"] = fmt_dt(started)
        if ended is not None:
            res["ended"] = fmt_dt(ended)
            res["duration"] = fmt_span((ended - (started or self.queued)).total_seconds())
        res["trigger"] = self.trigger
        res["stateChangeTime"] = fmt_dt(ended or started or self.queued)
        res["sendUpdatesToClient"] = True
        res["updateScheduledTask"] = True
        return res
